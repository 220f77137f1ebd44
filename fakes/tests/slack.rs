//! Black-box tests of the fake Slack over real sockets: paging, limits, auth, scopes, faults.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{bearer, get, request, Resp};
use serde_json::{json, Value};
use slack_im_fakes::{url_encode, Effect, EndMarker, FakeSlack, SlackFault, SlackOptions, Token, TokenState};

const TOKEN: &str = "xoxb-sandbox-token";

fn call(fake: &FakeSlack, method: &str, query: &str, token: &str) -> Resp {
    let auth = bearer(token);
    let target = if query.is_empty() { format!("/api/{method}") } else { format!("/api/{method}?{query}") };
    get(fake.addr(), &target, &[("Authorization", auth.as_str())])
}

fn post_form(fake: &FakeSlack, method: &str, form: &str, auth: Option<&str>) -> Resp {
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    let a;
    if let Some(t) = auth {
        a = bearer(t);
        headers.push(("Authorization", a.as_str()));
    }
    request(fake.addr(), "POST", &format!("/api/{method}"), &headers, form.as_bytes()).unwrap()
}

fn next_cursor(body: &Value) -> Option<String> {
    body.get("response_metadata")
        .and_then(|m| m.get("next_cursor"))
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
}

/// Pages through users.list like a correct client; returns (ids, pages, last body).
fn page_all(fake: &FakeSlack, limit: usize, use_post: bool) -> (Vec<String>, usize, Value) {
    let mut cursor: Option<String> = None;
    let mut ids = Vec::new();
    let mut pages = 0;
    loop {
        let mut q = format!("limit={limit}");
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={}", url_encode(c)));
        }
        let r = if use_post && pages % 2 == 1 {
            post_form(fake, "users.list", &q, Some(TOKEN))
        } else {
            call(fake, "users.list", &q, TOKEN)
        };
        assert_eq!(r.status, 200);
        let body = r.json();
        assert_eq!(body["ok"], true, "{body}");
        pages += 1;
        for m in body["members"].as_array().unwrap() {
            ids.push(m["id"].as_str().unwrap().to_string());
        }
        match next_cursor(&body) {
            Some(c) => cursor = Some(c),
            None => return (ids, pages, body),
        }
        assert!(pages < 1000, "runaway paging");
    }
}

#[test]
fn pages_2437_members_exactly_once_with_every_end_marker() {
    for marker in
        [EndMarker::EmptyString, EndMarker::Null, EndMarker::OmitNextCursor, EndMarker::OmitResponseMetadata]
    {
        let fake = FakeSlack::start(SlackOptions { end_marker: marker, ..SlackOptions::acme(2437 - 21) });
        let (ids, pages, last) = page_all(&fake, 200, true);
        assert_eq!(ids.len(), 2437, "{marker:?}");
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), 2437, "{marker:?}");
        assert_eq!(pages, 13, "{marker:?}");
        assert_eq!(fake.calls("users.list"), 13);
        match marker {
            EndMarker::EmptyString => assert_eq!(last["response_metadata"]["next_cursor"], ""),
            EndMarker::Null => {
                assert!(last["response_metadata"]["next_cursor"].is_null());
                assert!(last["response_metadata"].as_object().unwrap().contains_key("next_cursor"));
            }
            EndMarker::OmitNextCursor => {
                assert_eq!(last["response_metadata"], json!({}))
            }
            EndMarker::OmitResponseMetadata => assert!(last.get("response_metadata").is_none()),
        }
    }
}

#[test]
fn short_empty_and_duplicate_pages_still_cover_everyone() {
    let fake = FakeSlack::start(SlackOptions {
        short_pages: true,
        empty_page_at: vec![2, 5],
        duplicate_across_pages: true,
        ..SlackOptions::acme(979)
    });
    let mut cursor: Option<String> = None;
    let (mut ids, mut saw_empty, mut saw_short) = (Vec::new(), false, false);
    loop {
        let mut q = "limit=200".to_string();
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={}", url_encode(c)));
        }
        let body = call(&fake, "users.list", &q, TOKEN).json();
        let members = body["members"].as_array().unwrap();
        let next = next_cursor(&body);
        if next.is_some() {
            saw_empty |= members.is_empty();
            saw_short |= !members.is_empty() && members.len() < 200;
        }
        ids.extend(members.iter().map(|m| m["id"].as_str().unwrap().to_string()));
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert!(saw_empty && saw_short);
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 1000);
    assert_eq!(ids.len(), 1008, "1,000 members, 8 of them repeated across a page boundary");
}

