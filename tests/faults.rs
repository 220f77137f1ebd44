//! The fault matrix: each fault injected into Slack or the target, then the exit code, what the
//! target holds afterwards, and that a re-run converges (no duplicate, no lost account).

use std::time::Duration;

use serde_json::json;
use slack_im_fakes::{Effect, EndMarker, SlackFault, SlackOptions, TargetFault, TargetOp, TargetOptions};

use crate::common::*;

/// After any fault: once healed, a run completes, and a further run writes nothing.
#[track_caller]
fn assert_converges(world: &World) {
    world.slack.clear_faults();
    world.target.heal();
    world.run(&["sync"]).assert_code(0);
    assert_eq!(world.accounts().keys().cloned().collect::<Vec<_>>(), world.expected_keys());
    let writes = world.writes();
    world.run(&["sync"]).assert_code(0);
    assert_eq!(world.writes(), writes, "converged: a further run writes nothing");
}

/// A workspace synced once: the target holds every member's account, all managed.
fn synced_world(synthetic: usize) -> World {
    let world = World::new(synthetic);
    world.run(&["sync"]).assert_code(0);
    world
}

// ---- Slack -------------------------------------------------------------------------------

#[test]
fn rate_limits_are_waited_out_whatever_retry_after_says() {
    for retry_after in [Some("1"), None, Some("soon"), Some("0")] {
        let world = World::new(0);
        world.slack.add_fault(SlackFault::new(
            "users.list",
            1,
            Effect::RateLimited { retry_after: retry_after.map(str::to_string) },
        ));
        let run = world.run(&["sync"]);
        run.assert_code(0);
        assert_eq!(world.slack.calls("users.list"), 2, "{retry_after:?}");
        assert_eq!(world.slack.too_early_retries(), 0, "{retry_after:?}");
        assert_eq!(world.accounts().len(), world.expected_keys().len());
    }
}

#[test]
fn endless_rate_limiting_fails_with_nothing_written() {
    let world = World::new(0);
    world.slack.add_fault(SlackFault::new("users.list", 1, Effect::rate_limited(0)).times(100));
    let run = world.run(&["sync"]);
    run.assert_code(1);
    assert!(run.stderr.contains("still rate limited after 6 attempts"), "{}", run.stderr);
    assert_eq!(world.writes(), 0);
    assert_converges(&world);
}

#[test]
fn server_errors_with_html_bodies_are_retried() {
    for code in [500, 502, 503, 504] {
        let world = World::new(0);
        world.slack.add_fault(SlackFault::new("users.list", 1, Effect::server_error(code)));
        world.run(&["sync"]).assert_code(0);
        assert_eq!(world.slack.calls("users.list"), 2, "HTTP {code}");
        assert_eq!(world.accounts().len(), world.expected_keys().len(), "HTTP {code}");
    }
}

#[test]
fn transient_slack_errors_on_http_200_are_retried() {
    for error in ["fatal_error", "internal_error", "request_timeout", "service_unavailable"] {
        let world = World::new(0);
        world.slack.add_fault(SlackFault::new("users.list", 1, Effect::ok_false(error)));
        world.run(&["sync"]).assert_code(0);
        assert_eq!(world.slack.calls("users.list"), 2, "{error}");
    }
}

#[test]
fn unreadable_bodies_and_resets_are_retried() {
    for effect in [Effect::TruncatedJson, Effect::Html200, Effect::Empty200, Effect::Reset] {
        let world = World::new(0);
        world.slack.add_fault(SlackFault::new("users.list", 1, effect.clone()));
        world.run(&["sync"]).assert_code(0);
        assert_eq!(world.accounts().len(), world.expected_keys().len(), "{effect:?}");
    }
}

#[test]
fn a_read_that_keeps_failing_on_page_3_leaves_every_account_in_place() {
    let world = synced_world(2416);
    let before = world.target.accounts();
    world.slack.update_member("U0KOR00001", |m| m["deleted"] = json!(true)); // a leaver…
    world.slack.add_fault(SlackFault::new("users.list", 3, Effect::server_error(503)).times(100));
    let run = world.run(&["sync"]);
    run.assert_code(1);
    assert!(run.stderr.contains("HTTP 503"), "{}", run.stderr);
    assert_eq!(world.target.accounts(), before, "…is not deactivated on a partial read, nor anything else");
    assert_eq!(run.summary.as_ref().unwrap()["exit_code"], 1);
}

