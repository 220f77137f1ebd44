//! Tests of the standalone `slack-im-fakes serve` binary: printed environment, env file, control
//! endpoints, and stopping on stdin EOF / --for-secs.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{get, request};

const BIN: &str = env!("CARGO_BIN_EXE_slack-im-fakes");

fn addr_of(url: &str) -> SocketAddr {
    let host = url.trim_start_matches("http://").split('/').next().unwrap();
    host.parse().unwrap()
}

#[test]
fn serve_prints_env_and_answers_control_endpoints() {
    let scratch = tempfile::tempdir().unwrap();
    let env_file = scratch.path().join("fakes.env");
    let mut child = Command::new(BIN)
        .args(["serve", "--members", "50", "--accounts", "6", "--until-stdin-eof"])
        .arg("--env-file")
        .arg(&env_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut env = std::collections::HashMap::new();
    for _ in 0..4 {
        let line = lines.next().unwrap().unwrap();
        let (k, v) = line.split_once('=').unwrap();
        env.insert(k.to_string(), v.to_string());
    }
    assert_eq!(env["SLACK_BOT_TOKEN"], "xoxb-sandbox-token");
    assert_eq!(env["SLACK_IM_SECRET_TARGET_TOKEN"], "target-sandbox-token");
    assert!(env["SLACK_IM_SLACK_URL"].ends_with("/api/"));
    let file = std::fs::read_to_string(&env_file).unwrap();
    assert!(file.contains(&format!("SLACK_IM_TARGET_URL={}\n", env["SLACK_IM_TARGET_URL"])));

    let target = addr_of(&env["SLACK_IM_TARGET_URL"]);
    let accounts = get(target, "/__fake/accounts", &[]).json();
    let accounts = accounts.as_array().unwrap();
    assert_eq!(accounts.len(), 9);
    let by: Vec<&str> = accounts.iter().map(|a| a["createdBy"].as_str().unwrap()).collect();
    assert_eq!(by.iter().filter(|b| **b == "slack-im").count(), 3);
    assert_eq!(accounts[0]["userId"], "alice");
    let listed =
        get(target, "/api/users?page=0&size=500", &[("Authorization", "Bearer target-sandbox-token")]).json();
    assert_eq!(listed["total"], 9);
    let stats = get(target, "/__fake/stats", &[]).json();
    assert_eq!(stats["list"], 1);
    assert_eq!(stats["create"], 0);

    let slack = addr_of(&env["SLACK_IM_SLACK_URL"]);
    let users =
        get(slack, "/api/users.list?limit=200", &[("Authorization", "Bearer xoxb-sandbox-token")]).json();
    assert_eq!(users["members"].as_array().unwrap().len(), 71);
    assert_eq!(get(slack, "/__fake/stats", &[]).json()["users.list"], 1);

    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success());
            break;
        }
        assert!(Instant::now() < deadline, "did not stop on stdin EOF");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn for_secs_stops_and_help_and_bad_flags() {
    let t = Instant::now();
    let out = Command::new(BIN).args(["serve", "--for-secs", "1"]).output().unwrap();
    assert!(out.status.success());
    assert!(t.elapsed() >= Duration::from_secs(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("SLACK_IM_TARGET_URL=http://127.0.0.1:"));

    let help = Command::new(BIN).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--until-stdin-eof"));

    let bad = Command::new(BIN).args(["serve", "--nope"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn serve_leavers_fail_keys_and_custom_tokens() {
    let mut child = Command::new(BIN)
        .args(["serve", "--leavers", "2", "--fail-keys", "alice, Bob", "--until-stdin-eof"])
        .args(["--slack-token", "xoxb-custom-e2e", "--target-token", "target-custom-e2e"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut env = std::collections::HashMap::new();
    for _ in 0..4 {
        let line = lines.next().unwrap().unwrap();
        let (k, v) = line.split_once('=').unwrap();
        env.insert(k.to_string(), v.to_string());
    }
    assert_eq!(env["SLACK_BOT_TOKEN"], "xoxb-custom-e2e");
    assert_eq!(env["SLACK_IM_SECRET_TARGET_TOKEN"], "target-custom-e2e");

    let target = addr_of(&env["SLACK_IM_TARGET_URL"]);
    let accounts = get(target, "/__fake/accounts", &[]).json();
    let ids: Vec<(&str, &str)> = accounts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["userId"].as_str().unwrap(), a["createdBy"].as_str().unwrap()))
        .collect();
    assert_eq!(ids, [("leaver.1", "slack-im"), ("leaver.2", "slack-im")]);

    let old = [("Authorization", "Bearer target-sandbox-token")];
    assert_eq!(get(target, "/api/users?page=0", &old).status, 401);
    let auth = [("Authorization", "Bearer target-custom-e2e"), ("Content-Type", "application/json")];
    assert_eq!(get(target, "/api/users?page=0", &auth).status, 200);
    // --fail-keys: writes for alice and bob (any case) answer 500, others go through.
    let post = |user: &str| {
        let body = format!(r#"{{"userId": "{user}", "name": "x"}}"#);
        request(target, "POST", "/api/users", &auth, body.as_bytes()).unwrap().status
    };
    assert_eq!(post("Alice"), 500);
    assert_eq!(post("bob"), 500);
    assert_eq!(post("carol"), 201);
    assert_eq!(request(target, "DELETE", "/api/users/leaver.1", &auth, b"").unwrap().status, 204);

    let slack = addr_of(&env["SLACK_IM_SLACK_URL"]);
    let ok = get(slack, "/api/users.list?limit=200", &[("Authorization", "Bearer xoxb-custom-e2e")]).json();
    assert_eq!(ok["ok"], true);
    let bad =
        get(slack, "/api/users.list?limit=200", &[("Authorization", "Bearer xoxb-sandbox-token")]).json();
    assert_eq!(bad["ok"], false);

    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "did not stop on stdin EOF");
        std::thread::sleep(Duration::from_millis(50));
    }
    let bad = Command::new(BIN).args(["serve", "--target-token", ""]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
