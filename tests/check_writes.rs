//! `check` proves the write address (issue 18): it GETs the update address of the first listed
//! managed account, and anything but 2xx is `not ready` (exit 2), so a folder that would 404 every
//! update is caught before the first run.

use serde_json::json;
use slack_im_fakes::{Ids, SlackOptions, TargetOptions};

use crate::common::*;

const LIST_WITH_ID: &str =
    r#"{"path": "/api/users?page={page}&size=100", "items": "/data", "key": "/userId", "id": "/id"}"#;
const LIST: &str = r#"{"path": "/api/users?page={page}&size=100", "items": "/data", "key": "/userId"}"#;

fn writes(address: &str) -> String {
    format!(
        r#""create": {{"method": "POST", "path": "/api/users"}},
  "update": {{"method": "PUT", "path": "/api/users/{address}"}},
  "deactivate": {{"method": "DELETE", "path": "/api/users/{address}"}},"#
    )
}

#[test]
fn check_is_not_ready_when_the_update_address_of_a_listed_managed_account_is_a_404() {
    // Accounts addressed by a numeric id; the first listed account is not managed, the second is.
    let admin = json!({"userId": "admin", "name": "Admin", "createdBy": "init-data"});
    let mut world = World::with(
        SlackOptions::acme(0),
        TargetOptions { ids: Ids::Numeric, accounts: vec![admin, leaver("gone")], ..Default::default() },
    );
    let gone_id = world.target.account("gone").unwrap()["id"].clone();

    // A folder that puts the key where the server wants its id.
    world.accounts_folder(&system_json(LIST, &writes("{key}")));
    let run = world.run(&["check"]);
    run.assert_code(2);
    let said = format!("{}{}{}", run.stdout, run.stderr, run.error());
    assert!(said.contains("GET") && said.contains("/api/users/gone") && said.contains("404"), "{said}");
    let probes = world.target_requests("GET", "/api/users/");
    assert_eq!(
        probes.iter().map(|r| (r.path.as_str(), r.status)).collect::<Vec<_>>(),
        [("/api/users/gone", 404)]
    );
    assert_eq!(world.writes(), 0);

    // The same folder addressing by id is ready, and proved it on the managed account.
    world.accounts_folder(&system_json(LIST_WITH_ID, &writes("{id}")));
    let run = world.run(&["check"]);
    run.assert_code(0);
    assert!(run.stdout.contains("ready"), "{}", run.stdout);
    let probes = world.target_requests("GET", "/api/users/");
    assert_eq!(
        probes.last().map(|r| (r.path.clone(), r.status)),
        Some((format!("/api/users/{gone_id}"), 200))
    );
    assert_eq!(world.writes(), 0);
}

#[test]
fn check_is_ready_when_no_managed_account_is_listed_to_prove_the_address_on() {
    let admin = json!({"userId": "admin", "name": "Admin", "createdBy": "init-data"});
    let mut world = World::with(
        SlackOptions::acme(0),
        TargetOptions { ids: Ids::Numeric, accounts: vec![admin], ..Default::default() },
    );
    world.accounts_folder(&system_json(LIST, &writes("{key}")));
    let run = world.run(&["check"]);
    run.assert_code(0);
    assert!(world.target_requests("GET", "/api/users/").is_empty(), "no managed account: nothing to probe");
    assert_eq!(world.writes(), 0);
}
