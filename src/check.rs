//! `slack-im check`: proves the configuration works without writing anything: the templates
//! render for a sample member with hostile characters and for a listed account, the Slack token
//! answers `auth.test`, and the target's listing reads.

use std::sync::Arc;

use crate::config::Config;
use crate::http::Budget;
use crate::report::Summary;
use crate::slack::Member;
use crate::template::{SystemTemplates, TemplateError, UserView};
use crate::{connect, Error};

/// Runs every check; fills the summary's listing figures.
pub fn check(config: &Config, budget: &Arc<Budget>, summary: &mut Summary) -> Result<(), Error> {
    let system = connect(config, budget)?;
    let templates = &system.templates;
    let source = include_str!("check_member.json");
    let mut sample: Member = serde_json::from_str(source).expect("the built-in sample member is valid");
    if templates.uses_slack_object {
        sample.raw = serde_json::value::RawValue::from_string(source.to_string()).ok();
    }
    let user = Arc::new(UserView::from_member(&sample));
    let (key, _) = templates.render_create(&user)?;
    log::info!("templates in {}: create.json renders (sample key {key})", templates.folder().display());
    check_samples(templates)?;
    let identity = system.slack.auth_test()?;
    log::info!(
        "Slack: token works for workspace {} ({})",
        identity.team.as_deref().unwrap_or("?"),
        identity.team_id.as_deref().unwrap_or("?")
    );
    let tests = templates.account_tests()?;
    let mut managed = 0;
    let mut first = None;
    let accounts = system.target.for_each_account(|account| -> Result<(), Error> {
        managed += usize::from(tests.is_managed(&account.key, &account.value)?);
        first.get_or_insert(account);
        Ok(())
    })?;
    if let Some(first) = first {
        templates.render_update(&user, &first.value)?;
        templates.render_deactivate(&first.key, &first.value)?;
    }
    log::info!("target: listing works, {accounts} accounts, {managed} managed by slack-im");
    if templates.spec.managed.is_some() && managed == 0 && accounts > 0 {
        log::warn!("no listed account matches the \"managed\" expression of system.json: nothing will ever be deactivated");
    }
    summary.sources.target_accounts = accounts;
    summary.sources.managed_accounts = managed;
    Ok(())
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
fn check_samples(templates: &SystemTemplates) -> Result<(), TemplateError> {
    for source in SAMPLES {
        let mut member: Member = serde_json::from_str(source).expect("the built-in samples are valid");
        if templates.uses_slack_object {
            member.raw = serde_json::value::RawValue::from_string(source.to_string()).ok();
        }
        let user = Arc::new(UserView::from_member(&member));
        let (key, _) = match templates.render_key(&user)? {
            Some(key) => templates.render_create_for_key(&user, &key)?,
            None => templates.render_create(&user)?,
        };
        log::debug!("check: create.json renders for sample {} (key {key})", user.id);
    }
    if templates.spec.key.is_some() {
        log::info!("system.json \"key\" agrees with create.json for {} sample members", SAMPLES.len());
    }
    Ok(())
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
            let t = SystemTemplates::load(&root, system, "http://t", &BTreeMap::new(), &secrets).unwrap();
            check_samples(&t).unwrap();
        }
    }
}
