//! A person is their Slack id, not their e-mail: with `system.json`'s `anchor` (where the account
//! keeps the member's Slack id) an e-mail change is one rename, never a create plus a
//! deactivation, and a recycled address (a new hire given a leaver's e-mail) never inherits the
//! leaver's account. A folder's `reactivatable` lets a lock set by someone else win.

use serde_json::{json, Value};
use slack_im_fakes::{Ids, SlackOptions, TargetOptions};

use crate::common::*;

/// The Acme workspace against `tests/fixtures/anchored` (accounts addressed by id, the Slack id in
/// `metadata.slackId` as the anchor), the target holding `accounts`.
fn world(accounts: Vec<Value>) -> World {
    let target = TargetOptions { ids: Ids::Numeric, accounts, ..Default::default() };
    let mut world = World::with(SlackOptions::acme(0), target);
    let read = |name: &str| std::fs::read_to_string(fixtures().join("anchored").join(name)).unwrap();
    let files: Vec<(&str, String)> =
        ["system.json", "create.json", "update.json", "deactivate.json"].map(|n| (n, read(n))).into();
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    world.folder("anchored", &files);
    world
}

/// An account slack-im made for the member with Slack id `slack_id`, under the key `user_id`.
fn made_for(slack_id: &str, user_id: &str, name: &str, active: bool) -> Value {
    json!({"userId": user_id, "name": name, "roleGroupId": "AGENT", "centerIds": ["spectra"],
           "customType": "user", "metadata": {"counselType": "user", "slackId": slack_id},
           "createdBy": "slack-im", "active": active})
}

fn by_slack_id(world: &World, slack_id: &str) -> Vec<Value> {
    world.target.accounts().into_iter().filter(|a| a["metadata"]["slackId"] == slack_id).collect()
}

#[test]
fn an_email_change_is_one_rename_of_the_same_account() {
    // minjun.kim@ (U0KOR00001) was kim.minjun@ when slack-im made the account.
    let world = world(vec![made_for("U0KOR00001", "kim.minjun", "김민준", true)]);
    let id = world.target.accounts()[0]["id"].clone();

    let plan = world.run(&["plan"]);
    plan.assert_code(0);
    assert!(
        plan.stdout.contains("~ update     minjun.kim (U0KOR00001) renamed from kim.minjun changes userId"),
        "{}",
        plan.stdout
    );

    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!((run.count("update"), run.count("deactivate")), (1, 0), "{}", run.stdout);
    let action = &run.actions_for("minjun.kim")[0];
    assert_eq!((&action["action"], &action["renamed_from"]), (&json!("update"), &json!("kim.minjun")));
    let held = by_slack_id(&world, "U0KOR00001");
    assert_eq!(held.len(), 1, "one account, not a second one: {held:?}");
    assert_eq!(
        (&held[0]["userId"], &held[0]["id"], &held[0]["active"]),
        (&json!("minjun.kim"), &id, &json!(true))
    );
    assert_eq!(world.target_requests("PUT", &format!("/api/users/{id}")).len(), 1, "addressed by its id");
    let md = std::fs::read_to_string(world.reports().join("summary.md")).unwrap();
    assert!(md.contains("renamed from kim.minjun"), "{md}");

    let writes = world.writes();
    world.run(&["sync"]).assert_code(0);
    assert_eq!(world.writes(), writes, "renamed once");
}

/// `account` as slack-im's deactivate body left it: inactive, marked as slack-im's doing.
fn deactivated_by_slack_im(mut account: Value) -> Value {
    account["active"] = json!(false);
    account["deactivatedBy"] = json!("slack-im");
    account
}

#[test]
fn a_returning_member_under_a_new_address_gets_their_own_account_back_renamed() {
    let world = world(vec![deactivated_by_slack_im(made_for("U0KOR00001", "kim.minjun", "김민준", true))]);
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!(run.count("reactivate"), 1, "{}", run.stdout);
    let actions = run.actions_for("minjun.kim");
    assert_eq!(actions.len(), 1, "one reactivation, no create: {actions:?}");
    assert_eq!(
        (&actions[0]["action"], &actions[0]["renamed_from"]),
        (&json!("reactivate"), &json!("kim.minjun"))
    );
    let held = by_slack_id(&world, "U0KOR00001");
    assert_eq!((held.len(), &held[0]["userId"], &held[0]["active"]), (1, &json!("minjun.kim"), &json!(true)));
}

