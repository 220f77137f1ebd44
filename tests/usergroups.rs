//! Roles and scope from Slack user groups: `user.groups` in templates, `SLACK_IM_USERGROUPS`, the
//! guards around both, and the groups carried through a members file. The fake's Acme groups:
//! `@sales` (minjun.kim, taro.yamada, jose.nunez), `@solutions` (seoyeon.lee, layla.abdullah),
//! `@qa` (bobby.oneil, empty.display, minjun.kim), `@cs-agents`, an empty `@interns` and a
//! disabled `@old-sales`.

use std::collections::BTreeMap;

use serde_json::Value;
use slack_im_fakes::{Effect, SlackFault, TargetOp, Token};

use crate::common::*;

/// The roles of the accounts, by userId.
fn roles(world: &World) -> BTreeMap<String, String> {
    world
        .accounts()
        .into_iter()
        .map(|(k, a)| (k, a["roleGroupId"].as_str().unwrap_or("").to_string()))
        .collect()
}

/// The skipped members of a run, by Slack id, with their reasons.
fn skipped(run: &Run) -> BTreeMap<String, String> {
    let skipped = run.summary.as_ref().unwrap()["skipped"].as_array().unwrap().clone();
    skipped
        .iter()
        .map(|s| (s["slack_id"].as_str().unwrap().to_string(), s["reason"].as_str().unwrap().to_string()))
        .collect()
}

fn sales_demo(world: &mut World) {
    world.set("SLACK_IM_SYSTEM", "sales-demo").set("SLACK_IM_USERGROUPS", "sales,@solutions");
}

#[test]
fn roles_come_from_groups_on_create_and_only_the_scoped_groups_get_accounts() {
    let mut world = World::new(0);
    sales_demo(&mut world);
    let run = world.run(&["sync"]);
    run.assert_code(0);
    let expected: BTreeMap<String, String> = [
        ("jose.nunez", "DEMO_AGENT"),
        ("layla.abdullah", "DEMO_PRESENTER"),
        ("minjun.kim", "DEMO_AGENT"),
        ("seoyeon.lee", "DEMO_PRESENTER"),
        ("taro.yamada", "DEMO_AGENT"),
    ]
    .into_iter()
    .map(|(k, r)| (k.to_string(), r.to_string()))
    .collect();
    assert_eq!(roles(&world), expected);
    let skipped = skipped(&run);
    for id in ["U0ADMIN001", "U0QUOTE001", "U0EMPTY001", "W0GRID0001"] {
        assert_eq!(skipped[id], "not in user groups", "{id}: eligible otherwise, in no scoped group");
    }
    assert_eq!(skipped["U0BOT00001"], "bot", "the other reasons come first");
    assert_eq!(world.slack.calls("usergroups.list"), 1);
    let asked = world.slack.requests().into_iter().find(|r| r.path.ends_with("usergroups.list")).unwrap();
    assert_eq!(asked.args.get("include_users").map(String::as_str), Some("true"));
    assert_eq!(asked.args.get("include_disabled").map(String::as_str), Some("false"));

    // A member in a disabled group only is not in it.
    world.slack.set_usergroup_users("old-sales", &["U0ADMIN001"]);
    world.run(&["sync"]).assert_code(0);
    assert!(!world.accounts().contains_key("alice"));
    assert_eq!(world.target.count(TargetOp::Update), 0, "a second run changes nothing");
}

#[test]
fn a_member_moved_between_groups_is_one_update_of_the_role() {
    let mut world = World::new(0);
    sales_demo(&mut world);
    world.run(&["sync"]).assert_code(0);
    world.slack.set_usergroup_users("sales", &["U0JPN00001", "U0ACC00001"]);
    world.slack.set_usergroup_users("solutions", &["U0KOR00002", "U0RTL00001", "U0KOR00001"]);
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!((run.count("create"), run.count("update")), (0, 1));
    let actions = run.summary.as_ref().unwrap()["actions"].as_array().unwrap().clone();
    assert_eq!(actions[0]["key"], "minjun.kim");
    assert_eq!(actions[0]["changed"], serde_json::json!(["roleGroupId"]), "only what groups decide");
    assert_eq!(roles(&world)["minjun.kim"], "DEMO_PRESENTER");
}

