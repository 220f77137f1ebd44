//! `slack-im-fakes serve`: runs the fake Slack and the fake target as standalone servers for the
//! sandbox, container tests, shell scripts and the benchmark.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};
use slack_im_fakes::{members, FakeSlack, FakeTarget, SlackOptions, TargetFault, TargetOptions};

const HELP: &str = "\
slack-im-fakes: local fake Slack Web API and fake target user API (127.0.0.1 only)

USAGE:
    slack-im-fakes serve [OPTIONS]
    slack-im-fakes --help

serve starts both fakes, prints the environment slack-im needs to use them, e.g.
    SLACK_IM_SLACK_URL=http://127.0.0.1:PORT/api/
    SLACK_IM_TARGET_URL=http://127.0.0.1:PORT
    SLACK_BOT_TOKEN=xoxb-sandbox-token
    SLACK_IM_SECRET_TARGET_TOKEN=target-sandbox-token
and serves until killed (SIGTERM/SIGINT), until --for-secs elapses, or until stdin reaches EOF
with --until-stdin-eof.

OPTIONS:
    --members N          synthetic Slack members added to the 21-member Acme fixture [default: 0]
    --seed N             seed of the synthetic member generator
    --accounts N         pre-existing target accounts: the first N eligible members' userIds
                         (e-mail local part), half createdBy \"slack-im\", half \"init-data\",
                         plus 3 init-data-only accounts that are not in Slack [default: 0]
    --leavers N          also pre-create N accounts createdBy \"slack-im\" whose users are not in
                         Slack (userIds leaver.1 … leaver.N): slack-im plans to deactivate them
                         [default: 0]
    --fail-keys K1,K2    every write (create/update/delete) for these userIds (case-insensitive)
                         answers HTTP 500
    --slack-token T      the bot token the fake Slack accepts [default: xoxb-sandbox-token]
    --target-token T     the token the fake target accepts [default: target-sandbox-token]
    --latency-ms L       target latency per request, in milliseconds [default: 0]
    --slack-latency-ms L Slack latency per request, in milliseconds [default: 0]
    --slack-port P       bind the fake Slack on 127.0.0.1:P [default: any free port]
    --target-port P      bind the fake target on 127.0.0.1:P [default: any free port]
    --env-file PATH      also write the environment lines to PATH (written atomically)
    --for-secs S         stop after S seconds
    --until-stdin-eof    stop when stdin reaches end of file
    -h, --help           print this help

CONTROL ENDPOINTS (no auth):
    target: GET /__fake/accounts, GET /__fake/stats, GET /__fake/requests
    slack:  GET /__fake/stats (calls per method), GET /__fake/requests, GET /__fake/posted
";

#[derive(Debug, Default)]
struct Args {
    members: usize,
    seed: Option<u64>,
    accounts: usize,
    leavers: usize,
    fail_keys: Vec<String>,
    slack_token: Option<String>,
    target_token: Option<String>,
    latency_ms: u64,
    slack_latency_ms: u64,
    slack_port: u16,
    target_port: u16,
    env_file: Option<String>,
    for_secs: Option<u64>,
    until_stdin_eof: bool,
}

fn parse_args(argv: &[String]) -> Result<Option<Args>, String> {
    let mut it = argv.iter();
    match it.next().map(String::as_str) {
        None | Some("-h" | "--help" | "help") => return Ok(None),
        Some("serve") => {}
        Some(other) => return Err(format!("unknown command {other:?} (try --help)")),
    }
    let mut a = Args::default();
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        if flag == "--until-stdin-eof" {
            a.until_stdin_eof = true;
            continue;
        }
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag.as_str(), None),
        };
        let value = match inline {
            Some(v) => v,
            None => it.next().cloned().ok_or_else(|| format!("{name} needs a value"))?,
        };
        let num = |v: &str| -> Result<u64, String> {
            v.parse::<u64>().map_err(|_| format!("{name}: {v:?} is not a non-negative integer"))
        };
        let port = |v: &str| -> Result<u16, String> {
            v.parse::<u16>().map_err(|_| format!("{name}: {v:?} is not a port number"))
        };
        match name {
            "--members" => a.members = num(&value)? as usize,
            "--seed" => a.seed = Some(num(&value)?),
            "--accounts" => a.accounts = num(&value)? as usize,
            "--leavers" => a.leavers = num(&value)? as usize,
            "--fail-keys" => a
                .fail_keys
                .extend(value.split(',').map(str::trim).filter(|k| !k.is_empty()).map(String::from)),
            "--slack-token" | "--target-token" => {
                if value.is_empty() || value.chars().any(char::is_whitespace) {
                    return Err(format!("{name}: the token must be non-empty, without whitespace"));
                }
                if name == "--slack-token" {
                    a.slack_token = Some(value);
                } else {
                    a.target_token = Some(value);
                }
            }
            "--latency-ms" => a.latency_ms = num(&value)?,
            "--slack-latency-ms" => a.slack_latency_ms = num(&value)?,
            "--slack-port" => a.slack_port = port(&value)?,
            "--target-port" => a.target_port = port(&value)?,
            "--env-file" => a.env_file = Some(value),
            "--for-secs" => a.for_secs = Some(num(&value)?),
            _ => return Err(format!("unknown option {name} (try --help)")),
        }
    }
    Ok(Some(a))
}

