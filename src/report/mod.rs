//! What a run tells people and machines: the [`Summary`] of a run and `summary.json`, made once from
//! the systems' results (`results.rs`); one file per other format (console, `summary.md`,
//! `junit.xml`, the Slack post). Everything written passes through the redactor.

mod combined;
mod console;
mod junit;
mod markdown;
mod results;
mod slack;

pub use combined::Combined;
pub(crate) use results::Run;
pub use slack::{build_link, slack_message};

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::action::{Action, ActionKind, FieldChange, Outcome};
use crate::clock::now_rfc3339;
use crate::eligibility::Skipped;
use crate::exit;
use crate::plan::Plan;
use crate::secret::Redactor;

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub create: usize,
    pub update: usize,
    pub deactivate: usize,
    /// Managed accounts of members made active again.
    pub reactivate: usize,
    pub unchanged: usize,
    pub skipped: usize,
    pub failed: usize,
    pub withheld: usize,
    /// Creates answered 409 on a retry: the first attempt had created the account.
    pub existing: usize,
    /// Members whose key matches an account slack-im does not manage: left alone.
    pub unmanaged: usize,
    /// Members whose managed account is inactive and locked by someone else (`system.json`'s
    /// `reactivatable` is false for it): left alone.
    pub locked: usize,
    /// Managed accounts of members deactivated in Slack within `SLACK_IM_DEACTIVATE_AFTER`: their
    /// deactivation waits, no write, not counted by the guard.
    pub pending_deactivation: usize,
    /// Listed accounts without a key (`list.key` finds none): never matched or managed.
    pub unkeyed: usize,
    /// Managed accounts of leavers that `system.json`'s `active` expression finds inactive
    /// already: no write, not counted by the deactivation guard.
    pub already_inactive: usize,
}

/// How an action ended, as the reports name it.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Done,
    Failed,
    Planned,
    Withheld,
    /// A create answered 409 on a retry: the first attempt had created the account.
    Existing,
}

impl Status {
    fn of(outcome: &Outcome) -> Status {
        match outcome {
            Outcome::Done => Status::Done,
            Outcome::AlreadyExisted => Status::Existing,
            Outcome::Failed(_) | Outcome::WelcomeFailed(_) => Status::Failed,
            Outcome::Withheld => Status::Withheld,
            Outcome::Planned => Status::Planned,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Done => "done",
            Status::Failed => "failed",
            Status::Planned => "planned",
            Status::Withheld => "withheld",
            Status::Existing => "existing",
        })
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ActionReport {
    pub action: ActionKind,
    pub key: String,
    pub slack_id: Option<String>,
    pub status: Status,
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
    /// Fields the write sets that the listing does not show (so were not compared).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub adds: Vec<String>,
    /// Each changed value, old -> new (compact JSON, cut; redacted like everything written).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diff: Vec<FieldChange>,
    /// A rename (the anchor found the member's account under another key): the key before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A create with `welcome.txt`: its DM `planned` (dry run), `sent`, `failed`, or `not sent`
    /// (the create did not happen).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub welcome: Option<&'static str>,
}

/// A member whose key matches an account slack-im does not manage (or whose inactive account
/// someone else locked), left alone.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UnmanagedReport {
    pub key: String,
    pub slack_id: String,
}

impl UnmanagedReport {
    fn list(members: &[crate::plan::Unmanaged]) -> Vec<UnmanagedReport> {
        members.iter().map(|u| UnmanagedReport { key: u.key.clone(), slack_id: u.slack_id.clone() }).collect()
    }
}

/// A managed account whose deactivation waits for the grace period (`SLACK_IM_DEACTIVATE_AFTER`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PendingReport {
    pub key: String,
    /// The member deactivated in Slack.
    pub slack_id: String,
    /// When the grace ends (RFC 3339): the first run after it deactivates the account.
    pub due_at: String,
}

/// `sync --plan`: what applying the saved plan did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ApprovedPlanReport {
    /// When the saved plan was made.
    pub made_at: String,
    /// Its actions found again and applied (or, in a dry run, that would be).
    pub approved: usize,
    /// This run's actions it does not hold: held back (`withheld`, reason "not in the approved plan").
    pub held_back: usize,
    /// Its actions the run no longer gives: not applied.
    pub dropped: Vec<DroppedReport>,
}

