//! The sync path end to end: thousands of awkward members become accounts exactly once, a second
//! run writes nothing, changes become updates, dry runs never write, bad credentials write nothing.

use serde_json::json;
use slack_im_fakes::{Effect, SlackFault, TargetOp, TargetOptions};

use crate::common::*;

#[test]
fn a_workspace_of_thousands_is_created_exactly_once_then_left_alone() {
    let world = World::new(2416); // 2,437 members: not a multiple of the page size
    let first = world.run(&["sync"]);
    first.assert_code(0);

    let expected = world.expected_keys();
    assert_eq!(expected.len(), 2248, "10 of the 21 fixture members, 2,238 of the 2,416 generated");
    let accounts = world.accounts();
    assert_eq!(accounts.keys().cloned().collect::<Vec<_>>(), expected);
    assert_eq!(world.target.count(TargetOp::Create), expected.len(), "one create per member, no retries");
    assert_eq!(first.count("create"), expected.len() as u64);
    assert_eq!(world.slack.calls("users.list"), 3, "ceil(2437 / 999) pages");
    for account in accounts.values() {
        assert_eq!(account["createdBy"], "slack-im");
        assert_eq!(account["roleGroupId"], "AGENT");
    }
    // The shipped dev folder: a password of each account's own, told in one DM to its member.
    let passwords: std::collections::BTreeSet<&str> =
        accounts.values().map(|a| a["password"].as_str().unwrap()).collect();
    assert_eq!(passwords.len(), accounts.len(), "no two accounts share a password");
    assert_eq!(world.slack.posted_messages().len(), expected.len(), "one welcome DM per account");

    let writes = world.writes();
    let second = world.run(&["sync"]);
    second.assert_code(0);
    assert_eq!(world.writes(), writes, "a second run with nothing changed makes no write");
    assert_eq!(second.count("unchanged"), expected.len() as u64);
    assert!(second.stdout.contains("0 created, 0 updated, 0 deactivated"), "{}", second.stdout);
}

#[test]
fn every_kind_of_non_person_is_skipped_with_a_reason() {
    let world = World::new(0);
    let run = world.run(&["sync"]);
    run.assert_code(0);
    let skipped = &run.summary.as_ref().unwrap()["skipped"];
    let reason = |id: &str| {
        skipped
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["slack_id"] == id)
            .map(|s| s["reason"].as_str().unwrap().to_string())
    };
    assert_eq!(reason("USLACKBOT").as_deref(), Some("Slackbot"));
    assert_eq!(reason("U0BOT00001").as_deref(), Some("bot"));
    assert_eq!(reason("U0WFBOT001").as_deref(), Some("workflow bot"));
    assert_eq!(reason("U0DELETED1").as_deref(), Some("deactivated in Slack"));
    assert_eq!(reason("U0GUESTMC1").as_deref(), Some("guest (SLACK_IM_INCLUDE_GUESTS is false)"));
    assert_eq!(reason("U0INVITE01").as_deref(), Some("invitation not accepted yet"));
    assert_eq!(reason("U0UNCONF01").as_deref(), Some("e-mail not confirmed"));
    assert!(reason("U0NOEMAIL1").unwrap().starts_with("no e-mail"));
    assert_eq!(reason("U0APPUSR01"), None, "is_app_user on a human does not make an app");
    // Non-ASCII names arrive byte-exact.
    let accounts = world.accounts();
    assert_eq!(accounts["minjun.kim"]["name"], "김민준");
}

#[test]
fn a_changed_real_name_makes_exactly_one_update() {
    let world = World::new(50);
    world.run(&["sync"]).assert_code(0);
    let password = world.accounts()["minjun.kim"]["password"].clone();
    world.slack.update_member("U0KOR00001", |m| {
        m["real_name"] = json!("김민준 (Minjun)");
        m["profile"]["real_name"] = json!("김민준 (Minjun)");
    });
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!(world.target.count(TargetOp::Update), 1);
    assert_eq!(run.count("update"), 1);
    let account = &world.accounts()["minjun.kim"];
    assert_eq!(account["name"], "김민준 (Minjun)");
    assert_eq!(account["password"], password, "an update never resets the password");
    let put = world.target.requests().into_iter().find(|r| r.method == "PUT").unwrap();
    assert_eq!(put.path, "/api/users/minjun.kim");
}

