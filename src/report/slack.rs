//! The Slack post: fallback text and blocks, with server and member text escaped.

use std::fmt::Write as _;

use super::*;

impl Summary {
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
