//! Request headers (issue 18): a header named in system.json replaces the built-in one of that
//! name (one value, not two), and a request without a body carries no Content-Type.

use slack_im_fakes::{Recorded, SlackOptions, TargetOptions};

use crate::common::*;

fn values<'a>(r: &'a Recorded, name: &str) -> Vec<&'a str> {
    r.header_values(name)
}

/// The request's headers for a failure message, without its credentials.
fn shown(r: &Recorded) -> Vec<(&str, &str)> {
    r.headers.iter().filter(|(k, _)| k != "authorization").map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[test]
fn system_json_headers_replace_the_built_in_ones_and_a_bodiless_request_has_no_content_type() {
    let mut world = World::with(
        SlackOptions::acme(0),
        TargetOptions { accounts: vec![leaver("gone"), leaver("gone.too")], ..Default::default() },
    );
    // Names spelled otherwise than the built-ins: the match is case-insensitive.
    let system = r#"{
  "headers": {
    "Authorization": {{ "Bearer " ~ secrets.target_token }},
    "content-type": "application/scim+json",
    "ACCEPT": "application/scim+json"
  },
  "list": {"path": "/api/users?page={page}&size=100", "items": "/data", "key": "/userId"},
  "create": {"method": "POST", "path": "/api/users"},
  "update": {"method": "PUT", "path": "/api/users/{key}"},
  "deactivate": {"method": "DELETE", "path": "/api/users/{key}"},
  "managed": "account.createdBy == 'slack-im'",
  "key": "user.email_local | lower"
}"#;
    world.accounts_folder(system);
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!((run.count("create"), run.count("deactivate")), (10, 2));
    let requests = world.target.requests();
    assert!(requests.iter().any(|r| r.method == "GET") && requests.iter().any(|r| r.method == "DELETE"));
    for r in &requests {
        assert_eq!(values(r, "accept"), ["application/scim+json"], "{} {}: {:?}", r.method, r.path, shown(r));
        let expected: &[&str] = if r.body.is_empty() { &[] } else { &["application/scim+json"] };
        assert_eq!(values(r, "content-type"), expected, "{} {}: {:?}", r.method, r.path, shown(r));
    }
}

#[test]
fn the_built_in_content_type_goes_only_with_a_body() {
    let world = World::with(
        SlackOptions::acme(0),
        TargetOptions { accounts: vec![leaver("gone")], ..Default::default() },
    );
    world.run(&["sync"]).assert_code(0);
    let requests = world.target.requests();
    for r in &requests {
        assert_eq!(values(r, "accept"), ["application/json"], "{} {}: {:?}", r.method, r.path, shown(r));
        let expected: &[&str] = if r.body.is_empty() { &[] } else { &["application/json; charset=utf-8"] };
        assert_eq!(values(r, "content-type"), expected, "{} {}: {:?}", r.method, r.path, shown(r));
    }
    assert!(requests.iter().any(|r| r.method == "POST") && requests.iter().any(|r| r.method == "DELETE"));
}