#[test]
fn limit_is_clamped_and_required_on_big_workspaces() {
    let fake = FakeSlack::start(SlackOptions::acme(2000));
    let body = call(&fake, "users.list", "limit=5000", TOKEN).json();
    assert_eq!(body["members"].as_array().unwrap().len(), 1000);
    assert!(next_cursor(&body).is_some());
    for q in ["", "limit=0"] {
        let body = call(&fake, "users.list", q, TOKEN).json();
        assert_eq!(body, json!({"ok": false, "error": "limit_required"}));
    }
    let body = call(&fake, "users.list", "limit=abc", TOKEN).json();
    assert_eq!(body["error"], "invalid_arguments");

    let small = FakeSlack::start(SlackOptions::acme(0));
    let body = call(&small, "users.list", "", TOKEN).json();
    assert_eq!(body["members"].as_array().unwrap().len(), 21);
    assert_eq!(body["response_metadata"]["next_cursor"], "");
}

#[test]
fn bad_cursors_are_invalid_cursor() {
    let fake = FakeSlack::start(SlackOptions::acme(500));
    let first = call(&fake, "users.list", "limit=100", TOKEN).json();
    let cursor = next_cursor(&first).unwrap();
    assert!(cursor.contains('+') && cursor.contains('/') && cursor.contains('='));
    // Not URL-encoded: '+' arrives as a space.
    let raw = call(&fake, "users.list", &format!("limit=100&cursor={cursor}"), TOKEN).json();
    assert_eq!(raw["error"], "invalid_cursor");
    let junk = call(&fake, "users.list", "limit=100&cursor=dXNlcjpVMDYxTkZUVDI%3D", TOKEN).json();
    assert_eq!(junk["error"], "invalid_cursor");
    // A users.list cursor is not a conversations.members cursor.
    let q = format!("channel=C0GENERAL1&cursor={}", url_encode(&cursor));
    let wrong = call(&fake, "conversations.members", &q, TOKEN).json();
    assert_eq!(wrong["error"], "invalid_cursor");
    let ok = call(&fake, "users.list", &format!("limit=100&cursor={}", url_encode(&cursor)), TOKEN).json();
    assert_eq!(ok["ok"], true);
    fake.expire_cursors();
    let expired =
        call(&fake, "users.list", &format!("limit=100&cursor={}", url_encode(&cursor)), TOKEN).json();
    assert_eq!(expired["error"], "invalid_cursor");
}

#[test]
fn rate_limit_fault_and_too_early_retries() {
    let fake = FakeSlack::start(SlackOptions::acme(0));
    fake.add_fault(SlackFault::new("users.list", 2, Effect::rate_limited(1)));
    assert_eq!(call(&fake, "users.list", "limit=200", TOKEN).status, 200);
    let r = call(&fake, "users.list", "limit=200", TOKEN);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.json(), json!({"ok": false, "error": "ratelimited"}));
    // Too early: answered normally but counted.
    assert_eq!(call(&fake, "users.list", "limit=200", TOKEN).status, 200);
    assert_eq!(fake.too_early_retries(), 1);
    // Other methods are not affected by users.list's Retry-After.
    call(&fake, "auth.test", "", TOKEN);
    assert_eq!(fake.too_early_retries(), 1);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(call(&fake, "users.list", "limit=200", TOKEN).status, 200);
    assert_eq!(fake.too_early_retries(), 1);
    assert_eq!(fake.calls("users.list"), 4);
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200, 429, 200, 200, 200]);
}

