//! `slack-im check`: proves a run will work, without writing anything. The templates render for a
//! sample member with hostile characters; the token answers `auth.test`, holds every scope this
//! configuration needs and, if it is an org-level token, has its workspace named; then the run's
//! own reads and plan (the pipeline of `sync`) give the numbers a person needs before the first real
//! run (the user groups seen among them, when the run reads them), with the warnings `sync` and
//! `plan` print too.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::{Config, RunConfig, SystemConfig};
use crate::connect::{slack_client, System};
use crate::error::Error;
use crate::http::Budget;
use crate::members::Member;
use crate::read::{self, Ran, Reading, SystemResult};
use crate::slack::{Identity, SlackClient, SlackError};
use crate::target::{Address, TargetError};
use crate::template::{SystemTemplates, TemplateError, UserView};

/// Runs every check for every system: the token once (its scopes and workspace), then the run's
/// own reads and plan. Returns each system's result as a dry run would, plus the warnings, the
/// user groups seen and the skips by reason.
pub fn check(config: &Config) -> Vec<SystemResult> {
    let (run, configs) = (&config.run, &config.systems);
    let every = |e: Error| configs.iter().map(|_| Err(e.clone().into())).collect::<Vec<_>>();
    let groups_needed =
        read::needs_groups(configs, |c| crate::template::folder_uses_groups(&run.templates_root, &c.system));
    let welcome = configs.iter().any(|c| crate::template::folder_has_welcome(&run.templates_root, &c.system));
    let slack = match check_token(run, Needs { groups: groups_needed, welcome }) {
        Ok(slack) => slack,
        Err(e) => return every(e),
    };
    let prepared = match read::prepare(config) {
        Ok(prepared) => prepared,
        Err(errors) => {
            let hint = |e: Error| match &slack {
                Some(slack) => private_channel_hint(run, slack, e),
                None => e,
            };
            return errors.into_iter().map(|e| Err(hint(e).into())).collect();
        }
    };
    let slack_requests = prepared.source.requests() + slack.as_ref().map_or(0, SlackClient::requests);
    let groups: BTreeMap<String, usize> = match &prepared.groups {
        Some(groups) => groups.all().iter().map(|g| (g.handle.clone(), g.users.len())).collect(),
        None => BTreeMap::new(),
    };
    if !groups.is_empty() {
        let seen: Vec<String> = groups.iter().map(|(h, n)| format!("@{h} {n}")).collect();
        log::info!("Slack: user groups seen (members): {}", seen.join(", "));
    }
    prepared
        .readings
        .into_iter()
        .zip(prepared.systems.iter().zip(&config.systems))
        .map(|(reading, (system, system_config))| {
            let reading = reading?;
            let shared = check_system(system, system_config, &reading)?;
            let skipped_by_reason = skipped_by_reason(&reading);
            let mut warnings = reading.warnings();
            warnings.extend(shared);
            for warning in &warnings {
                log::warn!("{}: WARNING: {warning}", system.templates.name());
            }
            let ran = Ran::new(reading, None, warnings, (slack_requests, prepared.source.team_id()), system);
            Ok(Ran { usergroups: groups.clone(), skipped_by_reason, ..ran })
        })
        .collect()
}

/// What beyond the members a run asks Slack for, so what scopes its token needs.
#[derive(Clone, Copy)]
struct Needs {
    /// The run reads the user groups.
    groups: bool,
    /// A system folder has `welcome.txt`: each member created gets a DM.
    welcome: bool,
}

/// The token answers, for the right workspace, with every scope this configuration needs. Without
/// a token (a members file and no Slack post) there is nothing to check, unless a welcome DM needs
/// one.
fn check_token(config: &RunConfig, needs: Needs) -> Result<Option<SlackClient>, Error> {
    if config.slack_token.is_none() && needs.welcome {
        return Err(Error::NotReady(
            "a system folder has welcome.txt, a Slack DM to each member created, but SLACK_BOT_TOKEN is not set: set it (or SLACK_BOT_TOKEN_FILE) to a bot token with chat:write".into(),
        ));
    }
    if config.slack_token.is_none() {
        log::info!("Slack: not asked (members from SLACK_IM_MEMBERS_FILE, no Slack post)");
        return Ok(None);
    }
    let slack = slack_client(config, Budget::new(config.deadline, config.retry_budget))?;
    let identity = slack.auth_test()?;
    log::info!("Slack: token works for {}", describe(&identity, config));
    token_fits(config, needs, &slack, &identity)?;
    Ok(Some(slack))
}

