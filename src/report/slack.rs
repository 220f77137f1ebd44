//! The Slack post: fallback text and blocks, with server and member text escaped.

use std::fmt::Write as _;

use super::*;

/// The run's one Slack post: a line per system, then the details (failures, withheld, errors) of
/// every system, redacted. Text that came from a server or a member is escaped (`&`, `<`, `>`), so
/// it cannot mention `@channel` or disguise a link.
pub fn slack_message(summaries: &[Summary], redactor: &Redactor) -> (String, serde_json::Value) {
    let mut text = String::new();
    let mut details = String::new();
    for s in summaries {
        let _ = writeln!(text, "{} slack-im {}", icon(s.exit_code), slack_escape(&s.headline()));
        details.push_str(&s.slack_details());
    }
    let text = redactor.redact(text.trim_end());
    let mut blocks = vec![serde_json::json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})];
    if !details.is_empty() {
        let details: String = redactor.redact(&details).chars().take(2900).collect();
        blocks.push(serde_json::json!({"type": "section", "text": {"type": "mrkdwn", "text": details}}));
    }
    (text, serde_json::Value::Array(blocks))
}

fn icon(exit_code: u8) -> &'static str {
    match exit_code {
        0 => ":white_check_mark:",
        3 | 4 => ":warning:",
        _ => ":x:",
    }
}

impl Summary {
    /// The Slack message of this system alone.
    pub fn slack_message(&self, redactor: &Redactor) -> (String, serde_json::Value) {
        slack_message(std::slice::from_ref(self), redactor)
    }

    /// Up to five failures, the guard's reason and the error, one bullet each.
    fn slack_details(&self) -> String {
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
        details
    }
}

/// Slack's three control characters in message text, escaped as Slack asks.
fn slack_escape(text: &str) -> String {
    shown(text).replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