#[test]
fn a_recycled_address_is_never_taken_over() {
    // taro.yamada@ belonged to someone who left (U9LEAVER01); the company gave it to a new hire.
    let world = world(vec![made_for("U9LEAVER01", "taro.yamada", "Taro (left 2025)", true)]);
    let run = world.run(&["sync"]);
    run.assert_code(3);
    let action = &run.actions_for("taro.yamada");
    let refused = action.iter().find(|a| a["slack_id"] == "U0JPN00001").expect("the new hire's action");
    assert_eq!(refused["status"], "failed", "{refused}");
    let error = refused["error"].as_str().unwrap();
    for words in ["U9LEAVER01", "recycled", "rename or remove"] {
        assert!(error.contains(words), "{words:?} in {error}");
    }
    assert!(run.stdout.contains("U9LEAVER01"), "the console says why: {}", run.stdout);
    let leavers = by_slack_id(&world, "U9LEAVER01");
    assert_eq!(leavers.len(), 1);
    assert_eq!(leavers[0]["active"], json!(false), "the leaver's account is deactivated, as any leaver's");
    assert!(by_slack_id(&world, "U0JPN00001").is_empty(), "the new hire was given nothing of it");
    let creates = world.target_requests("POST", "/api/users");
    assert!(
        !creates.is_empty() && creates.iter().all(|r| !r.body.contains("taro.yamada")),
        "no create for it"
    );
}

#[test]
fn a_lock_set_by_someone_else_wins_over_a_returning_member() {
    // Both members are in Slack; minjun.kim's account was locked by slack-im when he left, taro's
    // was locked by an administrator on the server (no mark).
    let world = world(vec![
        deactivated_by_slack_im(made_for("U0KOR00001", "minjun.kim", "김민준", true)),
        made_for("U0JPN00001", "taro.yamada", "山田太郎", false),
    ]);
    let plan = world.run(&["plan"]);
    plan.assert_code(0);
    assert!(
        plan.stdout.contains("= keep       taro.yamada (U0JPN00001) locked by someone else, left alone"),
        "{}",
        plan.stdout
    );
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!((run.count("reactivate"), run.count("locked")), (1, 1), "{}", run.stdout);
    assert_eq!(
        run.summary.as_ref().unwrap()["locked"],
        json!([{"key": "taro.yamada", "slack_id": "U0JPN00001"}])
    );
    assert!(run.stdout.contains("1 locked by someone else, left alone"), "{}", run.stdout);
    let accounts = world.accounts();
    assert_eq!(accounts["minjun.kim"]["active"], json!(true));
    assert_eq!(accounts["taro.yamada"]["active"], json!(false), "the administrator's lock stays");
    assert!(run.actions_for("taro.yamada").is_empty(), "no write at all to it");
    let md = std::fs::read_to_string(world.reports().join("summary.md")).unwrap();
    assert!(md.contains("## Locked by someone else"), "{md}");
    let junit = std::fs::read_to_string(world.reports().join("junit.xml")).unwrap();
    assert!(junit.contains("classname=\"slack-im.anchored.locked\" name=\"taro.yamada\""), "{junit}");
}

#[test]
fn a_leaver_is_deactivated_once_and_then_needs_nothing() {
    let world = world(vec![made_for("U9LEAVER01", "lee.leaver", "Lee", true)]);
    let first = world.run(&["sync"]);
    first.assert_code(0);
    assert_eq!(first.count("deactivate"), 1);
    assert_eq!(world.accounts()["lee.leaver"]["deactivatedBy"], json!("slack-im"));
    let writes = world.writes();
    let second = world.run(&["sync"]);
    second.assert_code(0);
    assert_eq!((second.count("deactivate"), second.count("already_inactive")), (0, 1));
    assert_eq!(world.writes(), writes);
}
