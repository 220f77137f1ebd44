//! Accounts have a life: a server keeps a leaver's account, inactive, and lists it. With
//! `system.json`'s `active` expression slack-im tells an inactive account from an active one: a
//! leaver's inactive account needs nothing (no write, not counted by the guard).

use serde_json::{json, Value};
use slack_im_fakes::{SlackOptions, TargetOptions};

use crate::common::*;

/// A managed account the server lists, active or not.
fn managed(key: &str, active: bool) -> Value {
    json!({"userId": key, "name": "Left", "createdBy": "slack-im", "active": active})
}

/// The Acme workspace against `tests/fixtures/lifecycle` (deactivation = `"active": false`,
/// `"active": "account.active"`), the target holding `accounts`.
fn world(accounts: Vec<Value>) -> World {
    let mut world = World::with(SlackOptions::acme(0), TargetOptions { accounts, ..Default::default() });
    let read = |name: &str| std::fs::read_to_string(fixtures().join("lifecycle").join(name)).unwrap();
    let files: Vec<(&str, String)> =
        ["system.json", "create.json", "update.json", "deactivate.json"].map(|n| (n, read(n))).into();
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    world.folder("lifecycle", &files);
    world
}

fn puts_to(world: &World, key: &str) -> usize {
    world.target_requests("PUT", &format!("/api/users/{key}")).len()
}

#[test]
fn an_inactive_leaver_needs_nothing_and_the_guard_counts_only_real_deactivations() {
    // Four leavers deactivated by earlier runs, one who just left: the default guard is 3.
    let mut accounts: Vec<Value> = (0..4).map(|i| managed(&format!("gone{i}"), false)).collect();
    accounts.push(managed("leaver.last", true));
    let world = world(accounts);

    let first = world.run(&["sync"]);
    first.assert_code(0);
    assert_eq!(first.count("deactivate"), 1, "{}", first.stdout);
    assert_eq!(first.count("already_inactive"), 4);
    assert_eq!(world.accounts()["leaver.last"]["active"], json!(false));
    assert!((0..4).all(|i| puts_to(&world, &format!("gone{i}")) == 0), "no write to an inactive leaver");
    assert!(first.stdout.contains("4 already inactive"), "{}", first.stdout);

    let writes = world.writes();
    let second = world.run(&["sync"]);
    second.assert_code(0);
    assert_eq!((second.count("deactivate"), second.count("already_inactive")), (0, 5));
    assert_eq!(world.writes(), writes, "the leaver is deactivated once, never again");
    assert_eq!(puts_to(&world, "leaver.last"), 1);
    let md = std::fs::read_to_string(world.reports().join("summary.md")).unwrap();
    assert!(md.contains("already inactive"), "{md}");
}

#[test]
fn without_an_active_expression_every_listed_account_is_active() {
    let world = world(vec![managed("gone0", false)]);
    let folder = world.dir.path().join("own-templates/lifecycle/system.json");
    let text = std::fs::read_to_string(&folder).unwrap().replace("  \"active\": \"account.active\",\n", "");
    std::fs::write(&folder, text).unwrap();
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!((run.count("deactivate"), run.count("already_inactive")), (1, 0), "today's behaviour");
}
