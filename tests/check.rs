//! `check` as a preflight: it fails naming what to fix (scopes, an org-level token's workspace) and
//! otherwise ends with the numbers and warnings a person needs before the first real run; `plan`
//! and `sync` print the same warnings before any write.

use slack_im_fakes::{SlackOptions, TargetOp, TargetOptions, Token};

use crate::common::*;

/// The world's token, with only these scopes.
fn with_scopes(world: &World, scopes: &[&str]) {
    world.slack.configure(|o| o.tokens = vec![Token::bot(BOT_TOKEN, scopes)]);
}

#[test]
fn check_names_every_scope_the_configuration_needs_and_the_token_lacks() {
    let mut world = World::new(0);
    world.set("SLACK_IM_NOTIFY_CHANNEL", "C0GENERAL1");
    with_scopes(&world, &["users:read"]);
    let run = world.run(&["check"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("the token lacks the scopes users:read.email (to read their e-mail), chat:write (to post the summary to SLACK_IM_NOTIFY_CHANNEL); it has users:read"),
        "{}",
        run.stderr
    );
    assert_eq!(world.slack.calls("users.list"), 0, "nothing is read with a token that cannot do the job");

    // The shipped dev folder DMs each member created (welcome.txt): chat:write without a channel
    // to notify.
    world.unset("SLACK_IM_NOTIFY_CHANNEL").set("SLACK_IM_CHANNEL", "G0PRIVATE1");
    with_scopes(&world, &["users:read", "users:read.email"]);
    let run = world.run(&["check"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("lacks the scopes chat:write (to DM each member created their password: welcome.txt), channels:read (to read the members of SLACK_IM_CHANNEL), groups:read (SLACK_IM_CHANNEL is a private channel)"),
        "{}",
        run.stderr
    );

    with_scopes(&world, &["users:read", "users:read.email", "chat:write", "channels:read", "groups:read"]);
    world.slack.configure(|o| o.channels.iter_mut().for_each(|c| c.is_member = true));
    let run = world.run(&["check"]);
    run.assert_code(0);
    assert!(run.stdout.contains("  Slack:  21 members read, 1 eligible, 20 skipped"), "{}", run.stdout);
    assert_eq!(world.writes(), 0);
}

#[test]
fn check_with_an_org_level_token_says_to_set_the_team_id() {
    let mut world = World::new(0);
    let scopes = ["users:read", "users:read.email", "chat:write"];
    world.slack.configure(|o| o.tokens = vec![Token::org(BOT_TOKEN, &scopes, &["T0ACMEW0RK"])]);
    let run = world.run(&["check"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("the token is an org-level token of the Enterprise Grid organisation E0ACMEORG1: set SLACK_IM_SLACK_TEAM_ID"),
        "{}",
        run.stderr
    );
    assert_eq!(world.slack.calls("users.list"), 0);

    world.set("SLACK_IM_SLACK_TEAM_ID", "T0ACMEW0RK");
    let run = world.run(&["check"]);
    run.assert_code(0);
    assert!(
        run.stderr.contains(
            "Enterprise Grid organisation E0ACMEORG1 (org-level token), reading workspace T0ACMEW0RK"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn check_ends_with_the_numbers_of_the_first_run_and_writes_nothing() {
    let leaver = serde_json::json!({"userId": "gone", "name": "Gone", "createdBy": "slack-im"});
    let admin = serde_json::json!({"userId": "admin", "name": "Admin", "createdBy": "init-data"});
    let world = World::with(
        SlackOptions::acme(30),
        TargetOptions { accounts: vec![leaver, admin], ..Default::default() },
    );
    let run = world.run(&["check"]);
    run.assert_code(0);
    let eligible = world.expected_keys().len();
    assert_eq!(eligible, 36, "10 of the fixture, 26 of the 30 generated");
    for line in [
        // The shipped dev folder gives each account its own password and DMs it: no warning.
        "slack-im check dev: ready (".to_string(),
        format!("  Slack:  51 members read, {eligible} eligible, 15 skipped\n"),
        "               5  deactivated in Slack\n               3  guest\n               2  bot\n".into(),
        "               1  e-mail not confirmed\n".into(),
        "  target: 2 accounts listed, 1 managed by slack-im".into(),
        format!("  plan:   {eligible} to create, 0 to update, 1 to deactivate, 0 unchanged\n"),
    ] {
        assert!(run.stdout.contains(&line), "{line:?} in\n{}", run.stdout);
    }
    let summary = run.summary.as_ref().unwrap();
    assert_eq!(summary.get("warnings"), None, "{summary}");
    assert_eq!(summary["dry_run"], true);
    assert_eq!(summary["skipped_by_reason"]["bot"], 2);
    assert_eq!(world.writes(), 0);
    assert_eq!(world.target.count(TargetOp::List), 2, "a page of accounts, then an empty one");
    assert_eq!(world.slack.calls("users.list"), 1);
}

#[test]
fn a_single_sign_on_workspace_is_caught_by_check_and_synced_with_the_switch() {
    let mut world = World::with(SlackOptions::acme_sso(30), TargetOptions::default());
    let run = world.run(&["check"]);
    run.assert_code(0);
    for warning in [
        "  WARNING: nobody is eligible: none of the 51 members read should have an account",
        "are skipped as \"e-mail not confirmed\": single sign-on workspaces report signed-in people as unconfirmed: if yours uses SSO, set SLACK_IM_REQUIRE_CONFIRMED_EMAIL=false",
    ] {
        assert!(run.stdout.contains(warning), "{warning:?} in\n{}", run.stdout);
    }
    assert!(run.stdout.contains("ready, with WARNINGS"), "{}", run.stdout);
    // `plan` prints the same warnings, on the log, before the plan.
    let plan = world.run(&["plan"]);
    plan.assert_code(0);
    assert!(plan.stderr.contains("WARNING: nobody is eligible"), "{}", plan.stderr);
    assert!(plan.stderr.contains("SLACK_IM_REQUIRE_CONFIRMED_EMAIL=false"), "{}", plan.stderr);

    world.set("SLACK_IM_REQUIRE_CONFIRMED_EMAIL", "false");
    let run = world.run(&["sync"]);
    run.assert_code(0);
    // The same people as the non-SSO workspace, plus U0UNCONF01, whose e-mail is unconfirmed.
    let plain = World::with(SlackOptions::acme(30), TargetOptions::default());
    assert_eq!(run.count("create") as usize, plain.expected_keys().len() + 1);
    assert!(!run.stderr.contains("WARNING"), "{}", run.stderr);
}

#[test]
fn sync_warns_of_a_guard_before_its_first_write() {
    let leavers: Vec<_> = (0..5)
        .map(|i| serde_json::json!({"userId": format!("leaver{i}"), "name": "x", "createdBy": "slack-im"}))
        .collect();
    let world = World::with(SlackOptions::acme(0), TargetOptions { accounts: leavers, ..Default::default() });
    let run = world.run(&["sync"]);
    run.assert_code(4);
    let warning = run
        .stderr
        .find("WARNING: the plan hits a guard: 5 deactivations would be withheld: ")
        .unwrap_or_else(|| panic!("{}", run.stderr));
    let first_write = run.stderr.find("create").unwrap_or(usize::MAX);
    assert!(warning < first_write, "{}", run.stderr);
    assert!(run.stdout.contains("  WARNING: the plan hits a guard"), "{}", run.stdout);
}