#[test]
fn invalid_cursor_mid_run_restarts_from_page_one_once() {
    let world = World::new(2416);
    world.slack.add_fault(SlackFault::new("users.list", 2, Effect::ok_false("invalid_cursor")));
    world.run(&["sync"]).assert_code(0);
    assert_eq!(world.slack.calls("users.list"), 5, "page 1, failed page 2, then pages 1-3 again");
    assert_eq!(world.accounts().keys().cloned().collect::<Vec<_>>(), world.expected_keys());

    let world = World::new(2416);
    world.slack.add_fault(SlackFault::new("users.list", 2, Effect::ok_false("invalid_cursor")));
    world.slack.add_fault(SlackFault::new("users.list", 4, Effect::ok_false("invalid_cursor")));
    let run = world.run(&["sync"]);
    run.assert_code(1);
    assert!(run.stderr.contains("invalid_cursor"), "{}", run.stderr);
    assert_eq!(world.writes(), 0);
}

#[test]
fn auth_and_scope_errors_fail_at_once_with_slacks_code() {
    let cases = [
        (Effect::ok_false("invalid_auth"), "invalid_auth (check SLACK_BOT_TOKEN)"),
        (Effect::ok_false("token_revoked"), "token_revoked"),
        (Effect::ok_false("account_inactive"), "account_inactive"),
        (
            Effect::OkFalse {
                error: "missing_scope".into(),
                extra: json!({"needed": "users:read.email", "provided": "users:read"}),
            },
            "the token lacks the scope users:read.email",
        ),
    ];
    for (effect, message) in cases {
        let world = World::new(0);
        world.slack.add_fault(SlackFault::new("users.list", 1, effect).times(100));
        let run = world.run(&["sync"]);
        run.assert_code(1);
        assert!(run.stderr.contains(message), "{message}: {}", run.stderr);
        assert_eq!(world.slack.calls("users.list"), 1, "no retry for {message}");
        assert_eq!(world.writes(), 0, "nothing written");
    }
}

#[test]
fn a_response_slower_than_the_timeout_is_retried() {
    let mut world = World::new(0);
    world.set("SLACK_IM_TIMEOUT_SECS", "1");
    world.slack.add_fault(SlackFault::new("users.list", 1, Effect::Delay(Duration::from_millis(2500))));
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert!(run.stderr.contains("timed out"), "{}", run.stderr);
    assert_eq!(world.accounts().len(), world.expected_keys().len());
}

#[test]
fn short_empty_and_overlapping_pages_and_every_end_form_read_everyone_once() {
    type Shape = Box<dyn Fn(&mut SlackOptions)>;
    let shapes: Vec<(&str, Shape)> = vec![
        ("short pages", Box::new(|o| o.short_pages = true)),
        ("empty pages with a cursor", Box::new(|o| o.empty_page_at = vec![1, 2, 3])),
        ("a member repeated across pages", Box::new(|o| o.duplicate_across_pages = true)),
        ("end: null cursor", Box::new(|o| o.end_marker = EndMarker::Null)),
        ("end: no next_cursor", Box::new(|o| o.end_marker = EndMarker::OmitNextCursor)),
        ("end: no response_metadata", Box::new(|o| o.end_marker = EndMarker::OmitResponseMetadata)),
    ];
    for (name, shape) in shapes {
        let mut options = SlackOptions::acme(2416);
        shape(&mut options);
        let world = World::with(options, TargetOptions::default());
        let run = world.run(&["sync"]);
        run.assert_code(0);
        let expected = world.expected_keys();
        assert_eq!(world.accounts().keys().cloned().collect::<Vec<_>>(), expected, "{name}");
        assert_eq!(world.target.count(TargetOp::Create), expected.len(), "{name}: one create each");
    }
}

#[test]
fn a_lone_surrogate_in_a_name_does_not_fail_the_read() {
    // The page is injected: the fake Slack has no such member to DM.
    let mut world = World::new(0);
    world.without_welcome();
    let page = r#"{"ok":true,"members":[{"id":"U0LONE0001","name":"lone","is_bot":false,"deleted":false,
        "is_email_confirmed":true,"real_name":"Half \ud83d emoji","profile":{"email":"lone@acme.example",
        "real_name":"Half \ud83d emoji \udc00"}}],"response_metadata":{"next_cursor":""}}"#;
    world.slack.add_fault(SlackFault::new("users.list", 1, Effect::Status { code: 200, body: page.into() }));
    world.run(&["sync"]).assert_code(0);
    assert_eq!(world.accounts()["lone"]["name"], "Half \u{FFFD} emoji \u{FFFD}");
}

// ---- Target ------------------------------------------------------------------------------

