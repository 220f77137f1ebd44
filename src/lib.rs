//! slack-im makes a system's agent accounts follow the company Slack workspace: it reads the
//! members with `users.list`, keeps the people who should have an account, renders each one through
//! the system's Jinja payload templates, lists the accounts the system has, and writes only the
//! difference (create, update, deactivate), with a dry run, guards and a report.
//!
//! The flow (`sync`): `config` → `target` (listing) → `slack` + `eligibility` → `matching`
//! (each member rendered through `template` and compared as its page arrives) → `plan` (pure) →
//! `apply` (journaled by `journal`) → `report`. See docs/architecture.md.

mod apply;
mod check;
pub mod config;
mod eligibility;
mod http;
mod journal;
mod matching;
mod plan;
mod report;
pub mod secret;
mod slack;
mod source;
mod sync;
mod target;
mod template;

use std::sync::Arc;
use std::time::Instant;

use crate::config::{Config, ConfigError};
use crate::http::Budget;
use crate::secret::Redactor;
use crate::slack::{SlackClient, SlackError};
use crate::target::{TargetClient, TargetError};
use crate::template::{SystemTemplates, TemplateError};

pub use crate::config::system_suffix;
pub use crate::report::{write_config_error, Summary};

/// The parsers, the renderer and the redactor, for the fuzz targets to drive directly.
pub mod fuzzing {
    pub use crate::secret::{redactable_len, Redactor, Secret, MIN_SECRET_LEN, REDACTED};
    pub use crate::slack::{parse_users_list, repair_lone_surrogates, Member};
    pub use crate::target::{parse_listing_page, ListSpec};
    pub use crate::template::{SystemTemplates, UserView};
}

/// What to do with the systems (`slack-im export` is [`export`]: it has no system).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Read, plan and write.
    Sync,
    /// Read and plan; write nothing.
    Plan,
    /// Validate configuration and templates, then call Slack `auth.test` and the target's listing.
    Check,
}

impl Command {
    pub fn name(self) -> &'static str {
        match self {
            Command::Sync => "sync",
            Command::Plan => "plan",
            Command::Check => "check",
        }
    }
}

/// Why a run stopped before completing.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("configuration: {0}")]
    CaBundle(#[from] http::CaBundleError),
    #[error("template: {0}")]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Slack(#[from] SlackError),
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The write journal cannot be opened: no write is made unrecorded.
    #[error("the write journal cannot be written, so nothing was written: {0}")]
    Journal(String),
    /// `check` found the token unfit for this configuration (missing scopes, an org-level token
    /// without a workspace): a configuration problem, exit 2.
    #[error("not ready: {0}")]
    NotReady(String),
    /// The members file is missing, stale, of another format, truncated or corrupt.
    #[error("members file {0}")]
    MembersFile(String),
    /// This system did not run because another one is misconfigured (nothing ran).
    #[error("{0}")]
    NotRun(String),
    /// A bug: a panic, caught so that the run still reports.
    #[error("internal error (a bug in slack-im, please report it): {0}; writes sent before it are listed in {file}", file = journal::FILE_NAME)]
    Internal(String),
}

/// The exit codes of the contract.
pub mod exit {
    /// Done, or the dry run finished.
    pub const OK: u8 = 0;
    /// Failed before completing: Slack, the target listing, the network.
    pub const FAILED: u8 = 1;
    /// Bad configuration or template.
    pub const CONFIG: u8 = 2;
    /// Some actions failed; the rest were applied.
    pub const PARTIAL: u8 = 3;
    /// A guard withheld deactivations; everything else was applied.
    pub const WITHHELD: u8 = 4;

    /// The run's code when systems ended differently: the most severe one, in the order
    /// 2 (misconfigured) > 1 (failed) > 3 (partial) > 4 (withheld) > 0, so a failed system never
    /// hides behind another's success.
    pub fn most_severe(codes: impl IntoIterator<Item = u8>) -> u8 {
        let rank = |code: u8| match code {
            CONFIG => 4,
            FAILED => 3,
            PARTIAL => 2,
            WITHHELD => 1,
            _ => 0,
        };
        codes.into_iter().max_by_key(|c| rank(*c)).unwrap_or(OK)
    }
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_)
            | Error::CaBundle(_)
            | Error::Template(_)
            | Error::NotRun(_)
            | Error::NotReady(_) => exit::CONFIG,
            Error::Slack(_)
            | Error::Target(_)
            | Error::Journal(_)
            | Error::MembersFile(_)
            | Error::Internal(_) => exit::FAILED,
        }
    }
}

/// What a run produced: one summary per system (each with its exit code and error) and the
/// run's exit code.
#[derive(Debug)]
pub struct RunReport {
    pub summaries: Vec<Summary>,
    pub exit_code: u8,
}

