//! The test harness: a fake Slack and a fake target per test, the binary run with a clean
//! environment pointing at them, and helpers to read what it left behind.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use slack_im_fakes::{FakeSlack, FakeTarget, SlackOptions, TargetOp, TargetOptions, Token};

// Distinctive secret values: every run checks that none of them appears in its output or reports.
pub const BOT_TOKEN: &str = "xoxb-7f3k-distinctive-bot-secret";
pub const TARGET_TOKEN: &str = "tgt-9QvX-distinctive-target-secret";
pub const INITIAL_PASSWORD: &str = "pw-Zq8-never-print-me";

/// A scratch folder removed when the test ends.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "slack-im-it-{label}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The repository's own `templates/` folder.
pub fn shipped_templates() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")
}

/// A copy of the shipped templates that a test may change.
pub fn templates_copy(dir: &TempDir) -> PathBuf {
    let root = dir.path().join("templates");
    for entry in std::fs::read_dir(shipped_templates()).unwrap() {
        let system = entry.unwrap().path();
        let to = root.join(system.file_name().unwrap());
        std::fs::create_dir_all(&to).unwrap();
        for file in std::fs::read_dir(&system).unwrap() {
            let file = file.unwrap().path();
            std::fs::copy(&file, to.join(file.file_name().unwrap())).unwrap();
        }
    }
    root
}

/// One fake workspace, one fake target, and a scratch folder for reports.
pub struct World {
    pub slack: FakeSlack,
    pub target: FakeTarget,
    pub dir: TempDir,
    pub templates: PathBuf,
    pub env: BTreeMap<String, String>,
}

impl World {
    /// The Acme fixture (21 awkward members) plus `synthetic` generated ones.
    pub fn new(synthetic: usize) -> World {
        World::with(SlackOptions::acme(synthetic), TargetOptions::default())
    }

    /// Custom fakes; their tokens are replaced by this harness's distinctive ones.
    pub fn with(mut slack: SlackOptions, mut target: TargetOptions) -> World {
        slack.tokens =
            vec![Token::bot(BOT_TOKEN, &["users:read", "users:read.email", "channels:read", "chat:write"])];
        target.tokens = vec![(TARGET_TOKEN.into(), "slack-im".into())];
        let slack = FakeSlack::start(slack);
        let target = FakeTarget::start(target);
        let dir = TempDir::new("world");
        let templates = shipped_templates();
        let env = [
            ("SLACK_BOT_TOKEN", BOT_TOKEN.to_string()),
            ("SLACK_IM_SYSTEM", "dev".into()),
            ("SLACK_IM_SLACK_URL", slack.base_url()),
            ("SLACK_IM_TARGET_URL", target.base_url()),
            ("SLACK_IM_TEMPLATES", templates.display().to_string()),
            ("SLACK_IM_SECRET_TARGET_TOKEN", TARGET_TOKEN.into()),
            ("SLACK_IM_SECRET_INITIAL_PASSWORD", INITIAL_PASSWORD.into()),
            ("SLACK_IM_REPORT_DIR", dir.path().join("reports").display().to_string()),
            ("SLACK_IM_TIMEOUT_SECS", "5".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        World { slack, target, dir, templates, env }
    }

    pub fn set(&mut self, name: &str, value: &str) -> &mut World {
        self.env.insert(name.into(), value.into());
        self
    }

    pub fn unset(&mut self, name: &str) -> &mut World {
        self.env.remove(name);
        self
    }

    /// Uses a private copy of the templates, returned for editing.
    pub fn own_templates(&mut self) -> PathBuf {
        let root = templates_copy(&self.dir);
        self.set("SLACK_IM_TEMPLATES", &root.display().to_string());
        root
    }

    /// Runs `slack-im ARGS` with exactly this world's environment, and checks that no secret of
    /// that environment appears in its stdout, stderr or any report file, whatever happened.
    pub fn run(&self, args: &[&str]) -> Run {
        let reports = self.dir.path().join("reports");
        let run = run_binary(args, &self.env, Some(&reports));
        assert_no_secret_leaked(&run, &self.env, &reports);
        run
    }

    pub fn writes(&self) -> usize {
        self.target.count(TargetOp::Create)
            + self.target.count(TargetOp::Update)
            + self.target.count(TargetOp::Delete)
    }

    /// Accounts by userId.
    pub fn accounts(&self) -> BTreeMap<String, Value> {
        self.target.accounts().into_iter().map(|a| (a["userId"].as_str().unwrap().to_string(), a)).collect()
    }

    /// The userIds an independent reading of the fixture says should exist: active, confirmed,
    /// non-guest humans with an e-mail, keyed by their lower-cased e-mail local part.
    pub fn expected_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> =
            self.slack.members().iter().filter(|m| is_eligible(m)).map(key_of).collect();
        keys.sort();
        keys
    }
}

/// The values of `SLACK_BOT_TOKEN` and every `SLACK_IM_SECRET_*` must appear nowhere a person or
/// a CI system can read.
#[track_caller]
pub fn assert_no_secret_leaked(run: &Run, env: &BTreeMap<String, String>, reports: &Path) {
    let secrets: Vec<&String> = env
        .iter()
        .filter(|(k, _)| {
            *k == "SLACK_BOT_TOKEN" || k.starts_with("SLACK_IM_SECRET_") && !k.ends_with("_FILE")
        })
        .map(|(_, v)| v)
        .collect();
    let mut texts =
        vec![("stdout".to_string(), run.stdout.clone()), ("stderr".to_string(), run.stderr.clone())];
    for entry in std::fs::read_dir(reports).into_iter().flatten().flatten() {
        if let Ok(text) = std::fs::read_to_string(entry.path()) {
            texts.push((entry.path().display().to_string(), text));
        }
    }
    for (name, text) in &texts {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "a secret leaked into {name}:\n{text}");
        }
    }
}

pub fn is_eligible(m: &Value) -> bool {
    let yes = |f: &str| m[f].as_bool() == Some(true);
    m["id"] != "USLACKBOT"
        && !yes("deleted")
        && !yes("is_bot")
        && !yes("is_restricted")
        && !yes("is_ultra_restricted")
        && !yes("is_invited_user")
        && m["is_email_confirmed"].as_bool() == Some(true)
        && m["profile"]["bot_id"].is_null()
        && m["profile"]["email"].as_str().is_some_and(|e| e.contains('@'))
}

pub fn key_of(m: &Value) -> String {
    m["profile"]["email"].as_str().unwrap().split('@').next().unwrap().to_lowercase()
}

/// What a run left: exit code, output, and the summary it wrote.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub summary: Option<Value>,
    pub elapsed: Duration,
}

impl Run {
    pub fn counts(&self) -> &Value {
        &self.summary.as_ref().expect("summary.json was written")["counts"]
    }

    pub fn count(&self, what: &str) -> u64 {
        self.counts()[what].as_u64().unwrap_or_else(|| panic!("no count {what}: {self:?}"))
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(self.code, code, "exit code\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }
}

pub fn run_binary(args: &[&str], env: &BTreeMap<String, String>, report_dir: Option<&Path>) -> Run {
    if let Some(dir) = report_dir {
        let _ = std::fs::remove_file(dir.join("summary.json"));
    }
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_slack-im"))
        .args(args)
        .env_clear()
        .envs(env)
        .output()
        .expect("slack-im runs");
    let summary = report_dir
        .and_then(|d| std::fs::read_to_string(d.join("summary.json")).ok())
        .map(|text| serde_json::from_str(&text).expect("summary.json is JSON"));
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        summary,
        elapsed: started.elapsed(),
    }
}
