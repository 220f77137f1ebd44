//! The fakes against ureq, the HTTP client slack-im uses: pooled keep-alive connections, large
//! chunked pages, a reset connection and 429s must all behave like real servers for it.

use std::time::Duration;

use serde_json::Value;
use slack_im_fakes::{Effect, FakeSlack, FakeTarget, SlackFault, SlackOptions, TargetOptions};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

#[test]
fn ureq_pages_through_slack_on_one_agent() {
    let fake = FakeSlack::start(SlackOptions::acme(2437 - 21));
    fake.add_fault(SlackFault::new("users.list", 3, Effect::rate_limited(0)));
    fake.add_fault(SlackFault::new("users.list", 5, Effect::Reset));
    let agent = agent();
    let mut cursor = String::new();
    let mut ids = std::collections::HashSet::new();
    let mut resets = 0;
    loop {
        let url = format!("{}users.list", fake.base_url());
        let mut req =
            agent.get(&url).header("Authorization", "Bearer xoxb-sandbox-token").query("limit", "200");
        if !cursor.is_empty() {
            req = req.query("cursor", &cursor);
        }
        let mut resp = match req.call() {
            Ok(r) => r,
            Err(_) => {
                resets += 1;
                assert!(resets < 3);
                continue;
            }
        };
        if resp.status() == 429 {
            assert_eq!(resp.headers()["retry-after"], "0");
            continue;
        }
        assert_eq!(resp.status(), 200);
        let body: Value = resp.body_mut().with_config().limit(50_000_000).read_json().unwrap();
        for m in body["members"].as_array().unwrap() {
            assert!(ids.insert(m["id"].as_str().unwrap().to_string()));
        }
        cursor = body["response_metadata"]["next_cursor"].as_str().unwrap_or_default().to_string();
        if cursor.is_empty() {
            break;
        }
    }
    assert_eq!(ids.len(), 2437);
    assert_eq!(resets, 1);
    assert_eq!(fake.calls("users.list"), 15);
}

#[test]
fn ureq_writes_to_target() {
    let target = FakeTarget::start(TargetOptions::default());
    let agent = agent();
    let url = format!("{}/api/users", target.base_url());
    for i in 0..5 {
        let resp = agent
            .post(&url)
            .header("Authorization", "Bearer target-sandbox-token")
            .send_json(serde_json::json!({"userId": format!("u{i}"), "name": "Ü"}))
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    let mut resp = agent
        .get(&url)
        .header("Authorization", "Bearer target-sandbox-token")
        .query("page", "0")
        .query("size", "500")
        .call()
        .unwrap();
    let body: Value = resp.body_mut().read_json().unwrap();
    assert_eq!(body["total"], 5);
    let del = agent
        .delete(&format!("{url}/u3"))
        .header("Authorization", "Bearer target-sandbox-token")
        .call()
        .unwrap();
    assert_eq!(del.status(), 204);
    assert_eq!(target.accounts().len(), 4);
}