/// One system's templates render for a sample member with hostile characters and for its first
/// listed account. Returns what `create.json` gives every account alike out of a secret (a shared
/// initial password), as warnings.
fn check_system(system: &System, config: &SystemConfig, reading: &Reading) -> Result<Vec<String>, Error> {
    let templates = &system.templates;
    let Samples { key, bodies, own_passwords } = check_samples(templates)?;
    log::info!("templates in {}: create.json renders (sample key {key})", templates.folder().display());
    let user = sample_user(templates, SAMPLES[0]);
    if templates.has_welcome {
        log::info!("templates in {}: welcome.txt renders", templates.folder().display());
    }
    if let Some(first) = reading.listing.accounts().first() {
        let value = reading.listing.value(0);
        templates.render_update(&user, &value, &first.key)?;
        templates.render_deactivate(&first.key, &value)?;
    }
    if templates.spec.managed.is_some()
        && reading.listing.managed() == 0
        && !reading.listing.accounts().is_empty()
    {
        log::warn!("no listed account matches the \"managed\" expression of system.json: nothing will ever be deactivated");
    }
    check_write_address(system, reading)?;
    let mut warnings = shared_secrets(templates, config, &bodies);
    if own_passwords && !templates.has_welcome {
        warnings.push(format!(
            "every account {} creates gets a password of its own (new_password()) that nobody is told: add welcome.txt to the folder to DM it to each member created (needs chat:write), or make sure people get in another way (the target's must-change or \"forgot password\" flow, single sign-on)",
            templates.name()
        ));
    }
    Ok(warnings)
}

/// The update address (else the deactivate address) of the first listed managed account answers
/// a GET: a folder whose writes would all miss (`{key}` where the server wants its id) is not ready.
fn check_write_address(system: &System, reading: &Reading) -> Result<(), Error> {
    let Some(account) = reading.listing.accounts().iter().find(|a| a.managed) else {
        log::info!("write address not proven: the listing has no account slack-im manages yet");
        return Ok(());
    };
    let address = Address { key: &account.key, id: account.id.as_deref() };
    let probed = match system.target.probe_write_address(address) {
        Err(e @ TargetError::Http { status: 400..=499, .. }) => {
            return Err(Error::NotReady(format!("the write address does not answer a GET: {e}")))
        }
        other => other?,
    };
    match probed {
        None => Ok(()),
        Some((asked, status)) if (200..300).contains(&status) => {
            log::info!("write address proven: {asked} answers HTTP {status}");
            Ok(())
        }
        Some((asked, status)) => Err(Error::NotReady(format!(
            "{asked} (the write address of the managed account {}) answers HTTP {status}: every update and deactivation would fail; check system.json's update/deactivate path and list.id",
            crate::http::clean(&account.key, 100)
        ))),
    }
}

/// The workspace (or organisation) a token works for, in words.
fn describe(identity: &Identity, config: &RunConfig) -> String {
    let team = format!(
        "workspace {} ({})",
        identity.team.as_deref().unwrap_or("?"),
        identity.team_id.as_deref().unwrap_or("?")
    );
    match (identity.is_enterprise_install, &config.slack_team_id) {
        (Some(true), Some(team_id)) => format!(
            "Enterprise Grid organisation {} (org-level token), reading workspace {team_id} (SLACK_IM_SLACK_TEAM_ID)",
            identity.enterprise_id.as_deref().unwrap_or("?")
        ),
        (Some(true), None) => format!(
            "Enterprise Grid organisation {} (org-level token)",
            identity.enterprise_id.as_deref().unwrap_or("?")
        ),
        _ => team,
    }
}