/// An approved action not applied, because what decides it changed since the plan.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DroppedReport {
    pub action: ActionKind,
    pub key: String,
    pub reason: String,
}

impl ApprovedPlanReport {
    fn of(approval: &crate::approval::Approval) -> ApprovedPlanReport {
        ApprovedPlanReport {
            made_at: approval.made_at.clone(),
            approved: approval.approved,
            held_back: approval.held_back,
            dropped: approval
                .dropped
                .iter()
                .map(|d| DroppedReport { action: d.kind, key: d.key.clone(), reason: d.reason.clone() })
                .collect(),
        }
    }
}

/// A listed account without a key, left alone: its server id and which listing gave it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UnkeyedReport {
    pub id: Option<String>,
    pub listing: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SkipReport {
    pub slack_id: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Sources {
    /// The Slack workspace the members came from: a members file's `team_id`, else
    /// `SLACK_IM_SLACK_TEAM_ID`; null when neither names one.
    pub slack_team_id: Option<String>,
    pub slack_members: usize,
    pub eligible_members: usize,
    pub slack_requests: usize,
    pub target_accounts: usize,
    pub managed_accounts: usize,
    pub target_requests: usize,
}

/// The whole story of one run; `summary.json` is this, serialised.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// `SLACK_IM_RUN_ID`, when the caller gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub system: String,
    pub command: String,
    pub dry_run: bool,
    pub started_at: String,
    pub duration_ms: u64,
    pub exit_code: u8,
    pub error: Option<String>,
    pub counts: Counts,
    pub sources: Sources,
    pub actions: Vec<ActionReport>,
    pub skipped: Vec<SkipReport>,
    pub protected: Vec<String>,
    pub unmanaged: Vec<UnmanagedReport>,
    /// Members whose inactive account someone else locked (`reactivatable`): left alone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub locked: Vec<UnmanagedReport>,
    /// Deactivations waiting for the grace period (`SLACK_IM_DEACTIVATE_AFTER`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending_deactivation: Vec<PendingReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unkeyed: Vec<UnkeyedReport>,
    /// `sync --plan`: what applying the saved plan did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_plan: Option<ApprovedPlanReport>,
    /// What a person should look at before letting the run write (nobody eligible, most people
    /// skipped for one reason, a guard hit); printed before any write.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// `check` only: members left out, counted by the kind of reason.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub skipped_by_reason: BTreeMap<String, usize>,
    /// `check` only: the enabled user groups seen, by handle, with how many members each holds
    /// (when the run reads them).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub usergroups: BTreeMap<String, usize>,
}

impl Summary {
    /// Fills counts and actions from a plan and, after a real run, the outcomes.
    pub fn record(&mut self, plan: &Plan, outcomes: Option<&[Outcome]>, skipped: &[Skipped]) {
        self.counts.unchanged = plan.unchanged;
        self.counts.already_inactive = plan.already_inactive;
        self.skipped = skipped
            .iter()
            .chain(&plan.skipped)
            .map(|s| SkipReport { slack_id: s.slack_id.clone(), reason: s.reason.to_string() })
            .collect();
        self.counts.skipped = self.skipped.len();
        self.protected = plan.protected.clone();
        self.unmanaged = UnmanagedReport::list(&plan.unmanaged);
        self.counts.unmanaged = self.unmanaged.len();
        self.locked = UnmanagedReport::list(&plan.locked);
        self.counts.locked = self.locked.len();
        self.pending_deactivation = plan
            .pending
            .iter()
            .map(|p| PendingReport {
                key: p.key.clone(),
                slack_id: p.slack_id.clone(),
                due_at: crate::clock::rfc3339_of(p.due_at),
            })
            .collect();
        self.counts.pending_deactivation = self.pending_deactivation.len();
        for (i, action) in plan.actions.iter().enumerate() {
            let outcome = match (&action.withheld, outcomes) {
                (Some(_), _) => Outcome::Withheld,
                (None, _) if action.refused.is_some() => {
                    Outcome::Failed(action.refused.clone().unwrap_or_default())
                }
                (None, Some(o)) => o[i].clone(),
                (None, None) => Outcome::Planned,
            };
            self.count(action, &outcome);
            self.actions.push(ActionReport {
                action: action.kind,
                key: action.key.clone(),
                slack_id: action.slack_id.clone(),
                status: Status::of(&outcome),
                error: match &outcome {
                    Outcome::Failed(e) | Outcome::WelcomeFailed(e) => Some(e.clone()),
                    _ => None,
                },
                welcome: action.welcome.as_ref().map(|_| match &outcome {
                    Outcome::Planned => "planned",
                    Outcome::Done => "sent",
                    Outcome::WelcomeFailed(_) => "failed",
                    _ => "not sent",
                }),
                changed: action.changed.clone(),
                adds: action.added.clone(),
                diff: action.diff.clone(),
                renamed_from: action.renamed_from.clone(),
                reason: action.withheld.clone(),
            });
        }
    }

