//! Black-box tests of the fake target over real sockets: auth, CRUD, paging, faults, concurrency.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{get, request, Resp};
use serde_json::{json, Value};
use slack_im_fakes::{Effect, FakeTarget, TargetFault, TargetOp, TargetOptions};

const AUTH: &str = "Bearer target-sandbox-token";

fn send(t: &FakeTarget, method: &str, path: &str, body: Option<Value>) -> Resp {
    let text = body.map(|b| b.to_string()).unwrap_or_default();
    let mut headers = vec![("Authorization", AUTH)];
    if !text.is_empty() {
        headers.push(("Content-Type", "application/json"));
    }
    request(t.addr(), method, path, &headers, text.as_bytes()).expect("response")
}

fn create(t: &FakeTarget, user_id: &str) -> Resp {
    send(
        t,
        "POST",
        "/api/users",
        Some(json!({"userId": user_id, "name": format!("Name {user_id}"), "password": "pw"})),
    )
}

#[test]
fn requires_bearer_token() {
    let t = FakeTarget::start(TargetOptions::default());
    let none = get(t.addr(), "/api/users", &[]);
    assert_eq!(none.status, 401);
    assert_eq!(none.json(), json!({"error": "unauthorized"}));
    let wrong = get(t.addr(), "/api/users", &[("Authorization", "Bearer nope")]);
    assert_eq!(wrong.status, 401);
    let ok = get(t.addr(), "/api/users", &[("Authorization", AUTH)]);
    assert_eq!(ok.status, 200);
    assert_eq!(t.requests().len(), 3);
    assert_eq!(t.count(TargetOp::List), 3);
}

#[test]
fn create_conflict_update_delete() {
    let t = FakeTarget::start(TargetOptions {
        accounts: vec![json!({"userId": "init", "name": "Init", "createdBy": "init-data", "active": true})],
        ..TargetOptions::default()
    });
    let r = create(&t, "minjun.kim");
    assert_eq!(r.status, 201);
    let created = r.json();
    assert_eq!(created["createdBy"], "slack-im");
    assert_eq!(created["active"], true);
    assert!(created.get("password").is_none());
    assert_eq!(t.accounts()[1]["password"], "pw");

    let dup = create(&t, "MinJun.Kim");
    assert_eq!(dup.status, 409);
    assert_eq!(dup.json(), json!({"error": "conflict", "message": "userId exists"}));

    let bad = request(
        t.addr(),
        "POST",
        "/api/users",
        &[("Authorization", AUTH), ("Content-Type", "application/json")],
        b"{not json",
    )
    .unwrap();
    assert_eq!(bad.status, 400);
    let missing = send(&t, "POST", "/api/users", Some(json!({"name": "x"})));
    assert_eq!(missing.status, 400);
    let not_json = request(
        t.addr(),
        "POST",
        "/api/users",
        &[("Authorization", AUTH), ("Content-Type", "text/plain")],
        br#"{"userId":"x"}"#,
    )
    .unwrap();
    assert_eq!(not_json.status, 415);

    let up = send(
        &t,
        "PUT",
        "/api/users/minjun.kim",
        Some(json!({"name": "김민준", "createdBy": "evil", "title": "Dev"})),
    );
    assert_eq!(up.status, 200);
    let stored = &t.accounts()[1];
    assert_eq!(stored["name"], "김민준");
    assert_eq!(stored["title"], "Dev");
    assert_eq!(stored["createdBy"], "slack-im");
    assert_eq!(stored["password"], "pw");
    assert_eq!(send(&t, "PUT", "/api/users/ghost", Some(json!({"name": "x"}))).status, 404);

    // Keys are percent-decoded from the path.
    assert_eq!(create(&t, "a b/c").status, 201);
    assert_eq!(send(&t, "DELETE", "/api/users/a%20b%2Fc", None).status, 204);
    assert_eq!(send(&t, "DELETE", "/api/users/minjun.kim", None).status, 204);
    assert_eq!(send(&t, "DELETE", "/api/users/minjun.kim", None).status, 404);
    assert_eq!(t.accounts().len(), 1);
    assert_eq!(t.count(TargetOp::Create), 6);
    assert_eq!(t.count(TargetOp::Update), 2);
    assert_eq!(t.count(TargetOp::Delete), 3);
}

