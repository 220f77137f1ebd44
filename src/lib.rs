//! slack-im makes a system's agent accounts follow the company Slack workspace: it reads the
//! members with `users.list`, keeps the people who should have an account, renders each one through
//! the system's Jinja payload templates, lists the accounts the system has, and writes only the
//! difference (create, update, deactivate), with a dry run, guards and a report.
//!
//! The flow (`sync`): `config` → `target` (listing) → `slack` + `eligibility` → `matching`
//! (each member rendered through `template` and compared as its page arrives) → `plan` (pure) →
//! `apply` (journaled by `journal`) → `report`. See docs/architecture.md.

mod action;
mod apply;
mod approval;
mod check;
mod clock;
pub mod config;
mod connect;
mod eligibility;
mod error;
pub mod exit;
mod files;
mod http;
mod journal;
mod matching;
mod members;
mod plan;
mod read;
mod report;
pub mod secret;
mod slack;
mod source;
mod sync;
mod target;
mod template;

use std::time::Instant;

use crate::config::{Config, RunConfig};
use crate::connect::slack_client;
use crate::error::panic_message;
use crate::http::Budget;
use crate::secret::{Redactor, Secret};

pub use crate::config::system_suffix;
pub use crate::error::Error;
pub use crate::report::{write_config_error, Summary};

/// The parsers, the renderer and the redactor, for the fuzz targets to drive directly.
pub mod fuzzing {
    pub use crate::members::Member;
    pub use crate::secret::{redactable_len, Redactor, Secret, MIN_SECRET_LEN, REDACTED};
    pub use crate::slack::{parse_users_list, repair_lone_surrogates};
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

/// What a run produced: one summary per system (each with its exit code and error) and the
/// run's exit code.
#[derive(Debug)]
pub struct RunReport {
    pub summaries: Vec<Summary>,
    pub exit_code: u8,
    /// The run's redactor (its secrets and the folders' header values), for whatever the caller
    /// prints of the summaries.
    pub redactor: Redactor,
    /// `plan --out FILE`: the line saying where the plan was saved and until when it applies.
    pub saved_plan: Option<String>,
}

/// Runs one command for every configured system and writes the reports (also when the run fails).
/// With several systems, Slack is read once and every page feeds each system.
pub fn run(command: Command, config: &Config) -> RunReport {
    let started = Instant::now();
    let redactor = redactor(config);
    secret::install_log_redactor(redactor.clone());
    let several = config.systems.len() > 1;
    let started_at = clock::now_rfc3339();
    // `check` plans like a dry run and writes nothing.
    let dry_run = command != Command::Sync || config.run.dry_run;
    // A panic anywhere (a bug) still ends in a report and an exit code; the journal holds the
    // writes already sent.
    let results = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match command {
        Command::Check => check::check(config),
        Command::Sync | Command::Plan => sync::sync(config, dry_run, &started_at, &redactor),
    }))
    .unwrap_or_else(|panic| {
        let message = panic_message(&*panic);
        config.systems.iter().map(|_| Err(Error::Internal(message.clone()).into())).collect()
    });
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    // What every system's summary shares; each summary is made once, here, from its result.
    let facts = report::Run {
        run_id: config.run.run_id.clone(),
        command: command.name(),
        dry_run,
        started_at,
        duration_ms,
    };
    let summaries: Vec<Summary> = config
        .systems
        .iter()
        .zip(&results)
        .map(|(system, result)| Summary::from_result(&facts, &system.system, result))
        .collect();
    for (summary, system) in summaries.iter().zip(&config.systems) {
        if let Some(dir) = config.report_dir(system) {
            write_report(&dir, |dir| summary.write(dir, &redactor));
        }
    }
    let mut exit_code = exit::most_severe(summaries.iter().map(|s| s.exit_code));
    let mut saved_plan = None;
    if let Some(path) = &config.run.plan_out {
        match save_plan(config, path, &results, &redactor) {
            Ok(line) => saved_plan = Some(line),
            Err(e) => {
                log::error!("{}", redactor.redact(&e));
                exit_code = exit::most_severe([exit_code, exit::FAILED]);
            }
        }
    }
    if several {
        if let Some(dir) = &config.run.report_dir {
            let combined = report::Combined::new(&facts, &summaries, exit_code);
            write_report(dir, |dir| combined.write(dir, &redactor));
        }
    }
    if let (Some(channel), false) = (&config.run.notify_channel, command == Command::Check) {
        let problem = summaries.iter().any(Summary::has_problem);
        let change = summaries.iter().any(Summary::has_change);
        if config.run.notify_on.wants(problem, change) {
            notify(&config.run, channel, &summaries, &redactor);
        } else {
            log::info!(
                "no Slack post: SLACK_IM_NOTIFY_ON={} and this run has nothing of that to report",
                config.run.notify_on.name()
            );
        }
    }
    RunReport { summaries, exit_code, redactor, saved_plan }
}

