//! Accounts have a life: a server keeps a leaver's account, inactive, and lists it. With
//! `system.json`'s `active` expression slack-im tells an inactive account from an active one: a
//! leaver's inactive account needs nothing (no write, not counted by the guard); a returning
//! member's inactive account is reactivated (its own action, its own guard).

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
    world_with(SlackOptions::acme(0), accounts)
}

fn world_with(slack: SlackOptions, accounts: Vec<Value>) -> World {
    let mut world = World::with(slack, TargetOptions { accounts, ..Default::default() });
    let read = |name: &str| std::fs::read_to_string(fixtures().join("lifecycle").join(name)).unwrap();
    let files: Vec<(&str, String)> =
        ["system.json", "create.json", "update.json", "deactivate.json"].map(|n| (n, read(n))).into();
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    world.folder("lifecycle", &files);
    world
}

/// minjun.kim's account (U0KOR00001) as slack-im made it, deactivated: a colleague who comes back.
fn returning() -> Value {
    json!({"userId": "minjun.kim", "name": "김민준", "roleGroupId": "AGENT", "centerIds": ["spectra"],
           "customType": "user", "metadata": {"counselType": "user", "slackId": "U0KOR00001"},
           "createdBy": "slack-im", "active": false})
}

fn folder_file(world: &World, name: &str) -> std::path::PathBuf {
    world.dir.path().join("own-templates/lifecycle").join(name)
}

