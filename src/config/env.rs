//! The variables read by name, as envy reads them: one derived field per variable of the table
//! (envy lower-cases the names), each value's syntax checked first by its kind in the table, then
//! the checks that need more than one value, and the conversion into a system's [`RunConfig`] and
//! [`SystemConfig`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::overlay::system_name;
use super::values::{
    age, bot_token, check_secrets, check_target_url, email_domains, export_all_fields, members_key,
    members_unsigned, normalize_exclude, notify_on, run_id, slack_id, slack_url, CHANNEL_ID, TEAM_ID,
};
use super::variables::variable;
use super::{invalid, ConfigError, RunConfig, SystemConfig};
use crate::secret::Secret;

/// One field per variable of the table that is read by name. Every value is text here; the table
/// says what it holds.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Env {
    slack_bot_token: Option<String>,
    slack_bot_token_file: Option<String>,
    slack_im_system: Option<String>,
    slack_im_target_url: Option<String>,
    slack_im_templates: Option<String>,
    slack_im_slack_url: Option<String>,
    slack_im_slack_team_id: Option<String>,
    slack_im_channel: Option<String>,
    slack_im_include_guests: Option<String>,
    slack_im_require_confirmed_email: Option<String>,
    slack_im_email_domains: Option<String>,
    slack_im_usergroups: Option<String>,
    slack_im_exclude: Option<String>,
    slack_im_protect: Option<String>,
    slack_im_allow_http: Option<String>,
    slack_im_dry_run: Option<String>,
    slack_im_max_deactivate: Option<String>,
    slack_im_max_reactivate: Option<String>,
    slack_im_max_create: Option<String>,
    slack_im_deactivate_after: Option<String>,
    slack_im_slack_ca_file: Option<String>,
    slack_im_concurrency: Option<String>,
    slack_im_timeout_secs: Option<String>,
    slack_im_deadline_secs: Option<String>,
    slack_im_retry_budget: Option<String>,
    slack_im_read_limit: Option<String>,
    slack_im_read_max_mb: Option<String>,
    slack_im_report_dir: Option<String>,
    slack_im_notify_channel: Option<String>,
    slack_im_notify_on: Option<String>,
    build_url: Option<String>,
    slack_im_run_id: Option<String>,
    slack_im_members_file: Option<String>,
    slack_im_members_max_age: Option<String>,
    slack_im_plan_max_age: Option<String>,
    slack_im_members_key: Option<String>,
    slack_im_members_key_file: Option<String>,
    slack_im_members_unsigned: Option<String>,
    slack_im_export_fields: Option<String>,
    ssl_cert_file: Option<String>,
}

/// The variables read by name, into the run's settings and the system's. Every value's syntax is
/// checked first, in the
/// order of the names, so a run with two mistakes always names the same one first.
pub(super) fn read(
    plain: BTreeMap<String, String>,
    vars: BTreeMap<String, String>,
    secrets: BTreeMap<String, (String, Secret<String>)>,
) -> Result<(RunConfig, SystemConfig), ConfigError> {
    for (name, value) in &plain {
        variable(name).check(value)?;
    }
    let env: Env = envy::from_iter(plain).map_err(|e| invalid("SLACK_IM_*", e.to_string()))?;
    env.into_config(vars, secrets)
}

