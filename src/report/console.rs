//! The console text: the headline, the plan (for `plan`), failures and the guard's reason.

use std::fmt::Write as _;

use super::*;

impl Summary {
    /// The console text: the headline, the plan (for `plan`), failures, the guard's reason.
    pub fn console(&self, show_plan: bool) -> String {
        let mut out = String::new();
        if show_plan {
            for a in &self.actions {
                let sign = match a.action {
                    ActionKind::Create => '+',
                    ActionKind::Update => '~',
                    ActionKind::Deactivate => '-',
                };
                let _ = write!(out, "{sign} {:<10} {}", a.action.to_string(), a.key);
                if let Some(id) = &a.slack_id {
                    let _ = write!(out, " ({id})");
                }
                if !a.changed.is_empty() {
                    let _ = write!(out, " changes {}", a.changed.join(", "));
                }
                if let Some(r) = &a.reason {
                    let _ = write!(out, " [withheld: {r}]");
                }
                out.push('\n');
            }
            for u in &self.unmanaged {
                let _ = writeln!(out, "= {:<10} {} ({}) unmanaged, left alone", "keep", u.key, u.slack_id);
            }
        }
        let took = self.duration_ms as f64 / 1000.0;
        let _ = writeln!(out, "slack-im {} {} ({took:.1}s)", self.command, self.headline());
        for (n, a) in self.failures().enumerate() {
            if n == 10 {
                let _ = writeln!(out, "  … and {} more failures (see summary.json)", self.counts.failed - 10);
                break;
            }
            let _ = writeln!(out, "  failed: {}", a.error.as_deref().unwrap_or(""));
        }
        if let Some(reason) = self.actions.iter().find_map(|a| a.reason.as_ref()) {
            let _ = writeln!(out, "  withheld: {reason}");
        }
        if let Some(e) = &self.error {
            let _ = writeln!(out, "  error: {e}");
        }
        out
    }
}
