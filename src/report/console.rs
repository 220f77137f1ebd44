//! The console text: the headline, the plan (for `plan`), failures and the guard's reason.

use std::fmt::Write as _;

use super::*;

/// The most old -> new lines the console prints for one action (the rest are in `summary.json`).
const DIFF_LINES: usize = 5;

impl ActionReport {
    /// The action as the plan prints it, on one line: `~ update     ann (U1) changes name adds
    /// password`, with the guard's reason or why it failed (`refused` in a dry run). The console and
    /// the Slack post both show it; text a server or a member supplied is [`shown`] safely.
    pub(super) fn plan_line(&self, dry_run: bool) -> String {
        let sign = match self.action {
            ActionKind::Create => '+',
            ActionKind::Update => '~',
            ActionKind::Deactivate => '-',
            ActionKind::Reactivate => '^',
        };
        let mut out = format!("{sign} {:<10} {}", self.action.to_string(), shown(&self.key));
        if let Some(id) = &self.slack_id {
            let _ = write!(out, " ({})", shown(id));
        }
        if let Some(old) = &self.renamed_from {
            let _ = write!(out, " renamed from {}", shown(old));
        }
        if !self.changed.is_empty() {
            let _ = write!(out, " changes {}", shown(&self.changed.join(", ")));
        }
        if !self.adds.is_empty() {
            let _ = write!(out, " adds {}", shown(&self.adds.join(", ")));
        }
        if let Some(r) = &self.reason {
            let _ = write!(out, " [withheld: {}]", shown(r));
        }
        if let (Status::Failed, Some(e)) = (self.status, &self.error) {
            let _ = write!(out, " [{}: {}]", if dry_run { "refused" } else { "failed" }, shown(e));
        }
        if self.welcome == Some("planned") {
            out.push_str(" + welcome DM");
        }
        out
    }

    /// Old -> new under the action's line, indented: the first [`DIFF_LINES`], then how many more
    /// `summary.json` holds.
    pub(super) fn diff_lines(&self) -> Vec<String> {
        let mut lines: Vec<String> =
            self.diff.iter().take(DIFF_LINES).map(|c| format!("      {}", shown(&c.line()))).collect();
        if self.diff.len() > DIFF_LINES {
            lines.push(format!("      … {} more (summary.json)", self.diff.len() - DIFF_LINES));
        }
        lines
    }
}

impl Summary {
    /// The console text: the headline, the plan (for `plan`), failures, the guard's reason.
    pub fn console(&self, show_plan: bool) -> String {
        if self.command == "check" {
            return self.check_console();
        }
        let mut out = String::new();
        if show_plan {
            for a in &self.actions {
                let _ = writeln!(out, "{}", a.plan_line(self.dry_run));
                for line in a.diff_lines() {
                    let _ = writeln!(out, "{line}");
                }
            }
            for u in &self.unmanaged {
                let (key, id) = (shown(&u.key), shown(&u.slack_id));
                let _ = writeln!(out, "= {:<10} {key} ({id}) unmanaged, left alone", "keep");
            }
            for p in &self.pending_deactivation {
                let (key, id) = (shown(&p.key), shown(&p.slack_id));
                let _ = writeln!(
                    out,
                    "- {:<10} {key} ({id}) deactivated in Slack, waits until {} (SLACK_IM_DEACTIVATE_AFTER)",
                    "pending",
                    shown(&p.due_at)
                );
            }
            for u in &self.locked {
                let (key, id) = (shown(&u.key), shown(&u.slack_id));
                let _ = writeln!(out, "= {:<10} {key} ({id}) locked by someone else, left alone", "keep");
            }
        }
        let took = self.duration_ms as f64 / 1000.0;
        let _ = writeln!(out, "slack-im {} {} ({took:.1}s)", self.command, self.headline());
        for (n, a) in self.failures().enumerate() {
            if n == 10 {
                let _ = writeln!(out, "  … and {} more failures (see summary.json)", self.counts.failed - 10);
                break;
            }
            let _ = writeln!(out, "  failed: {}", shown(a.error.as_deref().unwrap_or("(no error text)")));
        }
        if let Some(reason) = self.actions.iter().find_map(|a| a.reason.as_ref()) {
            let _ = writeln!(out, "  withheld: {}", shown(reason));
        }
        if let Some(e) = &self.error {
            let _ = writeln!(out, "  error: {}", shown(e));
        }
        if let Some(approved) = &self.approved_plan {
            let _ = writeln!(
                out,
                "  saved plan of {}: {} approved actions {}, {} dropped, {} held back ({})",
                shown(&approved.made_at),
                approved.approved,
                if self.dry_run { "would be applied" } else { "applied" },
                approved.dropped.len(),
                approved.held_back,
                crate::approval::NOT_APPROVED,
            );
            for (n, d) in approved.dropped.iter().enumerate() {
                if n == 10 {
                    let _ = writeln!(
                        out,
                        "  … and {} more dropped (see summary.json)",
                        approved.dropped.len() - n
                    );
                    break;
                }
                let _ = writeln!(out, "  dropped {} {}: {}", d.action, shown(&d.key), shown(&d.reason));
            }
        }
        if self.counts.unkeyed > 0 {
            let _ = writeln!(out, "  {}", self.unkeyed_line());
        }
        for warning in &self.warnings {
            let _ = writeln!(out, "  WARNING: {}", shown(warning));
        }
        out
    }

