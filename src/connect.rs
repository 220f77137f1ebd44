//! The clients of a run, built from the configuration: a system's folder and target client
//! (`connect`), and the Slack client (`slack_client`). Nothing is sent here. Shared by the read
//! step, `check`, the members source and the Slack post.

use std::sync::Arc;

use crate::config::{self, ConfigError, RunConfig, SystemConfig};
use crate::error::Error;
use crate::http::{self, Budget};
use crate::slack::SlackClient;
use crate::target::{ReadLimits, TargetClient};
use crate::template::SystemTemplates;

/// One system's templates and the client that talks to it.
pub(crate) struct System {
    pub templates: SystemTemplates,
    pub target: TargetClient,
}

/// Loads the system folder and builds its target client; nothing is sent yet. The target URL is
/// the variable's, else the folder's `system.json` `url`; the unsuffixed `SLACK_IM_TARGET_URL`
/// keeps to the folder's host (`config::check_shared_url_host`).
pub(crate) fn connect(run: &RunConfig, config: &SystemConfig, budget: &Arc<Budget>) -> Result<System, Error> {
    let templates = SystemTemplates::load(
        &run.templates_root,
        &config.system,
        config.target_url.as_deref(),
        &config.vars,
        &config.secrets,
    )?;
    if config.email_domains.is_empty() && templates.key_ignores_the_domain() {
        return Err(ConfigError::Missing {
            var: format!(
                "SLACK_IM_EMAIL_DOMAINS (or SLACK_IM_EMAIL_DOMAINS__{})",
                config::system_suffix(&config.system)
            ),
            hint: "the folder's key ignores the e-mail's domain (user.email_local): without it anyone who sets their Slack e-mail to leaver@any-domain claims leaver's account; name your company's domains, or key on user.email or user.id",
        }
        .into());
    }
    let from = format!("\"url\" in {}", templates.folder().join("system.json").display());
    let url = match (&config.target_url, &templates.spec.url) {
        (Some(url), folder_url) => {
            config::check_shared_url_host(config, folder_url.as_deref(), &from)?;
            url.clone()
        }
        (None, Some(url)) => config::check_target_url(&from, url, run.allow_http)?,
        (None, None) => {
            return Err(ConfigError::Missing {
                var: format!(
                    "SLACK_IM_TARGET_URL (or SLACK_IM_TARGET_URL__{})",
                    config::system_suffix(&config.system)
                ),
                hint: "set it to the system's base URL, or give the system a \"url\" in its system.json",
            }
            .into())
        }
    };
    let extra = run.ca_file.as_deref().map(|file| http::ExtraCas { variable: "SSL_CERT_FILE", file });
    let agent = http::agent(run.timeout, extra, &url)?;
    let limits = ReadLimits { accounts: run.read_limit, megabytes: run.read_max_mb };
    let target = TargetClient::new(agent, &url, templates.spec.clone(), budget.clone(), limits);
    Ok(System { templates, target })
}

/// The Slack client of a run (the Slack settings are the same for every system).
pub(crate) fn slack_client(config: &RunConfig, budget: Arc<Budget>) -> Result<SlackClient, Error> {
    let token = config.slack_token.clone().ok_or_else(|| ConfigError::Missing {
        var: "SLACK_BOT_TOKEN".into(),
        hint: "this command reads Slack: set it (or SLACK_BOT_TOKEN_FILE) to a bot token with users:read and users:read.email",
    })?;
    // The targets' private CA is not trusted for Slack: a CA that may sign for slack.com is named
    // on its own (a TLS-inspecting proxy's).
    let extra = config
        .slack_ca_file
        .as_deref()
        .map(|file| http::ExtraCas { variable: "SLACK_IM_SLACK_CA_FILE", file });
    let agent = http::agent(config.timeout, extra, &config.slack_url)?;
    Ok(SlackClient::new(
        agent,
        &config.slack_url,
        token,
        config.slack_team_id.clone(),
        budget,
        config.read_limit,
    ))
}