#[test]
fn a_hostile_name_yields_a_valid_body_with_every_other_field_untouched() {
    let world = World::new(0);
    let hostile = "Eve\", \"roleGroupId\": \"SUPER\", \"x\": \"{{ secrets }}{% raw %}\\\n\u{2028}😈";
    world.slack.update_member("U0KOR00001", |m| {
        m["real_name"] = json!(hostile);
        m["profile"]["real_name"] = json!(hostile);
    });
    world.run(&["sync"]).assert_code(0);
    let account = &world.accounts()["minjun.kim"];
    assert_eq!(account["name"], hostile);
    assert_eq!(account["roleGroupId"], "AGENT");
    assert!(account.get("x").is_none());
    let post = world.target.requests().into_iter().find(|r| r.body.contains("minjun.kim")).unwrap();
    let body: serde_json::Value = serde_json::from_str(&post.body).unwrap();
    let mut fields: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort();
    assert_eq!(fields, ["centerIds", "customType", "metadata", "name", "password", "roleGroupId", "userId"]);
}

#[test]
fn a_rate_limit_is_waited_out_and_the_same_page_asked_again() {
    let world = World::new(2416);
    world.slack.add_fault(SlackFault::new("users.list", 2, Effect::rate_limited(1)));
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!(world.slack.calls("users.list"), 4, "3 pages + 1 retry");
    assert_eq!(world.slack.too_early_retries(), 0);
    let lists: Vec<_> =
        world.slack.requests().into_iter().filter(|r| r.path.ends_with("users.list")).collect();
    assert_eq!(lists[1].args.get("cursor"), lists[2].args.get("cursor"), "the same cursor is retried");
    // A lower bound on purpose: Retry-After: 1 is the least the run can have waited.
    assert!(run.elapsed.as_millis() >= 1000, "{:?}", run.elapsed);
    assert_eq!(world.accounts().len(), world.expected_keys().len());
}

#[test]
fn a_bad_token_exits_1_with_slacks_error_and_writes_nothing() {
    let mut world = World::new(10);
    world.set("SLACK_BOT_TOKEN", "xoxb-not-a-valid-token");
    let run = world.run(&["sync"]);
    run.assert_code(1);
    assert!(run.stderr.contains("invalid_auth"), "{}", run.stderr);
    assert_eq!(world.writes(), 0);
    assert_eq!(run.summary.as_ref().unwrap()["exit_code"], 1);
}

#[test]
fn dry_runs_read_but_never_write() {
    let mut world = World::new(100);
    let plan = world.run(&["plan"]);
    plan.assert_code(0);
    assert!(plan.stdout.contains("+ create     minjun.kim (U0KOR00001)"), "{}", plan.stdout);
    assert_eq!(plan.count("create"), world.expected_keys().len() as u64);
    world.set("SLACK_IM_DRY_RUN", "true");
    world.run(&["sync"]).assert_code(0);
    assert_eq!(world.writes(), 0);
    assert_eq!(
        world.target.count(TargetOp::List),
        2,
        "the plan and the dry run each read the (empty) target"
    );
}

#[test]
fn existing_accounts_with_the_same_key_are_adopted_not_duplicated() {
    let init_data = vec![
        json!({"userId": "Minjun.Kim", "name": "김민준", "roleGroupId": "ADMIN", "centerIds": ["spectra"],
               "customType": "user", "metadata": {"counselType": "user", "slackId": "U0KOR00001"}, "createdBy": "init-data"}),
        json!({"userId": "local-admin", "name": "Local Admin", "createdBy": "init-data"}),
    ];
    let world = World::with(
        slack_im_fakes::SlackOptions::acme(0),
        TargetOptions { accounts: init_data, ..Default::default() },
    );
    let run = world.run(&["sync"]);
    run.assert_code(0);
    let accounts = world.accounts();
    assert!(!accounts.contains_key("minjun.kim"), "no second account differing only in case");
    assert_eq!(
        accounts["Minjun.Kim"]["roleGroupId"], "ADMIN",
        "role kept: update.json takes it from the account"
    );
    assert!(accounts.contains_key("local-admin"), "an account slack-im does not manage is never removed");
    assert_eq!(world.target.count(TargetOp::Delete), 0);
}

