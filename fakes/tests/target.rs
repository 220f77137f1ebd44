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

/// `n` accounts `u000` … with names.
fn numbered(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"userId": format!("u{i:03}"), "name": format!("User {i}"), "password": "pw"}))
        .collect()
}

fn keys(items: &Value) -> Vec<String> {
    items.as_array().unwrap().iter().map(|a| a["userId"].as_str().unwrap().to_string()).collect()
}

#[test]
fn offset_paging_with_total_count() {
    use slack_im_fakes::Paging;
    let t = FakeTarget::start(TargetOptions {
        paging: Paging::Offset,
        accounts: numbered(250),
        ..Default::default()
    });
    let page = send(&t, "GET", "/api/users?limit=100&offset=200", None).json();
    assert_eq!(
        (page["total_count"].clone(), page["offset"].clone(), page["limit"].clone()),
        (json!(250), json!(200), json!(100))
    );
    assert_eq!(keys(&page["users"]), (200..250).map(|i| format!("u{i:03}")).collect::<Vec<_>>());
    assert!(page["users"][0].get("password").is_none());
    assert_eq!(
        send(&t, "GET", "/api/users", None).json()["users"].as_array().unwrap().len(),
        25,
        "default limit"
    );
}

#[test]
fn scim_start_index_paging_caps_the_page_and_says_so() {
    use slack_im_fakes::Paging;
    let t = FakeTarget::start(TargetOptions {
        paging: Paging::StartIndex,
        max_results: Some(100),
        accounts: numbered(250),
        ..Default::default()
    });
    let first = send(&t, "GET", "/api/users?startIndex=1&count=200", None).json();
    assert_eq!(
        (first["totalResults"].clone(), first["itemsPerPage"].clone(), first["startIndex"].clone()),
        (json!(250), json!(100), json!(1))
    );
    assert_eq!(keys(&first["Resources"])[0], "u000");
    let last = send(&t, "GET", "/api/users?startIndex=201&count=200", None).json();
    assert_eq!(keys(&last["Resources"]), (200..250).map(|i| format!("u{i:03}")).collect::<Vec<_>>());
    let past = send(&t, "GET", "/api/users?startIndex=251&count=200", None).json();
    assert_eq!((past["itemsPerPage"].clone(), past["Resources"].clone()), (json!(0), json!([])));
}

#[test]
fn cursor_paging_hands_out_opaque_tokens_until_the_end() {
    use slack_im_fakes::Paging;
    let t = FakeTarget::start(TargetOptions {
        paging: Paging::Cursor,
        accounts: numbered(250),
        ..Default::default()
    });
    let mut path = "/api/users?limit=100".to_string();
    let mut seen = Vec::new();
    for _ in 0..5 {
        let page = send(&t, "GET", &path, None).json();
        seen.extend(keys(&page["data"]));
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert!(!c.contains("100") && !c.contains("200"), "opaque: {c}");
                path = format!("/api/users?limit=100&cursor={c}");
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 250);
    assert_eq!(t.count(TargetOp::List), 3);
    assert_eq!(send(&t, "GET", "/api/users?cursor=nonsense", None).status, 400);
}

#[test]
fn one_based_pages_refuse_page_zero() {
    use slack_im_fakes::Paging;
    let t = FakeTarget::start(TargetOptions {
        paging: Paging::Page1,
        accounts: numbered(30),
        ..Default::default()
    });
    assert_eq!(send(&t, "GET", "/api/users?page=0&per_page=10", None).status, 400);
    let first = send(&t, "GET", "/api/users?page=1&per_page=10", None).json();
    assert_eq!(keys(&first["users"])[0], "u000");
    assert_eq!(first["total_count"], 30);
    assert_eq!(send(&t, "GET", "/api/users?page=4&per_page=10", None).json()["users"], json!([]));
}

#[test]
fn a_short_listing_shows_less_than_it_counts() {
    use slack_im_fakes::Paging;
    let t = FakeTarget::start(TargetOptions {
        paging: Paging::Offset,
        short_listing: Some(10),
        accounts: numbered(30),
        ..Default::default()
    });
    let page = send(&t, "GET", "/api/users?limit=100&offset=0", None).json();
    assert_eq!((page["users"].as_array().unwrap().len(), page["total_count"].clone()), (10, json!(30)));
    assert_eq!(send(&t, "GET", "/api/users?limit=100&offset=10", None).json()["users"], json!([]));
}

