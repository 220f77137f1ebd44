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

pub use crate::report::Summary;

/// The parsers, the renderer and the redactor, for the fuzz targets to drive directly.
pub mod fuzzing {
    pub use crate::secret::{redactable_len, Redactor, Secret, MIN_SECRET_LEN, REDACTED};
    pub use crate::slack::{parse_users_list, repair_lone_surrogates, Member};
    pub use crate::target::{parse_listing_page, ListSpec};
    pub use crate::template::{SystemTemplates, UserView};
}

/// What to do.
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
#[derive(Debug, thiserror::Error)]
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
    /// `check` found the token unfit for this configuration (missing scopes, an org-level token
    /// without a workspace): a configuration problem, exit 2.
    #[error("not ready: {0}")]
    NotReady(String),
    /// The write journal cannot be opened: no write is made unrecorded.
    #[error("the write journal cannot be written, so nothing was written: {0}")]
    Journal(String),
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
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::CaBundle(_) | Error::Template(_) | Error::NotReady(_) => exit::CONFIG,
            Error::Slack(_) | Error::Target(_) | Error::Journal(_) | Error::Internal(_) => exit::FAILED,
        }
    }
}

/// Runs one command and writes the reports (also when the run fails). The summary carries the exit
/// code; an error is returned for runs that stopped before completing, after it was reported.
pub fn run(command: Command, config: &Config) -> Result<Summary, Error> {
    let started = Instant::now();
    let redactor = Redactor::new(config.all_secrets());
    secret::install_log_redactor(redactor.clone());
    let budget = Budget::new(config.deadline, config.retry_budget);
    let mut summary = Summary {
        run_id: config.run_id.clone(),
        system: config.system.clone(),
        command: command.name().into(),
        // `check` plans like a dry run and writes nothing.
        dry_run: command != Command::Sync || config.dry_run,
        started_at: report::now_rfc3339(),
        ..Summary::default()
    };
    // A panic anywhere (a bug) still ends in a report and an exit code; the journal holds the
    // writes already sent.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match command {
        Command::Check => check::check(config, &budget, &mut summary),
        Command::Sync | Command::Plan => sync::sync(config, &budget, &redactor, &mut summary),
    }))
    .unwrap_or_else(|panic| Err(Error::Internal(panic_message(&*panic))));
    summary.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    summary.exit_code = match &result {
        Ok(()) => exit_code_of(&summary),
        Err(e) => {
            summary.error = Some(e.to_string());
            e.exit_code()
        }
    };
    if let Some(dir) = &config.report_dir {
        match summary.write(dir, &redactor) {
            Ok(()) => log::info!("report written to {}", dir.display()),
            Err(e) => log::error!("cannot write the report to {} (SLACK_IM_REPORT_DIR): {e}", dir.display()),
        }
    }
    if let (Some(channel), false) = (&config.notify_channel, command == Command::Check) {
        notify(config, channel, &summary, &redactor);
    }
    result.map(|()| summary)
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
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

/// One system's templates and the clients that talk to Slack and to the system.
pub(crate) struct System {
    pub templates: SystemTemplates,
    pub slack: SlackClient,
    pub target: TargetClient,
}

/// Loads the system folder and builds the clients; nothing is sent yet.
pub(crate) fn connect(config: &Config, budget: &Arc<Budget>) -> Result<System, Error> {
    let templates = SystemTemplates::load(
        &config.templates_root,
        &config.system,
        &config.target_url,
        &config.vars,
        &config.secrets,
    )?;
    let agent = http::agent(config.timeout, config.ca_file.as_deref())?;
    let slack = SlackClient::new(
        agent.clone(),
        &config.slack_url,
        config.slack_token.clone(),
        config.slack_team_id.clone(),
        budget.clone(),
        config.read_limit,
    );
    let target = TargetClient::new(
        agent,
        &config.target_url,
        templates.spec.clone(),
        budget.clone(),
        config.read_limit,
    );
    Ok(System { templates, slack, target })
}

/// Posts the summary to Slack. It has its own small allowance of time and retries: a run that
/// spent its budget still reports.
fn notify(config: &Config, channel: &str, summary: &Summary, redactor: &Redactor) {
    let agent = match http::agent(config.timeout, config.ca_file.as_deref()) {
        Ok(a) => a,
        Err(e) => return log::warn!("no Slack notification: {e}"),
    };
    let budget = Budget::new(config.timeout * 3, 3);
    let slack = SlackClient::new(
        agent,
        &config.slack_url,
        config.slack_token.clone(),
        config.slack_team_id.clone(),
        budget,
        config.read_limit,
    );
    let (text, blocks) = summary.slack_message(redactor);
    match slack.post_message(channel, &text, &blocks) {
        Ok(()) => log::info!("summary posted to Slack channel {channel}"),
        Err(e) => {
            log::warn!("the summary could not be posted to Slack (the sync result stands): {e}")
        }
    }
}