#[test]
fn failed_creates_are_reported_and_the_others_applied() {
    let world = World::new(200);
    let keys = world.expected_keys();
    for key in &keys[..3] {
        world.target.add_fault(TargetFault::fail_key(key, 500));
    }
    let run = world.run(&["sync"]);
    run.assert_code(3);
    assert_eq!(run.count("failed"), 3);
    assert_eq!(run.count("create"), keys.len() as u64 - 3);
    assert_eq!(world.accounts().len(), keys.len() - 3);
    let mut failed: Vec<&str> = run.summary.as_ref().unwrap()["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] == "failed")
        .map(|a| a["key"].as_str().unwrap())
        .collect();
    failed.sort();
    assert_eq!(failed, keys[..3], "expected_keys is sorted");
    assert!(run.stdout.contains("3 FAILED") && run.stdout.contains("HTTP 500"), "{}", run.stdout);
    let junit = std::fs::read_to_string(world.dir.path().join("reports/junit.xml")).unwrap();
    assert_eq!(junit.matches("<failure ").count(), 3);
    assert_converges(&world);
}

#[test]
fn a_target_down_halfway_stops_early_and_the_next_run_completes_the_rest() {
    let world = World::new(2416);
    world.target.add_fault(TargetFault::down_after_writes(500));
    let run = world.run(&["sync"]);
    run.assert_code(3);
    // Ranges on purpose, from concurrency: writes already past the fake's door when it went down
    // may still land (up to one per writer), and the writers in flight when the breaker trips each
    // finish their write (with its retries) before they see it.
    let landed = world.accounts().len();
    assert!((500..=504).contains(&landed), "{landed} accounts after the outage");
    let attempted = world.target.count(TargetOp::Create);
    assert!(attempted < 600, "the breaker stops hammering a down target ({attempted} creates sent)");
    assert!(run.stderr.contains("writes in a row: not attempting the rest"), "{}", run.stderr);
    assert_converges(&world);
    assert_eq!(world.target.accounts().len(), world.expected_keys().len(), "no duplicate, none lost");
}

#[test]
fn an_unauthorised_target_fails_before_writing() {
    let mut world = World::new(10);
    world.set("SLACK_IM_SECRET_TARGET_TOKEN", "tgt-wrong-distinctive-secret");
    let run = world.run(&["sync"]);
    run.assert_code(1);
    assert!(
        run.stderr.contains("HTTP 401") && run.stderr.contains("check the target token"),
        "{}",
        run.stderr
    );
    assert_eq!(world.writes(), 0);
}

#[test]
fn a_malformed_listing_fails_before_writing() {
    for effect in
        [Effect::Html200, Effect::TruncatedJson, Effect::Status { code: 200, body: r#"{"items":[]}"#.into() }]
    {
        let world = World::new(10);
        world.target.add_fault(TargetFault::new(TargetOp::List, 1, effect.clone()));
        let run = world.run(&["sync"]);
        run.assert_code(1);
        assert!(run.stderr.contains("target listing"), "{effect:?}: {}", run.stderr);
        assert_eq!(world.writes(), 0, "{effect:?}");
    }
}

#[test]
fn a_listing_of_several_pages_is_read_whole() {
    let world = synced_world(1500); // > 3 pages of 500
    let lists = world.target.count(TargetOp::List);
    world.run(&["sync"]).assert_code(0);
    assert_eq!(world.target.count(TargetOp::List) - lists, world.accounts().len().div_ceil(500) + 1);
    assert_eq!(world.writes(), world.expected_keys().len(), "only the first run wrote");
}

#[test]
fn a_create_that_times_out_but_lands_is_not_duplicated() {
    let mut world = World::new(0);
    world.set("SLACK_IM_TIMEOUT_SECS", "1");
    world.target.add_fault(TargetFault::new(TargetOp::Create, 1, Effect::Delay(Duration::from_millis(1500))));
    let run = world.run(&["sync"]);
    run.assert_code(0);
    // The retry and the slow first attempt both reach the target; whichever lands second gets a 409.
    assert_eq!(world.target.count(TargetOp::Create), world.expected_keys().len() + 1);
    assert_eq!(world.target.accounts().len(), world.expected_keys().len(), "no duplicate");
    assert_converges(&world);
}

#[test]
fn two_runs_at_once_make_no_duplicate_accounts() {
    let world = World::new(1000);
    let env = world.env.clone();
    let reports_a = world.dir.path().join("a");
    let reports_b = world.dir.path().join("b");
    let (a, b) = std::thread::scope(|s| {
        let mut env_a = env.clone();
        env_a.insert("SLACK_IM_REPORT_DIR".into(), reports_a.display().to_string());
        let mut env_b = env.clone();
        env_b.insert("SLACK_IM_REPORT_DIR".into(), reports_b.display().to_string());
        let a = s.spawn(move || run_binary(&["sync"], &env_a, None));
        let b = s.spawn(move || run_binary(&["sync"], &env_b, None));
        (a.join().unwrap(), b.join().unwrap())
    });
    // Both listed an empty target; where both sent a create, the second got a 409 on its first
    // attempt, which is a failed create (the server's conflict, reported), never a duplicate.
    // Either exit code on purpose: whether the two runs race on a key depends on scheduling.
    for run in [&a, &b] {
        assert!(run.code == 0 || run.code == 3, "exit {}\n{}", run.code, run.stderr);
    }
    let expected = world.expected_keys();
    assert_eq!(world.target.accounts().len(), expected.len(), "no duplicates");
    assert_eq!(world.accounts().keys().cloned().collect::<Vec<_>>(), expected);
    let writes = world.writes();
    world.run(&["sync"]).assert_code(0);
    assert_eq!(world.writes(), writes, "the next run finds every account and writes nothing");
}

// ---- Hostile input -----------------------------------------------------------------------

#[test]
fn hostile_names_never_change_any_other_field() {
    let world = World::new(0);
    let hostile = [
        r#"", "roleGroupId": "SUPER"#.to_string(),
        "{{ secrets }}".into(),
        "{{ secrets.initial_password }}".into(),
        "{% raw %}".into(),
        "{% endraw %}}}".into(),
        "bell\u{7}nul\u{0}esc\u{1b}[31m".into(),
        "\\\"\\u0022".into(),
        "x".repeat(10_000),
    ];
    let mut members = world.slack.members();
    let template = members.iter().find(|m| m["id"] == "U0KOR00001").unwrap().clone();
    for (i, name) in hostile.iter().enumerate() {
        let mut m = template.clone();
        m["id"] = json!(format!("U0HOSTILE{i}"));
        m["real_name"] = json!(name);
        m["profile"]["real_name"] = json!(name);
        m["profile"]["email"] = json!(format!("hostile{i}@acme.example"));
        members.push(m);
    }
    world.slack.set_members(members);
    world.run(&["sync"]).assert_code(0);
    let accounts = world.accounts();
    let reference = &accounts["minjun.kim"];
    for (i, name) in hostile.iter().enumerate() {
        let account = &accounts[&format!("hostile{i}")];
        assert_eq!(account["name"], *name, "name {i} arrives byte-exact");
        for field in ["roleGroupId", "centerIds", "customType", "createdBy"] {
            assert_eq!(account[field], reference[field], "{field} untouched by name {i}");
        }
        let password = account["password"].as_str().unwrap();
        assert!(password.len() == 20 && password != reference["password"], "its own password, name {i}");
        let fields = account.as_object().unwrap().len();
        assert_eq!(fields, reference.as_object().unwrap().len(), "no field added by name {i}");
    }
}

#[test]
fn secrets_echoed_back_by_a_failing_target_are_redacted_everywhere() {
    let world = World::new(0);
    let echo = format!("bad token Bearer {TARGET_TOKEN} and password {INITIAL_PASSWORD}");
    world
        .target
        .add_fault(TargetFault::new(TargetOp::Create, 1, Effect::Status { code: 422, body: echo }).times(3));
    let run = world.run(&["sync"]); // World::run fails the test on any leak
    run.assert_code(3);
    assert!(run.stdout.contains("[redacted]"), "{}", run.stdout);
}

#[test]
fn ratelimited_inside_a_200_waits_as_retry_after_asks() {
    let world = World::new(0);
    let effect = Effect::RateLimited200 { retry_after: Some("1".into()) };
    world.slack.add_fault(SlackFault::new("users.list", 1, effect).times(2));
    let started = std::time::Instant::now();
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert!(started.elapsed() >= Duration::from_secs(2), "waited Retry-After twice");
    assert_eq!(world.slack.too_early_retries(), 0, "no retry before Retry-After elapsed");
    assert_eq!(world.slack.calls("users.list"), 3);
    for attempt in ["retry 1 of 5 in 1.0s as Retry-After asks", "retry 2 of 5 in 1.0s"] {
        assert!(run.stderr.contains(attempt), "{attempt}: {}", run.stderr);
    }
    assert_eq!(world.accounts().keys().cloned().collect::<Vec<_>>(), world.expected_keys());
}

#[test]
fn slacks_own_detail_appears_and_an_empty_error_code_still_says_something() {
    let detail = Effect::OkFalse {
        error: "invalid_arguments".into(),
        extra: json!({"response_metadata": {"messages": ["[ERROR] invalid limit: must be a number"]}}),
    };
    let cases = [
        (detail, "users.list failed: invalid_arguments; Slack says: [ERROR] invalid limit: must be a number"),
        (Effect::ok_false(""), "users.list failed: unknown_error (Slack sent no error code)"),
    ];
    for (effect, message) in cases {
        let world = World::new(0);
        world.slack.add_fault(SlackFault::new("users.list", 1, effect));
        let run = world.run(&["sync"]);
        run.assert_code(1);
        assert!(run.stderr.contains(message), "{message}: {}", run.stderr);
        assert!(!run.stderr.contains("failed: \n") && !run.stdout.contains("failed: \n"), "{}", run.stderr);
        assert_eq!(world.writes(), 0);
    }
}