#[test]
fn accounts_addressed_by_id_answer_404_on_their_key() {
    use slack_im_fakes::Ids;
    for ids in [Ids::Numeric, Ids::Uuid] {
        let t = FakeTarget::start(TargetOptions { ids, accounts: numbered(2), ..Default::default() });
        let id = t.account("u000").unwrap()["id"].clone();
        let id = id.as_str().map_or_else(|| id.to_string(), str::to_string);
        assert_eq!(send(&t, "GET", "/api/users/u000", None).status, 404);
        assert_eq!(send(&t, "PUT", "/api/users/u000", Some(json!({"name": "x"}))).status, 404);
        let got = send(&t, "GET", &format!("/api/users/{id}"), None);
        assert_eq!((got.status, got.json()["userId"].clone()), (200, json!("u000")));
        assert_eq!(send(&t, "PATCH", &format!("/api/users/{id}"), Some(json!({"name": "New"}))).status, 200);
        assert_eq!(t.account("u000").unwrap()["name"], "New");
        let created = create(&t, "fresh").json();
        assert!(created["id"].is_number() == (ids == Ids::Numeric), "{created}");
        assert_ne!(created["id"], t.account("u001").unwrap()["id"]);
        assert_eq!(send(&t, "DELETE", &format!("/api/users/{id}"), None).status, 204);
        assert!(t.account("u000").is_none());
        assert_eq!(send(&t, "GET", &format!("/api/users/{id}"), None).status, 404);
    }
    // By key, a single GET answers too.
    let t = FakeTarget::start(TargetOptions { accounts: numbered(1), ..Default::default() });
    assert_eq!(send(&t, "GET", "/api/users/U000", None).status, 200);
    assert_eq!(send(&t, "GET", "/api/users/nobody", None).status, 404);
    assert_eq!(t.count(TargetOp::Get), 2);
}

#[test]
fn wrapped_bodies_are_required_and_stored_unwrapped() {
    let t = FakeTarget::start(TargetOptions { wrap: Some("user".into()), ..Default::default() });
    assert_eq!(create(&t, "bare").status, 422);
    let r = send(&t, "POST", "/api/users", Some(json!({"user": {"userId": "ann", "name": "Ann"}})));
    assert_eq!((r.status, r.json()["user"]["userId"].clone()), (201, json!("ann")));
    assert_eq!(t.account("ann").unwrap()["name"], "Ann");
    let r = send(&t, "PUT", "/api/users/ann", Some(json!({"user": {"name": "Anne"}})));
    assert_eq!(r.status, 200);
    assert_eq!(t.account("ann").unwrap()["name"], "Anne");
    assert_eq!(
        send(&t, "GET", "/api/users?page=0", None).json()["data"][0]["name"],
        "Anne",
        "listed unwrapped"
    );
}

#[test]
fn a_filtering_listing_hides_the_field_it_filters_by() {
    let accounts = vec![
        json!({"userId": "on", "status": 1}),
        json!({"userId": "locked", "status": 3}),
        json!({"userId": "text", "status": "3"}),
    ];
    let t =
        FakeTarget::start(TargetOptions { filter: Some("status".into()), accounts, ..Default::default() });
    let by = |q: &str| send(&t, "GET", &format!("/api/users?{q}"), None).json()["data"].clone();
    assert_eq!(by("page=0"), json!([{"userId": "on"}]));
    assert_eq!(keys(&by("status=3&page=0")), ["locked", "text"]);
    create(&t, "new");
    assert_eq!(t.account("new").unwrap()["status"], 1);
}

#[test]
fn hidden_accounts_and_a_create_or_modify_put() {
    let t = FakeTarget::start(TargetOptions {
        upsert: true,
        hidden: vec!["Secret".into()],
        accounts: vec![
            json!({"userId": "secret", "name": "Hand-made", "password": "orig"}),
            json!({"userId": "shown"}),
        ],
        ..Default::default()
    });
    let page = send(&t, "GET", "/api/users?page=0", None).json();
    assert_eq!((keys(&page["data"]), page["total"].clone()), (vec!["shown".to_string()], json!(1)));
    assert_eq!(send(&t, "GET", "/api/users/secret", None).status, 200);
    // The PUT creates a missing key from the path, and overwrites an existing account.
    assert_eq!(send(&t, "PUT", "/api/users/fresh", Some(json!({"name": "Fresh"}))).status, 201);
    assert_eq!(t.account("fresh").unwrap()["userId"], "fresh");
    assert_eq!(send(&t, "PUT", "/api/users/secret", Some(json!({"password": "reset"}))).status, 200);
    assert_eq!(t.account("secret").unwrap()["password"], "reset");
}

#[test]
fn requests_record_every_header_line() {
    let t = FakeTarget::start(TargetOptions::default());
    let headers = [("Authorization", AUTH), ("Accept", "a/json"), ("Accept", "b/json")];
    request(t.addr(), "GET", "/api/users", &headers, b"").unwrap();
    let r = &t.requests()[0];
    assert_eq!(r.header_values("ACCEPT"), ["a/json", "b/json"]);
    assert!(r.header_values("content-type").is_empty());
}
