//! `junit.xml`: one test case per action, so Jenkins shows each account's history; always
//! well-formed XML 1.0.

use std::fmt::Write as _;

use super::*;

impl Summary {
    /// How many test cases `junit.xml` holds for this system (an error adds one in the combined file).
    pub(super) fn test_cases(&self) -> usize {
        self.actions.len()
            + self.skipped.len()
            + self.unmanaged.len()
            + self.locked.len()
            + self.pending_deactivation.len()
    }

    /// `junit.xml`: one test case per action (failed actions fail), skipped members as skipped.
    pub fn junit(&self) -> String {
        let suite = format!("slack-im.{}", self.system);
        let tests = self.test_cases();
        let skipped = self.skipped.len()
            + self.unmanaged.len()
            + self.locked.len()
            + self.pending_deactivation.len()
            + self.actions.iter().filter(|a| matches!(a.status, Status::Withheld | Status::Planned)).count();
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
            testcase(&mut xml, &suite, "run", Some(("error", e.clone())));
        }
        for a in &self.actions {
            let verdict = match a.status {
                Status::Failed => Some(("failure", a.error.clone().unwrap_or_default())),
                Status::Withheld => {
                    Some(("skipped", format!("withheld: {}", a.reason.as_deref().unwrap_or(""))))
                }
                Status::Planned => Some(("skipped", "planned (dry run)".to_string())),
                Status::Done | Status::Existing => None,
            };
            testcase(&mut xml, &format!("{suite}.{}", a.action), &a.key, verdict);
        }
        for s in &self.skipped {
            testcase(&mut xml, &format!("{suite}.skipped"), &s.slack_id, Some(("skipped", s.reason.clone())));
        }
        for u in &self.unmanaged {
            let why = format!("unmanaged, left alone ({})", u.slack_id);
            testcase(&mut xml, &format!("{suite}.unmanaged"), &u.key, Some(("skipped", why)));
        }
        for p in &self.pending_deactivation {
            let why = format!(
                "deactivated in Slack ({}), waits until {} (SLACK_IM_DEACTIVATE_AFTER)",
                p.slack_id, p.due_at
            );
            testcase(&mut xml, &format!("{suite}.pending"), &p.key, Some(("skipped", why)));
        }
        for u in &self.locked {
            let why = format!("inactive, locked by someone else, left alone ({})", u.slack_id);
            testcase(&mut xml, &format!("{suite}.locked"), &u.key, Some(("skipped", why)));
        }
        xml.push_str("  </testsuite>\n</testsuites>\n");
        xml
    }
}

/// One `<testcase>`, with its `<failure>`, `<error>` or `<skipped>` element and message, if any.
fn testcase(xml: &mut String, class: &str, name: &str, verdict: Option<(&str, String)>) {
    let _ = write!(xml, "    <testcase classname=\"{}\" name=\"{}\"", xml_escape(class), xml_escape(name));
    match verdict {
        None => xml.push_str("/>\n"),
        Some((element, message)) => {
            let _ =
                write!(xml, ">\n      <{element} message=\"{}\"/>\n    </testcase>\n", xml_escape(&message));
        }
    }
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
