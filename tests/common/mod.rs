//! The test harness: a fake Slack and a fake target per test, the binary run with a clean
//! environment pointing at them, and helpers to read what it left behind.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use slack_im_fakes::{FakeSlack, FakeTarget, SlackOptions, TargetOp, TargetOptions, Token};
use tempfile::TempDir;

/// The test oracle: who should have an account, and under which key. It lives with the fake
/// Slack's members (one copy for every test), independent of slack-im's own rules.
pub use slack_im_fakes::members::{email_local, is_eligible};

// Distinctive secret values: every run checks that none of them appears in its output or reports.
pub const BOT_TOKEN: &str = "xoxb-7f3k-distinctive-bot-secret";
pub const TARGET_TOKEN: &str = "tgt-9QvX-distinctive-target-secret";
/// Quotes, a backslash and a double space: its JSON-escaped and white-space-collapsed forms differ
/// from the value itself.
pub const INITIAL_PASSWORD: &str = r#"pw-Zq8 "never"  print\me-4b1d8e7"#;
/// The key that signs members files (`SLACK_IM_MEMBERS_KEY`), shared by export and the runs.
pub const MEMBERS_KEY: &str = "mk-4Hs9Qz7Vw2Lp8Xr5Tn3Yb6Kd1Jf0Gc9Ua";

/// The scopes of the world's bot token: what every shipped system folder needs (`sales-demo`
/// reads the user groups).
pub const SCOPES: [&str; 5] =
    ["users:read", "users:read.email", "channels:read", "chat:write", "usergroups:read"];

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
        slack.tokens = vec![Token::bot(BOT_TOKEN, &SCOPES)];
        target.tokens = vec![(TARGET_TOKEN.into(), "slack-im".into())];
        let slack = FakeSlack::start(slack);
        let target = FakeTarget::start(target);
        let dir = tempfile::Builder::new().prefix("slack-im-it-world-").tempdir().unwrap();
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
            ("SLACK_IM_MEMBERS_KEY", MEMBERS_KEY.into()),
            // The shipped folders key on the e-mail's local part: only the workspace's own
            // domain may claim a key (the fixture's guests from partner.example are skipped anyway).
            ("SLACK_IM_EMAIL_DOMAINS", "acme.example".into()),
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

    /// Uses a private copy of the templates without the shipped folders' `welcome.txt`, returned
    /// for editing: for tests of something else whose members the fake Slack cannot DM (a page a
    /// fault injects) or that sync from a members file without a Slack token.
    pub fn without_welcome(&mut self) -> PathBuf {
        let root = self.own_templates();
        for system in ["dev", "model-office"] {
            std::fs::remove_file(root.join(system).join("welcome.txt")).unwrap();
        }
        root
    }

    /// Runs `slack-im ARGS` with exactly this world's environment, and checks that no secret of
    /// that environment appears in its stdout, stderr or any report file, whatever happened.
    pub fn run(&self, args: &[&str]) -> Run {
        let reports = self.dir.path().join("reports");
        let run = run_binary(args, &self.env, Some(&reports));
        assert_no_secret_leaked(&run, &self.env, &reports);
        let secrets = self.secrets();
        for (n, post) in self.slack.posted_messages().iter().enumerate() {
            assert_no_secret_in(&format!("Slack post {n}"), &post.to_string(), &secrets);
        }
        run
    }

    /// The secret values of this world's environment.
    pub fn secrets(&self) -> Vec<&String> {
        self.env.iter().filter(|(k, _)| is_secret_variable(k)).map(|(_, v)| v).collect()
    }

    /// The report folder's path.
    pub fn reports(&self) -> PathBuf {
        self.dir.path().join("reports")
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

    /// The userIds the oracle says should exist: every eligible member, keyed by the lower-cased
    /// local part of the e-mail (the dev templates' `userId`).
    pub fn expected_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> =
            self.slack.members().iter().filter(|m| is_eligible(m)).filter_map(email_local).collect();
        keys.sort();
        keys
    }
}