/// The scopes a run with this configuration needs, each with what for.
fn needed_scopes(config: &RunConfig, needs: Needs) -> Vec<(&'static str, &'static str)> {
    let mut needed =
        vec![("users:read", "to read the members"), ("users:read.email", "to read their e-mail")];
    if needs.groups {
        needed.push((
            "usergroups:read",
            "to read the user groups (SLACK_IM_USERGROUPS, or user.groups in a template)",
        ));
    }
    if config.notify_channel.is_some() {
        needed.push(("chat:write", "to post the summary to SLACK_IM_NOTIFY_CHANNEL"));
    } else if needs.welcome {
        needed.push(("chat:write", "to DM each member created their password: welcome.txt"));
    }
    if let Some(channel) = &config.channel {
        needed.push(("channels:read", "to read the members of SLACK_IM_CHANNEL"));
        // Legacy private channel ids start with G; newer private channels look like public
        // ones, and show up as `channel_not_found` (see `private_channel_hint`).
        if channel.starts_with('G') {
            needed.push(("groups:read", "SLACK_IM_CHANNEL is a private channel"));
        }
    }
    needed
}

/// Fails, naming everything to fix at once, when the token lacks a scope this configuration
/// needs or is an org-level token without `SLACK_IM_SLACK_TEAM_ID`.
fn token_fits(
    config: &RunConfig,
    needs: Needs,
    slack: &SlackClient,
    identity: &Identity,
) -> Result<(), Error> {
    let mut problems = Vec::new();
    match slack.granted_scopes() {
        Some(granted) => {
            let missing: Vec<String> = needed_scopes(config, needs)
                .into_iter()
                .filter(|(scope, _)| !granted.iter().any(|g| g == scope))
                .map(|(scope, why)| format!("{scope} ({why})"))
                .collect();
            if !missing.is_empty() {
                problems.push(format!(
                    "the token lacks the scope{} {}; it has {}: add {} to the Slack app (OAuth & Permissions) and reinstall it",
                    if missing.len() > 1 { "s" } else { "" },
                    missing.join(", "),
                    if granted.is_empty() { "none".to_string() } else { granted.join(",") },
                    if missing.len() > 1 { "them" } else { "it" },
                ));
            } else {
                log::info!("Slack: the token has every scope this configuration needs ({})", granted.join(","));
            }
        }
        None => log::warn!(
            "Slack named no scopes (no x-oauth-scopes header, a proxy may drop it): the token's scopes could not be checked"
        ),
    }
    if identity.is_enterprise_install == Some(true) && config.slack_team_id.is_none() {
        problems.push(format!(
            "the token is an org-level token of the Enterprise Grid organisation {}: set SLACK_IM_SLACK_TEAM_ID to the id (T…) of the workspace to sync",
            identity.enterprise_id.as_deref().unwrap_or("?")
        ));
    }
    match problems.is_empty() {
        true => Ok(()),
        false => Err(Error::NotReady(problems.join("; "))),
    }
}

/// `channel_not_found` for `SLACK_IM_CHANNEL` with a token without `groups:read`: most likely a
/// private channel, which needs that scope (and the bot as a member).
fn private_channel_hint(config: &RunConfig, slack: &SlackClient, error: Error) -> Error {
    let granted = slack.granted_scopes().unwrap_or_default();
    match (&error, &config.channel) {
        (Error::Slack(SlackError::Api { method, code, .. }), Some(channel))
            if method == "conversations.members"
                && code == "channel_not_found"
                && !granted.iter().any(|g| g == "groups:read") =>
        {
            Error::NotReady(format!(
                "Slack finds no channel {channel} (SLACK_IM_CHANNEL): if it is a private channel, the token lacks the scope groups:read (to read its members) and the bot must be a member; it has {}",
                granted.join(",")
            ))
        }
        _ => error,
    }
}

/// Members left out, counted by the kind of reason, most first.
fn skipped_by_reason(reading: &Reading) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for skipped in reading.skipped.iter().chain(&reading.plan.skipped) {
        *counts.entry(skipped.reason.kind().0.to_string()).or_insert(0) += 1;
    }
    counts
}