    fn count(&mut self, action: &Action, outcome: &Outcome) {
        let c = &mut self.counts;
        match outcome {
            Outcome::Failed(_) | Outcome::WelcomeFailed(_) => c.failed += 1,
            Outcome::Withheld => c.withheld += 1,
            Outcome::AlreadyExisted => c.existing += 1,
            Outcome::Done | Outcome::Planned => match action.kind {
                ActionKind::Create => c.create += 1,
                ActionKind::Update => c.update += 1,
                ActionKind::Deactivate => c.deactivate += 1,
                ActionKind::Reactivate => c.reactivate += 1,
            },
        }
    }

    /// One line: what happened, for the console, the Jenkins description and Slack.
    pub fn headline(&self) -> String {
        let c = &self.counts;
        let verb = if self.dry_run { "would be " } else { "" };
        let mut line = format!(
            "{}: {} {verb}created, {} {verb}updated, {} {verb}deactivated, {} unchanged, {} skipped",
            self.system, c.create, c.update, c.deactivate, c.unchanged, c.skipped
        );
        if c.reactivate > 0 {
            let _ = write!(line, ", {} {verb}reactivated", c.reactivate);
        }
        if c.already_inactive > 0 {
            let _ = write!(line, ", {} already inactive", c.already_inactive);
        }
        if c.existing > 0 {
            let _ = write!(line, ", {} existed already", c.existing);
        }
        if c.unmanaged > 0 {
            let _ = write!(line, ", {} left alone (accounts slack-im does not manage)", c.unmanaged);
        }
        if c.locked > 0 {
            let _ = write!(line, ", {} locked by someone else, left alone", c.locked);
        }
        if c.pending_deactivation > 0 {
            let _ = write!(
                line,
                ", {} deactivations pending (SLACK_IM_DEACTIVATE_AFTER)",
                c.pending_deactivation
            );
        }
        if let Some(dropped) = self.approved_plan.as_ref().map(|a| a.dropped.len()).filter(|&n| n > 0) {
            let _ = write!(line, ", {dropped} dropped from the approved plan");
        }
        if c.failed > 0 {
            let _ = write!(line, ", {} FAILED", c.failed);
        }
        for (kind, name) in crate::action::GUARDED {
            let withheld = self.withheld(kind);
            if withheld > 0 {
                let _ = write!(line, ", {withheld} {name} WITHHELD");
            }
        }
        line
    }

    /// Something a person should look at (`SLACK_IM_NOTIFY_ON=problems`): an exit code other than
    /// 0, a failed or withheld action (a dry run's too: its exit code is 0), or a warning.
    pub fn has_problem(&self) -> bool {
        self.exit_code != exit::OK
            || self.counts.failed > 0
            || self.counts.withheld > 0
            || !self.warnings.is_empty()
    }

    /// A write made, or that a dry run would make (`SLACK_IM_NOTIFY_ON=changes`): a create, update,
    /// deactivation or reactivation done or planned, or a create that existed already (its first
    /// attempt landed).
    pub fn has_change(&self) -> bool {
        let c = &self.counts;
        c.create + c.update + c.deactivate + c.reactivate + c.existing > 0
    }

