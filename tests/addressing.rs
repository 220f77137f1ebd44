//! Accounts of real account APIs (issue 18): addressed by the server's id, wrapped bodies,
//! listings that filter instead of show (several listings with `with` constants), `list.key` as an
//! expression, and accounts without a key (unkeyed: reported, never touched).

use serde_json::{json, Value};
use slack_im_fakes::{Ids, SlackOptions, TargetOp, TargetOptions};

use crate::common::*;

fn world(opts: TargetOptions) -> World {
    World::with(SlackOptions::acme(0), opts)
}

/// Minjun's managed account, under a name Slack no longer has.
fn stale_minjun() -> Value {
    json!({"userId": "minjun.kim", "name": "Stale Name", "createdBy": "slack-im", "roleGroupId": "AGENT"})
}

#[test]
fn updates_and_deactivations_go_to_the_servers_id_not_the_key() {
    for ids in [Ids::Numeric, Ids::Uuid] {
        let mut world = world(TargetOptions {
            ids,
            accounts: vec![stale_minjun(), leaver("gone")],
            ..Default::default()
        });
        let id_of = |key: &str| world.target.account(key).unwrap()["id"].clone();
        let (minjun, gone) = (id_of("minjun.kim"), id_of("gone"));
        let text = |id: &Value| id.as_str().map_or_else(|| id.to_string(), str::to_string);
        world.accounts_folder(&system_json(
            r#"{"path": "/api/users?page={page}&size=100", "items": "/data", "key": "/userId", "id": "/id"}"#,
            r#""create": {"method": "POST", "path": "/api/users"},
  "update": {"method": "PUT", "path": "/api/users/{id}"},
  "deactivate": {"method": "DELETE", "path": "/api/users/{id}"},"#,
        ));
        let run = world.run(&["sync"]);
        run.assert_code(0);
        assert_eq!((run.count("update"), run.count("deactivate"), run.count("create")), (1, 1, 9), "{ids:?}");
        let puts = world.target_requests("PUT", "/api/users/");
        assert_eq!(puts.len(), 1);
        assert_eq!(puts[0].path, format!("/api/users/{}", text(&minjun)));
        assert_eq!(puts[0].status, 200);
        let deletes = world.target_requests("DELETE", "/api/users/");
        assert_eq!(
            deletes.iter().map(|r| (r.path.clone(), r.status)).collect::<Vec<_>>(),
            [(format!("/api/users/{}", text(&gone)), 204)]
        );
        assert_ne!(world.target.account("minjun.kim").unwrap()["name"], "Stale Name");
        assert!(world.target.account("gone").is_none());
        // Reports name the key, never the id.
        assert_eq!(run.actions_for("minjun.kim")[0]["action"], "update");
        assert_eq!(run.actions_for("gone")[0]["action"], "deactivate");

        let writes = world.writes();
        world.run(&["sync"]).assert_code(0);
        assert_eq!(world.writes(), writes, "{ids:?}: a second sync writes nothing");
    }
}

#[test]
fn wrapped_bodies_are_sent_wrapped_and_compared_unwrapped() {
    let mut world = world(TargetOptions { wrap: Some("user".into()), ..Default::default() });
    world.accounts_folder(&system_json(
        r#"{"path": "/api/users?page={page}&size=100", "items": "/data", "key": "/userId"}"#,
        r#""create": {"method": "POST", "path": "/api/users", "wrap": "/user"},
  "update": {"method": "PUT", "path": "/api/users/{key}", "wrap": "/user"},"#,
    ));
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!(run.count("create"), 10);
    for post in world.target_requests("POST", "/api/users") {
        let body: Value = serde_json::from_str(&post.body).unwrap();
        let fields: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(fields, ["user"], "{}", post.body);
        assert!(body["user"]["userId"].is_string(), "{}", post.body);
    }
    let accounts = world.accounts();
    assert_eq!(accounts.len(), 10);
    assert!(accounts.values().all(|a| a.get("user").is_none()), "stored unwrapped");

    // The comparison is on the unwrapped document: nothing changed, nothing written.
    let again = world.run(&["sync"]);
    again.assert_code(0);
    assert_eq!((again.count("unchanged"), world.target.count(TargetOp::Update)), (10, 0));

    // A rename is one wrapped update.
    world.slack.update_member("U0KOR00001", |m| {
        m["real_name"] = json!("김민준 (Minjun)");
        m["profile"]["real_name"] = json!("김민준 (Minjun)");
    });
    let renamed = world.run(&["sync"]);
    renamed.assert_code(0);
    assert_eq!(renamed.count("update"), 1);
    let put = &world.target_requests("PUT", "/api/users/")[0];
    assert_eq!(put.path, "/api/users/minjun.kim");
    let body: Value = serde_json::from_str(&put.body).unwrap();
    assert_eq!(body["user"]["name"], "김민준 (Minjun)", "{}", put.body);
    assert_eq!(world.accounts()["minjun.kim"]["name"], "김민준 (Minjun)");
    assert_eq!(world.accounts()["minjun.kim"]["password"], INITIAL_PASSWORD, "an update keeps the password");
}