/// The members `check` renders `create.json` for: the built-in hostile sample, and realistic ones
/// (a mixed-case e-mail and a non-Latin name, a tagged address with an apostrophe and only a
/// display name, a numeric local part).
const SAMPLES: &[&str] = &[
    include_str!("check_member.json"),
    include_str!("check_samples/mixed_case.json"),
    include_str!("check_samples/tagged.json"),
    include_str!("check_samples/numeric.json"),
];

/// Renders `create.json` for every sample member and, when `system.json` has a `key` expression,
/// checks that it gives the key `create.json` has at `list.key` (case-insensitively): a `sync`
/// trusts the expression for members who have an account, so a disagreement is a template error
/// (exit 2) naming the member and both values.
/// A built-in sample member as the templates see it: its Slack object kept when they read it, and
/// no user groups when they use them.
fn sample_user(templates: &SystemTemplates, source: &str) -> Arc<UserView> {
    let mut member: Member = serde_json::from_str(source).expect("the built-in samples are valid");
    if templates.uses_slack_object {
        member.raw = serde_json::value::RawValue::from_string(source.to_string()).ok();
    }
    let user = UserView::from_member(&member);
    Arc::new(if templates.uses_groups { user.with_groups(&[]) } else { user })
}

/// A field every account gets with the same secret value (a shared initial password, known to
/// everyone ever onboarded): equal in the create bodies of the first two (different) samples.
fn shared_secrets(
    templates: &SystemTemplates,
    config: &SystemConfig,
    bodies: &[serde_json::Value],
) -> Vec<String> {
    let (Some(a), Some(b)) = (bodies[0].as_object(), bodies[1].as_object()) else { return Vec::new() };
    a.iter()
        .filter(|(field, value)| b.get(*field) == Some(*value))
        .filter_map(|(field, value)| {
            let text = value.as_str()?;
            let (name, _) = config.secrets.iter().find(|(_, secret)| secret.expose() == text)?;
            Some(format!(
                "every account {} creates gets the same {field:?} (secrets.{name}): everyone ever onboarded knows it; give each account its own with {{{{ new_password() }}}} in create.json and the target's must-change or reset flow",
                templates.name()
            ))
        })
        .collect()
}

/// What `create.json` gave the sample members.
struct Samples {
    /// The first sample's key.
    key: String,
    /// Every sample's body, in [`SAMPLES`]' order.
    bodies: Vec<serde_json::Value>,
    /// The bodies call `new_password()`.
    own_passwords: bool,
}

/// Renders `create.json` for every sample (and, with `key`, checks they agree), and `welcome.txt`
/// for each with its key and passwords.
fn check_samples(templates: &SystemTemplates) -> Result<Samples, TemplateError> {
    let mut first = None;
    let mut own_passwords = false;
    let mut bodies = Vec::with_capacity(SAMPLES.len());
    for source in SAMPLES {
        let user = sample_user(templates, source);
        let (key, body) = match templates.render_key(&user)? {
            Some(key) => templates.render_create_for_key(&user, &key)?,
            None => templates.render_create(&user)?,
        };
        // A sample's new_password() values go nowhere.
        let passwords = templates.take_new_passwords();
        own_passwords |= !passwords.is_empty();
        templates.render_welcome(&user, &key, &passwords)?;
        let _ = templates.take_new_passwords();
        log::debug!("check: create.json renders for sample {} (key {key})", user.id);
        first.get_or_insert(key);
        bodies.push(body);
    }
    if templates.spec.key.is_some() {
        log::info!("system.json \"key\" agrees with create.json for {} sample members", SAMPLES.len());
    }
    Ok(Samples { key: first.unwrap_or_default(), bodies, own_passwords })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn the_shipped_key_expressions_agree_with_create_json_for_every_sample() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let secrets = BTreeMap::from([
            ("target_token".to_string(), crate::secret::Secret::new("tok-123456".to_string())),
            ("initial_password".to_string(), crate::secret::Secret::new("pw-123456".to_string())),
        ]);
        for system in ["dev", "model-office", "sales-demo"] {
            let t =
                SystemTemplates::load(&root, system, Some("http://t"), &BTreeMap::new(), &secrets).unwrap();
            check_samples(&t).unwrap();
        }
    }
}