/// The values of `SLACK_BOT_TOKEN` and every `SLACK_IM_SECRET_*` must appear nowhere a person or
/// a CI system can read: no 8-character piece of any of them, in any form a server or a format may
/// have turned it into (JSON- or `\u`-escaped, percent-encoded, XML-escaped, white space collapsed).
#[track_caller]
pub fn assert_no_secret_leaked(run: &Run, env: &BTreeMap<String, String>, reports: &Path) {
    let secrets: Vec<&String> = env.iter().filter(|(k, _)| is_secret_variable(k)).map(|(_, v)| v).collect();
    let mut texts =
        vec![("stdout".to_string(), run.stdout.clone()), ("stderr".to_string(), run.stderr.clone())];
    for file in files_below(reports) {
        if let Ok(text) = std::fs::read_to_string(&file) {
            texts.push((file.display().to_string(), text));
        }
    }
    for (name, text) in &texts {
        assert_no_secret_in(name, text, &secrets);
    }
}

/// The variables whose values are secrets: the bot token, the members file's key, template secrets.
pub fn is_secret_variable(name: &str) -> bool {
    name == "SLACK_BOT_TOKEN"
        || name == "SLACK_IM_MEMBERS_KEY"
        || name.starts_with("SLACK_IM_SECRET_") && !name.ends_with("_FILE")
}

/// No 8-character piece of any secret in `text`, in any of its derived forms.
#[track_caller]
pub fn assert_no_secret_in(name: &str, text: &str, secrets: &[&String]) {
    let readings = leak::readings(text);
    for secret in secrets {
        for window in leak::windows(secret, 8) {
            for reading in &readings {
                assert!(
                    !reading.contains(window.as_str()),
                    "a piece of a secret ({window:?}) leaked into {name}:\n{text}"
                );
            }
        }
    }
}