/// `plan --out FILE`: every system's part of the plan in one file, when every system planned.
/// The line to print when it is saved; why not, when it is not.
fn save_plan(
    config: &Config,
    path: &std::path::Path,
    results: &[read::SystemResult],
    redactor: &Redactor,
) -> Result<String, String> {
    let mut systems = Vec::new();
    let mut team = None;
    for (result, system) in results.iter().zip(&config.systems) {
        match result {
            Ok(ran) => {
                systems.extend(ran.saved.clone());
                team = team.or_else(|| ran.slack_team_id.clone());
            }
            Err(_) => {
                return Err(format!("no plan saved to {}: system {} stopped", path.display(), system.system))
            }
        }
    }
    let plan = approval::SavedPlan::new(&config.run, team, systems);
    plan.write(path, redactor).map_err(|e| e.to_string())?;
    let until = clock::rfc3339_of(plan.made_at_unix.saturating_add(config.run.plan_max_age.as_secs() as i64));
    Ok(format!(
        "plan saved to {file}: apply exactly it with `slack-im sync --plan {file}` before {until} (SLACK_IM_PLAN_MAX_AGE)\n",
        file = path.display()
    ))
}

/// Everything a run must never print: the configured secrets, and every value a system folder
/// renders into a header that is not a plain media type or client name (a folder may build a token
/// from `vars`; see [`template::SystemTemplates::header_values_to_hide`]). A folder that does not
/// load adds nothing: its run stops before any request and says why.
fn redactor(config: &Config) -> Redactor {
    let headers: Vec<Secret<String>> = config
        .systems
        .iter()
        .filter_map(|system| {
            template::SystemTemplates::load(
                &config.run.templates_root,
                &system.system,
                system.target_url.as_deref(),
                &system.vars,
                &system.secrets,
            )
            .ok()
        })
        .flat_map(|templates| templates.header_values_to_hide())
        .collect();
    Redactor::new(config.all_secrets().into_iter().chain(&headers))
}

/// `slack-im export FILE`: the members, read from Slack, written to a file for later runs.
pub fn export(config: &Config, path: &std::path::Path) -> Result<source::Exported, Error> {
    secret::install_log_redactor(Redactor::new(config.all_secrets()));
    source::export(&config.run, path)
}

fn write_report(dir: &std::path::Path, write: impl FnOnce(&std::path::Path) -> std::io::Result<()>) {
    match write(dir) {
        Ok(()) => log::info!("report written to {}", dir.display()),
        Err(e) => log::error!("cannot write the report to {} (SLACK_IM_REPORT_DIR): {e}", dir.display()),
    }
}

/// Posts the run's summary to Slack (one post for every system). It has its own small allowance
/// of time and retries: a run that spent its budget still reports.
fn notify(config: &RunConfig, channel: &str, summaries: &[Summary], redactor: &Redactor) {
    let slack = match slack_client(config, Budget::new(config.timeout * 3, 3)) {
        Ok(slack) => slack,
        Err(e) => return log::warn!("no Slack notification: {e}"),
    };
    let build_url = config.build_url.as_deref();
    if build_url.is_some_and(|url| report::build_link(url).is_none()) {
        log::warn!("BUILD_URL is not an http:// or https:// URL: the Slack post does not link to the build");
    }
    let (text, blocks) = report::slack_message(summaries, redactor, build_url);
    match slack.post_message(channel, &text, &blocks) {
        Ok(()) => log::info!("summary posted to Slack channel {channel}"),
        Err(e) => {
            log::warn!("the summary could not be posted to Slack (the sync result stands): {e}")
        }
    }
}
