//! `sync` and `plan`: the read step (`read::prepare`), then for each system on its own the
//! warnings and, unless dry, the writes (`apply`, journaled by `journal`). Each system's result is
//! returned as a value ([`SystemResult`]); the report is made of those values, at the end.

use crate::action::Outcome;
use crate::apply;
use crate::config::Config;
use crate::connect::System;
use crate::error::{panicked, Error};
use crate::journal::{self, Journal};
use crate::plan::Plan;
use crate::read::{prepare, Prepared, Ran, Reading, Stopped, SystemResult};
use crate::secret::Redactor;

/// Reads everything, renders everything, plans, and (unless `dry_run`) applies, for every system;
/// returns each system's result. `started_at` is the run's, for the journal.
///
/// The targets are listed first; then Slack is read page by page and each member matched and
/// rendered for every system at once, so neither the workspace nor the bodies of unchanged
/// accounts are held in memory. No system writes before its reads and renders have succeeded, and
/// none writes at all when the Slack read fails. One system's failing target or template stops
/// that system only.
pub fn sync(configs: &[Config], dry_run: bool, started_at: &str, redactor: &Redactor) -> Vec<SystemResult> {
    let Prepared { systems, readings, source, .. } = match prepare(configs) {
        Ok(prepared) => prepared,
        Err(errors) => return errors.into_iter().map(|e| Err(e.into())).collect(),
    };
    let slack_requests = source.requests();
    std::thread::scope(|scope| {
        let runs: Vec<_> = readings
            .into_iter()
            .zip(&systems)
            .zip(configs)
            .map(|((reading, system), config)| {
                scope.spawn(move || {
                    finish(config, system, reading?, dry_run, started_at, slack_requests, redactor)
                })
            })
            .collect();
        runs.into_iter().map(|run| run.join().unwrap_or_else(|p| Err(panicked(&*p).into()))).collect()
    })
}

/// Step 4 for one system: the warnings `check` gives too, then the writes (unless dry); its result.
fn finish(
    config: &Config,
    system: &System,
    reading: Reading,
    dry_run: bool,
    started_at: &str,
    slack_requests: usize,
    redactor: &Redactor,
) -> SystemResult {
    let warnings = reading.warnings();
    for warning in &warnings {
        log::warn!("{}: WARNING: {warning}", config.system);
    }
    let outcomes = match dry_run {
        true => None,
        false => match apply_plan(config, system, &reading.plan, redactor, started_at) {
            Ok(outcomes) => Some(outcomes),
            Err(error) => return Err(Stopped { error: Box::new(error), warnings }),
        },
    };
    Ok(Ran::new(reading, outcomes, warnings, slack_requests, system))
}

/// Step 4: the writes, journaled as they happen when there is a report folder.
fn apply_plan(
    config: &Config,
    system: &System,
    plan: &Plan,
    redactor: &Redactor,
    started_at: &str,
) -> Result<Vec<Outcome>, Error> {
    let journal = match &config.report_dir {
        Some(dir) if !plan.actions.is_empty() => {
            let run = serde_json::json!({
                "system": config.system, "run_id": config.run_id, "started_at": started_at,
            });
            let journal = Journal::open(dir, redactor.clone(), run)
                .map_err(|e| Error::Journal(format!("{}: {e}", dir.join(journal::FILE_NAME).display())))?;
            Some(journal)
        }
        _ => None,
    };
    Ok(apply::apply(&plan.actions, &system.target, config.concurrency, journal.as_ref()))
}
