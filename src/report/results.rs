//! The report as a function of the results: each system's [`Summary`] is made once, at the end of
//! the run, from the run's settings and the value its command returned (`read::SystemResult`).
//! Nothing else writes a summary.

use super::{ApprovedPlanReport, Sources, Summary, UnkeyedReport};
use crate::exit;
use crate::read::{Ran, SystemResult};

/// What every system's summary of a run shares.
pub(crate) struct Run {
    pub run_id: Option<String>,
    pub command: &'static str,
    /// Nothing was written (`plan`, `check`, or `SLACK_IM_DRY_RUN`).
    pub dry_run: bool,
    pub started_at: String,
    pub duration_ms: u64,
}

impl Summary {
    /// One system's summary: its counts, actions, skips and sources when it ran, its error when it
    /// stopped, and the exit code either way.
    pub(crate) fn from_result(run: &Run, system: &str, result: &SystemResult) -> Summary {
        let mut summary = Summary {
            run_id: run.run_id.clone(),
            system: system.into(),
            command: run.command.into(),
            dry_run: run.dry_run,
            started_at: run.started_at.clone(),
            duration_ms: run.duration_ms,
            ..Summary::default()
        };
        match result {
            Ok(ran) => {
                summary.record_ran(ran);
                summary.exit_code = exit_code_of(&summary);
            }
            Err(stopped) => {
                summary.warnings = stopped.warnings.clone();
                summary.error = Some(stopped.error.to_string());
                summary.exit_code = stopped.error.exit_code();
            }
        }
        summary
    }

    /// Fills the counts, actions, skips and sources; the outcomes after real writes.
    fn record_ran(&mut self, ran: &Ran) {
        let reading = &ran.reading;
        self.record(&reading.plan, ran.outcomes.as_deref(), &reading.skipped);
        self.unkeyed = reading
            .listing
            .unkeyed()
            .iter()
            .map(|u| UnkeyedReport {
                id: u.id.as_deref().map(|id| crate::http::clean(id, 100)),
                listing: u.listing,
            })
            .collect();
        self.counts.unkeyed = self.unkeyed.len();
        self.approved_plan = ran.approval.as_ref().map(ApprovedPlanReport::of);
        self.sources = Sources {
            slack_team_id: ran.slack_team_id.clone(),
            slack_members: reading.read,
            eligible_members: reading.eligible,
            slack_requests: ran.slack_requests,
            target_accounts: reading.listing.accounts().len(),
            managed_accounts: reading.listing.managed(),
            target_requests: ran.target_requests,
        };
        self.warnings = ran.warnings.clone();
        self.usergroups = ran.usergroups.clone();
        self.skipped_by_reason = ran.skipped_by_reason.clone();
    }
}

/// A run that completed: done, partial (some actions failed) or withheld (a guard held back
/// deactivations, or `sync --plan` dropped an approved action or held back one it does not
/// hold); a dry run is done.
fn exit_code_of(summary: &Summary) -> u8 {
    if summary.dry_run {
        exit::OK
    } else if summary.counts.failed > 0 {
        exit::PARTIAL
    } else if summary.counts.withheld > 0
        || summary.approved_plan.as_ref().is_some_and(|a| !a.dropped.is_empty())
    {
        exit::WITHHELD
    } else {
        exit::OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Outcome;
    use crate::error::Error;
    use crate::read::{Reading, Stopped};

    fn run(dry_run: bool) -> Run {
        Run {
            run_id: Some("b-7".into()),
            command: "sync",
            dry_run,
            started_at: "2026-01-02T03:04:05Z".into(),
            duration_ms: 12,
        }
    }

    fn ran(outcomes: Option<Vec<Outcome>>) -> Ran {
        let reading = Reading {
            listing: Default::default(),
            skipped: Vec::new(),
            read: 3,
            eligible: 2,
            plan: Default::default(),
        };
        Ran {
            reading,
            outcomes,
            warnings: vec!["look".into()],
            slack_requests: 4,
            slack_team_id: Some("T0ACMEW0RK".into()),
            target_requests: 5,
            usergroups: Default::default(),
            skipped_by_reason: Default::default(),
            saved: None,
            approval: None,
        }
    }

    #[test]
    fn a_system_that_ran_is_summarised_from_its_result_and_the_runs_settings() {
        let s = Summary::from_result(&run(false), "dev", &Ok(ran(Some(Vec::new()))));
        assert_eq!(
            (s.run_id.as_deref(), s.system.as_str(), s.command.as_str()),
            (Some("b-7"), "dev", "sync")
        );
        assert_eq!((s.started_at.as_str(), s.duration_ms, s.dry_run), ("2026-01-02T03:04:05Z", 12, false));
        assert_eq!((s.exit_code, s.error.as_deref()), (exit::OK, None));
        assert_eq!(
            s.sources,
            Sources {
                slack_team_id: Some("T0ACMEW0RK".into()),
                slack_members: 3,
                eligible_members: 2,
                slack_requests: 4,
                target_requests: 5,
                ..Sources::default()
            }
        );
        assert_eq!(s.warnings, ["look"]);
    }

    #[test]
    fn a_system_that_stopped_keeps_the_warnings_it_printed_and_its_errors_exit_code() {
        let stopped = Stopped {
            error: Box::new(Error::Journal("reports/actions.jsonl: denied".into())),
            warnings: vec!["look".into()],
        };
        let s = Summary::from_result(&run(false), "dev", &Err(stopped));
        assert_eq!(s.exit_code, exit::FAILED);
        assert_eq!(
            s.error.as_deref(),
            Some(
                "the write journal cannot be written, so nothing was written: reports/actions.jsonl: denied"
            )
        );
        assert_eq!(s.warnings, ["look"]);
        assert_eq!(s.counts, super::super::Counts::default());
    }
}
