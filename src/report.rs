//! What a run tells people and machines: `summary.json`, `summary.md`, `junit.xml`, the console
//! summary and the Slack notification text. Everything written passes through the redactor.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::apply::Outcome;
use crate::eligibility::Skipped;
use crate::plan::{Action, ActionKind, Plan};
use crate::secret::Redactor;

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub create: usize,
    pub update: usize,
    pub deactivate: usize,
    pub unchanged: usize,
    pub skipped: usize,
    pub failed: usize,
    pub withheld: usize,
    /// Creates answered 409 on a retry: the first attempt had created the account.
    pub existing: usize,
    /// Members whose key matches an account slack-im does not manage: left alone.
    pub unmanaged: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ActionReport {
    pub action: ActionKind,
    pub key: String,
    pub slack_id: Option<String>,
    /// done | failed | planned | withheld | existing
    pub status: &'static str,
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A member whose key matches an account slack-im does not manage, left alone.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UnmanagedReport {
    pub key: String,
    pub slack_id: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SkipReport {
    pub slack_id: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Sources {
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
}

impl Summary {
    /// Fills counts and actions from a plan and, after a real run, the outcomes.
    pub fn record(&mut self, plan: &Plan, outcomes: Option<&[Outcome]>, skipped: &[Skipped]) {
        self.counts.unchanged = plan.unchanged;
        self.skipped = skipped
            .iter()
            .chain(&plan.skipped)
            .map(|s| SkipReport { slack_id: s.slack_id.clone(), reason: s.reason.to_string() })
            .collect();
        self.counts.skipped = self.skipped.len();
        self.protected = plan.protected.clone();
        self.unmanaged = plan
            .unmanaged
            .iter()
            .map(|u| UnmanagedReport { key: u.key.clone(), slack_id: u.slack_id.clone() })
            .collect();
        self.counts.unmanaged = self.unmanaged.len();
        for (i, action) in plan.actions.iter().enumerate() {
            let outcome = match (&action.withheld, outcomes) {
                (Some(_), _) => Outcome::Withheld,
                (None, Some(o)) => o[i].clone(),
                (None, None) => Outcome::Planned,
            };
            self.count(action, &outcome);
            self.actions.push(ActionReport {
                action: action.kind,
                key: action.key.clone(),
                slack_id: action.slack_id.clone(),
                status: match outcome {
                    Outcome::Done => "done",
                    Outcome::AlreadyExisted => "existing",
                    Outcome::Failed(_) => "failed",
                    Outcome::Withheld => "withheld",
                    Outcome::Planned => "planned",
                },
                error: match &outcome {
                    Outcome::Failed(e) => Some(e.clone()),
                    _ => None,
                },
                changed: action.changed.clone(),
                reason: action.withheld.clone(),
            });
        }
    }

    fn count(&mut self, action: &Action, outcome: &Outcome) {
        let c = &mut self.counts;
        match outcome {
            Outcome::Failed(_) => c.failed += 1,
            Outcome::Withheld => c.withheld += 1,
            Outcome::AlreadyExisted => c.existing += 1,
            Outcome::Done | Outcome::Planned => match action.kind {
                ActionKind::Create => c.create += 1,
                ActionKind::Update => c.update += 1,
                ActionKind::Deactivate => c.deactivate += 1,
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
        if c.existing > 0 {
            let _ = write!(line, ", {} existed already", c.existing);
        }
        if c.unmanaged > 0 {
            let _ = write!(line, ", {} left alone (accounts slack-im does not manage)", c.unmanaged);
        }
        if c.failed > 0 {
            let _ = write!(line, ", {} FAILED", c.failed);
        }
        if c.withheld > 0 {
            let _ = write!(line, ", {} deactivations WITHHELD", c.withheld);
        }
        line
    }

    fn failures(&self) -> impl Iterator<Item = &ActionReport> {
        self.actions.iter().filter(|a| a.status == "failed")
    }

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
                let _ = write!(out, "{sign} {:<10} {}", format!("{:?}", a.action).to_lowercase(), a.key);
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
        let _ = writeln!(md, "| create | update | deactivate | unchanged | skipped | failed | withheld |");
        let _ = writeln!(md, "|---:|---:|---:|---:|---:|---:|---:|");
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            c.create, c.update, c.deactivate, c.unchanged, c.skipped, c.failed, c.withheld
        );
        if !self.actions.is_empty() {
            let _ = writeln!(
                md,
                "## Actions\n\n| action | key | Slack id | status | detail |\n|---|---|---|---|---|"
            );
            for a in self.actions.iter().take(500) {
                let detail =
                    a.error.clone().or_else(|| a.reason.clone()).unwrap_or_else(|| a.changed.join(", "));
                let _ = writeln!(
                    md,
                    "| {:?} | {} | {} | {} | {} |",
                    a.action,
                    md_cell(&a.key),
                    a.slack_id.as_deref().unwrap_or(""),
                    a.status,
                    md_cell(&detail)
                );
            }
            if self.actions.len() > 500 {
                let _ = writeln!(md, "\n… {} more in summary.json", self.actions.len() - 500);
            }
            md.push('\n');
        }
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
        md
    }

    /// `junit.xml`: one test case per action (failed actions fail), skipped members as skipped.
    pub fn junit(&self) -> String {
        let suite = format!("slack-im.{}", self.system);
        let tests = self.actions.len() + self.skipped.len() + self.unmanaged.len();
        let skipped = self.skipped.len()
            + self.unmanaged.len()
            + self.actions.iter().filter(|a| matches!(a.status, "withheld" | "planned")).count();
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            xml,
            "<testsuites name=\"slack-im\" tests=\"{tests}\" failures=\"{}\" errors=\"{}\">",
            self.counts.failed,
            u8::from(self.error.is_some())
        );
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{}\" errors=\"{}\" skipped=\"{skipped}\" time=\"{:.3}\" timestamp=\"{}\">",
            xml_escape(&suite),
            self.counts.failed,
            u8::from(self.error.is_some()),
            self.duration_ms as f64 / 1000.0,
            xml_escape(&self.started_at)
        );
        if let Some(e) = &self.error {
            let _ = writeln!(xml, "    <testcase classname=\"{}\" name=\"run\">", xml_escape(&suite));
            let _ = writeln!(xml, "      <error message=\"{}\"/>\n    </testcase>", xml_escape(e));
        }
        for a in &self.actions {
            let class = format!("{suite}.{}", format!("{:?}", a.action).to_lowercase());
            let _ = write!(
                xml,
                "    <testcase classname=\"{}\" name=\"{}\"",
                xml_escape(&class),
                xml_escape(&a.key)
            );
            match a.status {
                "failed" => {
                    let _ = write!(
                        xml,
                        ">\n      <failure message=\"{}\"/>\n    </testcase>\n",
                        xml_escape(a.error.as_deref().unwrap_or(""))
                    );
                }
                "withheld" => {
                    let msg = format!("withheld: {}", a.reason.as_deref().unwrap_or(""));
                    let _ = write!(
                        xml,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                        xml_escape(&msg)
                    );
                }
                "planned" => {
                    xml.push_str(">\n      <skipped message=\"planned (dry run)\"/>\n    </testcase>\n")
                }
                _ => xml.push_str("/>\n"),
            }
        }
        for s in &self.skipped {
            let _ = writeln!(
                xml,
                "    <testcase classname=\"{}.skipped\" name=\"{}\">\n      <skipped message=\"{}\"/>\n    </testcase>",
                xml_escape(&suite),
                xml_escape(&s.slack_id),
                xml_escape(&s.reason)
            );
        }
        for u in &self.unmanaged {
            let _ = writeln!(
                xml,
                "    <testcase classname=\"{}.unmanaged\" name=\"{}\">\n      <skipped message=\"unmanaged, left alone ({})\"/>\n    </testcase>",
                xml_escape(&suite),
                xml_escape(&u.key),
                xml_escape(&u.slack_id)
            );
        }
        xml.push_str("  </testsuite>\n</testsuites>\n");
        xml
    }

    /// Writes `summary.json`, `summary.md` and `junit.xml` into `dir` (created if needed). Each
    /// file passes whole through the redactor, so no field of any format can carry a secret.
    pub fn write(&self, dir: &Path, redactor: &Redactor) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        write_file(dir, "summary.json", &redactor.redact(&json))?;
        write_file(dir, "summary.md", &redactor.redact(&self.markdown()))?;
        write_file(dir, "junit.xml", &redactor.redact(&self.junit()))
    }

    /// The Slack message: fallback text and blocks, redacted. Text that came from a server or a
    /// member is escaped (`&`, `<`, `>`), so it cannot mention `@channel` or disguise a link.
    pub fn slack_message(&self, redactor: &Redactor) -> (String, serde_json::Value) {
        let icon = match self.exit_code {
            0 => ":white_check_mark:",
            3 | 4 => ":warning:",
            _ => ":x:",
        };
        let text = format!("{icon} slack-im {}", slack_escape(&self.headline()));
        let mut details = String::new();
        for a in self.failures().take(5) {
            let _ = writeln!(details, "• {}", slack_escape(a.error.as_deref().unwrap_or("")));
        }
        if let Some(reason) = self.actions.iter().find_map(|a| a.reason.as_ref()) {
            let _ = writeln!(details, "• withheld: {}", slack_escape(reason));
        }
        if let Some(e) = &self.error {
            let _ = writeln!(details, "• {}", slack_escape(e));
        }
        let text = redactor.redact(&text);
        let mut blocks =
            vec![serde_json::json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})];
        if !details.is_empty() {
            let details: String = redactor.redact(&details).chars().take(2900).collect();
            blocks.push(serde_json::json!({"type": "section", "text": {"type": "mrkdwn", "text": details}}));
        }
        (text, serde_json::Value::Array(blocks))
    }
}

