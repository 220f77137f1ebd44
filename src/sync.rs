//! `sync` and `plan`: the read step (`read::prepare`), then for each system on its own the
//! warnings and, unless dry, the writes (`apply`, journaled by `journal`). Each system's result is
//! returned as a value ([`SystemResult`]); the report is made of those values, at the end.

use crate::action::{Action, ActionKind, Outcome};
use crate::apply;
use crate::approval::{SavedPlan, SavedSystem};
use crate::config::{Config, ConfigError, SystemConfig};
use crate::connect::{slack_client, System};
use crate::error::{panicked, Error};
use crate::http::Budget;
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
///
/// With `sync --plan FILE` the saved plan is checked first (nothing is read when it cannot be
/// applied), and each system applies only the actions of its part ([`SavedSystem::approve`]).
/// With `plan --out FILE`, each system's result holds its part of the plan to save.
pub fn sync(config: &Config, dry_run: bool, started_at: &str, redactor: &Redactor) -> Vec<SystemResult> {
    let approved = match &config.run.approved_plan {
        Some(path) => match SavedPlan::read(path, &config.run, &config.systems) {
            Ok(plan) => Some(plan),
            Err(e) => return config.systems.iter().map(|_| Err(Error::from(e.clone()).into())).collect(),
        },
        None => None,
    };
    let Prepared { systems, readings, source, .. } = match prepare(config) {
        Ok(prepared) => prepared,
        Err(errors) => return errors.into_iter().map(|e| Err(e.into())).collect(),
    };
    let slack = (source.requests(), source.team_id());
    let run = &Run { config, dry_run, started_at, redactor, slack, approved: approved.as_ref() };
    std::thread::scope(|scope| {
        let runs: Vec<_> = readings
            .into_iter()
            .zip(&systems)
            .zip(&config.systems)
            .map(|((reading, system), config)| scope.spawn(move || finish(run, config, system, reading?)))
            .collect();
        runs.into_iter().map(|run| run.join().unwrap_or_else(|p| Err(panicked(&*p).into()))).collect()
    })
}

/// What every system's step 4 shares: the run's settings, whether to write, when the run started
/// (for the journal), the redactor, and what the shared Slack read was.
struct Run<'a> {
    config: &'a Config,
    dry_run: bool,
    started_at: &'a str,
    redactor: &'a Redactor,
    /// The requests the shared Slack read made, and the workspace the members came from.
    slack: (usize, Option<String>),
    /// `sync --plan`: the saved plan, checked.
    approved: Option<&'a SavedPlan>,
}

/// Step 4 for one system: the warnings `check` gives too, then the writes (unless dry); its result.
fn finish(run: &Run, config: &SystemConfig, system: &System, mut reading: Reading) -> SystemResult {
    let approval = run.approved.map(|plan| {
        let saved = plan.system(&config.system).expect("a saved plan of the run's systems, checked");
        saved.approve(&plan.made_at, &mut reading.plan, &reading.listing)
    });
    let saved = match &run.config.run.plan_out {
        Some(_) => {
            let numbers = (reading.read, reading.eligible);
            match SavedSystem::new(&run.config.run, config, &reading.plan, &reading.listing, numbers) {
                Ok(saved) => Some(saved),
                Err(e) => return Err(Stopped { error: Box::new(Error::SavedPlan(e)), warnings: Vec::new() }),
            }
        }
        None => None,
    };
    let warnings = reading.warnings();
    for warning in &warnings {
        log::warn!("{}: WARNING: {warning}", config.system);
    }
    if !run.dry_run && system.templates.has_welcome && run.config.run.slack_token.is_none() {
        let error = Error::from(ConfigError::Missing {
            var: "SLACK_BOT_TOKEN".into(),
            hint: "the folder has welcome.txt, a Slack DM to each member created: set it (or SLACK_BOT_TOKEN_FILE) to a bot token with chat:write",
        });
        return Err(Stopped { error: Box::new(error), warnings });
    }
    let outcomes = match run.dry_run {
        true => None,
        false => match apply_plan(run, config, system, &reading.plan) {
            Ok(outcomes) => Some(outcomes),
            Err(error) => return Err(Stopped { error: Box::new(error), warnings }),
        },
    };
    Ok(Ran { saved, approval, ..Ran::new(reading, outcomes, warnings, run.slack.clone(), system) })
}

/// Step 4: the writes, journaled as they happen when there is a report folder.
fn apply_plan(run: &Run, config: &SystemConfig, system: &System, plan: &Plan) -> Result<Vec<Outcome>, Error> {
    let journal = match &run.config.report_dir(config) {
        Some(dir) if !plan.actions.is_empty() => {
            let line = serde_json::json!({
                "system": config.system, "run_id": run.config.run.run_id, "started_at": run.started_at,
            });
            let journal = Journal::open(dir, run.redactor.clone(), line)
                .map_err(|e| Error::Journal(format!("{}: {e}", dir.join(journal::FILE_NAME).display())))?;
            Some(journal)
        }
        _ => None,
    };
    let mut outcomes =
        apply::apply(&plan.actions, &system.target, run.config.run.concurrency, journal.as_ref());
    welcome(run, &plan.actions, &mut outcomes, journal.as_ref());
    Ok(outcomes)
}

/// After the writes: each member whose account was just created, in a folder with `welcome.txt`,
/// gets their welcome DM. One that fails turns that create into a failed action (the account
/// stays), with the reason and what to do; none is posted twice (see
/// `SlackClient::post_direct_message`), and a DM is posted only once its journal line is written.
fn welcome(run: &Run, actions: &[Action], outcomes: &mut [Outcome], journal: Option<&Journal>) {
    let to_tell: Vec<bool> = actions
        .iter()
        .zip(outcomes.iter())
        .map(|(a, o)| a.kind == ActionKind::Create && a.welcome.is_some() && *o == Outcome::Done)
        .collect();
    if !to_tell.contains(&true) {
        return;
    }
    let config = &run.config.run;
    let slack = slack_client(config, Budget::new(config.deadline, config.retry_budget));
    for ((action, outcome), tell) in actions.iter().zip(outcomes.iter_mut()).zip(to_tell) {
        let (Some(text), Some(member), true) = (&action.welcome, &action.slack_id, tell) else {
            continue;
        };
        // What Slack or the journal says back may quote the text: the password is never shown.
        let hide = Redactor::new(action.hidden.iter().chain([text]));
        let sent = match (&slack, journal.map(|j| j.welcome(action, "sending", None))) {
            (_, Some(Err(e))) => Err(format!("not sent: the journal cannot be written: {e}")),
            (Err(e), _) => Err(e.to_string()),
            (Ok(slack), _) => {
                slack.post_direct_message(member, text).map_err(|e| hide.redact(&e.to_string()))
            }
        };
        if let Some(journal) = journal {
            let (status, error) = match &sent {
                Ok(()) => ("sent", None),
                Err(e) => ("failed", Some(e.as_str())),
            };
            if let Err(e) = journal.welcome(action, status, error) {
                log::error!("cannot append to {}: {e}", journal::FILE_NAME);
            }
        }
        if let Err(reason) = sent {
            let failed = format!(
                "the account was created, but its welcome DM to {member} failed: {reason}; the person does not know the account's password: reset it on the target and tell them (the next run does not send it again)"
            );
            log::error!("create {}: {failed}", action.key);
            *outcome = Outcome::WelcomeFailed(failed);
        }
    }
}