#[test]
fn moving_out_of_every_scoped_group_makes_a_leaver_under_the_usual_guards() {
    let mut world = World::new(0);
    world.set("SLACK_IM_USERGROUPS", "qa");
    world.run(&["sync"]).assert_code(0);
    let created: Vec<String> = world.accounts().into_keys().collect();
    assert_eq!(created, ["bobby.oneil", "empty.display", "minjun.kim"]);
    world.slack.set_usergroup_users("qa", &["U0QUOTE001", "U0EMPTY001"]);
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!((run.count("deactivate"), world.target.count(TargetOp::Delete)), (1, 1));
    assert!(!world.accounts().contains_key("minjun.kim"));
}

#[test]
fn an_unknown_or_disabled_handle_is_exit_2_naming_it_with_nothing_read_or_written() {
    let mut world = World::new(0);
    world.run(&["sync"]).assert_code(0);
    let accounts = world.accounts().len();
    for (value, named) in [("qa,nosuch", "@nosuch"), ("old-sales", "@old-sales")] {
        world.set("SLACK_IM_USERGROUPS", value);
        for command in ["sync", "check"] {
            let run = world.run(&[command]);
            run.assert_code(2);
            assert!(
                run.stderr.contains(&format!(
                    "SLACK_IM_USERGROUPS is invalid: no enabled user group has the handle {named}"
                )),
                "{command}: {}",
                run.stderr
            );
            assert!(run.stderr.contains("cs-agents, interns, qa, sales, solutions"), "{}", run.stderr);
        }
    }
    assert_eq!(world.slack.calls("users.list"), 1, "only the first run read the members");
    assert_eq!(world.accounts().len(), accounts);
    assert_eq!(world.target.count(TargetOp::Delete), 0);
}

#[test]
fn an_empty_group_selects_nobody_and_the_guard_withholds_every_deactivation() {
    let mut world = World::new(0);
    world.run(&["sync"]).assert_code(0);
    let accounts = world.accounts().len();
    world.set("SLACK_IM_USERGROUPS", "interns");
    let run = world.run(&["sync"]);
    run.assert_code(4);
    assert_eq!(world.target.count(TargetOp::Delete), 0);
    assert_eq!(world.accounts().len(), accounts);
    assert!(run.stdout.contains("Slack returned no eligible member"), "{}", run.stdout);
}

