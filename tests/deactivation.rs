//! Leavers: managed accounts whose member is gone are deactivated, within the guards; accounts
//! slack-im does not manage, and protected keys, are never touched.

use serde_json::json;
use slack_im_fakes::{SlackOptions, TargetOp, TargetOptions};

use crate::common::*;

fn account(key: &str, created_by: &str) -> serde_json::Value {
    json!({"userId": key, "name": key, "roleGroupId": "AGENT", "centerIds": ["spectra"], "customType": "user",
           "metadata": {"counselType": "user"}, "createdBy": created_by})
}

/// The Acme workspace synced, plus `leavers` managed accounts whose members are gone and three
/// init-data accounts slack-im does not manage.
fn world_with_leavers(leavers: usize) -> World {
    let mut accounts: Vec<_> = (0..leavers).map(|i| account(&format!("leaver{i:02}"), "slack-im")).collect();
    accounts.extend(["admin", "ops", "demo"].map(|k| account(k, "init-data")));
    World::with(SlackOptions::acme(400), TargetOptions { accounts, ..Default::default() })
}

#[test]
fn a_managed_leaver_is_deactivated_and_unmanaged_accounts_are_kept() {
    let world = world_with_leavers(2);
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!(run.count("deactivate"), 2);
    let accounts = world.accounts();
    assert!(!accounts.contains_key("leaver00") && !accounts.contains_key("leaver01"));
    for kept in ["admin", "ops", "demo"] {
        assert!(accounts.contains_key(kept), "{kept} is not managed by slack-im");
    }
    let mut deletes: Vec<String> =
        world.target.requests().into_iter().filter(|r| r.method == "DELETE").map(|r| r.path).collect();
    deletes.sort(); // sent by concurrent writers, in any order
    assert_eq!(deletes, ["/api/users/leaver00", "/api/users/leaver01"]);
}

#[test]
fn a_member_deactivated_in_slack_loses_the_account() {
    let world = world_with_leavers(0);
    world.run(&["sync"]).assert_code(0);
    world.slack.update_member("U0KOR00001", |m| m["deleted"] = json!(true));
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!(run.count("deactivate"), 1);
    assert!(!world.accounts().contains_key("minjun.kim"));
}

#[test]
fn forty_leavers_against_a_guard_of_five_keeps_all_forty_and_says_why() {
    let mut world = world_with_leavers(40);
    world.set("SLACK_IM_MAX_DEACTIVATE", "5");
    let plan = world.run(&["plan"]);
    plan.assert_code(0);
    assert!(
        plan.stdout.contains("- deactivate leaver00 [withheld: 40 deactivations exceed the guard of 5"),
        "{}",
        plan.stdout
    );

    let run = world.run(&["sync"]);
    run.assert_code(4);
    assert_eq!(world.target.count(TargetOp::Delete), 0);
    assert_eq!(run.count("withheld"), 40);
    assert_eq!(run.count("create"), world.expected_keys().len() as u64, "creates go ahead");
    assert!(
        run.stdout.contains("withheld: 40 deactivations exceed the guard of 5 (SLACK_IM_MAX_DEACTIVATE)"),
        "{}",
        run.stdout
    );
    assert_eq!((0..40).filter(|i| world.accounts().contains_key(&format!("leaver{i:02}"))).count(), 40);

    world.set("SLACK_IM_MAX_DEACTIVATE", "40");
    world.run(&["sync"]).assert_code(0);
    assert_eq!(
        world.target.count(TargetOp::Delete),
        40,
        "an operator who agrees raises the guard for one run"
    );
}

#[test]
fn the_default_guard_is_ten_percent_of_managed_accounts() {
    let world = world_with_leavers(4); // 4 leavers, 4 managed accounts: default guard max(3, 1) = 3
    let run = world.run(&["sync"]);
    run.assert_code(4);
    assert!(run.stdout.contains("4 deactivations exceed the guard of 3"), "{}", run.stdout);
}

#[test]
fn no_eligible_member_means_no_deactivation_at_all() {
    let world = world_with_leavers(2);
    world.run(&["sync"]).assert_code(0);
    let bots_only: Vec<_> = world.slack.members().into_iter().filter(|m| !is_eligible(m)).collect();
    world.slack.set_members(bots_only);
    let mut world = world;
    world.set("SLACK_IM_MAX_DEACTIVATE", "100000");
    let run = world.run(&["sync"]);
    run.assert_code(4);
    assert!(run.stdout.contains("Slack returned no eligible member"), "{}", run.stdout);
    assert_eq!(world.target.count(TargetOp::Delete), 2, "only the two leavers of the first run");
}

#[test]
fn protected_keys_are_never_updated_or_deactivated() {
    let mut world = world_with_leavers(2);
    world.set("SLACK_IM_PROTECT", "LEAVER00,minjun.kim");
    world.run(&["sync"]).assert_code(0);
    world.slack.update_member("U0KOR00001", |m| m["profile"]["real_name"] = json!("Renamed"));
    let run = world.run(&["sync"]);
    run.assert_code(0);
    let accounts = world.accounts();
    assert!(accounts.contains_key("leaver00"));
    assert!(!accounts.contains_key("leaver01"));
    assert_eq!(accounts["minjun.kim"]["name"], "김민준");
    assert_eq!(world.target.count(TargetOp::Update), 0);
}

#[test]
fn a_system_without_deactivate_never_deactivates() {
    let mut world = world_with_leavers(2);
    world.set("SLACK_IM_SYSTEM", "sales-demo");
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!(world.target.count(TargetOp::Delete), 0);
    assert!(world.accounts().contains_key("leaver00"));
}

#[test]
fn deactivate_json_becomes_the_request_body() {
    let mut world = world_with_leavers(1);
    let templates = world.own_templates();
    std::fs::write(
        templates.join("dev/deactivate.json"),
        r#"{"reason": "left Slack", "userId": {{ account.userId }}}"#,
    )
    .unwrap();
    world.run(&["sync"]).assert_code(0);
    let delete = world.target.requests().into_iter().find(|r| r.method == "DELETE").unwrap();
    let body: serde_json::Value = serde_json::from_str(&delete.body).unwrap();
    assert_eq!(body, json!({"reason": "left Slack", "userId": "leaver00"}));
}

#[test]
fn more_creates_than_slack_im_max_create_withholds_every_create_and_says_so() {
    // A forged or wrong members file's main effect is creates: an operator can cap them per run.
    let mut world = World::new(10);
    world.set("SLACK_IM_MAX_CREATE", "3");
    let run = world.run(&["sync"]);
    run.assert_code(4);
    assert_eq!(world.writes(), 0, "no create sent");
    assert!(run.count("withheld") > 3);
    assert!(run.stdout.contains("creates exceed the guard of 3 (SLACK_IM_MAX_CREATE)"), "{}", run.stdout);
    assert!(run.stdout.contains("creates WITHHELD"), "{}", run.stdout);

    world.set("SLACK_IM_MAX_CREATE", "1000");
    world.run(&["sync"]).assert_code(0);
    assert_eq!(world.accounts().len(), world.expected_keys().len());
}
