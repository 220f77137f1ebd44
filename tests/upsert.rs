//! A create-or-modify `PUT /api/users/{key}` as the create (issue 18): slack-im GETs the address
//! first and never overwrites an account the listing did not show.

use serde_json::json;
use slack_im_fakes::{SlackOptions, TargetOp, TargetOptions};

use crate::common::*;

const UPSERT_WRITES: &str = r#""create": {"method": "PUT", "path": "/api/users/{key}"},
  "update": {"method": "PUT", "path": "/api/users/{key}"},"#;

fn upsert_world(hidden: Vec<serde_json::Value>) -> World {
    let keys = hidden.iter().map(|a| a["userId"].as_str().unwrap().to_string()).collect();
    World::with(
        SlackOptions::acme(0),
        TargetOptions { upsert: true, hidden: keys, accounts: hidden, ..Default::default() },
    )
}

const LIST: &str = r#"{"path": "/api/users?page={page}&size=100", "items": "/data", "key": "/userId"}"#;

#[test]
fn an_upsert_create_over_an_account_the_listing_did_not_show_fails_and_overwrites_nothing() {
    // A hand-made account the listing hides, with the key a member renders.
    let original = json!({
        "userId": "minjun.kim", "name": "Minjun (hand-made)", "password": "original-password",
        "createdBy": "hand-made", "roleGroupId": "ADMIN",
    });
    let mut world = upsert_world(vec![original.clone()]);
    world.accounts_folder(&system_json(LIST, UPSERT_WRITES));
    let run = world.run(&["sync"]);
    run.assert_code(3);
    assert_eq!(run.count("failed"), 1);
    let action = &run.actions_for("minjun.kim")[0];
    assert_eq!((&action["action"], &action["status"]), (&json!("create"), &json!("failed")), "{action:#}");
    let error = action["error"].as_str().unwrap_or("");
    assert!(error.contains("exists but the listing did not show it"), "{action:#}");
    assert_eq!(world.target.account("minjun.kim"), Some(original), "the original account, untouched");
    assert!(world.target_requests("PUT", "/api/users/minjun.kim").is_empty(), "nothing sent over it");
    let probes = world.target_requests("GET", "/api/users/minjun.kim");
    assert_eq!(probes.iter().map(|r| r.status).collect::<Vec<_>>(), [200]);

    // Every other member: a GET answered 404, then the PUT that creates.
    let requests = world.target.requests();
    let puts: Vec<_> = requests.iter().enumerate().filter(|(_, r)| r.method == "PUT").collect();
    assert_eq!(puts.len(), 9);
    for (at, put) in puts {
        assert_eq!(put.status, 201, "{}", put.path);
        assert!(
            requests[..at].iter().any(|r| r.method == "GET" && r.path == put.path && r.status == 404),
            "{} was probed before the create",
            put.path
        );
    }
    assert_eq!(world.target.accounts().len(), 10);
}

#[test]
fn with_the_key_in_the_create_path_the_create_body_need_not_hold_it() {
    let mut world = upsert_world(Vec::new());
    let read = |name: &str| std::fs::read_to_string(fixtures().join("accounts").join(name)).unwrap();
    let create = read("create.json").replace("  \"userId\": {{ user.email_local | lower }},\n", "");
    assert!(!create.contains("\"userId\""), "{create}");
    world.folder(
        "upsert",
        &[
            ("system.json", &system_json(LIST, UPSERT_WRITES)),
            ("create.json", &create),
            ("update.json", &read("update.json")),
        ],
    );
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!(run.count("create"), 10);
    let mut keys: Vec<String> = world.accounts().into_keys().collect();
    keys.sort();
    assert_eq!(keys, world.expected_keys());
    // The fake counts every PUT to /api/users/{key} as an update, the first run's creates too.
    let puts_before = world.target.count(TargetOp::Update);
    let again = world.run(&["sync"]);
    again.assert_code(0);
    assert_eq!(again.count("unchanged"), 10);
    assert_eq!(world.target.count(TargetOp::Update), puts_before, "the second run writes nothing");
}