    /// How many actions of this kind a guard withheld.
    fn withheld(&self, kind: ActionKind) -> usize {
        self.actions.iter().filter(|a| a.action == kind && a.status == Status::Withheld).count()
    }

    fn failures(&self) -> impl Iterator<Item = &ActionReport> {
        self.actions.iter().filter(|a| a.status == Status::Failed)
    }

    /// What a caller (a Jenkins step) shows without re-deriving it: the one-line headline, what
    /// the exit code means, the first failures and the withheld actions. `summary.json` carries
    /// these beside the summary's own fields.
    pub fn verdict(&self) -> Verdict {
        let headline = if matches!(self.exit_code, exit::OK | exit::PARTIAL | exit::WITHHELD) {
            self.headline()
        } else {
            // Nothing (or not everything) was attempted: the counts would mislead.
            format!(
                "{}: {} failed, exit {}: {}",
                self.system,
                self.command,
                self.exit_code,
                exit_meaning(self.exit_code)
            )
        };
        let failures = self.error.iter().cloned().chain(
            self.failures()
                .map(|a| format!("{} {}: {}", a.action, a.key, a.error.as_deref().unwrap_or("failed"))),
        );
        let withheld = self.actions.iter().filter(|a| a.status == Status::Withheld).map(|a| {
            format!("{} {}: withheld ({})", a.action, a.key, a.reason.as_deref().unwrap_or("a guard"))
        });
        Verdict::new(headline, self.exit_code, failures.collect(), withheld.collect())
    }

    /// Writes `summary.json`, `summary.md` and `junit.xml` into `dir` (created if needed). Each
    /// file passes whole through the redactor, so no field of any format can carry a secret.
    pub fn write(&self, dir: &Path, redactor: &Redactor) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_string_pretty(&Written::of(self)).map_err(std::io::Error::other)?;
        write_file(dir, "summary.json", &redactor.redact(&json))?;
        write_file(dir, "summary.md", &redactor.redact(&self.markdown()))?;
        write_file(dir, "junit.xml", &redactor.redact(&self.junit()))
    }
}

/// How many first failures and withheld actions `summary.json` lists (the rest are counted).
pub const FIRST: usize = 5;

/// What each exit code of the contract means (`exit_meaning` in `summary.json`).
/// Text a server, a file or Slack supplied (keys, ids, error excerpts), fit to print on a line of
/// the console, `summary.md` or the Slack post: every control character (escape sequences, line
/// breaks, carriage returns) and every bidirectional formatting character (which reorders what a
/// reader sees) becomes U+FFFD, so such text can neither move the cursor nor forge a line.
pub fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        c.is_control()
            || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(text.chars().map(|c| if unsafe_char(c) { '\u{fffd}' } else { c }).collect())
}

pub fn exit_meaning(code: u8) -> &'static str {
    match code {
        exit::OK => "done",
        exit::FAILED => "failed before completing (Slack, target listing or network)",
        exit::CONFIG => "bad configuration or template",
        exit::PARTIAL => "partial: some actions failed, the rest applied",
        exit::WITHHELD => "a guard withheld creates, deactivations or reactivations, everything else applied",
        _ => "unexpected exit code",
    }
}

/// The fields `summary.json` derives for callers (see [`Summary::verdict`]).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Verdict {
    /// One line per system: what happened (or, when it did not complete, why).
    pub headline: String,
    pub exit_meaning: &'static str,
    /// At most [`FIRST`]: the run's error, then the failed actions (`create key: error`).
    pub first_failures: Vec<String>,
    /// At most [`FIRST`]: the deactivations a guard withheld (`deactivate key: withheld (reason)`).
    pub withheld_actions: Vec<String>,
    /// Failures and withheld actions beyond those two lists.
    pub not_listed: usize,
}

impl Verdict {
    fn new(headline: String, code: u8, mut failures: Vec<String>, mut withheld: Vec<String>) -> Verdict {
        let not_listed = failures.len().saturating_sub(FIRST) + withheld.len().saturating_sub(FIRST);
        failures.truncate(FIRST);
        withheld.truncate(FIRST);
        Verdict {
            headline,
            exit_meaning: exit_meaning(code),
            first_failures: failures,
            withheld_actions: withheld,
            not_listed,
        }
    }