/// The pre-existing accounts of `--accounts N`.
fn init_accounts(slack_members: &[Value], n: usize) -> Vec<Value> {
    let mut out: Vec<Value> = slack_members
        .iter()
        .filter(|m| members::is_eligible(m))
        .take(n)
        .enumerate()
        .map(|(i, m)| {
            let name = m.get("real_name").and_then(Value::as_str).unwrap_or_default();
            json!({
                "userId": members::email_local(m),
                "name": name,
                "email": members::email(m),
                "password": "init-data-password",
                "createdBy": if i % 2 == 0 { "slack-im" } else { "init-data" },
                "active": true,
            })
        })
        .collect();
    for (id, name) in [("admin", "Init Admin"), ("qa.tester", "QA Tester"), ("demo.agent", "Demo Agent")] {
        out.push(json!({
            "userId": id, "name": name, "password": "init-data-password",
            "createdBy": "init-data", "active": true,
        }));
    }
    out
}

/// The accounts of `--leavers N`: managed by slack-im, but their users are not in Slack.
fn leaver_accounts(n: usize) -> Vec<Value> {
    (1..=n)
        .map(|i| {
            json!({
                "userId": format!("leaver.{i}"),
                "name": format!("Former Colleague {i}"),
                "password": "init-data-password",
                "createdBy": "slack-im",
                "active": true,
            })
        })
        .collect()
}

fn write_env_file(path: &str, text: &str) -> std::io::Result<()> {
    let tmp = format!("{path}.tmp{}", std::process::id());
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

fn serve(a: Args) -> Result<(), String> {
    let mut slack_opts = match a.seed {
        Some(seed) => SlackOptions::acme_seeded(a.members, seed),
        None => SlackOptions::acme(a.members),
    };
    slack_opts.latency = Duration::from_millis(a.slack_latency_ms);
    slack_opts.port = a.slack_port;
    let slack_token =
        a.slack_token.clone().unwrap_or_else(|| slack_im_fakes::slack::SANDBOX_TOKEN.to_string());
    for t in &mut slack_opts.tokens {
        if t.token == slack_im_fakes::slack::SANDBOX_TOKEN {
            t.token = slack_token.clone();
        }
    }
    let mut accounts =
        if a.accounts > 0 { init_accounts(&slack_opts.members, a.accounts) } else { Vec::new() };
    accounts.extend(leaver_accounts(a.leavers));
    let mut target_opts = TargetOptions {
        accounts,
        latency: Duration::from_millis(a.latency_ms),
        port: a.target_port,
        ..TargetOptions::default()
    };
    let target_token =
        a.target_token.clone().unwrap_or_else(|| slack_im_fakes::target::SANDBOX_TOKEN.to_string());
    for (t, _) in &mut target_opts.tokens {
        if t == slack_im_fakes::target::SANDBOX_TOKEN {
            t.clone_from(&target_token);
        }
    }
    let slack = FakeSlack::start(slack_opts);
    let target = FakeTarget::start(target_opts);
    for key in &a.fail_keys {
        target.add_fault(TargetFault::fail_key(key, 500));
    }
    // The fake workspace's own domain: the shipped folders key on the e-mail's local part, which
    // slack-im accepts only with the company's domains named.
    let env = format!(
        "SLACK_IM_SLACK_URL={}\nSLACK_IM_TARGET_URL={}\nSLACK_BOT_TOKEN={}\nSLACK_IM_SECRET_TARGET_TOKEN={}\nSLACK_IM_EMAIL_DOMAINS={}\n",
        slack.base_url(),
        target.base_url(),
        slack_token,
        target_token,
        slack_im_fakes::members::ACME_EMAIL_DOMAIN,
    );
    if let Some(path) = &a.env_file {
        write_env_file(path, &env).map_err(|e| format!("--env-file {path}: {e}"))?;
    }
    let mut out = std::io::stdout().lock();
    out.write_all(env.as_bytes()).and_then(|()| out.flush()).map_err(|e| format!("stdout: {e}"))?;
    drop(out);

    let (tx, rx) = mpsc::channel::<&'static str>();
    if let Some(secs) = a.for_secs {
        let tx = tx.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(secs));
            let _ = tx.send("time limit reached");
        });
    }
    if a.until_stdin_eof {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut sink = [0u8; 4096];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            let _ = tx.send("stdin closed");
        });
    }
    drop(tx);
    match rx.recv() {
        Ok(why) => eprintln!("slack-im-fakes: {why}, stopping"),
        // No stop condition: serve until killed.
        Err(_) => loop {
            std::thread::park();
        },
    }
    drop(slack);
    drop(target);
    Ok(())
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match parse_args(&argv) {
        Ok(None) => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        Ok(Some(a)) => match serve(a) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("slack-im-fakes: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("slack-im-fakes: {e}");
            ExitCode::from(2)
        }
    }
}
