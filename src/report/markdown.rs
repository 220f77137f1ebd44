//! `summary.md`: the run as a page a person reads in Jenkins or a CI artifact viewer.

use std::fmt::Write as _;

use super::*;

impl Summary {
    /// `summary.md`: a page a person reads in Jenkins or a CI artifact viewer.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let mode = if self.dry_run { " (dry run)" } else { "" };
        let _ = writeln!(md, "# slack-im {}: {}{mode}\n", self.command, self.system);
        let _ = writeln!(md, "{}\n", self.headline());
        let _ = writeln!(
            md,
            "Started {}, took {:.1}s, exit code {}.\n",
            self.started_at,
            self.duration_ms as f64 / 1000.0,
            self.exit_code
        );
        if let Some(e) = &self.error {
            let _ = writeln!(md, "**Error:** {}\n", md_cell(e));
        }
        let c = &self.counts;
        let _ = writeln!(
            md,
            "| create | update | deactivate | reactivate | unchanged | already inactive | skipped | failed | withheld |"
        );
        let _ = writeln!(md, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            c.create,
            c.update,
            c.deactivate,
            c.reactivate,
            c.unchanged,
            c.already_inactive,
            c.skipped,
            c.failed,
            c.withheld
        );
        self.actions_table(&mut md);
        self.left_alone_table(&mut md);
        self.skipped_table(&mut md);
        md
    }

    fn actions_table(&self, md: &mut String) {
        if !self.actions.is_empty() {
            let _ = writeln!(
                md,
                "## Actions\n\n| action | key | Slack id | status | detail |\n|---|---|---|---|---|"
            );
            for a in self.actions.iter().take(500) {
                // What went wrong, else what changes: old -> new per value (the first 5), else
                // the changed fields' names.
                let changes = || match a.diff.len() {
                    0 => a.changed.join(", "),
                    n => {
                        let lines: Vec<String> = a.diff.iter().take(5).map(FieldChange::line).collect();
                        format!("{}{}", lines.join("; "), if n > 5 { "; …" } else { "" })
                    }
                };
                let mut detail = a.error.clone().or_else(|| a.reason.clone()).unwrap_or_else(changes);
                if !a.adds.is_empty() {
                    detail = format!("{detail}; adds {}", a.adds.join(", "));
                }
                if let Some(old) = &a.renamed_from {
                    detail = format!("renamed from {old}; {detail}");
                }
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} |",
                    a.action,
                    md_cell(&a.key),
                    md_cell(a.slack_id.as_deref().unwrap_or("")),
                    a.status,
                    md_cell(&detail)
                );
            }
            if self.actions.len() > 500 {
                let _ = writeln!(md, "\n… {} more in summary.json", self.actions.len() - 500);
            }
            md.push('\n');
        }
    }

    fn left_alone_table(&self, md: &mut String) {
        if !self.unmanaged.is_empty() {
            let _ = writeln!(
                md,
                "## Left alone\n\nMembers whose key matches an account slack-im does not manage \
                 (system.json `managed`; take such accounts over with `adopt`).\n\n| key | Slack id |\n|---|---|"
            );
            for u in self.unmanaged.iter().take(500) {
                let _ = writeln!(md, "| {} | {} |", md_cell(&u.key), md_cell(&u.slack_id));
            }
            md.push('\n');
        }
        if !self.pending_deactivation.is_empty() {
            let _ = writeln!(
                md,
                "## Deactivations pending\n\nMembers deactivated in Slack within the grace period \
                 (`SLACK_IM_DEACTIVATE_AFTER`): the first run after it deactivates their accounts.\n\n\
                 | key | Slack id | due |\n|---|---|---|"
            );
            for p in self.pending_deactivation.iter().take(500) {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} |",
                    md_cell(&p.key),
                    md_cell(&p.slack_id),
                    md_cell(&p.due_at)
                );
            }
            md.push('\n');
        }
        if !self.locked.is_empty() {
            let _ = writeln!(
                md,
                "## Locked by someone else\n\nMembers whose managed account is inactive and not one \
                 slack-im may reactivate (system.json `reactivatable`).\n\n| key | Slack id |\n|---|---|"
            );
            for u in self.locked.iter().take(500) {
                let _ = writeln!(md, "| {} | {} |", md_cell(&u.key), md_cell(&u.slack_id));
            }
            md.push('\n');
        }
    }

    fn skipped_table(&self, md: &mut String) {
        if !self.skipped.is_empty() {
            let mut by_reason: BTreeMap<&str, usize> = BTreeMap::new();
            for s in &self.skipped {
                *by_reason.entry(s.reason.as_str()).or_default() += 1;
            }
            let _ = writeln!(md, "## Skipped members\n\n| reason | members |\n|---|---:|");
            for (reason, n) in by_reason {
                let _ = writeln!(md, "| {} | {n} |", md_cell(reason));
            }
        }
    }
}

fn md_cell(text: &str) -> String {
    shown(text).replace('|', "\\|")
}
