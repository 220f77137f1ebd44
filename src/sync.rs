//! `sync` and `plan` as a short pipeline of named steps: list the target, read Slack and match
//! each eligible member as its page arrives, plan, render the deactivations, apply. Each step
//! returns what it found; the summary is built from those results at the end.

use std::sync::Arc;
use std::time::Instant;

use crate::apply::{self, Outcome};
use crate::config::Config;
use crate::eligibility::Skipped;
use crate::http::Budget;
use crate::journal::{self, Journal};
use crate::matching::Listing;
use crate::plan::{self, ActionKind, Desired, Plan, Policy};
use crate::report::{Sources, Summary};
use crate::secret::Redactor;
use crate::{check, connect, Error, System};

/// What reading Slack gave: the eligible members matched and rendered, the others with reasons.
struct Members {
    desired: Vec<Desired>,
    skipped: Vec<Skipped>,
    read: usize,
}

/// Everything read and decided before the first write: what `sync` applies, `plan` prints and
/// `check` counts.
pub(crate) struct Reading {
    pub listing: Listing,
    /// Members left out by the filter, with reasons (the plan's own are in `plan.skipped`).
    pub skipped: Vec<Skipped>,
    /// Distinct members read from Slack.
    pub read: usize,
    pub eligible: usize,
    pub plan: Plan,
}

impl Reading {
    /// Fills the summary's counts, actions, skips and sources; `outcomes` after real writes.
    pub fn record(&self, system: &System, outcomes: Option<&[Outcome]>, summary: &mut Summary) {
        summary.record(&self.plan, outcomes, &self.skipped);
        summary.sources = Sources {
            slack_members: self.read,
            eligible_members: self.eligible,
            slack_requests: system.slack.requests(),
            target_accounts: self.listing.accounts().len(),
            managed_accounts: self.listing.managed(),
            target_requests: system.target.requests(),
        };
    }
}

/// Reads everything, renders everything, plans, and (unless dry) applies; fills `summary`.
///
/// The target is listed first; then Slack is read page by page and each eligible member matched
/// and rendered at once, so neither the workspace nor the bodies of unchanged accounts are held in
/// memory. Nothing is written before every read and every render has succeeded.
pub fn sync(
    config: &Config,
    budget: &Arc<Budget>,
    redactor: &Redactor,
    summary: &mut Summary,
) -> Result<(), Error> {
    let system = connect(config, budget)?;
    let reading = read_and_plan(config, &system)?;
    // The same warnings as `check`, before any write.
    summary.warnings = check::warnings(&reading);
    for warning in &summary.warnings {
        log::warn!("WARNING: {warning}");
    }
    let outcomes = match summary.dry_run {
        true => None,
        false => Some(apply_plan(config, &system, &reading.plan, redactor, &summary.started_at)?),
    };
    reading.record(&system, outcomes.as_deref(), summary);
    Ok(())
}

/// Steps 1 to 3: list the target, read Slack, plan, render the deactivations. Writes nothing.
pub(crate) fn read_and_plan(config: &Config, system: &System) -> Result<Reading, Error> {
    let listing = list_accounts(system)?;
    let Members { desired, skipped, read } = read_members(config, system, &listing)?;
    let eligible = desired.len();
    let mut plan = plan::plan(desired, listing.accounts(), &policy(config, system, eligible));
    render_deactivations(system, &listing, &mut plan)?;
    Ok(Reading { listing, skipped, read, eligible, plan })
}

/// Step 1: the target's accounts, and whether slack-im manages (or may adopt) each.
fn list_accounts(system: &System) -> Result<Listing, Error> {
    let started = Instant::now();
    let tests = system.templates.account_tests()?;
    let mut listing = Listing::default();
    system.target.for_each_account(|account| listing.push(account, &tests).map_err(Error::from))?;
    log::info!(
        "target: {} accounts, {} managed by slack-im ({:.2}s)",
        listing.accounts().len(),
        listing.managed(),
        started.elapsed().as_secs_f64()
    );
    Ok(listing)
}

/// Step 2: Slack, page by page: who should have an account, each one matched and rendered at once.
fn read_members(config: &Config, system: &System, listing: &Listing) -> Result<Members, Error> {
    let started = Instant::now();
    let channel_members = match &config.channel {
        Some(channel) => Some(system.slack.channel_members(channel)?),
        None => None,
    };
    let filter = config.filter(channel_members);
    let mut skipped = Vec::new();
    let mut desired = Vec::new();
    let stats =
        system.slack.for_each_member(system.templates.uses_slack_object, |member| -> Result<(), Error> {
            match filter.reason_to_skip(&member) {
                Some(reason) => skipped.push(Skipped { slack_id: member.id, reason }),
                None => desired.push(listing.desired_for(&system.templates, &member)?),
            }
            Ok(())
        })?;
    log::info!(
        "Slack: {} members in {} pages ({} requests, {} duplicates dropped); {} should have an account, {} skipped; rendered and compared in {:.2}s",
        stats.members,
        stats.pages,
        system.slack.requests(),
        stats.duplicates,
        desired.len(),
        skipped.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(Members { desired, skipped, read: stats.members })
}

/// What the plan may do: the configuration's protections and guard, the system's capabilities,
/// and no deactivation at all when Slack gave nobody eligible.
fn policy(config: &Config, system: &System, eligible: usize) -> Policy {
    Policy {
        protect: config.protect.clone(),
        max_deactivate: config.max_deactivate,
        can_deactivate: system.templates.spec.deactivate.is_some(),
        deactivation_blocked: (eligible == 0)
            .then(|| "Slack returned no eligible member: deactivating everyone is never right".to_string()),
    }
}

/// Step 3b: the bodies of the deactivations the plan makes (`deactivate.json`), rendered before
/// any write like every other template.
fn render_deactivations(system: &System, listing: &Listing, plan: &mut Plan) -> Result<(), Error> {
    if !system.templates.has_deactivate_body {
        return Ok(());
    }
    let leavers =
        plan.actions.iter_mut().filter(|a| a.kind == ActionKind::Deactivate && a.withheld.is_none());
    for action in leavers {
        if let Some(i) = action.account {
            action.body = system.templates.render_deactivate(&action.key, &listing.value(i))?;
        }
    }
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