    /// Several systems: the systems' headlines one per line, their problems named by system.
    pub fn combined(systems: &[Summary], code: u8) -> Verdict {
        let verdicts: Vec<(&str, Verdict)> =
            systems.iter().map(|s| (s.system.as_str(), s.verdict())).collect();
        let headline = verdicts.iter().map(|(_, v)| v.headline.as_str()).collect::<Vec<_>>().join("\n");
        let named = |list: fn(&Verdict) -> &Vec<String>| -> Vec<String> {
            verdicts
                .iter()
                .flat_map(|(name, v)| list(v).iter().map(move |p| format!("{name}: {p}")))
                .collect()
        };
        let mut out =
            Verdict::new(headline, code, named(|v| &v.first_failures), named(|v| &v.withheld_actions));
        out.not_listed += verdicts.iter().map(|(_, v)| v.not_listed).sum::<usize>();
        out
    }
}

/// `summary.json`: a summary with its [`Verdict`] beside it.
#[derive(Serialize)]
pub(crate) struct Written<'a> {
    #[serde(flatten)]
    summary: &'a Summary,
    #[serde(flatten)]
    verdict: Verdict,
}

impl<'a> Written<'a> {
    pub(crate) fn of(summary: &'a Summary) -> Written<'a> {
        Written { summary, verdict: summary.verdict() }
    }
}

/// A run that stopped at its configuration (exit 2) still leaves a `summary.json` in
/// `SLACK_IM_REPORT_DIR`, carrying the error and `SLACK_IM_RUN_ID`, so a caller (the Jenkins
/// step) shows the binary's own message. Best effort: nothing is written without the variable.
pub fn write_config_error(command: &str, error: &str) {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let Some(dir) = var("SLACK_IM_REPORT_DIR") else { return };
    let summary = config_error_summary(var("SLACK_IM_RUN_ID"), var("SLACK_IM_SYSTEM"), command, error);
    let dir = Path::new(&dir);
    let written = std::fs::create_dir_all(dir).and_then(|()| {
        let json = serde_json::to_string_pretty(&Written::of(&summary)).map_err(std::io::Error::other)?;
        write_file(dir, "summary.json", &json)
    });
    if let Err(e) = written {
        log::error!("cannot write the report to {} (SLACK_IM_REPORT_DIR): {e}", dir.display());
    }
}

fn config_error_summary(
    run_id: Option<String>,
    system: Option<String>,
    command: &str,
    error: &str,
) -> Summary {
    Summary {
        run_id,
        system: system.unwrap_or_default(),
        command: command.into(),
        started_at: now_rfc3339(),
        exit_code: exit::CONFIG,
        error: Some(format!("configuration: {error}")),
        ..Summary::default()
    }
}

/// Writes through a temporary file and a rename, so a reader never sees half a report.
fn write_file(dir: &Path, name: &str, text: &str) -> std::io::Result<()> {
    crate::files::replace(&dir.join(name), text, crate::files::SHARED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eligibility::SkipReason;

    fn sample() -> Summary {
        let plan = Plan {
            actions: vec![
                Action {
                    kind: ActionKind::Create,
                    key: "a<b".into(),
                    slack_id: Some("U1".into()),
                    body: None,
                    changed: vec![],
                    added: vec![],
                    diff: vec![],
                    withheld: None,
                    account: None,
                    id: None,
                    renamed_from: None,
                    refused: None,
                    hidden: vec![],
                    welcome: None,
                },
                Action {
                    kind: ActionKind::Create,
                    key: "c".into(),
                    slack_id: Some("U2".into()),
                    body: None,
                    changed: vec![],
                    added: vec![],
                    diff: vec![],
                    withheld: None,
                    account: None,
                    id: None,
                    renamed_from: None,
                    refused: None,
                    hidden: vec![],
                    welcome: None,
                },
                Action {
                    kind: ActionKind::Deactivate,
                    key: "old".into(),
                    slack_id: None,
                    body: None,
                    changed: vec![],
                    added: vec![],
                    diff: vec![],
                    withheld: Some("guard \"5\"".into()),
                    account: None,
                    id: None,
                    renamed_from: None,
                    refused: None,
                    hidden: vec![],
                    welcome: None,
                },
            ],
            unchanged: 7,
            ..Plan::default()
        };
        let mut s =
            Summary { system: "dev".into(), command: "sync".into(), exit_code: 3, ..Summary::default() };
        let skipped = [Skipped { slack_id: "U9".into(), reason: SkipReason::Bot }];
        s.record(
            &plan,
            Some(&[Outcome::Done, Outcome::Failed("target create c: HTTP 500".into()), Outcome::Withheld]),
            &skipped,
        );
        s
    }

    #[test]
    fn counts_follow_outcomes() {
        let s = sample();
        assert_eq!(
            s.counts,
            Counts { create: 1, unchanged: 7, skipped: 1, failed: 1, withheld: 1, ..Counts::default() }
        );
        assert_eq!(s.headline(), "dev: 1 created, 0 updated, 0 deactivated, 7 unchanged, 1 skipped, 1 FAILED, 1 deactivations WITHHELD");
        assert_eq!(s.actions[1].status, Status::Failed);
        assert_eq!(serde_json::to_value(&s.actions[1]).unwrap()["status"], "failed");
    }

    #[test]
    fn a_slack_id_from_a_members_file_cannot_forge_a_row_of_summary_md() {
        let forged = "U1 | done | x |\n| create | admin | U9 | done |\u{1b}[2J";
        let plan = Plan {
            actions: vec![Action::new(ActionKind::Create, "ann".into(), Some(forged.into()), None)],
            ..Plan::default()
        };
        let mut s = Summary { system: "dev".into(), command: "plan".into(), ..Summary::default() };
        s.record(&plan, None, &[]);
        let md = s.markdown();
        assert!(!md.contains('\u{1b}') && !md.contains("\n| create | admin"), "{md}");
        assert!(md.contains("U1 \\| done"), "pipes escaped: {md}");
    }

    #[test]
    fn a_reactivation_is_its_own_kind_in_the_headline_the_post_and_the_withheld_list() {
        let back = |key: &str, withheld: Option<&str>| Action {
            withheld: withheld.map(str::to_string),
            ..Action::new(ActionKind::Reactivate, key.into(), Some("U1".into()), None)
        };
        let plan = Plan {
            actions: vec![back("ann", None), back("bo", Some("2 reactivations exceed the guard of 1"))],
            already_inactive: 2,
            ..Plan::default()
        };
        let mut s = Summary { system: "dev".into(), command: "sync".into(), ..Summary::default() };
        s.record(&plan, Some(&[Outcome::Done, Outcome::Withheld]), &[]);
        assert_eq!((s.counts.reactivate, s.counts.withheld, s.counts.already_inactive), (1, 1, 2));
        let headline = "dev: 0 created, 0 updated, 0 deactivated, 0 unchanged, 0 skipped, 1 reactivated, 2 already inactive, 1 reactivations WITHHELD";
        assert_eq!(s.headline(), headline);
        assert_eq!(
            s.verdict().withheld_actions,
            ["reactivate bo: withheld (2 reactivations exceed the guard of 1)"]
        );
        let (text, _) = s.slack_message(&Redactor::default());
        assert!(text.contains("1 reactivated"), "{text}");
        assert!(s.junit().contains("classname=\"slack-im.dev.reactivate\" name=\"ann\""));
        assert!(s.console(true).contains("^ reactivate ann (U1)"));
    }

    #[test]
    fn the_verdict_says_what_a_caller_shows() {
        let v = sample().verdict();
        assert_eq!(v.headline, sample().headline());
        assert_eq!(v.exit_meaning, "partial: some actions failed, the rest applied");
        assert_eq!(v.first_failures, ["create c: target create c: HTTP 500"]);
        assert_eq!(v.withheld_actions, ["deactivate old: withheld (guard \"5\")"]);
        assert_eq!(v.not_listed, 0);
        let json = serde_json::to_value(Written::of(&sample())).unwrap();
        assert_eq!(json["headline"], v.headline.as_str());
        assert_eq!(json["counts"]["failed"], 1, "the summary's own fields stay: {json}");
        assert_eq!(json["first_failures"][0], "create c: target create c: HTTP 500");
    }

    #[test]
    fn a_run_that_did_not_complete_says_why_not_its_counts() {
        let mut s = sample();
        s.exit_code = exit::FAILED;
        s.error = Some("Slack users.list: connection refused".into());
        let v = s.verdict();
        assert_eq!(
            v.headline,
            "dev: sync failed, exit 1: failed before completing (Slack, target listing or network)"
        );
        assert_eq!(v.first_failures[0], "Slack users.list: connection refused");
        let s = config_error_summary(
            Some("b-1".into()),
            Some("dev".into()),
            "sync",
            "SLACK_IM_CONCURRENCY is invalid",
        );
        let json = serde_json::to_value(Written::of(&s)).unwrap();
        assert_eq!(json["run_id"], "b-1");
        assert_eq!(json["exit_code"], 2);
        assert_eq!(json["exit_meaning"], "bad configuration or template");
        assert_eq!(json["first_failures"][0], "configuration: SLACK_IM_CONCURRENCY is invalid");
    }

    #[test]
    fn lists_are_capped_and_what_is_left_out_is_counted() {
        let failures: Vec<String> = (0..8).map(|i| format!("f{i}")).collect();
        let v = Verdict::new("h".into(), exit::PARTIAL, failures, vec!["w".into()]);
        assert_eq!(v.first_failures.len(), FIRST);
        assert_eq!(v.not_listed, 3);
        let mut other = sample();
        other.system = "mo".into();
        let both = Verdict::combined(&[sample(), other], exit::PARTIAL);
        assert_eq!(both.headline.lines().count(), 2);
        assert_eq!(
            both.first_failures,
            ["dev: create c: target create c: HTTP 500", "mo: create c: target create c: HTTP 500"]
        );
        assert_eq!(both.withheld_actions.len(), 2);
    }

    #[test]
    fn a_problem_is_a_bad_exit_code_a_failed_or_withheld_action_or_a_warning_and_a_change_a_write() {
        let quiet = Summary { system: "dev".into(), command: "sync".into(), ..Summary::default() };
        assert!(!quiet.has_problem() && !quiet.has_change());
        let s = sample();
        assert!(s.has_problem() && s.has_change(), "exit 3, one create done");
        let mut dry = sample();
        dry.exit_code = exit::OK;
        dry.counts.failed = 0;
        assert!(dry.has_problem(), "a dry run's withheld action is a problem although its exit code is 0");
        let warned = Summary { warnings: vec!["nobody is eligible".into()], ..quiet.clone() };
        assert!(warned.has_problem());
        let failed = Summary { exit_code: exit::FAILED, ..quiet.clone() };
        assert!(failed.has_problem() && !failed.has_change());
        for n in [
            Counts { update: 1, ..Counts::default() },
            Counts { deactivate: 1, ..Counts::default() },
            Counts { reactivate: 1, ..Counts::default() },
            Counts { existing: 1, ..Counts::default() },
        ] {
            assert!(Summary { counts: n.clone(), ..quiet.clone() }.has_change(), "{n:?}");
        }
        let idle = Counts { unchanged: 9, skipped: 3, pending_deactivation: 1, ..Counts::default() };
        assert!(!Summary { counts: idle, ..quiet }.has_change());
    }

    #[test]
    fn the_build_link_takes_only_plain_http_urls_and_escapes_them() {
        assert_eq!(
            build_link(" https://ci.example/job/a|b/7/?x=1&y=<2> ").as_deref(),
            Some("<https://ci.example/job/a%7Cb/7/?x=1&amp;y=&lt;2&gt;|build>")
        );
        assert_eq!(build_link("HTTP://ci.example/7/").as_deref(), Some("<HTTP://ci.example/7/|build>"));
        for bad in [
            "javascript:alert(1)",
            "ftp://ci.example/7/",
            "https://",
            "https:///job/7",
            "https://user:pw@ci.example/7/",
            "https://ci.example/a b",
            "https://ci.example/\u{202e}7",
            "/job/7/",
        ] {
            assert_eq!(build_link(bad), None, "{bad}");
        }
        assert_eq!(build_link(&format!("https://ci.example/{}", "a".repeat(2000))), None);
    }

    #[test]
    fn the_post_of_many_systems_with_many_actions_keeps_within_slacks_limits() {
        let action = |i: usize| Action {
            diff: (0..7)
                .map(|f| FieldChange { field: format!("f{f}"), old: "o".repeat(80), new: "n".repeat(80) })
                .collect(),
            changed: (0..40).map(|f| format!("field{f:03}")).collect(),
            ..Action::new(ActionKind::Update, format!("key{i}&<{}", "k".repeat(400)), Some("U1".into()), None)
        };
        let plan = Plan { actions: (0..30).map(action).collect(), ..Plan::default() };
        let summaries: Vec<Summary> = (0..30)
            .map(|n| {
                let mut s = Summary {
                    system: format!("sys{n}"),
                    command: "plan".into(),
                    dry_run: true,
                    ..Summary::default()
                };
                s.record(&plan, None, &[]);
                s
            })
            .collect();
        let (_, blocks) = slack_message(&summaries, &Redactor::default(), Some("https://ci.example/1/"));
        let blocks = blocks.as_array().unwrap();
        assert!(blocks.len() <= slack::BLOCK_LIMIT && blocks.len() > 40, "{}", blocks.len());
        for block in blocks {
            let text = block["text"]["text"].as_str().unwrap();
            assert!(text.chars().count() <= slack::SECTION_LIMIT, "{}", text.chars().count());
            assert!(!text.contains("key0&<"), "escaped: {text}");
        }
        let last = blocks.last().unwrap()["text"]["text"].as_str().unwrap();
        assert!(
            last.starts_with("… and the actions of ") && last.ends_with("more systems (their summary.md)"),
            "{last}"
        );
        let first_system = blocks[1]["text"]["text"].as_str().unwrap();
        assert!(first_system.starts_with("*sys0*\n```\n~ update     key0&amp;&lt;kkk"), "{first_system}");
        assert!(first_system.contains("      f0: ooo"), "{first_system}");
    }

    #[test]
    fn junit_holds_only_characters_xml_allows() {
        let mut s = sample();
        s.error = Some("bad \u{FFFE}\u{FFFF}\u{1}\u{0} end".into());
        let xml = s.junit();
        assert!(xml.contains("bad \u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD} end"), "{xml}");
    }

    #[test]
    fn slack_text_from_servers_is_escaped() {
        let mut s = sample();
        s.error = Some("<!channel> <https://evil.example|sso> & co".into());
        let (_, blocks) = s.slack_message(&Redactor::default());
        let text = blocks.to_string();
        assert!(text.contains("&lt;!channel&gt; &lt;https://evil.example|sso&gt; &amp; co"), "{text}");
    }

    #[test]
    fn junit_escapes_and_marks_failures_and_skips() {
        let xml = sample().junit();
        assert!(xml.contains("name=\"a&lt;b\"/>"), "{xml}");
        assert!(xml.contains("<failure message=\"target create c: HTTP 500\"/>"), "{xml}");
        assert!(xml.contains("<skipped message=\"withheld: guard &quot;5&quot;\"/>"), "{xml}");
        assert!(xml.contains("<skipped message=\"bot\"/>"), "{xml}");
        assert!(xml.contains("tests=\"4\" failures=\"1\""), "{xml}");
    }

    #[test]
    fn written_reports_are_redacted() {
        let mut s = sample();
        s.error = Some("server said token=super-secret-value".into());
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("reports");
        let secret = crate::secret::Secret::new("super-secret-value".to_string());
        s.write(&dir, &Redactor::new([&secret])).unwrap();
        for name in ["summary.json", "summary.md", "junit.xml"] {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            assert!(!text.contains("super-secret-value"), "{name}: {text}");
            assert!(text.contains("redacted"), "{name}: {text}");
        }
    }
}
