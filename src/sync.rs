//! `sync` and `plan`: the read step (`read::prepare`), then for each system on its own the
//! warnings and, unless dry, the writes (`apply`, journaled by `journal`). Each step returns what it
//! found; the summaries are built from those results at the end.

use crate::action::Outcome;
use crate::apply;
use crate::config::Config;
use crate::connect::System;
use crate::error::{panicked, Error};
use crate::journal::{self, Journal};
use crate::plan::Plan;
use crate::read::{prepare, Prepared, Reading};
use crate::report::Summary;
use crate::secret::Redactor;

/// Reads everything, renders everything, plans, and (unless dry) applies, for every system; fills
/// each system's summary and returns each system's result.
///
/// The targets are listed first; then Slack is read page by page and each member matched and
/// rendered for every system at once, so neither the workspace nor the bodies of unchanged
/// accounts are held in memory. No system writes before its reads and renders have succeeded, and
/// none writes at all when the Slack read fails. One system's failing target or template stops
/// that system only.
pub fn sync(configs: &[Config], redactor: &Redactor, summaries: &mut [Summary]) -> Vec<Result<(), Error>> {
    let Prepared { systems, readings, source, .. } = match prepare(configs) {
        Ok(prepared) => prepared,
        Err(errors) => return errors,
    };
    let slack_requests = source.requests();
    std::thread::scope(|scope| {
        let runs: Vec<_> = readings
            .into_iter()
            .zip(&systems)
            .zip(configs)
            .zip(summaries.iter_mut())
            .map(|(((reading, system), config), summary)| {
                scope.spawn(move || finish(config, system, reading?, slack_requests, redactor, summary))
            })
            .collect();
        runs.into_iter().map(|run| run.join().unwrap_or_else(|p| Err(panicked(&*p)))).collect()
    })
}

/// Step 4 for one system: the warnings `check` gives too, then the writes (unless dry); its summary.
fn finish(
    config: &Config,
    system: &System,
    reading: Reading,
    slack_requests: usize,
    redactor: &Redactor,
    summary: &mut Summary,
) -> Result<(), Error> {
    summary.warnings = reading.warnings();
    for warning in &summary.warnings {
        log::warn!("{}: WARNING: {warning}", config.system);
    }
    let outcomes = match summary.dry_run {
        true => None,
        false => Some(apply_plan(config, system, &reading.plan, redactor, &summary.started_at)?),
    };
    reading.record(system, slack_requests, outcomes.as_deref(), summary);
    Ok(())
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