/// Every file below `dir`, recursively.
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_below(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// An independent reading of text the way a person could decode it: each decoding on its own,
/// so the leak check does not share the redactor's logic.
pub mod leak {
    /// The text as it is, and as each common decoding turns it.
    pub fn readings(text: &str) -> Vec<String> {
        let collapse = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut out = vec![text.to_string(), json_unescape(text), percent_decode(text), xml_unescape(text)];
        let collapsed: Vec<String> = out.iter().map(|t| collapse(t)).collect();
        out.extend(collapsed);
        out
    }

    /// Every `n`-character window of the secret (whole, when shorter), white space collapsed.
    pub fn windows(secret: &str, n: usize) -> Vec<String> {
        let chars: Vec<char> = secret.split_whitespace().collect::<Vec<_>>().join(" ").chars().collect();
        if chars.len() <= n {
            return vec![chars.into_iter().collect()];
        }
        chars.windows(n).map(|w| w.iter().collect()).collect()
    }

    fn json_unescape(text: &str) -> String {
        let chars: Vec<char> = text.chars().collect();
        let mut units: Vec<u16> = Vec::new();
        let mut out = String::new();
        let flush = |units: &mut Vec<u16>, out: &mut String| {
            out.push_str(&String::from_utf16_lossy(units));
            units.clear();
        };
        let mut i = 0;
        while i < chars.len() {
            if chars[i] == '\\' && i + 1 < chars.len() {
                let c = chars[i + 1];
                if c == 'u' && i + 6 <= chars.len() {
                    let hex: String = chars[i + 2..i + 6].iter().collect();
                    if let Ok(unit) = u16::from_str_radix(&hex, 16) {
                        units.push(unit);
                        i += 6;
                        continue;
                    }
                }
                flush(&mut units, &mut out);
                out.push(match c {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    other => other,
                });
                i += 2;
                continue;
            }
            flush(&mut units, &mut out);
            out.push(chars[i]);
            i += 1;
        }
        flush(&mut units, &mut out);
        out
    }

    fn percent_decode(text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
                (b'%', Some(b)) => {
                    out.push(b);
                    i += 3;
                }
                (b'+', _) => {
                    out.push(b' ');
                    i += 1;
                }
                (b, _) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn xml_unescape(text: &str) -> String {
        let mut out =
            text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'");
        for (entity, c) in [("&#34;", "\""), ("&#39;", "'"), ("&#x22;", "\""), ("&#x27;", "'")] {
            out = out.replace(entity, c);
        }
        out.replace("&amp;", "&")
    }
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

/// The longest one run of the binary may take in a test; past it, the run is killed and the test
/// fails, so a run that never ends cannot hang the suite.
pub const RUN_LIMIT: Duration = Duration::from_secs(120);

/// Runs a command to its end, or kills it after `limit` and panics.
pub fn output_within(command: &mut Command, limit: Duration) -> std::process::Output {
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("slack-im starts");
    fn drain(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    }
    let out_thread = drain(child.stdout.take().unwrap());
    let err_thread = drain(child.stderr.take().unwrap());
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for slack-im") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("slack-im ran longer than {limit:?} and was killed");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    std::process::Output { status, stdout: out_thread.join().unwrap(), stderr: err_thread.join().unwrap() }
}

pub fn run_binary(args: &[&str], env: &BTreeMap<String, String>, report_dir: Option<&Path>) -> Run {
    if let Some(dir) = report_dir {
        let _ = std::fs::remove_file(dir.join("summary.json"));
    }
    let started = Instant::now();
    let output = output_within(
        Command::new(env!("CARGO_BIN_EXE_slack-im")).args(args).env_clear().envs(env),
        RUN_LIMIT,
    );
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

/// The fixtures folder (`tests/fixtures`).
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures")
}

impl World {
    /// A system folder of this test's own, `templates/<system>/` under a private root, holding
    /// `files` (name, text), written anew on every call; the run syncs that system.
    pub fn folder(&mut self, system: &str, files: &[(&str, &str)]) -> PathBuf {
        let root = self.dir.path().join("own-templates");
        let folder = root.join(system);
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(&folder).unwrap();
        for (name, text) in files {
            std::fs::write(folder.join(name), text).unwrap();
        }
        self.set("SLACK_IM_TEMPLATES", &root.display().to_string());
        self.set("SLACK_IM_SYSTEM", system);
        folder
    }

    /// [`World::folder`] with the dev API's `create.json` and `update.json`
    /// (`tests/fixtures/accounts/`) and this `system.json`.
    pub fn accounts_folder(&mut self, system_json: &str) -> PathBuf {
        let read = |name: &str| std::fs::read_to_string(fixtures().join("accounts").join(name)).unwrap();
        let (create, update) = (read("create.json"), read("update.json"));
        // update.json only with an update endpoint: a body without its endpoint is a load error.
        let mut files = vec![("system.json", system_json), ("create.json", create.as_str())];
        if system_json.contains("\"update\"") {
            files.push(("update.json", &update));
        }
        self.folder("accounts", &files)
    }

    /// Requests the target got with this method whose path starts with `prefix`.
    pub fn target_requests(&self, method: &str, prefix: &str) -> Vec<slack_im_fakes::Recorded> {
        self.target
            .requests()
            .into_iter()
            .filter(|r| r.method == method && r.path.starts_with(prefix))
            .collect()
    }
}

/// A `system.json` for the fake target: bearer auth, this `list` (one JSON object or an array),
/// then `rest` (more fields, each followed by a comma), managed by `createdBy`, keyed like the dev
/// folder.
pub fn system_json(list: &str, rest: &str) -> String {
    let auth = r#"{"Authorization": {{ "Bearer " ~ secrets.target_token }}}"#;
    format!(
        "{{\n  \"headers\": {auth},\n  \"list\": {list},\n  {rest}\n  \"managed\": \"account.createdBy == 'slack-im'\",\n  \"key\": \"user.email_local | lower\"\n}}\n"
    )
}

/// `n` accounts slack-im does not manage and no member matches (`filler00000`, …).
pub fn fillers(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| serde_json::json!({"userId": format!("filler{i:05}"), "name": "Filler", "createdBy": "init-data"}))
        .collect()
}

/// A managed account of someone who left.
pub fn leaver(key: &str) -> Value {
    serde_json::json!({"userId": key, "name": "Left", "createdBy": "slack-im"})
}

/// `fillers(n - 1)` then one leaver (`leaver.last`) at the very end: a listing that stops early
/// cannot deactivate it.
pub fn fillers_then_leaver(n: usize) -> Vec<Value> {
    let mut accounts = fillers(n - 1);
    accounts.push(leaver("leaver.last"));
    accounts
}

impl Run {
    /// The summary's `error`, or "".
    pub fn error(&self) -> String {
        self.summary.as_ref().and_then(|s| s["error"].as_str()).unwrap_or("").to_string()
    }

    /// The summary's actions for this key.
    pub fn actions_for(&self, key: &str) -> Vec<Value> {
        let summary = self.summary.as_ref().expect("summary.json was written");
        summary["actions"].as_array().into_iter().flatten().filter(|a| a["key"] == key).cloned().collect()
    }
}