#[test]
fn server_error_malformed_and_reset_faults() {
    let fake = FakeSlack::start(SlackOptions::acme(0));
    fake.add_fault(SlackFault::new("users.list", 1, Effect::server_error(503)));
    fake.add_fault(SlackFault::new("users.list", 2, Effect::TruncatedJson));
    fake.add_fault(SlackFault::new("users.list", 3, Effect::Html200));
    fake.add_fault(SlackFault::new("users.list", 4, Effect::Empty200));
    fake.add_fault(SlackFault::new("users.list", 5, Effect::Reset));
    fake.add_fault(SlackFault::new("users.list", 6, Effect::ok_false("fatal_error")).times(2));
    fake.add_fault(SlackFault::new("users.list", 8, Effect::Delay(Duration::from_millis(300))));
    let r = call(&fake, "users.list", "limit=200", TOKEN);
    assert_eq!(r.status, 503);
    assert!(r.body.contains("Server Error | Slack"));
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let r = call(&fake, "users.list", "limit=200", TOKEN);
    assert_eq!(r.status, 200);
    assert!(serde_json::from_str::<Value>(&r.body).is_err());
    let r = call(&fake, "users.list", "limit=200", TOKEN);
    assert!(r.status == 200 && r.body.starts_with("<!DOCTYPE html>"));
    let r = call(&fake, "users.list", "limit=200", TOKEN);
    assert!(r.status == 200 && r.body.is_empty());
    let auth = bearer(TOKEN);
    let reset =
        request(fake.addr(), "GET", "/api/users.list?limit=200", &[("Authorization", auth.as_str())], b"");
    assert!(reset.is_err(), "expected no response, got {reset:?}");
    for _ in 0..2 {
        let r = call(&fake, "users.list", "limit=200", TOKEN);
        assert_eq!(r.json(), json!({"ok": false, "error": "fatal_error"}));
    }
    let t = std::time::Instant::now();
    let r = call(&fake, "users.list", "limit=200", TOKEN);
    assert!(t.elapsed() >= Duration::from_millis(300), "a lower bound on purpose: the delay is the least");
    assert_eq!(r.json()["ok"], true);
    assert_eq!(fake.calls("users.list"), 8);
    assert_eq!(fake.requests()[4].status, 0);
}

#[test]
fn wildcard_faults_count_all_methods() {
    let fake = FakeSlack::start(SlackOptions::acme(0));
    fake.add_fault(SlackFault::new("*", 2, Effect::server_error(500)));
    assert_eq!(call(&fake, "auth.test", "", TOKEN).status, 200);
    assert_eq!(call(&fake, "users.list", "", TOKEN).status, 500);
    assert_eq!(call(&fake, "users.list", "", TOKEN).status, 200);
}

#[test]
fn auth_errors_are_http_200() {
    let fake = FakeSlack::start(SlackOptions {
        tokens: vec![
            Token::bot(TOKEN, &["users:read", "users:read.email"]),
            Token::bot("xoxb-revoked", &["users:read"]).with_state(TokenState::Revoked),
            Token::bot("xoxb-inactive", &["users:read"]).with_state(TokenState::Inactive),
            Token::bot("xoxb-expired", &["users:read"]).with_state(TokenState::Expired),
            Token::bot("xoxb-chat", &["chat:write", "channels:read"]),
            Token::org("xoxb-org", &["users:read"], &["T0ACMEW0RK"]),
        ],
        ..SlackOptions::acme(0)
    });
    let cases = [
        ("xoxb-nope", "invalid_auth"),
        ("xoxb-revoked", "token_revoked"),
        ("xoxb-inactive", "account_inactive"),
        ("xoxb-expired", "token_expired"),
    ];
    for (token, error) in cases {
        let r = call(&fake, "users.list", "limit=10", token);
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), json!({"ok": false, "error": error}));
    }
    let none = get(fake.addr(), "/api/users.list?limit=10", &[]);
    assert_eq!(none.json()["error"], "not_authed");
    let in_query = get(fake.addr(), &format!("/api/users.list?limit=10&token={TOKEN}"), &[]);
    assert_eq!(in_query.json()["error"], "not_authed");
    let basic = get(fake.addr(), "/api/users.list", &[("Authorization", "Basic Zm9vOmJhcg==")]);
    assert_eq!(basic.json()["error"], "invalid_auth");
    let form = post_form(&fake, "users.list", &format!("limit=10&token={TOKEN}"), None);
    assert_eq!(form.json()["ok"], true);

    let scope = call(&fake, "users.list", "limit=10", "xoxb-chat");
    assert_eq!(
        scope.json(),
        json!({"ok": false, "error": "missing_scope", "needed": "users:read",
               "provided": "chat:write,channels:read"})
    );
    assert_eq!(scope.header("x-oauth-scopes"), Some("chat:write,channels:read"));
    assert_eq!(scope.header("x-accepted-oauth-scopes"), Some("users:read"));

    let org = call(&fake, "users.list", "limit=10", "xoxb-org");
    assert_eq!(org.json()["error"], "missing_argument");
    let org = call(&fake, "users.list", "limit=10&team_id=T0OTHER", "xoxb-org");
    assert_eq!(org.json()["error"], "team_access_not_granted");
    let org = call(&fake, "users.list", "limit=10&team_id=T0ACMEW0RK", "xoxb-org");
    assert_eq!(org.json()["ok"], true);

    let unknown = call(&fake, "users.fancy", "", TOKEN);
    assert_eq!(unknown.json(), json!({"ok": false, "error": "unknown_method"}));
}