impl Env {
    /// The checks that need more than one value's syntax, and the conversion into the run's
    /// settings and the system's. The checks run in this order whatever the type they fill.
    fn into_config(
        self,
        vars: BTreeMap<String, String>,
        secrets: BTreeMap<String, (String, Secret<String>)>,
    ) -> Result<(RunConfig, SystemConfig), ConfigError> {
        let flag = |name: &str, value: Option<String>| variable(name).flag(value);
        let list = |name: &str, value: Option<String>| variable(name).list(value);
        let number = |name: &str, value: Option<String>| variable(name).number_or_default(value);
        let text = |name: &str, value: Option<String>| variable(name).text(value).unwrap_or_default();
        // With a members file and no Slack post, nothing talks to Slack: the token may be left out.
        let needs_token = self.slack_im_members_file.is_none() || self.slack_im_notify_channel.is_some();
        let slack_token = bot_token(
            ("SLACK_BOT_TOKEN", self.slack_bot_token),
            ("SLACK_BOT_TOKEN_FILE", self.slack_bot_token_file),
            needs_token,
        )?;
        let max_age_var = "SLACK_IM_MEMBERS_MAX_AGE";
        let members_max_age = age((max_age_var, text(max_age_var, self.slack_im_members_max_age)))?;
        let plan_age_var = "SLACK_IM_PLAN_MAX_AGE";
        let plan_max_age = age((plan_age_var, text(plan_age_var, self.slack_im_plan_max_age)))?;
        let members_key = members_key(
            ("SLACK_IM_MEMBERS_KEY", self.slack_im_members_key),
            ("SLACK_IM_MEMBERS_KEY_FILE", self.slack_im_members_key_file),
        )?;
        let members_unsigned =
            members_unsigned(("SLACK_IM_MEMBERS_UNSIGNED", self.slack_im_members_unsigned))?;
        if self.slack_im_members_file.is_some() && members_key.is_none() && !members_unsigned {
            return Err(ConfigError::Missing {
                var: "SLACK_IM_MEMBERS_KEY".into(),
                hint: "SLACK_IM_MEMBERS_FILE is read only when its signature checks: set this key (or SLACK_IM_MEMBERS_KEY_FILE) to the key the export used, or SLACK_IM_MEMBERS_UNSIGNED=allow to read it unauthenticated",
            });
        }
        let secrets = check_secrets(secrets)?;
        let allow_http = flag("SLACK_IM_ALLOW_HTTP", self.slack_im_allow_http)?;
        let system = system_name(("SLACK_IM_SYSTEM", self.slack_im_system))?;
        let target_url = match self.slack_im_target_url {
            Some(url) => Some(check_target_url("SLACK_IM_TARGET_URL", &url, allow_http)?),
            None => None,
        };
        let slack_url_var = "SLACK_IM_SLACK_URL";
        let slack_url = slack_url((slack_url_var, text(slack_url_var, self.slack_im_slack_url)), allow_http)?;
        let domains_var = "SLACK_IM_EMAIL_DOMAINS";
        let usergroups = list("SLACK_IM_USERGROUPS", self.slack_im_usergroups)?;
        let slack_team_id = slack_id(("SLACK_IM_SLACK_TEAM_ID", self.slack_im_slack_team_id), TEAM_ID)?;
        let channel = slack_id(("SLACK_IM_CHANNEL", self.slack_im_channel), CHANNEL_ID)?;
        let include_guests = flag("SLACK_IM_INCLUDE_GUESTS", self.slack_im_include_guests)?;
        let require_confirmed_email =
            flag("SLACK_IM_REQUIRE_CONFIRMED_EMAIL", self.slack_im_require_confirmed_email)?;
        let system = SystemConfig {
            system,
            target_url,
            target_url_var: "SLACK_IM_TARGET_URL".into(),
            email_domains: email_domains((domains_var, list(domains_var, self.slack_im_email_domains)?))?,
            usergroups: usergroups
                .iter()
                .map(|h| h.trim_start_matches('@').to_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
            usergroups_var: "SLACK_IM_USERGROUPS".into(),
            protect: list("SLACK_IM_PROTECT", self.slack_im_protect)?
                .iter()
                .map(|k| k.to_lowercase())
                .collect(),
            max_deactivate: variable("SLACK_IM_MAX_DEACTIVATE")
                .number(self.slack_im_max_deactivate)?
                .map(|n| n as usize),
            max_reactivate: variable("SLACK_IM_MAX_REACTIVATE")
                .number(self.slack_im_max_reactivate)?
                .map(|n| n as usize),
            max_create: variable("SLACK_IM_MAX_CREATE").number(self.slack_im_max_create)?.map(|n| n as usize),
            deactivate_after: age((
                "SLACK_IM_DEACTIVATE_AFTER",
                text("SLACK_IM_DEACTIVATE_AFTER", self.slack_im_deactivate_after),
            ))?,
            vars,
            secrets,
        };
        let run = RunConfig {
            allow_http,
            templates_root: PathBuf::from(text("SLACK_IM_TEMPLATES", self.slack_im_templates)),
            slack_url,
            slack_token,
            slack_team_id,
            channel,
            include_guests,
            require_confirmed_email,
            exclude: list("SLACK_IM_EXCLUDE", self.slack_im_exclude)?
                .iter()
                .map(|e| normalize_exclude(e))
                .collect(),
            dry_run: flag("SLACK_IM_DRY_RUN", self.slack_im_dry_run)?,
            concurrency: number("SLACK_IM_CONCURRENCY", self.slack_im_concurrency)? as usize,
            timeout: Duration::from_secs(number("SLACK_IM_TIMEOUT_SECS", self.slack_im_timeout_secs)?),
            deadline: Duration::from_secs(number("SLACK_IM_DEADLINE_SECS", self.slack_im_deadline_secs)?),
            // The range (at most 100000) fits.
            retry_budget: number("SLACK_IM_RETRY_BUDGET", self.slack_im_retry_budget)? as u32,
            read_limit: number("SLACK_IM_READ_LIMIT", self.slack_im_read_limit)? as usize,
            read_max_mb: number("SLACK_IM_READ_MAX_MB", self.slack_im_read_max_mb)?,
            report_dir: self.slack_im_report_dir.map(PathBuf::from),
            notify_channel: slack_id(("SLACK_IM_NOTIFY_CHANNEL", self.slack_im_notify_channel), CHANNEL_ID)?,
            notify_on: notify_on((
                "SLACK_IM_NOTIFY_ON",
                text("SLACK_IM_NOTIFY_ON", self.slack_im_notify_on),
            ))?,
            // Jenkins' own variable, whatever it holds: the Slack post links to it only when it is an
            // http(s) URL, and a bad one never stops a run.
            build_url: self.build_url,
            run_id: run_id(("SLACK_IM_RUN_ID", self.slack_im_run_id))?,
            members_file: self.slack_im_members_file.map(PathBuf::from),
            members_max_age,
            plan_max_age,
            plan_out: None,
            approved_plan: None,
            members_key,
            members_unsigned,
            export_all_fields: export_all_fields(("SLACK_IM_EXPORT_FIELDS", self.slack_im_export_fields))?,
            ca_file: self.ssl_cert_file.map(PathBuf::from),
            slack_ca_file: self.slack_im_slack_ca_file.map(PathBuf::from),
        };
        Ok((run, system))
    }
}