#[test]
fn a_template_that_fails_for_one_member_stops_the_run_before_any_write() {
    let mut world = World::new(20);
    let templates = world.own_templates();
    let create = templates.join("dev/create.json");
    let text = std::fs::read_to_string(&create).unwrap();
    std::fs::write(
        &create,
        text.replace("\"customType\": \"user\",", "\"customType\": {{ user.nickname }},"),
    )
    .unwrap();
    let run = world.run(&["sync"]);
    run.assert_code(2);
    assert!(run.stderr.contains("dev/create.json line"), "{}", run.stderr);
    assert!(run.stderr.contains("for member U"), "{}", run.stderr);
    assert_eq!(world.writes(), 0);
}

#[test]
fn reports_are_written_with_the_contract_fields() {
    let world = World::new(10);
    let run = world.run(&["sync"]);
    run.assert_code(0);
    let s = run.summary.as_ref().unwrap();
    for field in
        ["system", "dry_run", "started_at", "duration_ms", "counts", "actions", "skipped", "headline"]
    {
        assert!(s.get(field).is_some(), "summary.json lacks {field}");
    }
    for count in ["create", "update", "deactivate", "unchanged", "skipped", "failed", "withheld"] {
        assert!(s["counts"][count].is_u64(), "counts lacks {count}");
    }
    // What a caller shows, computed by the binary (the Jenkins step reads these).
    assert_eq!(s["exit_meaning"], "done");
    assert_eq!(s["first_failures"], serde_json::json!([]));
    assert_eq!(s["withheld_actions"], serde_json::json!([]));
    assert_eq!(s["not_listed"], 0);
    let action = &s["actions"][0];
    for field in ["action", "key", "slack_id", "status", "error"] {
        assert!(action.get(field).is_some(), "an action lacks {field}: {action}");
    }
    let reports = world.dir.path().join("reports");
    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(junit.contains("<testsuite name=\"slack-im.dev\""), "{junit}");
    let md = std::fs::read_to_string(reports.join("summary.md")).unwrap();
    assert!(md.starts_with("# slack-im sync: dev"), "{md}");
    for text in [&run.stdout, &run.stderr, &junit, &md, &s.to_string()] {
        assert!(
            !text.contains(INITIAL_PASSWORD) && !text.contains(TARGET_TOKEN) && !text.contains(BOT_TOKEN)
        );
    }
}