#[test]
fn email_needs_users_read_email() {
    let fake = FakeSlack::start(SlackOptions {
        tokens: vec![
            Token::bot(TOKEN, &["users:read", "users:read.email"]),
            Token::bot("xoxb-noemail", &["users:read"]),
        ],
        ..SlackOptions::acme(300)
    });
    let with = call(&fake, "users.list", "limit=1000", TOKEN).json();
    let by_id: HashMap<&str, &Value> =
        with["members"].as_array().unwrap().iter().map(|m| (m["id"].as_str().unwrap(), m)).collect();
    assert_eq!(by_id["U0ADMIN001"]["profile"]["email"], "alice@acme.example");
    assert!(by_id["U0ADMIN001"].get("locale").is_none());
    assert_eq!(by_id["U0DELETED1"]["profile"]["email"], "dana.departed@acme.example");
    assert!(by_id["U0DELETED1"].get("real_name").is_none());
    let without = call(&fake, "users.list", "limit=1000&include_locale=true", "xoxb-noemail").json();
    let members = without["members"].as_array().unwrap();
    assert_eq!(members.len(), 321);
    assert!(members.iter().all(|m| m["profile"].get("email").is_none()));
    let kim = members.iter().find(|m| m["id"] == "U0KOR00001").unwrap();
    assert_eq!(kim["locale"], "ko-KR");
    assert_eq!(kim["real_name"], "김민준");
}