fn edit(world: &World, name: &str, edit: impl Fn(String) -> String) {
    let path = folder_file(world, name);
    std::fs::write(&path, edit(std::fs::read_to_string(&path).unwrap())).unwrap();
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

#[test]
fn a_returning_members_inactive_account_is_reactivated_once_through_the_update_call() {
    let world = world(vec![returning()]);
    let check = world.run(&["check"]);
    check.assert_code(0);
    assert!(check.stdout.contains("1 to reactivate"), "{}", check.stdout);
    let plan = world.run(&["plan"]);
    assert!(plan.stdout.contains("^ reactivate minjun.kim (U0KOR00001)"), "{}", plan.stdout);
    assert!(plan.stdout.contains("1 would be reactivated"), "{}", plan.stdout);

    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!((run.count("reactivate"), run.count("update")), (1, 0), "{}", run.stdout);
    assert_eq!(run.actions_for("minjun.kim")[0]["action"], "reactivate");
    assert_eq!(world.accounts()["minjun.kim"]["active"], json!(true));
    let sent = puts_to(&world, "minjun.kim");
    assert_eq!(sent, 1);
    let junit = std::fs::read_to_string(world.reports().join("junit.xml")).unwrap();
    assert!(junit.contains("classname=\"slack-im.lifecycle.reactivate\" name=\"minjun.kim\""), "{junit}");
    let md = std::fs::read_to_string(world.reports().join("summary.md")).unwrap();
    assert!(md.contains("| reactivate |"), "{md}");

    let again = world.run(&["sync"]);
    again.assert_code(0);
    assert_eq!(again.count("reactivate"), 0);
    assert_eq!(puts_to(&world, "minjun.kim"), sent, "reactivated once");
}

#[test]
fn reactivations_have_their_own_guard() {
    let mut world = world(vec![returning()]);
    world.set("SLACK_IM_MAX_REACTIVATE", "0");
    let run = world.run(&["sync"]);
    run.assert_code(4);
    assert_eq!(run.count("withheld"), 1);
    assert!(
        run.stdout.contains("1 reactivations exceed the guard of 0 (SLACK_IM_MAX_REACTIVATE)"),
        "{}",
        run.stdout
    );
    assert_eq!(world.accounts()["minjun.kim"]["active"], json!(false));
    assert_eq!(puts_to(&world, "minjun.kim"), 0);
}

#[test]
fn a_reactivate_endpoint_and_template_are_used_when_the_folder_has_them() {
    let world = world(vec![returning()]);
    edit(&world, "system.json", |t| {
        t.replace(
            "\"managed\"",
            "\"reactivate\": {\"method\": \"PATCH\", \"path\": \"/api/users/{key}\"},\n  \"managed\"",
        )
    });
    std::fs::write(folder_file(&world, "reactivate.json"), r#"{"active": true, "note": {{ user.id }}}"#)
        .unwrap();
    let run = world.run(&["sync"]);
    run.assert_code(0);
    let patches = world.target_requests("PATCH", "/api/users/minjun.kim");
    assert_eq!(patches.len(), 1, "{}", run.stdout);
    let body: Value = serde_json::from_str(&patches[0].body).unwrap();
    assert_eq!(body, json!({"active": true, "note": "U0KOR00001"}));
}

#[test]
fn an_update_json_that_does_not_make_the_account_active_cannot_reactivate_it() {
    let world = world(vec![returning()]);
    edit(&world, "update.json", |t| t.replace(",\n  \"active\": true", ""));
    let run = world.run(&["sync"]);
    run.assert_code(2);
    assert!(run.stderr.contains("does not make the account active"), "{}", run.stderr);
    assert_eq!(world.writes(), 0);
}

/// The Acme workspace with dana.departed (U0DELETED1) deactivated in Slack `seconds_ago`.
fn dana_left(seconds_ago: u64) -> SlackOptions {
    let mut slack = SlackOptions::acme(0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let dana =
        slack.members.iter_mut().find(|m| m["id"] == "U0DELETED1").expect("the fixture's deactivated member");
    assert_eq!(dana["deleted"], json!(true));
    dana["updated"] = json!(now - seconds_ago);
    slack
}

#[test]
fn a_member_deactivated_in_slack_within_the_grace_period_is_a_pending_deactivation() {
    let accounts = vec![managed("dana.departed", true), managed("long.gone", true)];
    let mut world = world_with(dana_left(3600), accounts);
    world.set("SLACK_IM_DEACTIVATE_AFTER", "72h");

    let plan = world.run(&["plan"]);
    plan.assert_code(0);
    assert!(
        plan.stdout.contains("- pending    dana.departed (U0DELETED1) deactivated in Slack, waits until"),
        "{}",
        plan.stdout
    );
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!((run.count("deactivate"), run.count("pending_deactivation")), (1, 1), "{}", run.stdout);
    assert!(run.stdout.contains("1 deactivations pending (SLACK_IM_DEACTIVATE_AFTER)"), "{}", run.stdout);
    let accounts = world.accounts();
    assert_eq!(accounts["dana.departed"]["active"], json!(true), "not yet");
    assert_eq!(
        accounts["long.gone"]["active"],
        json!(false),
        "a member Slack no longer lists is not waited for"
    );
    let pending = &run.summary.as_ref().unwrap()["pending_deactivation"][0];
    assert_eq!((&pending["key"], &pending["slack_id"]), (&json!("dana.departed"), &json!("U0DELETED1")));
    let due: jiff::Timestamp = pending["due_at"].as_str().unwrap().parse().unwrap();
    let now = jiff::Timestamp::now();
    let hours = |h| now + jiff::SignedDuration::from_hours(h);
    assert!(due > hours(70) && due < hours(72), "72h after Slack's updated, an hour ago: {due}");
    let md = std::fs::read_to_string(world.reports().join("summary.md")).unwrap();
    assert!(md.contains("## Deactivations pending"), "{md}");
}

#[test]
fn after_the_grace_period_the_deactivation_goes_ahead() {
    let mut world = world_with(dana_left(3 * 3600), vec![managed("dana.departed", true)]);
    world.set("SLACK_IM_DEACTIVATE_AFTER", "2h");
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!((run.count("deactivate"), run.count("pending_deactivation")), (1, 0));
    assert_eq!(world.accounts()["dana.departed"]["active"], json!(false));
}

#[test]
fn the_grace_period_is_given_as_an_age() {
    let mut world = world(vec![]);
    world.set("SLACK_IM_DEACTIVATE_AFTER", "three days");
    let run = world.run(&["plan"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("SLACK_IM_DEACTIVATE_AFTER") && run.stderr.contains("is not an age"),
        "{}",
        run.stderr
    );
}