#[test]
fn the_summary_is_posted_to_slack_and_a_failed_post_changes_nothing() {
    let mut world = World::new(10);
    world.set("SLACK_IM_NOTIFY_CHANNEL", "C0GENERAL1");
    world.run(&["sync"]).assert_code(0);
    // The others are the welcome DMs, to the members created.
    let posted: Vec<_> =
        world.slack.posted_messages().into_iter().filter(|p| p["channel"] == "C0GENERAL1").collect();
    assert_eq!(posted.len(), 1, "exactly one summary post per run");
    assert_eq!(posted[0]["channel"], "C0GENERAL1");
    let text = posted[0]["text"].as_str().unwrap();
    assert!(text.contains("dev: ") && text.contains("created"), "{text}");
    assert!(posted[0]["blocks"].is_array(), "{}", posted[0]);

    // A run that changes nothing posts only when told to (SLACK_IM_NOTIFY_ON, tests/notify.rs).
    world.set("SLACK_IM_NOTIFY_CHANNEL", "C0NOSUCH99").set("SLACK_IM_NOTIFY_ON", "always");
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert!(
        run.stderr.contains("could not be posted") && run.stderr.contains("channel_not_found"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_channel_restricts_the_sync_to_its_members() {
    let mut world = World::new(50);
    world.set("SLACK_IM_CHANNEL", "C0RANDOM01");
    let run = world.run(&["sync"]);
    run.assert_code(0);
    let keys: Vec<String> = world.accounts().into_keys().collect();
    assert_eq!(keys, ["alice", "minjun.kim", "taro.yamada"]);
    assert_eq!(world.slack.calls("conversations.members"), 1, "three members: one page");
    let skipped = run.summary.as_ref().unwrap()["skipped"].to_string();
    assert!(skipped.contains("not a member of SLACK_IM_CHANNEL"), "{skipped}");
}

#[test]
fn an_org_level_token_needs_the_team_id_and_works_with_it() {
    let mut options = slack_im_fakes::SlackOptions::acme(0);
    options.members.iter_mut().for_each(|m| m["team_id"] = json!("T0ACMEW0RK"));
    let mut world = World::with(options, TargetOptions::default());
    world.slack.configure(|o| {
        o.tokens = vec![slack_im_fakes::Token::org(
            BOT_TOKEN,
            &["users:read", "users:read.email", "chat:write"],
            &["T0ACMEW0RK"],
        )]
    });
    let run = world.run(&["sync"]);
    run.assert_code(1);
    assert!(run.stderr.contains("SLACK_IM_SLACK_TEAM_ID"), "{}", run.stderr);
    world.set("SLACK_IM_SLACK_TEAM_ID", "T0ACMEW0RK");
    world.run(&["sync"]).assert_code(0);
    let list = world.slack.requests().into_iter().rfind(|r| r.path.ends_with("users.list")).unwrap();
    assert_eq!(list.args.get("team_id").map(String::as_str), Some("T0ACMEW0RK"));
    assert_eq!(world.accounts().len(), world.expected_keys().len());
}

#[test]
fn the_callers_run_id_is_written_back_so_a_stale_report_can_be_told_apart() {
    let mut world = World::new(0);
    world.set("SLACK_IM_RUN_ID", "jenkins-dev-sync-42");
    let run = world.run(&["plan"]);
    run.assert_code(0);
    assert_eq!(run.summary.as_ref().unwrap()["run_id"], "jenkins-dev-sync-42");
    world.unset("SLACK_IM_RUN_ID");
    let run = world.run(&["plan"]);
    assert!(run.summary.as_ref().unwrap().get("run_id").is_none(), "no id given, none written");
}

#[test]
fn strangers_empty_app_ids_and_one_broken_member_are_read_as_slack_means_them() {
    let world = World::new(0);
    let mut members = world.slack.members();
    let human = |id: &str, email: &str, profile_extra: serde_json::Value| {
        let mut profile = json!({"email": email, "real_name": id});
        profile.as_object_mut().unwrap().extend(profile_extra.as_object().unwrap().clone());
        json!({"id": id, "deleted": false, "is_bot": false, "is_email_confirmed": true, "profile": profile})
    };
    members.push(human("U0EMPTYAPP", "empty.app@acme.example", json!({"api_app_id": "", "bot_id": ""})));
    let mut stranger = human("U0STRANGE1", "stranger@other.example", json!({}));
    stranger["is_stranger"] = json!(true);
    members.push(stranger);
    // A real deleted bot of slack-ruby-client's recording (real-slack/derived/users.list.profile-null.json).
    members.push(json!({"id": "U04JZBDQQ", "team_id": "T04KB5WQH", "name": "foo", "deleted": true,
                        "profile": null, "is_bot": true, "is_app_user": false, "updated": 1504224428}));
    world.slack.set_members(members);
    let run = world.run(&["sync"]);
    run.assert_code(0);
    let skipped = run.summary.as_ref().unwrap()["skipped"].as_array().unwrap().clone();
    let reason = |id: &str| skipped.iter().find(|s| s["slack_id"] == id).map(|s| s["reason"].clone());
    assert_eq!(reason("U0STRANGE1"), Some(json!("member of another workspace (is_stranger)")));
    let broken = reason("U04JZBDQQ").unwrap();
    assert!(
        broken
            .as_str()
            .unwrap()
            .starts_with("malformed member object: invalid type: null, expected struct Profile"),
        "{broken}"
    );
    assert_eq!(reason("U0EMPTYAPP"), None, "an empty app id is no app");
    assert!(world.accounts().contains_key("empty.app"));
    assert_eq!(run.count("create") as usize, world.expected_keys().len());
    assert!(world.expected_keys().contains(&"empty.app".to_string()), "the oracle agrees");
}

/// The real-derived members of ../shared/real-slack (read in place, not copied; see its README):
/// every one read and decided as Slack documents it.
#[test]
fn the_real_derived_members_are_read_as_slack_means_them() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/real-slack/derived/users.list.derived.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("skipped: {} is absent (it is present in CI)", path.display());
        return;
    };
    let page: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut world = World::new(0);
    world.slack.set_members(page["members"].as_array().unwrap().clone());
    world.set("SLACK_IM_EMAIL_DOMAINS", "dblock.org");
    let run = world.run(&["plan"]);
    run.assert_code(0);
    let summary = run.summary.as_ref().unwrap();
    let skipped = summary["skipped"].as_array().unwrap();
    let reason = |id: &str| {
        skipped.iter().find(|s| s["slack_id"] == id).map(|s| s["reason"].as_str().unwrap().to_string())
    };
    assert_eq!(reason("U0DERIV010").as_deref(), Some("member of another workspace (is_stranger)"));
    assert_eq!(reason("U0DERIV011"), None, "api_app_id \"\" is no app");
    assert_eq!(reason("U0DERIV012"), None, "bot_id \"\" is no app");
    let planned: Vec<&str> =
        summary["actions"].as_array().unwrap().iter().filter_map(|a| a["slack_id"].as_str()).collect();
    for id in ["U0DERIV011", "U0DERIV012"] {
        assert!(planned.contains(&id), "{id} gets an account: {planned:?}");
    }
}

/// The plan does not depend on whether Slack or the listing comes in first (issue 18: a folder
/// keyed by `key` alone matches each account as it is listed, with the members already read): a
/// slow listing of many small pages, with members renamed, gone and new, gives exactly the plan
/// of a fast one, action for action, in the same order.
#[test]
fn the_plan_is_the_same_whether_slack_or_the_listing_comes_in_first() {
    let mut world = World::new(300);
    let templates = world.own_templates();
    let system = templates.join("dev").join("system.json");
    let text = std::fs::read_to_string(&system).unwrap().replace("size=500", "size=20");
    std::fs::write(&system, text).unwrap();
    world.run(&["sync"]).assert_code(0);
    let members = world.slack.members();
    let eligible: Vec<String> = members
        .iter()
        .filter(|m| slack_im_fakes::members::is_eligible(m))
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    for id in eligible.iter().step_by(7) {
        world.slack.update_member(id, |m| m["profile"]["real_name"] = serde_json::json!("Renamed Person"));
    }
    for id in eligible.iter().skip(3).step_by(11) {
        world.slack.update_member(id, |m| m["deleted"] = serde_json::json!(true));
    }
    let plan_of = |world: &World| {
        let run = world.run(&["plan"]);
        run.assert_code(0);
        let actions = run.summary.as_ref().unwrap()["actions"].clone();
        let keys: Vec<String> = actions
            .as_array()
            .unwrap()
            .iter()
            .map(|a| format!("{} {} {}", a["action"], a["key"], a["changed"]))
            .collect();
        keys
    };
    let fast = plan_of(&world);
    assert!(
        fast.iter().any(|a| a.starts_with("\"update\""))
            && fast.iter().any(|a| a.starts_with("\"deactivate\""))
    );
    world.target.set_latency(std::time::Duration::from_millis(15));
    let slow = plan_of(&world);
    assert_eq!(slow, fast);
}
