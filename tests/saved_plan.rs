//! Saved plans: `plan --out FILE` writes what the operator reviews, `sync --plan FILE` applies
//! exactly that after reading Slack and the target again; whatever changed since is dropped and
//! reported, never altered, and nothing outside the plan is written.

use std::path::PathBuf;

use serde_json::{json, Value};
use slack_im_fakes::{SlackOptions, TargetOp, TargetOptions};

use crate::common::*;

fn account(key: &str, created_by: &str) -> Value {
    json!({"userId": key, "name": key, "roleGroupId": "AGENT", "centerIds": ["spectra"], "customType": "user",
           "metadata": {"counselType": "user"}, "createdBy": created_by})
}

/// The Acme workspace, not synced yet, and `leavers` managed accounts whose members are gone.
fn world_with_leavers(leavers: usize) -> World {
    let mut accounts: Vec<_> = (0..leavers).map(|i| account(&format!("leaver{i:02}"), "slack-im")).collect();
    accounts.push(account("admin", "init-data"));
    World::with(SlackOptions::acme(0), TargetOptions { accounts, ..Default::default() })
}

fn plan_file(world: &World) -> PathBuf {
    world.dir.path().join("approved-plan.json")
}

fn saved(world: &World) -> Value {
    serde_json::from_str(&std::fs::read_to_string(plan_file(world)).expect("the plan was saved")).unwrap()
}

fn rewrite(world: &World, change: impl FnOnce(&mut Value)) {
    let mut plan = saved(world);
    change(&mut plan);
    std::fs::write(plan_file(world), plan.to_string()).unwrap();
}

fn plan_out(world: &World) -> Run {
    let out = plan_file(world);
    world.run(&["plan", "--out", out.to_str().unwrap()])
}

fn sync_plan(world: &World) -> Run {
    let file = plan_file(world);
    world.run(&["sync", "--plan", file.to_str().unwrap()])
}

fn a_new_member() -> Value {
    json!({"id": "U0NEWHIRE1", "team_id": "T0ACME0001", "name": "new.hire", "deleted": false,
           "real_name": "New Hire", "is_bot": false, "is_app_user": false, "updated": 1_700_000_000,
           "profile": {"email": "new.hire@acme.example", "real_name": "New Hire", "display_name": "new",
                       "is_email_confirmed": true}})
}

#[test]
fn a_withheld_deactivation_approved_through_a_saved_plan_applies_only_the_reviewed_actions() {
    let mut world = world_with_leavers(6);
    world.set("SLACK_IM_MAX_DEACTIVATE", "5");
    let plan = plan_out(&world);
    plan.assert_code(0);
    assert!(plan.stdout.contains("plan saved to"), "{}", plan.stdout);
    let file = saved(&world);
    let actions = file["systems"][0]["actions"].as_array().unwrap();
    let withheld: Vec<&Value> = actions.iter().filter(|a| a["kind"] == "deactivate").collect();
    assert_eq!(withheld.len(), 6);
    assert!(withheld.iter().all(|a| a["withheld"].as_str().unwrap().contains("exceed the guard of 5")));
    let creates = actions.iter().filter(|a| a["kind"] == "create").count();
    assert_eq!(creates, world.expected_keys().len());
    assert_eq!(world.writes(), 0, "plan writes nothing");

    // Someone joins after the review: their create was never approved.
    let mut members = world.slack.members();
    members.push(a_new_member());
    world.slack.set_members(members);

    let run = sync_plan(&world);
    run.assert_code(4);
    assert_eq!(world.target.count(TargetOp::Delete), 6, "the approved deactivations pass the guard");
    let accounts = world.accounts();
    assert!((0..6).all(|i| !accounts.contains_key(&format!("leaver{i:02}"))));
    assert!(!accounts.contains_key("new.hire"), "a create nobody reviewed is not made");
    assert_eq!(run.count("create"), creates as u64);
    let held = run.actions_for("new.hire");
    assert_eq!(held[0]["status"], "withheld");
    assert!(held[0]["reason"].as_str().unwrap().contains("not in the approved plan"), "{held:?}");
    let approved = &run.summary.as_ref().unwrap()["approved_plan"];
    assert_eq!(approved["approved"], creates + 6);
    assert_eq!(approved["held_back"], 1);
    assert_eq!(approved["dropped"], json!([]));
    assert!(run.stdout.contains("not in the approved plan"), "{}", run.stdout);
}