/// Slack's three control characters in message text, escaped as Slack asks.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Writes through a temporary file and a rename, so a reader never sees half a report.
fn write_file(dir: &Path, name: &str, text: &str) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, dir.join(name))
}

fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 allows tab, line feed, carriage return, U+0020–U+D7FF, U+E000–U+FFFD and
            // U+10000 up; anything else (control characters, U+FFFE, U+FFFF) not even as a reference.
            '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'.. => {
                out.push(c)
            }
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// Now, as RFC 3339 UTC (`2026-11-28T04:39:01Z`), without a date crate.
pub fn now_rfc3339() -> String {
    let secs =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    rfc3339(secs)
}

fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eligibility::SkipReason;
    use crate::plan::Action;

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_840_741), "2026-11-28T04:39:01Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    fn sample() -> Summary {
        let plan = Plan {
            actions: vec![
                Action {
                    kind: ActionKind::Create,
                    key: "a<b".into(),
                    slack_id: Some("U1".into()),
                    body: None,
                    changed: vec![],
                    withheld: None,
                    account: None,
                },
                Action {
                    kind: ActionKind::Create,
                    key: "c".into(),
                    slack_id: Some("U2".into()),
                    body: None,
                    changed: vec![],
                    withheld: None,
                    account: None,
                },
                Action {
                    kind: ActionKind::Deactivate,
                    key: "old".into(),
                    slack_id: None,
                    body: None,
                    changed: vec![],
                    withheld: Some("guard \"5\"".into()),
                    account: None,
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
        assert_eq!(s.actions[1].status, "failed");
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
        let dir = std::env::temp_dir().join(format!("slack-im-report-{}", std::process::id()));
        let secret = crate::secret::Secret::new("super-secret-value".to_string());
        s.write(&dir, &Redactor::new([&secret])).unwrap();
        for name in ["summary.json", "summary.md", "junit.xml"] {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            assert!(!text.contains("super-secret-value"), "{name}: {text}");
            assert!(text.contains("redacted"), "{name}: {text}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
