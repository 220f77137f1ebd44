//! The unit tests of `slack`, beside it so the module itself reads in one sitting.

use super::*;

#[test]
fn every_end_of_list_form_ends_the_loop() {
    assert_eq!(next_cursor(None), None);
    assert_eq!(next_cursor(Some(ResponseMetadata { next_cursor: None })), None);
    assert_eq!(next_cursor(Some(ResponseMetadata { next_cursor: Some(String::new()) })), None);
    assert_eq!(
        next_cursor(Some(ResponseMetadata { next_cursor: Some("dXNlcjpVMDYxTkZUVDI=".into()) })).as_deref(),
        Some("dXNlcjpVMDYxTkZUVDI=")
    );
    for body in [
        r#"{"ok":true,"members":[]}"#,
        r#"{"ok":true,"members":[],"response_metadata":{"next_cursor":null}}"#,
        r#"{"ok":true,"members":[],"response_metadata":{}}"#,
    ] {
        let page: UsersListPage = parse("users.list", body).unwrap();
        assert_eq!(next_cursor(page.response_metadata), None, "{body}");
    }
}

#[test]
fn ok_false_keeps_the_code_and_the_needed_scope() {
    let err = parse::<UsersListPage>(
        "users.list",
        r#"{"ok":false,"error":"missing_scope","needed":"users:read.email","provided":"users:read"}"#,
    )
    .err()
    .unwrap();
    assert_eq!(err.to_string(), "Slack users.list failed: missing_scope (the token lacks the scope users:read.email; it has users:read)");
}

#[test]
fn slacks_detail_is_kept_and_an_empty_code_still_says_something() {
    // The body UiPath's connector documentation quotes (reference [R5]).
    let err = parse::<serde_json::Value>(
        "chat.postMessage",
        r#"{"ok":false,"error":"invalid_arguments","warning":"missing_charset","response_metadata":{"messages":["[ERROR] missing required field: channel"],"warnings":["missing_charset"]}}"#,
    )
    .err()
    .unwrap();
    assert_eq!(
        err.to_string(),
        "Slack chat.postMessage failed: invalid_arguments; Slack says: [ERROR] missing required field: channel"
    );
    for body in [r#"{"ok":false,"error":""}"#, r#"{"ok":false}"#, r#"{"ok":false,"error":"\u001b"}"#] {
        let err = parse::<serde_json::Value>("auth.test", body).err().unwrap().to_string();
        assert_eq!(err, "Slack auth.test failed: unknown_error (Slack sent no error code)", "{body}");
    }
    let odd = parse::<serde_json::Value>(
        "auth.test",
        r#"{"ok":false,"error":"x","response_metadata":{"messages":"no"}}"#,
    );
    assert_eq!(odd.err().unwrap().to_string(), "Slack auth.test failed: x");
}

#[test]
fn lone_surrogates_become_replacement_characters_and_pairs_stay() {
    let body = r#"{"ok":true,"members":[{"id":"U1","real_name":"a\ud800b \udc00 \ud83d\ude00 \\ud800"}]}"#;
    let page = parse_users_list(body, false).unwrap();
    assert_eq!(page.members[0].real_name.as_deref(), Some("a\u{FFFD}b \u{FFFD} 😀 \\ud800"));
    assert!(matches!(repair_lone_surrogates("plain"), std::borrow::Cow::Borrowed(_)));
    assert_eq!(repair_lone_surrogates(r#""\ud800""#), r#""\uFFFD""#);
    assert_eq!(repair_lone_surrogates(r#""\ud800\u0041""#), r#""\uFFFD\u0041""#);
    assert_eq!(repair_lone_surrogates(r#""x\ud8""#), r#""x\ud8""#);
}

#[test]
fn html_and_truncated_bodies_are_malformed_not_panics() {
    for body in ["<html>Server Error | Slack</html>", r#"{"ok":true,"members":[{"id":"U1""#, ""] {
        assert!(
            matches!(parse::<UsersListPage>("users.list", body), Err(SlackError::Malformed { .. })),
            "{body}"
        );
    }
}

#[test]
fn one_unreadable_member_is_kept_as_malformed_and_the_page_reads_on() {
    // The shape of real-slack/derived/users.list.profile-null.json: a real deleted bot with
    // `"profile": null`, between two readable members.
    let body = r#"{"ok":true,"members":[{"id":"U1","profile":{"email":"a@acme.example"}},{"id":"U04JZBDQQ","name":"foo","deleted":true,"profile":null,"is_bot":true},{"name":"no id","profile":{}},{"id":"U3","profile":{"email":"c@acme.example"}}],"response_metadata":{"next_cursor":""}}"#;
    for keep_raw in [false, true] {
        let page = parse_users_list(body, keep_raw).unwrap();
        let ids: Vec<&str> = page.members.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["U1", "U04JZBDQQ", "", "U3"]);
        let broken = &page.members[1];
        assert!(broken.malformed.as_deref().unwrap().starts_with("invalid type: null"), "{broken:?}");
        assert_eq!(broken.deleted, None, "nothing else of an unreadable member is trusted");
        assert_eq!(page.members[2].malformed, None, "a missing id is read, and skipped as such");
        assert!(page.members.iter().all(|m| m.raw.is_some() == keep_raw));
    }
    // A broken envelope still fails the read.
    for body in [r#"{"ok":true,"members":{"id":"U1"}}"#, r#"{"ok":true,"members":[{"id":"U1"}"#] {
        assert!(matches!(parse_users_list(body, false), Err(SlackError::Malformed { .. })), "{body}");
    }
}

#[test]
fn usergroups_list_answers_are_parsed() {
    let answer: UserGroupsAnswer = parse(
        "usergroups.list",
        r#"{"ok":true,"usergroups":[{"id":"S2","handle":"sales","users":["U1","U2"],"date_delete":0},{"id":"S1","handle":"qa","users":["U1"]},{"id":"S3","handle":"gone","users":["U2"],"date_delete":1446670400},{"id":"S4","handle":"empty","date_delete":0}]}"#,
    )
    .unwrap();
    assert_eq!(answer.usergroups.len(), 4);
    assert!(parse::<UserGroupsAnswer>("usergroups.list", r#"{"ok":true}"#).is_err(), "no list is broken");
}