/// update.json of a target that locks (status 3) instead of deleting: an update reactivates.
const STATUS_UPDATE: &str = r#"{
  "userId": {{ account.userId }},
  "name": {{ user.name }},
  "status": 1
}"#;

#[test]
fn two_filtered_listings_with_constants_reactivate_returners_and_leave_locked_leavers_alone() {
    let account = |key: &str, name: &str, status: u8| json!({"userId": key, "name": name, "createdBy": "slack-im", "status": status});
    let accounts = vec![
        account("minjun.kim", "김민준", 3),    // locked, but back in Slack
        account("taro.yamada", "山田太郎", 1), // active
        account("locked.leaver", "Locked", 3), // left, already locked
        account("active.leaver", "Active", 1), // left, still active
    ];
    let mut world = world(TargetOptions { filter: Some("status".into()), accounts, ..Default::default() });
    let create = std::fs::read_to_string(fixtures().join("accounts").join("create.json")).unwrap();
    let system = r#"{
  "headers": {"Authorization": {{ "Bearer " ~ secrets.target_token }}},
  "list": [
    {"path": "/api/users?status=1&page={page}&size=100", "items": "/data", "key": "/userId", "with": {"status": 1}},
    {"path": "/api/users?status=3&page={page}&size=100", "items": "/data", "key": "/userId", "with": {"status": 3}}
  ],
  "create": {"method": "POST", "path": "/api/users"},
  "update": {"method": "PUT", "path": "/api/users/{key}"},
  "deactivate": {"method": "PUT", "path": "/api/users/{key}"},
  "managed": "account.createdBy == 'slack-im' and account.status == 1",
  "adopt": "account.createdBy == 'slack-im' and account.status == 3",
  "key": "user.email_local | lower"
}"#;
    world.folder(
        "locking",
        &[
            ("system.json", system),
            ("create.json", &create),
            ("update.json", STATUS_UPDATE),
            ("deactivate.json", r#"{"userId": {{ account.userId }}, "status": 3}"#),
        ],
    );
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!(run.summary.as_ref().unwrap()["sources"]["target_accounts"], 4);
    let status = |key: &str| world.target.account(key).unwrap()["status"].clone();
    assert_eq!(run.actions_for("minjun.kim")[0]["action"], "update", "{:#?}", run.summary);
    assert_eq!(status("minjun.kim"), 1, "reactivated");
    assert_eq!(run.actions_for("active.leaver")[0]["action"], "deactivate");
    assert_eq!(status("active.leaver"), 3, "locked");
    assert!(run.actions_for("locked.leaver").is_empty(), "a locked leaver is not locked again");
    assert!(world.target_requests("PUT", "/api/users/locked.leaver").is_empty());
    assert_eq!(run.count("deactivate"), 1);

    let writes = world.writes();
    let again = world.run(&["sync"]);
    again.assert_code(0);
    assert_eq!(world.writes(), writes, "the second sync writes nothing: {:#?}", again.summary);
    assert_eq!(again.count("deactivate"), 0);
}

#[test]
fn list_key_may_be_an_expression_over_the_account() {
    // The primary e-mail is the key; it is not the first one, so no pointer would find it.
    let minjun = json!({
        "userId": "Minjun.Kim@acme.example",
        "name": "김민준",
        "createdBy": "slack-im",
        "emails": [{"value": "minjun@home.example", "primary": false}, {"value": "Minjun.Kim@ACME.example", "primary": true}],
    });
    let mut world = world(TargetOptions { accounts: vec![minjun], ..Default::default() });
    let system = r#"{
  "headers": {"Authorization": {{ "Bearer " ~ secrets.target_token }}},
  "list": {"path": "/api/users?page={page}&size=100", "items": "/data",
           "key": "account.emails | selectattr('primary') | map(attribute='value') | first | lower"},
  "create": {"method": "POST", "path": "/api/users"},
  "managed": "account.createdBy == 'slack-im'",
  "key": "user.email | lower"
}"#;
    let create = r#"{
  "userId": {{ user.email }},
  "name": {{ user.name }},
  "password": {{ secrets.initial_password }},
  "emails": [{"value": {{ user.email }}, "primary": true}]
}"#;
    world.folder("by-email", &[("system.json", system), ("create.json", create)]);
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!((run.count("create"), run.count("unchanged"), run.count("failed")), (9, 1, 0));
    assert!(run.actions_for("minjun.kim@acme.example").iter().all(|a| a["action"] != "create"));
    let again = world.run(&["sync"]);
    again.assert_code(0);
    assert_eq!(again.count("unchanged"), 10);
    assert_eq!(world.target.count(TargetOp::Create), 9);
}

