//! The write journal, `actions.jsonl` in the report folder: a line before and a line after every
//! write, each written and flushed as it happens, so a crash, a `kill -9` or an OOM in the middle of
//! applying still leaves a record of every write that was sent and of how each one ended.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde_json::json;

use crate::action::{Action, Outcome};
use crate::secret::Redactor;

/// The journal's file name in `SLACK_IM_REPORT_DIR`.
pub const FILE_NAME: &str = "actions.jsonl";

/// An append-only journal. Runs append to it; each run starts with a `run` line.
pub struct Journal {
    file: Mutex<File>,
    redactor: Redactor,
}

impl Journal {
    /// Opens (or creates) `dir/actions.jsonl` for appending and writes the run's first line.
    pub fn open(dir: &Path, redactor: Redactor, run: serde_json::Value) -> std::io::Result<Journal> {
        std::fs::create_dir_all(dir)?;
        let file = crate::files::append_private(&dir.join(FILE_NAME))?;
        let journal = Journal { file: Mutex::new(file), redactor };
        journal.line(json!({"at": crate::clock::now_rfc3339(), "event": "run", "run": run}))?;
        Ok(journal)
    }

    /// Before a write is sent. A write whose line cannot be written is not sent.
    pub fn sending(&self, action: &Action) -> std::io::Result<()> {
        self.line(json!({
            "at": crate::clock::now_rfc3339(),
            "event": "write",
            "action": action.kind,
            "key": action.key,
            "slack_id": action.slack_id,
            "status": "sending",
        }))
    }

    /// After a write: how it ended.
    pub fn outcome(&self, action: &Action, outcome: &Outcome) {
        let (status, error) = match outcome {
            Outcome::Done => ("done", None),
            Outcome::AlreadyExisted => ("existing", None),
            Outcome::Failed(e) | Outcome::WelcomeFailed(e) => ("failed", Some(e.as_str())),
            Outcome::Withheld => ("withheld", None),
            Outcome::Planned => ("planned", None),
        };
        let line = json!({
            "at": crate::clock::now_rfc3339(),
            "event": "write",
            "action": action.kind,
            "key": action.key,
            "slack_id": action.slack_id,
            "status": status,
            "error": error,
        });
        if let Err(e) = self.line(line) {
            log::error!("cannot append to {FILE_NAME}: {e}");
        }
    }

    /// The welcome DM of a create: `sending` before it is posted (an error if that line cannot be
    /// written: then it is not posted), then `sent` or `failed`. Never its text.
    pub fn welcome(&self, action: &Action, status: &str, error: Option<&str>) -> std::io::Result<()> {
        self.line(json!({
            "at": crate::clock::now_rfc3339(),
            "event": "welcome",
            "key": action.key,
            "slack_id": action.slack_id,
            "status": status,
            "error": error,
        }))
    }

    /// One line, redacted, in one `write` call on a file opened for appending: lines from
    /// parallel writers never interleave, and each is in the kernel before the write is sent.
    fn line(&self, value: serde_json::Value) -> std::io::Result<()> {
        let mut text = self.redactor.redact(&value.to_string());
        text.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::ActionKind;

    #[test]
    fn every_write_gets_a_line_before_and_after_and_runs_append() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let action = Action {
            kind: ActionKind::Create,
            key: "ann".into(),
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
        };
        for _ in 0..2 {
            let journal = Journal::open(&dir, Redactor::default(), json!({"system": "dev"})).unwrap();
            journal.sending(&action).unwrap();
            journal.outcome(&action, &Outcome::Failed("HTTP 500".into()));
        }
        let text = std::fs::read_to_string(dir.join(FILE_NAME)).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 6);
        assert_eq!(lines[1]["status"], "sending");
        assert_eq!(lines[2]["status"], "failed");
        assert_eq!(lines[2]["error"], "HTTP 500");
        assert_eq!(lines[3]["event"], "run");
    }
}