#[test]
fn responses_carry_slack_headers_and_round_trip_names() {
    let fake = FakeSlack::start(SlackOptions::acme(0));
    let r = call(&fake, "users.list", "limit=50", TOKEN);
    assert_eq!(r.header("content-type"), Some("application/json; charset=utf-8"));
    let id = r.header("x-slack-req-id").unwrap();
    assert!(id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(
        r.header("x-oauth-scopes"),
        Some("users:read,users:read.email,channels:read,chat:write,usergroups:read")
    );
    assert!(r.body.contains("\\ud835\\udcde"), "astral chars as surrogate pairs");
    assert!(r.body.contains("https:\\/\\/"), "slashes escaped like Slack");
    let body = r.json();
    let bobby = body["members"].as_array().unwrap().iter().find(|m| m["id"] == "U0QUOTE001").unwrap();
    assert_eq!(bobby["real_name"], "Robert \"Bobby\" O'Neil \\ Jr.");
    assert_eq!(bobby["profile"]["last_name"], "𝓞'𝓝𝓮𝓲𝓵");
    let rec = &fake.requests()[0];
    assert_eq!(rec.path, "/api/users.list");
    assert_eq!(rec.args.get("limit").map(String::as_str), Some("50"));
    assert_eq!(rec.authorization.as_deref(), Some("Bearer xoxb-sandbox-token"));
}

#[test]
fn channel_members_are_paged_and_follow_deactivation() {
    let fake = FakeSlack::start(SlackOptions::acme(100));
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = "channel=C0GENERAL1&limit=30".to_string();
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={}", url_encode(c)));
        }
        let body = call(&fake, "conversations.members", &q, TOKEN).json();
        assert_eq!(body["ok"], true, "{body}");
        ids.extend(body["members"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()));
        match next_cursor(&body) {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert!(ids.contains(&"U0ADMIN001".to_string()));
    assert!(ids.contains(&"U0GUESTMC1".to_string()));
    assert!(!ids.contains(&"U0DELETED1".to_string()));
    assert!(!ids.contains(&"U0GUESTSC1".to_string()));
    assert!(!ids.contains(&"USLACKBOT".to_string()));
    let deleted_syn: Vec<String> = fake
        .members()
        .iter()
        .filter(|m| m["deleted"] == true)
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert!(deleted_syn.iter().all(|d| !ids.contains(d)));
    // Deactivating someone removes them from the channel.
    fake.update_member("U0KOR00001", |m| *m = slack_im_fakes::members::deactivated(m));
    let body = call(&fake, "conversations.members", "channel=C0GENERAL1&limit=1000", TOKEN).json();
    assert!(!body["members"].as_array().unwrap().contains(&json!("U0KOR00001")));
    let missing = call(&fake, "conversations.members", "channel=C0NOPE", TOKEN).json();
    assert_eq!(missing["error"], "channel_not_found");
}

#[test]
fn post_message_json_and_form() {
    let fake = FakeSlack::start(SlackOptions::acme(0));
    let auth = bearer(TOKEN);
    let body = json!({"channel": "C0GENERAL1", "text": "sync done",
                      "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*ok*"}}]});
    let r = request(
        fake.addr(),
        "POST",
        "/api/chat.postMessage",
        &[("Authorization", auth.as_str()), ("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
    .unwrap()
    .json();
    assert_eq!(r["ok"], true);
    assert_eq!(r["warning"], "missing_charset");
    assert_eq!(r["response_metadata"]["warnings"], json!(["missing_charset"]));
    assert!(r["ts"].is_string());
    let r = request(
        fake.addr(),
        "POST",
        "/api/chat.postMessage",
        &[("Authorization", auth.as_str()), ("Content-Type", "application/json; charset=utf-8")],
        json!({"channel": "C0GENERAL1"}).to_string().as_bytes(),
    )
    .unwrap()
    .json();
    assert_eq!(r, json!({"ok": false, "error": "no_text"}));
    let blocks = url_encode(r#"[{"type":"divider"}]"#);
    let r = post_form(
        &fake,
        "chat.postMessage",
        &format!("channel=all-acme-test&text=hi&blocks={blocks}"),
        Some(TOKEN),
    )
    .json();
    assert_eq!(r["ok"], true);
    assert_eq!(r["channel"], "C0GENERAL1");
    let r = post_form(&fake, "chat.postMessage", "channel=C0NOPE&text=x", Some(TOKEN)).json();
    assert_eq!(r["error"], "channel_not_found");
    let r = post_form(&fake, "chat.postMessage", "channel=C0ANNOUNCE&text=x", Some(TOKEN)).json();
    assert_eq!(r["error"], "not_in_channel");
    let posted = fake.posted_messages();
    assert_eq!(posted.len(), 2);
    assert_eq!(posted[0]["blocks"][0]["type"], "section");
    assert_eq!(posted[1]["blocks"], json!([{"type": "divider"}]));
    assert_eq!(posted[1]["text"], "hi");
}

/// Slack refuses a message of more than 50 blocks, or with a section text over 3000 characters, as
/// `invalid_blocks` naming the limit; the fake does too, so a sender that exceeds them fails a test.
#[test]
fn post_message_refuses_blocks_over_slacks_limits() {
    let fake = FakeSlack::start(SlackOptions::acme(0));
    let section = |text: &str| json!({"type": "section", "text": {"type": "mrkdwn", "text": text}});
    let post = |blocks: Vec<serde_json::Value>| {
        let blocks = url_encode(&serde_json::Value::Array(blocks).to_string());
        post_form(
            &fake,
            "chat.postMessage",
            &format!("channel=C0GENERAL1&text=x&blocks={blocks}"),
            Some(TOKEN),
        )
        .json()
    };
    let r = post(vec![section(&"é".repeat(3000))]);
    assert_eq!(r["ok"], true, "3000 characters (not bytes) fit: {r}");
    let r = post(vec![section("ok"), section(&"a".repeat(3001))]);
    assert_eq!(r["error"], "invalid_blocks");
    assert_eq!(
        r["response_metadata"]["messages"][0],
        "[ERROR] must be less than 3001 characters [json-pointer:/blocks/1/text/text]"
    );
    let r = post((0..51).map(|_| section("ok")).collect());
    assert_eq!(r["error"], "invalid_blocks");
    assert_eq!(fake.posted_messages().len(), 1, "a refused post is not recorded");
}

#[test]
fn a_user_id_as_the_channel_posts_to_the_apps_dm_with_that_member() {
    let fake = FakeSlack::start(SlackOptions {
        tokens: vec![Token::bot(TOKEN, &["chat:write"]), Token::bot("xoxb-no-chat", &["users:read"])],
        ..SlackOptions::acme(0)
    });
    let r = post_form(&fake, "chat.postMessage", "channel=U0KOR00001&text=welcome", Some(TOKEN)).json();
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["channel"], "D0KOR00001", "the DM's own id, not the user's");
    let r = post_form(&fake, "chat.postMessage", "channel=U0NOBODY99&text=welcome", Some(TOKEN)).json();
    assert_eq!(r, json!({"ok": false, "error": "channel_not_found"}));
    let r = post_form(&fake, "chat.postMessage", "channel=U0KOR00001&text=x", Some("xoxb-no-chat")).json();
    assert_eq!(
        (&r["error"], &r["needed"], &r["provided"]),
        (&json!("missing_scope"), &json!("chat:write"), &json!("users:read"))
    );
    let posted = fake.posted_messages();
    assert_eq!(posted, [json!({"channel": "U0KOR00001", "text": "welcome"})], "only the one accepted post");
}

#[test]
fn auth_test_and_stats_endpoint() {
    let fake = FakeSlack::start(SlackOptions::acme(0));
    let r = call(&fake, "auth.test", "", TOKEN).json();
    assert_eq!(r["team_id"], "T0ACMEW0RK");
    assert_eq!(r["user_id"], "U0BOT00001");
    call(&fake, "users.list", "limit=5", TOKEN);
    let stats = get(fake.addr(), "/__fake/stats", &[]).json();
    assert_eq!(stats, json!({"auth.test": 1, "users.list": 1}));
}

#[test]
fn requests_are_served_in_parallel() {
    let fake = std::sync::Arc::new(FakeSlack::start(SlackOptions {
        latency: Duration::from_millis(150),
        ..SlackOptions::acme(0)
    }));
    let t = std::time::Instant::now();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let f = std::sync::Arc::clone(&fake);
            std::thread::spawn(move || call(&f, "auth.test", "", TOKEN).status)
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 200);
    }
    // Bounds on purpose: served one by one, the four would take 600 ms; how many overlap, and how
    // closely, is up to the scheduler.
    assert!(t.elapsed() < Duration::from_millis(550), "{:?}", t.elapsed());
    assert!(fake.max_in_flight() > 1);
}