#[test]
fn an_account_without_a_key_is_unkeyed_never_touched_and_reported() {
    let unkeyed = vec![
        json!({"name": "Service account", "createdBy": "slack-im"}),
        json!({"userId": "", "name": "Blank", "createdBy": "slack-im"}),
        json!({"userId": {"not": "text"}, "name": "Object", "createdBy": "slack-im"}),
    ];
    let mut accounts = unkeyed.clone();
    accounts.push(leaver("gone"));
    let mut world = world(TargetOptions { accounts, ..Default::default() });
    world.accounts_folder(&system_json(
        r#"{"path": "/api/users?page={page}&size=100", "items": "/data", "key": "/userId"}"#,
        r#""create": {"method": "POST", "path": "/api/users"},
  "update": {"method": "PUT", "path": "/api/users/{key}"},
  "deactivate": {"method": "DELETE", "path": "/api/users/{key}"},"#,
    ));
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!(run.count("unkeyed"), 3);
    let summary = run.summary.as_ref().unwrap();
    assert_eq!(summary["unkeyed"].as_array().map(Vec::len), Some(3), "{summary:#}");
    assert_eq!((run.count("create"), run.count("deactivate")), (10, 1), "only the keyed leaver goes");
    let held = world.target.accounts();
    for account in &unkeyed {
        assert!(held.contains(account), "{account} untouched");
    }
    assert!(world.target_requests("DELETE", "/api/users/").iter().all(|r| r.path == "/api/users/gone"));
}

#[test]
fn unkeyed_accounts_are_reported_by_their_id_and_listing() {
    let accounts = vec![json!({"name": "Service account", "createdBy": "init-data"}), leaver("gone")];
    let mut world = world(TargetOptions { ids: Ids::Numeric, accounts, ..Default::default() });
    let service_id = world.target.accounts()[0]["id"].clone();
    world.accounts_folder(&system_json(
        r#"{"path": "/api/users?page={page}&size=100", "items": "/data", "key": "/userId", "id": "/id"}"#,
        r#""create": {"method": "POST", "path": "/api/users"},
  "deactivate": {"method": "DELETE", "path": "/api/users/{id}"},"#,
    ));
    let run = world.run(&["plan"]);
    run.assert_code(0);
    assert_eq!(run.count("unkeyed"), 1);
    let unkeyed = &run.summary.as_ref().unwrap()["unkeyed"];
    assert_eq!(unkeyed.as_array().map(Vec::len), Some(1), "{unkeyed}");
    // Ids are reported as text, like keys: a numeric id in decimal.
    assert_eq!(unkeyed[0]["id"], json!(service_id.to_string().trim_matches('"')), "{unkeyed}");
    assert!(unkeyed[0].get("listing").is_some(), "{unkeyed}");
    assert_eq!(run.count("deactivate"), 1);
    assert_eq!(world.writes(), 0);
}

#[test]
fn a_key_listed_by_two_listings_is_a_failed_read() {
    let accounts = vec![json!({"userId": "twice", "createdBy": "slack-im", "status": 1})];
    let mut world = world(TargetOptions { filter: Some("status".into()), accounts, ..Default::default() });
    // Both listings ask for status 1: the one account comes back from each.
    world.accounts_folder(&system_json(
        r#"[{"path": "/api/users?status=1&page={page}", "items": "/data", "key": "/userId"},
           {"path": "/api/users?page={page}", "items": "/data", "key": "/userId"}]"#,
        r#""create": {"method": "POST", "path": "/api/users"},"#,
    ));
    let run = world.run(&["sync"]);
    run.assert_code(1);
    let said = format!("{}{}", run.stderr, run.error());
    assert!(said.contains("twice"), "the failed read names the key: {said}");
    assert_eq!(world.writes(), 0);
}

#[test]
fn placeholders_the_listing_cannot_fill_are_configuration_errors() {
    let list = r#"{"path": "/api/users?page={page}", "items": "/data", "key": "/userId"}"#;
    let list_with_id =
        r#"{"path": "/api/users?page={page}", "items": "/data", "key": "/userId", "id": "/id"}"#;
    for (list, writes, why) in [
        (
            list,
            r#""create": {"method": "POST", "path": "/api/users"}, "update": {"method": "PUT", "path": "/api/users/{id}"},"#,
            "{id} without list.id",
        ),
        (list_with_id, r#""create": {"method": "PUT", "path": "/api/users/{id}"},"#, "{id} in create.path"),
        (
            list,
            r#""create": {"method": "POST", "path": "/api/users"}, "update": {"method": "PUT", "path": "/api/users"},"#,
            "an update path without {key} or {id}",
        ),
    ] {
        let mut world = world(TargetOptions::default());
        world.accounts_folder(&system_json(list, writes));
        let run = world.run(&["sync"]);
        assert_eq!(run.code, 2, "{why}: {}", run.stderr);
        assert!(world.target.requests().is_empty(), "{why}: nothing is requested");
    }
    // A create path with {key} and a body without the key needs system.json's `key` expression.
    let mut world = world(TargetOptions { upsert: true, ..Default::default() });
    let system = system_json(list, r#""create": {"method": "PUT", "path": "/api/users/{key}"},"#)
        .replace(",\n  \"key\": \"user.email_local | lower\"", "");
    assert!(!system.contains("email_local"));
    world.folder("keyless", &[("system.json", &system), ("create.json", r#"{"name": {{ user.name }}}"#)]);
    let run = world.run(&["sync"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(world.target.requests().is_empty());
}