/// Runs one command for every configured system and writes the reports (also when the run fails).
/// With several systems, Slack is read once and every page feeds each system.
pub fn run(command: Command, configs: &[Config]) -> RunReport {
    let started = Instant::now();
    let redactor = Redactor::new(configs.iter().flat_map(Config::all_secrets));
    secret::install_log_redactor(redactor.clone());
    let several = configs.len() > 1;
    let configs: Vec<Config> = configs.iter().map(|c| with_system_report_dir(c, several)).collect();
    let started_at = report::now_rfc3339();
    let mut summaries: Vec<Summary> = configs
        .iter()
        .map(|config| Summary {
            run_id: config.run_id.clone(),
            system: config.system.clone(),
            command: command.name().into(),
            // `check` plans like a dry run and writes nothing.
            dry_run: command != Command::Sync || config.dry_run,
            started_at: started_at.clone(),
            ..Summary::default()
        })
        .collect();
    // A panic anywhere (a bug) still ends in a report and an exit code; the journal holds the
    // writes already sent.
    let results = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match command {
        Command::Check => check::check(&configs, &mut summaries),
        Command::Sync | Command::Plan => sync::sync(&configs, &redactor, &mut summaries),
    }))
    .unwrap_or_else(|panic| {
        let message = panic_message(&*panic);
        configs.iter().map(|_| Err(Error::Internal(message.clone()))).collect()
    });
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    for ((summary, result), config) in summaries.iter_mut().zip(results).zip(&configs) {
        summary.duration_ms = duration_ms;
        summary.exit_code = match result {
            Ok(()) => exit_code_of(summary),
            Err(e) => {
                summary.error = Some(e.to_string());
                e.exit_code()
            }
        };
        if let Some(dir) = &config.report_dir {
            write_report(dir, |dir| summary.write(dir, &redactor));
        }
    }
    let exit_code = exit::most_severe(summaries.iter().map(|s| s.exit_code));
    if several {
        if let Some(dir) = configs[0].report_dir.as_ref().and_then(|d| d.parent()) {
            let combined = report::Combined::new(&summaries, exit_code, duration_ms);
            write_report(dir, |dir| combined.write(dir, &redactor));
        }
    }
    if let (Some(channel), false) = (&configs[0].notify_channel, command == Command::Check) {
        notify(&configs[0], channel, &summaries, &redactor);
    }
    RunReport { summaries, exit_code }
}

/// `slack-im export FILE`: the members, read from Slack, written to a file for later runs.
pub fn export(config: &Config, path: &std::path::Path) -> Result<source::Exported, Error> {
    secret::install_log_redactor(Redactor::new(config.all_secrets()));
    source::export(config, path)
}

/// With several systems, each system's reports go to `SLACK_IM_REPORT_DIR/<system>/`.
fn with_system_report_dir(config: &Config, several: bool) -> Config {
    let mut config = config.clone();
    if several {
        config.report_dir = config.report_dir.map(|d| d.join(&config.system));
    }
    config
}

fn write_report(dir: &std::path::Path, write: impl FnOnce(&std::path::Path) -> std::io::Result<()>) {
    match write(dir) {
        Ok(()) => log::info!("report written to {}", dir.display()),
        Err(e) => log::error!("cannot write the report to {} (SLACK_IM_REPORT_DIR): {e}", dir.display()),
    }
}

pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(text), _) => format!("panic: {text}"),
        (_, Some(text)) => format!("panic: {text}"),
        _ => "panic".into(),
    }
}

fn exit_code_of(summary: &Summary) -> u8 {
    if summary.dry_run {
        exit::OK
    } else if summary.counts.failed > 0 {
        exit::PARTIAL
    } else if summary.counts.withheld > 0 {
        exit::WITHHELD
    } else {
        exit::OK
    }
}

/// One system's templates and the client that talks to it.
pub(crate) struct System {
    pub templates: SystemTemplates,
    pub target: TargetClient,
}

/// Loads the system folder and builds its target client; nothing is sent yet. The target URL is
/// the variable's, else the folder's `system.json` `url`.
pub(crate) fn connect(config: &Config, budget: &Arc<Budget>) -> Result<System, Error> {
    let templates = SystemTemplates::load(
        &config.templates_root,
        &config.system,
        config.target_url.as_deref(),
        &config.vars,
        &config.secrets,
    )?;
    let url = match (&config.target_url, &templates.spec.url) {
        (Some(url), _) => url.clone(),
        (None, Some(url)) => {
            let from = format!("\"url\" in {}", templates.folder().join("system.json").display());
            config::check_target_url(&from, url, config.allow_http)?
        }
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
    let agent = http::agent(config.timeout, config.ca_file.as_deref())?;
    let target = TargetClient::new(agent, &url, templates.spec.clone(), budget.clone(), config.read_limit);
    Ok(System { templates, target })
}

/// The Slack client of a run (the Slack settings are the same for every system).
pub(crate) fn slack_client(config: &Config, budget: Arc<Budget>) -> Result<SlackClient, Error> {
    let token = config.slack_token.clone().ok_or_else(|| ConfigError::Missing {
        var: "SLACK_BOT_TOKEN".into(),
        hint: "this command reads Slack: set it (or SLACK_BOT_TOKEN_FILE) to a bot token with users:read and users:read.email",
    })?;
    let agent = http::agent(config.timeout, config.ca_file.as_deref())?;
    Ok(SlackClient::new(
        agent,
        &config.slack_url,
        token,
        config.slack_team_id.clone(),
        budget,
        config.read_limit,
    ))
}

/// Posts the run's summary to Slack (one post for every system). It has its own small allowance
/// of time and retries: a run that spent its budget still reports.
fn notify(config: &Config, channel: &str, summaries: &[Summary], redactor: &Redactor) {
    let slack = match slack_client(config, Budget::new(config.timeout * 3, 3)) {
        Ok(slack) => slack,
        Err(e) => return log::warn!("no Slack notification: {e}"),
    };
    let (text, blocks) = report::slack_message(summaries, redactor);
    match slack.post_message(channel, &text, &blocks) {
        Ok(()) => log::info!("summary posted to Slack channel {channel}"),
        Err(e) => {
            log::warn!("the summary could not be posted to Slack (the sync result stands): {e}")
        }
    }
}
