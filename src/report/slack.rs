//! The Slack post: fallback text and blocks, with server and member text escaped, the link to the
//! build, and each system's actions as the plan prints them, within Slack's limits.

use std::fmt::Write as _;

use super::*;

/// Slack's longest section text, in characters.
pub const SECTION_LIMIT: usize = 3000;
/// Slack's most blocks in one message.
pub const BLOCK_LIMIT: usize = 50;
/// The most actions the post lists for one system (`summary.md` has them all).
pub const ACTIONS_SHOWN: usize = 10;
/// The longest line of an action the post shows, in characters (its key and the fields it names
/// come from members and servers).
const LINE_LIMIT: usize = 300;

/// The run's one Slack post: a line per system and the link to the build, then the details
/// (failures, withheld, errors) of every system, then each system's actions (the first
/// [`ACTIONS_SHOWN`], old -> new per changed value), all redacted. Text that came from a server
/// or a member is escaped (`&`, `<`, `>`), so it cannot mention `@channel` or disguise a link.
/// `build_url` (Jenkins' `BUILD_URL`) is linked only when [`build_link`] accepts it.
pub fn slack_message(
    summaries: &[Summary],
    redactor: &Redactor,
    build_url: Option<&str>,
) -> (String, serde_json::Value) {
    let mut text = String::new();
    let mut details = String::new();
    for s in summaries {
        let _ = writeln!(text, "{} slack-im {}", icon(s.exit_code), slack_escape(&s.headline()));
        details.push_str(&s.slack_details());
    }
    if let Some(link) = build_url.and_then(build_link) {
        let _ = writeln!(text, "{link}");
    }
    let text = fit(&redactor.redact(text.trim_end()), SECTION_LIMIT);
    let mut blocks = vec![section(&text)];
    if !details.is_empty() {
        blocks.push(section(&fit(&redactor.redact(details.trim_end()), SECTION_LIMIT)));
    }
    let with_actions: Vec<&Summary> = summaries.iter().filter(|s| !s.actions.is_empty()).collect();
    for (n, s) in with_actions.iter().enumerate() {
        let sections = s.slack_actions(summaries.len() > 1, redactor);
        // One block kept for saying what is left out.
        if blocks.len() + sections.len() > BLOCK_LIMIT - 1 {
            let more = with_actions.len() - n;
            blocks.push(section(&format!("… and the actions of {more} more systems (their summary.md)")));
            break;
        }
        blocks.extend(sections.iter().map(|text| section(text)));
    }
    (text, serde_json::Value::Array(blocks))
}

fn section(text: &str) -> serde_json::Value {
    serde_json::json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

/// Jenkins' `BUILD_URL` as a Slack link (`<url|build>`), or nothing when it is not a plain
/// `http://` or `https://` URL with a host: no white space, control or bidirectional formatting
/// characters, no user name or password, at most 2000 characters. `&`, `<` and `>` are escaped as
/// Slack asks, and `|` (which would end the URL) percent-encoded.
pub fn build_link(url: &str) -> Option<String> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let clean = !url.chars().any(char::is_whitespace) && shown(url) == url;
    if host.is_empty() || host.contains('@') || !clean || url.chars().count() > 2000 {
        return None;
    }
    let escaped = url.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('|', "%7C");
    Some(format!("<{escaped}|build>"))
}

/// At most `limit` characters: whole lines while they fit, then `…`.
fn fit(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let mut out = String::new();
    for line in text.lines() {
        if out.chars().count() + line.chars().count() + 2 > limit {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    if out.is_empty() {
        out = text.chars().take(limit - 1).collect();
    }
    out.push('…');
    out
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
        slack_message(std::slice::from_ref(self), redactor, None)
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

    /// This system's actions as the plan prints them (the first [`ACTIONS_SHOWN`], each with its
    /// old -> new values), preformatted, in as few sections of at most [`SECTION_LIMIT`] characters
    /// as they need; then how many more `summary.md` lists. Each action is escaped and redacted
    /// before its lines are cut.
    fn slack_actions(&self, name_system: bool, redactor: &Redactor) -> Vec<String> {
        let entries = self.actions.iter().take(ACTIONS_SHOWN).map(|a| {
            let lines = std::iter::once(a.plan_line(self.dry_run)).chain(a.diff_lines());
            let text: String = lines.map(|l| slack_escape(&l) + "\n").collect();
            redactor
                .redact(&text)
                .lines()
                .map(|line| match line.char_indices().nth(LINE_LIMIT) {
                    Some((at, _)) => format!("{}…\n", &line[..at]),
                    None => format!("{line}\n"),
                })
                .collect::<String>()
        });
        // Room kept in each section for its fences, the system's name and the "… and N more" line.
        let room = SECTION_LIMIT - 200;
        let mut bodies: Vec<String> = vec![String::new()];
        for entry in entries {
            let last = bodies.last_mut().unwrap_or_else(|| unreachable!("one body at least"));
            if !last.is_empty() && last.chars().count() + entry.chars().count() > room {
                bodies.push(entry);
            } else {
                last.push_str(&entry);
            }
        }
        let count = bodies.len();
        bodies
            .into_iter()
            .enumerate()
            .map(|(n, body)| {
                let mut out = String::new();
                if name_system && n == 0 {
                    let _ = writeln!(out, "*{}*", slack_escape(&self.system));
                }
                let _ = write!(out, "```\n{body}```");
                if n + 1 == count && self.actions.len() > ACTIONS_SHOWN {
                    let _ = write!(out, "\n… and {} more (summary.md)", self.actions.len() - ACTIONS_SHOWN);
                }
                fit(&redactor.redact(&out), SECTION_LIMIT)
            })
            .collect()
    }
}

/// Slack's three control characters in message text, escaped as Slack asks.
fn slack_escape(text: &str) -> String {
    shown(text).replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
