//! The reports of a run over several systems: a combined `summary.json` (one entry per system),
//! `summary.md` (each system's page in turn) and `junit.xml` (one test suite per system), beside
//! each system's own folder.

use std::path::Path;

use serde::Serialize;

use super::{write_file, Run, Summary, Verdict, Written};
use crate::secret::Redactor;

/// `summary.json` at the top of the report folder when several systems ran.
#[derive(Debug, Serialize)]
pub struct Combined<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub command: String,
    pub dry_run: bool,
    pub started_at: String,
    pub duration_ms: u64,
    /// The most severe of the systems' exit codes (see `exit::most_severe`).
    pub exit_code: u8,
    /// The systems that did not finish, with their errors.
    pub error: Option<String>,
    #[serde(serialize_with = "each_written")]
    pub systems: &'a [Summary],
    /// The systems' headlines (one line each), the meaning of `exit_code`, and their first
    /// failures and withheld actions named by system.
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// Each system's entry as its own `summary.json` reads, verdict included.
fn each_written<S: serde::Serializer>(systems: &&[Summary], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(systems.iter().map(Written::of))
}

impl<'a> Combined<'a> {
    /// The run's settings, every system's summary, and the most severe of their exit codes.
    pub(crate) fn new(run: &Run, systems: &'a [Summary], exit_code: u8) -> Combined<'a> {
        let errors: Vec<String> =
            systems.iter().filter_map(|s| s.error.as_ref().map(|e| format!("{}: {e}", s.system))).collect();
        Combined {
            run_id: run.run_id.clone(),
            command: run.command.into(),
            dry_run: run.dry_run,
            started_at: run.started_at.clone(),
            duration_ms: run.duration_ms,
            exit_code,
            error: (!errors.is_empty()).then(|| errors.join("; ")),
            systems,
            verdict: Verdict::combined(systems, exit_code),
        }
    }

    /// Writes the combined `summary.json`, `summary.md` and `junit.xml` into `dir`, redacted whole.
    pub fn write(&self, dir: &Path, redactor: &Redactor) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        write_file(dir, "summary.json", &redactor.redact(&json))?;
        let markdown: String =
            self.systems.iter().map(Summary::markdown).collect::<Vec<_>>().join("\n---\n\n");
        write_file(dir, "summary.md", &redactor.redact(&markdown))?;
        write_file(dir, "junit.xml", &redactor.redact(&self.junit()))
    }

    /// One `<testsuite>` per system inside one `<testsuites>`.
    fn junit(&self) -> String {
        let mut suites = String::new();
        let (mut tests, mut failures, mut errors) = (0, 0, 0);
        for s in self.systems {
            let xml = s.junit();
            // Each system's document: the prolog, <testsuites …>, its suite, </testsuites>.
            let start = xml.find("  <testsuite ").unwrap_or(0);
            let end = xml.rfind("</testsuites>").unwrap_or(xml.len());
            suites.push_str(&xml[start..end]);
            tests += s.test_cases() + usize::from(s.error.is_some());
            failures += s.counts.failed;
            errors += usize::from(s.error.is_some());
        }
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"slack-im\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">\n{suites}</testsuites>\n"
        )
    }
}