#[test]
fn check_shows_the_groups_and_needs_usergroups_read_only_when_groups_are_used() {
    let mut world = World::new(0);
    sales_demo(&mut world);
    let run = world.run(&["check"]);
    run.assert_code(0);
    for line in ["user groups: 5 enabled", "     3  @sales", "     2  @solutions", "     0  @interns"] {
        assert!(run.stdout.contains(line), "{line}: {}", run.stdout);
    }
    assert!(!run.stdout.contains("old-sales"), "disabled groups are not seen: {}", run.stdout);
    assert_eq!(run.summary.as_ref().unwrap()["usergroups"]["qa"], 3);

    let without: Vec<&str> = SCOPES.iter().copied().filter(|s| *s != "usergroups:read").collect();
    world.slack.configure(|o| o.tokens = vec![Token::bot(BOT_TOKEN, &without)]);
    let run = world.run(&["check"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("the token lacks the scope usergroups:read (to read the user groups (SLACK_IM_USERGROUPS, or user.groups in a template))"),
        "{}",
        run.stderr
    );
    world.unset("SLACK_IM_USERGROUPS").set("SLACK_IM_SYSTEM", "dev");
    world.run(&["check"]).assert_code(0);
    assert_eq!(world.slack.calls("usergroups.list"), 1, "dev without a scope reads no groups");
}

#[test]
fn an_org_token_names_its_workspace_to_usergroups_list() {
    let mut world = World::new(0);
    sales_demo(&mut world);
    world.set("SLACK_IM_SLACK_TEAM_ID", "T0ACMEW0RK");
    world.slack.configure(|o| o.tokens = vec![Token::org(BOT_TOKEN, &SCOPES, &["T0ACMEW0RK"])]);
    world.run(&["sync"]).assert_code(0);
    assert_eq!(world.accounts().len(), 5);
    let asked = world.slack.requests().into_iter().find(|r| r.path.ends_with("usergroups.list")).unwrap();
    assert_eq!(asked.args.get("team_id").map(String::as_str), Some("T0ACMEW0RK"));
}

#[test]
fn a_members_file_carries_the_groups_and_a_file_without_them_fails_naming_the_fix() {
    let mut world = World::new(0);
    sales_demo(&mut world);
    let file = world.dir.path().join("members.json");
    let export = world.run(&["export", file.to_str().unwrap()]);
    export.assert_code(0);
    assert!(export.stdout.contains("5 user groups"), "{}", export.stdout);
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(stored["usergroups"].as_array().unwrap().len(), 5, "the enabled ones");
    let from_slack = world.run(&["plan"]);
    world.set("SLACK_IM_MEMBERS_FILE", file.to_str().unwrap());
    world.unset("SLACK_BOT_TOKEN");
    let calls = world.slack.calls("usergroups.list");
    let from_file = world.run(&["plan"]);
    from_file.assert_code(0);
    assert_eq!(world.slack.calls("usergroups.list"), calls, "the file run asked Slack nothing");
    let plan = |run: &Run| {
        let s = run.summary.as_ref().unwrap();
        (s["counts"].clone(), s["actions"].clone(), s["skipped"].clone())
    };
    assert_eq!(plan(&from_file), plan(&from_slack));

    // Exported by a token that may not read the groups: none stored, and a note.
    world.set("SLACK_BOT_TOKEN", BOT_TOKEN).unset("SLACK_IM_MEMBERS_FILE");
    let without: Vec<&str> = SCOPES.iter().copied().filter(|s| *s != "usergroups:read").collect();
    world.slack.configure(|o| o.tokens = vec![Token::bot(BOT_TOKEN, &without)]);
    let export = world.run(&["export", file.to_str().unwrap()]);
    export.assert_code(0);
    assert!(
        export.stderr.contains("the user groups are not stored (the token lacks usergroups:read)"),
        "{}",
        export.stderr
    );
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert!(stored["usergroups"].is_null());
    world.set("SLACK_IM_MEMBERS_FILE", file.to_str().unwrap()).unset("SLACK_BOT_TOKEN");
    let run = world.run(&["sync"]);
    run.assert_code(1);
    assert!(run.stderr.contains("exported without user groups"), "{}", run.stderr);
    assert!(
        run.stderr.contains("add usergroups:read to the Slack app and export it again"),
        "{}",
        run.stderr
    );
    assert_eq!(world.writes(), 0);
    // A run that needs no groups still reads that file (with the token dev's welcome DMs need).
    world.unset("SLACK_IM_USERGROUPS").set("SLACK_IM_SYSTEM", "dev").set("SLACK_BOT_TOKEN", BOT_TOKEN);
    world.run(&["sync"]).assert_code(0);
}

#[test]
fn a_failed_read_of_the_groups_writes_nothing_and_says_what_to_do() {
    let mut world = World::new(0);
    sales_demo(&mut world);
    world.slack.add_fault(SlackFault::new("usergroups.list", 1, Effect::ok_false("plan_upgrade_required")));
    let run = world.run(&["sync"]);
    run.assert_code(1);
    assert!(
        run.stderr.contains(
            "usergroups.list failed: plan_upgrade_required (the workspace's plan has no user groups"
        ),
        "{}",
        run.stderr
    );
    world.slack.add_fault(SlackFault::new("usergroups.list", 2, Effect::server_error(503)).times(10));
    world.run(&["sync"]).assert_code(1);
    assert_eq!(
        (world.slack.calls("users.list"), world.writes()),
        (0, 0),
        "nothing read after, nothing written"
    );
}