#[test]
fn an_action_whose_inputs_changed_since_the_review_is_dropped_and_reported_never_altered() {
    let world = world_with_leavers(2);
    plan_out(&world).assert_code(0);
    // After the review: a member's name changes in Slack (their create body is not the one
    // reviewed), and a leaver's account changes on the target.
    world.slack.update_member("U0KOR00001", |m| m["profile"]["real_name"] = json!("Someone Else"));
    let mut accounts = world.target.accounts();
    accounts.iter_mut().filter(|a| a["userId"] == "leaver00").for_each(|a| a["name"] = json!("Changed"));
    world.target.set_accounts(accounts);

    let run = sync_plan(&world);
    run.assert_code(4);
    let accounts = world.accounts();
    assert!(!accounts.contains_key("minjun.kim"), "the changed member's create is dropped");
    assert!(accounts.contains_key("leaver00"), "the changed account's deactivation is dropped");
    assert!(!accounts.contains_key("leaver01"), "an unchanged deactivation is applied");
    assert_eq!(run.count("create"), world.expected_keys().len() as u64 - 1);
    let dropped = run.summary.as_ref().unwrap()["approved_plan"]["dropped"].as_array().unwrap().clone();
    let keys: Vec<(&str, &str)> =
        dropped.iter().map(|d| (d["action"].as_str().unwrap(), d["key"].as_str().unwrap())).collect();
    assert_eq!(keys, [("create", "minjun.kim"), ("deactivate", "leaver00")]);
    assert!(dropped.iter().all(|d| d["reason"].as_str().unwrap().contains("changed since the plan")));
    assert!(run.stdout.contains("dropped create minjun.kim"), "{}", run.stdout);
    // The member's create as it is now was not reviewed either: held back, not sent.
    assert_eq!(run.actions_for("minjun.kim")[0]["status"], "withheld");
}

#[test]
fn an_old_plan_is_refused_before_anything_is_read() {
    let mut world = world_with_leavers(1);
    plan_out(&world).assert_code(0);
    rewrite(&world, |plan| {
        let made = plan["made_at_unix"].as_i64().unwrap();
        plan["made_at_unix"] = json!(made - 3 * 86_400);
    });
    let before = world.slack.requests().len();
    let run = sync_plan(&world);
    run.assert_code(2);
    assert!(run.stderr.contains("SLACK_IM_PLAN_MAX_AGE"), "{}", run.stderr);
    assert_eq!(world.slack.requests().len(), before, "refused before Slack is read");
    assert_eq!(world.writes(), 0);

    world.set("SLACK_IM_PLAN_MAX_AGE", "7d");
    sync_plan(&world).assert_code(0);
    assert!(!world.accounts().contains_key("leaver00"));
}

#[test]
fn a_plan_computed_from_another_folder_or_configuration_is_refused() {
    let mut world = world_with_leavers(1);
    let templates = world.own_templates();
    plan_out(&world).assert_code(0);

    world.set("SLACK_IM_PROTECT", "leaver00");
    let run = sync_plan(&world);
    run.assert_code(2);
    assert!(run.stderr.contains("configuration"), "{}", run.stderr);
    world.unset("SLACK_IM_PROTECT");

    let update = templates.join("dev").join("update.json");
    let text = std::fs::read_to_string(&update).unwrap();
    std::fs::write(&update, format!("{text}\n")).unwrap();
    let run = sync_plan(&world);
    run.assert_code(2);
    assert!(run.stderr.contains("templates folder"), "{}", run.stderr);
    assert_eq!(world.writes(), 0);
}

#[test]
fn a_plan_file_holds_no_piece_of_any_secret() {
    // The shipped dev folder sends the shared initial password in every create body.
    let world = world_with_leavers(2);
    plan_out(&world).assert_code(0);
    let text = std::fs::read_to_string(plan_file(&world)).unwrap();
    assert!(text.contains("body_digest"), "{text}");
    assert_no_secret_in("the saved plan", &text, &world.secrets());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(plan_file(&world)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "it names people: the owner's only");
}

#[test]
fn a_file_that_is_not_a_plan_of_these_systems_is_refused_with_what_is_wrong() {
    let mut world = world_with_leavers(1);
    std::fs::write(plan_file(&world), "not json").unwrap();
    let run = sync_plan(&world);
    run.assert_code(2);
    assert!(
        run.stderr.contains("approved-plan.json") && run.stderr.contains("not a saved plan"),
        "{}",
        run.stderr
    );

    plan_out(&world).assert_code(0);
    world.set("SLACK_IM_SYSTEM", "model-office");
    world.set("SLACK_IM_SECRET_TARGET_TOKEN", TARGET_TOKEN);
    let run = sync_plan(&world);
    run.assert_code(2);
    assert!(run.stderr.contains("dev") && run.stderr.contains("model-office"), "{}", run.stderr);
    assert_eq!(world.writes(), 0);
}

#[test]
fn no_plan_is_saved_when_a_system_stops() {
    let mut world = world_with_leavers(1);
    world.set("SLACK_IM_SECRET_TARGET_TOKEN", "wrong-token-7f3a9c1e5b");
    let run = plan_out(&world);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(!plan_file(&world).exists());
    assert!(run.stderr.contains("no plan saved"), "{}", run.stderr);
}