#[test]
fn every_answer_names_the_tokens_scopes_faults_included() {
    let fake = FakeSlack::start(SlackOptions::acme(0));
    fake.add_fault(SlackFault::new("users.list", 1, Effect::rate_limited(0)));
    fake.add_fault(SlackFault::new("users.list", 2, Effect::ok_false("fatal_error")));
    let all = Some("users:read,users:read.email,channels:read,chat:write,usergroups:read");
    for (method, query) in [("users.list", "limit=5"), ("users.list", "limit=5"), ("auth.test", "")] {
        assert_eq!(call(&fake, method, query, TOKEN).header("x-oauth-scopes"), all, "{method}");
    }
    assert_eq!(call(&fake, "auth.test", "", "xoxb-unknown").header("x-oauth-scopes"), None);
}

#[test]
fn an_org_level_install_belongs_to_no_workspace() {
    // The shape of real-slack/derived/auth.test.org-install.json.
    let fake = FakeSlack::start(SlackOptions {
        tokens: vec![Token::org("xoxb-org", &["users:read"], &["T0ACMEW0RK"])],
        ..SlackOptions::acme(0)
    });
    let r = call(&fake, "auth.test", "", "xoxb-org").json();
    assert_eq!(r["is_enterprise_install"], true);
    assert_eq!(r["enterprise_id"], "E0ACMEORG1");
    assert_eq!((r["team"].clone(), r["team_id"].clone()), (Value::Null, Value::Null));
}