#[test]
fn list_pages_without_passwords() {
    let accounts: Vec<Value> = (0..250)
        .map(|i| json!({"userId": format!("u{i:03}"), "password": "secret", "createdBy": "init-data"}))
        .collect();
    let t = FakeTarget::start(TargetOptions { accounts, ..TargetOptions::default() });
    let mut seen = Vec::new();
    for page in 0.. {
        let r = get(t.addr(), &format!("/api/users?page={page}&size=100"), &[("Authorization", AUTH)]).json();
        assert_eq!(r["page"], page);
        assert_eq!(r["size"], 100);
        assert_eq!(r["total"], 250);
        let data = r["data"].as_array().unwrap();
        if data.is_empty() {
            assert_eq!(page, 3);
            break;
        }
        assert!(data.iter().all(|a| a.get("password").is_none()));
        seen.extend(data.iter().map(|a| a["userId"].as_str().unwrap().to_string()));
    }
    assert_eq!(seen.len(), 250);
    assert_eq!(seen[0], "u000");
    let big = get(t.addr(), "/api/users?page=0&size=9999", &[("Authorization", AUTH)]).json();
    assert_eq!(big["size"], 500);
    assert_eq!(big["data"].as_array().unwrap().len(), 250);
    let default = get(t.addr(), "/api/users", &[("Authorization", AUTH)]).json();
    assert_eq!(default["data"].as_array().unwrap().len(), 100);
    let stats = get(t.addr(), "/__fake/stats", &[]).json();
    assert_eq!(stats["list"], 6);
    assert_eq!(get(t.addr(), "/__fake/accounts", &[]).json().as_array().unwrap().len(), 250);
}

#[test]
fn scripted_faults() {
    let t = FakeTarget::start(TargetOptions::default());
    t.add_fault(TargetFault::new(TargetOp::Create, 2, Effect::server_error(503)));
    t.add_fault(TargetFault::new(TargetOp::List, 1, Effect::Reset));
    t.add_fault(TargetFault::fail_key("Bad.Key", 500));
    assert_eq!(create(&t, "one").status, 201);
    assert_eq!(create(&t, "two").status, 503);
    assert_eq!(create(&t, "two").status, 201);
    assert_eq!(create(&t, "bad.key").status, 500);
    assert!(request(t.addr(), "GET", "/api/users", &[("Authorization", AUTH)], b"").is_err());
    assert_eq!(get(t.addr(), "/api/users", &[("Authorization", AUTH)]).status, 200);
    assert_eq!(t.accounts().len(), 2);
}

#[test]
fn down_after_writes_until_healed() {
    let t = FakeTarget::start(TargetOptions::default());
    t.add_fault(TargetFault::down_after_writes(2));
    assert_eq!(create(&t, "a").status, 201);
    assert_eq!(create(&t, "b").status, 201);
    assert_eq!(create(&t, "c").status, 503);
    assert_eq!(get(t.addr(), "/api/users", &[("Authorization", AUTH)]).status, 503);
    t.heal();
    assert_eq!(create(&t, "c").status, 201);
    assert_eq!(t.accounts().len(), 3);
}

#[test]
fn parallel_clients_overlap() {
    let t = Arc::new(FakeTarget::start(TargetOptions {
        latency: Duration::from_millis(100),
        ..TargetOptions::default()
    }));
    let start = std::time::Instant::now();
    let handles: Vec<_> = (0..4)
        .map(|c| {
            let t = Arc::clone(&t);
            std::thread::spawn(move || {
                for i in 0..3 {
                    assert_eq!(create(&t, &format!("c{c}-{i}")).status, 201);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // Bounds on purpose: served one by one, the twelve creates would take 1.2 s; how many overlap
    // is up to the scheduler.
    assert!(t.max_in_flight() > 1, "max_in_flight {}", t.max_in_flight());
    assert!(start.elapsed() < Duration::from_millis(1100), "{:?}", start.elapsed());
    assert_eq!(t.accounts().len(), 12);
}