    /// Accounts the listing gave no key, in one line.
    fn unkeyed_line(&self) -> String {
        let ids: Vec<&str> = self.unkeyed.iter().filter_map(|u| u.id.as_deref()).take(5).collect();
        let shown = if ids.is_empty() { String::new() } else { format!(" (ids {}…)", ids.join(", ")) };
        format!(
            "unkeyed: {} listed accounts have no key (system.json list.key){shown}: left alone",
            self.counts.unkeyed
        )
    }

    /// `check`'s answer: ready or not, and the numbers a person needs before the first real run.
    fn check_console(&self) -> String {
        let (s, c) = (&self.sources, &self.counts);
        let mut out = String::new();
        let took = self.duration_ms as f64 / 1000.0;
        let verdict = if self.warnings.is_empty() { "ready" } else { "ready, with WARNINGS (below)" };
        let _ = writeln!(out, "slack-im check {}: {verdict} ({took:.1}s)", self.system);
        let _ = writeln!(
            out,
            "  Slack:  {} members read, {} eligible, {} skipped",
            s.slack_members, s.eligible_members, c.skipped
        );
        let mut reasons: Vec<(&String, &usize)> = self.skipped_by_reason.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (reason, count) in reasons {
            let _ = writeln!(out, "          {count:>6}  {reason}");
        }
        if !self.usergroups.is_empty() {
            let _ = writeln!(out, "  user groups: {} enabled (members each holds)", self.usergroups.len());
            for (n, (handle, count)) in self.usergroups.iter().enumerate() {
                if n == 20 {
                    let _ = writeln!(
                        out,
                        "          … and {} more (see summary.json)",
                        self.usergroups.len() - 20
                    );
                    break;
                }
                let _ = writeln!(out, "          {count:>6}  @{handle}");
            }
        }
        let _ = writeln!(
            out,
            "  target: {} accounts listed, {} managed by slack-im",
            s.target_accounts, s.managed_accounts
        );
        let _ = write!(
            out,
            "  plan:   {} to create, {} to update, {} to deactivate, {} unchanged",
            c.create, c.update, c.deactivate, c.unchanged
        );
        if c.reactivate > 0 {
            let _ = write!(out, ", {} to reactivate", c.reactivate);
        }
        if c.already_inactive > 0 {
            let _ = write!(out, ", {} already inactive", c.already_inactive);
        }
        for (kind, name) in crate::action::GUARDED {
            let withheld = self.withheld(kind);
            if withheld > 0 {
                let _ = write!(out, ", {withheld} {name} withheld by a guard");
            }
        }
        if c.unmanaged > 0 {
            let _ = write!(out, ", {} left alone (not managed)", c.unmanaged);
        }
        out.push('\n');
        if c.unkeyed > 0 {
            let _ = writeln!(out, "  {}", self.unkeyed_line());
        }
        for warning in &self.warnings {
            let _ = writeln!(out, "  WARNING: {warning}");
        }
        out
    }
}