#[test]
fn a_private_channel_needs_groups_read_and_membership() {
    let private = |scopes: &[&str]| {
        let fake = FakeSlack::start(SlackOptions {
            tokens: vec![Token::bot(TOKEN, scopes)],
            ..SlackOptions::acme(0)
        });
        fake.configure(|o| o.channels.iter_mut().for_each(|c| c.is_member = true));
        call(&fake, "conversations.members", "channel=G0PRIVATE1", TOKEN).json()
    };
    assert_eq!(private(&["channels:read"])["error"], "channel_not_found");
    assert_eq!(private(&["channels:read", "groups:read"])["members"], json!(["U0ADMIN001"]));
}

#[test]
fn a_single_sign_on_workspace_marks_signed_in_people_unconfirmed() {
    let sso = SlackOptions::acme_sso(5).members;
    let plain = SlackOptions::acme(5).members;
    assert_eq!(sso.len(), plain.len());
    for (s, p) in sso.iter().zip(&plain) {
        let confirmed = |m: &Value| m.get("is_email_confirmed").and_then(Value::as_bool);
        assert_ne!(confirmed(s), Some(true), "{}", s["id"]);
        assert_eq!(confirmed(p).is_some(), confirmed(s).is_some(), "{}", s["id"]);
    }
    assert!(sso.iter().all(|m| !slack_im_fakes::members::is_eligible(m)));
}

#[test]
fn usergroups_list_answers_as_slack_documents_it() {
    let fake = FakeSlack::start(SlackOptions::default());
    let handles = |body: &Value| -> Vec<String> {
        body["usergroups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["handle"].as_str().unwrap().to_string())
            .collect()
    };
    // Enabled groups only, without their members unless asked.
    let plain = call(&fake, "usergroups.list", "", TOKEN).json();
    assert_eq!(plain["ok"], true, "{plain}");
    assert_eq!(handles(&plain).len(), 5);
    assert!(!handles(&plain).contains(&"old-sales".to_string()));
    assert!(
        plain["usergroups"][0].get("users").is_none() && plain["usergroups"][0].get("user_count").is_none()
    );
    let full =
        call(&fake, "usergroups.list", "include_users=1&include_disabled=true&include_count=true", TOKEN)
            .json();
    assert_eq!(handles(&full).len(), 6);
    let sales = full["usergroups"].as_array().unwrap().iter().find(|g| g["handle"] == "sales").unwrap();
    assert_eq!(sales["users"], json!(["U0KOR00001", "U0JPN00001", "U0ACC00001"]));
    assert_eq!((sales["user_count"].as_u64(), sales["date_delete"].as_u64()), (Some(3), Some(0)));
    let old = full["usergroups"].as_array().unwrap().iter().find(|g| g["handle"] == "old-sales").unwrap();
    assert_ne!(old["date_delete"], 0, "a disabled group carries its deletion date");
    fake.set_usergroup_users("interns", &["U0ADMIN001"]);
    let after = call(&fake, "usergroups.list", "include_users=true", TOKEN).json();
    let interns = after["usergroups"].as_array().unwrap().iter().find(|g| g["handle"] == "interns").unwrap();
    assert_eq!(interns["users"], json!(["U0ADMIN001"]));

    // Its scope, and an org-level token's workspace.
    fake.configure(|o| {
        o.tokens = vec![
            Token::bot("xoxb-no-groups", &["users:read"]),
            Token::org("xoxb-org", &["usergroups:read"], &["T0ACMEW0RK"]),
        ]
    });
    let r = call(&fake, "usergroups.list", "", "xoxb-no-groups");
    assert_eq!(
        (r.status, r.json()["error"].as_str(), r.json()["needed"].as_str()),
        (200, Some("missing_scope"), Some("usergroups:read"))
    );
    assert_eq!(r.header("x-accepted-oauth-scopes"), Some("usergroups:read"));
    assert_eq!(call(&fake, "usergroups.list", "", "xoxb-org").json()["error"], "missing_argument");
    assert_eq!(
        call(&fake, "usergroups.list", "team_id=T0OTHER001", "xoxb-org").json()["error"],
        "team_access_not_granted"
    );
    assert_eq!(call(&fake, "usergroups.list", "team_id=T0ACMEW0RK", "xoxb-org").json()["ok"], true);
}
