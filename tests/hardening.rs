//! Servers and members that misbehave in ways nobody planned for: redirects, echoed secrets, half
//! pages, endless reads, absurd `Retry-After`s, hostile keys, accounts slack-im does not own. Each
//! test asserts the exit code, what the target holds, which requests were and were not made, and
//! (through `World::run`) that no piece of any secret reached any output, report or Slack post.

use std::time::Duration;

use serde_json::json;
use slack_im_fakes::{
    EchoForm, Effect, FakeSlack, FakeTarget, SlackFault, SlackOptions, TargetFault, TargetOp, TargetOptions,
};

use crate::common::*;

fn summary_actions(run: &Run) -> Vec<serde_json::Value> {
    run.summary.as_ref().expect("summary.json")["actions"].as_array().unwrap().clone()
}

fn with_system_json(world: &mut World, edit: impl FnOnce(&mut serde_json::Value)) {
    let templates = world.own_templates();
    let path = templates.join("dev/system.json");
    let text = std::fs::read_to_string(&path).unwrap();
    // The shipped file is Jinja; its only template expression is the Authorization header.
    let text = text.replace(r#"{{ "Bearer " ~ secrets.target_token }}"#, r#""__AUTH__""#);
    let mut spec: serde_json::Value = serde_json::from_str(&text).unwrap();
    edit(&mut spec);
    let text = serde_json::to_string_pretty(&spec)
        .unwrap()
        .replace(r#""__AUTH__""#, r#"{{ "Bearer " ~ secrets.target_token }}"#)
        .replace(r#""__APIKEY__""#, "{{ secrets.api_key }}");
    std::fs::write(path, text).unwrap();
}

// ---- Redirects ---------------------------------------------------------------------------

#[test]
fn a_redirected_write_fails_and_nothing_is_sent_to_the_redirect_host() {
    for code in [301, 302, 303, 307, 308] {
        let elsewhere = FakeTarget::start(TargetOptions::default());
        let mut world = World::new(0);
        world.set("SLACK_IM_SECRET_API_KEY", "k3y-for-the-target-only");
        with_system_json(&mut world, |spec| {
            spec["headers"]["X-Api-Key"] = json!("__APIKEY__");
        });
        let location = format!("{}/api/users", elsewhere.base_url());
        world.target.add_fault(
            TargetFault::new(TargetOp::Create, 1, Effect::Redirect { code, location: location.clone() })
                .times(1000),
        );
        let run = world.run(&["sync"]);
        run.assert_code(3);
        assert!(elsewhere.requests().is_empty(), "HTTP {code}: the redirect was followed");
        assert!(world.accounts().is_empty(), "HTTP {code}");
        let actions = summary_actions(&run);
        assert!(!actions.is_empty());
        for a in &actions {
            assert_eq!(a["status"], "failed", "HTTP {code}: {a}");
            let error = a["error"].as_str().unwrap();
            assert!(error.contains(&format!("HTTP {code}")) && error.contains(&location), "{error}");
        }
    }
}

#[test]
fn a_redirected_users_list_is_a_failed_read_and_the_other_host_is_never_asked() {
    let other = FakeSlack::start(SlackOptions::acme(5));
    let world = World::new(0);
    let location = format!("{}users.list", other.base_url());
    world
        .slack
        .add_fault(SlackFault::new("users.list", 1, Effect::Redirect { code: 302, location }).times(100));
    let run = world.run(&["sync"]);
    run.assert_code(1);
    assert!(run.stderr.contains("HTTP 302"), "{}", run.stderr);
    assert!(other.requests().is_empty(), "the redirect was followed with the bot token");
    assert_eq!(world.writes(), 0);
}

#[test]
fn a_redirected_listing_is_a_failed_read() {
    let elsewhere = FakeTarget::start(TargetOptions::default());
    let world = World::new(0);
    let location = format!("{}/api/users", elsewhere.base_url());
    world.target.add_fault(TargetFault::new(TargetOp::List, 1, Effect::Redirect { code: 301, location }));
    let run = world.run(&["sync"]);
    run.assert_code(1);
    assert!(run.stderr.contains("HTTP 301"), "{}", run.stderr);
    assert!(elsewhere.requests().is_empty());
    assert_eq!(world.writes(), 0);
}

// ---- Secrets in derived forms ------------------------------------------------------------

#[test]
fn a_target_echoing_the_request_in_any_form_leaks_no_piece_of_a_secret() {
    for form in [
        EchoForm::Raw,
        EchoForm::Json,
        EchoForm::Unicode,
        EchoForm::Percent,
        EchoForm::Collapsed,
        EchoForm::Truncated(60),
        EchoForm::Truncated(75),
    ] {
        let mut world = World::new(0);
        world.set("SLACK_IM_NOTIFY_CHANNEL", "C0GENERAL1");
        world
            .target
            .add_fault(TargetFault::new(TargetOp::Create, 1, Effect::Echo { code: 400, form }).times(3));
        // World::run checks stdout, stderr, every report file and every Slack post.
        let run = world.run(&["sync"]);
        run.assert_code(3);
        assert!(!world.slack.posted_messages().is_empty());
    }
}

#[test]
fn trace_logging_prints_neither_a_token_nor_a_request_body() {
    let mut world = World::new(0);
    world.set("RUST_LOG", "trace");
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert!(!run.stderr.contains("roleGroupId"), "a request body reached the log");
    assert!(!run.stderr.to_lowercase().contains("authorization:"), "a header dump reached the log");
}

#[test]
fn a_template_error_never_prints_a_rendered_line_holding_a_secret() {
    let mut world = World::new(0);
    let templates = world.own_templates();
    std::fs::write(
        templates.join("dev/create.json"),
        r#"{"userId": {{ user.email_local }}, "password": "{{ secrets.initial_password }}" }"#,
    )
    .unwrap();
    let run = world.run(&["plan"]);
    run.assert_code(2);
    assert!(run.stderr.contains("create.json"), "{}", run.stderr);
}

#[test]
fn a_secret_too_short_to_redact_is_a_configuration_error() {
    let mut world = World::new(0);
    world.set("SLACK_IM_SECRET_INITIAL_PASSWORD", "abc12");
    let run = world.run(&["plan"]);
    run.assert_code(2);
    assert!(run.stderr.contains("SLACK_IM_SECRET_INITIAL_PASSWORD"), "{}", run.stderr);
    assert!(run.stderr.contains("too short"), "{}", run.stderr);
}

// ---- Reads are complete or failed --------------------------------------------------------

#[test]
fn a_page_without_members_is_a_failed_read_not_the_end_of_the_workspace() {
    for body in [r#"{"ok":true}"#, r#"{"members":[]}"#, r#"{"ok":true,"members":null}"#] {
        let world = World::new(2416);
        world.run(&["sync"]).assert_code(0);
        let writes = world.writes();
        world.slack.add_fault(
            SlackFault::new("users.list", 5, Effect::Status { code: 200, body: body.into() }).times(10),
        );
        let run = world.run(&["sync"]);
        run.assert_code(1);
        assert_eq!(world.writes(), writes, "{body}: nothing written after a short read");
    }
}

#[test]
fn a_repeated_cursor_is_a_failed_read_within_a_few_calls() {
    let world = World::new(0);
    let page = r#"{"ok":true,"members":[],"response_metadata":{"next_cursor":"dXNlcjpVMDAwMDAwMQ=="}}"#;
    world.slack.add_fault(
        SlackFault::new("users.list", 1, Effect::Status { code: 200, body: page.into() }).times(100_000),
    );
    let run = world.run(&["sync"]);
    run.assert_code(1);
    assert!(run.stderr.contains("cursor"), "{}", run.stderr);
    assert_eq!(
        world.slack.calls("users.list"),
        5,
        "the first page, then the one repeating its cursor, asked again 3 times (an empty page may be a slow one)"
    );
    assert_eq!(world.writes(), 0);
}

#[test]
fn an_empty_users_list_page_that_hands_back_its_cursor_is_asked_again() {
    // Slack may return fewer members than asked, even none, with the cursor it was sent: that is
    // no progress yet, not a loop.
    let world = World::new(1500); // 2 pages of 999
    world.slack.add_fault(SlackFault::new("users.list", 2, Effect::EmptyPageSameCursor).times(2));
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!(world.slack.calls("users.list"), 4, "page 1, page 2 asked three times");
    assert_eq!(world.accounts().len(), world.expected_keys().len());
}

#[test]
fn an_empty_page_with_the_same_cursor_for_ever_is_a_failed_read_after_a_bounded_retry() {
    let world = World::new(1500);
    world.slack.add_fault(SlackFault::new("users.list", 2, Effect::EmptyPageSameCursor).times(100));
    let run = world.run(&["sync"]);
    run.assert_code(1);
    assert!(run.stderr.contains("no members and the same cursor"), "{}", run.stderr);
    assert_eq!(world.slack.calls("users.list"), 5, "page 1, then page 2 asked four times");
    assert_eq!(world.writes(), 0);
}

#[test]
fn endless_fresh_pages_stop_at_the_documented_cap() {
    let mut world = World::new(0);
    world.set("SLACK_IM_READ_LIMIT", "5000");
    world.slack.add_fault(SlackFault::new("users.list", 1, Effect::FreshPage).times(100_000));
    let run = world.run(&["sync"]);
    run.assert_code(1);
    assert!(run.stderr.contains("SLACK_IM_READ_LIMIT"), "{}", run.stderr);
    assert_eq!(world.slack.calls("users.list"), 6, "5,994 members after 6 pages of 999 pass 5,000");
    assert_eq!(world.writes(), 0);
}

#[test]
fn a_listing_that_wraps_around_is_a_failed_read() {
    let world =
        World::with(SlackOptions::acme(0), TargetOptions { wrap_listing: true, ..Default::default() });
    let accounts: Vec<_> =
        (0..1200).map(|i| json!({"userId": format!("old{i:04}"), "createdBy": "init-data"})).collect();
    world.target.set_accounts(accounts);
    let run = world.run(&["sync"]);
    run.assert_code(1);
    assert!(run.stderr.contains("repeat"), "{}", run.stderr);
    assert_eq!(
        world.target.count(TargetOp::List),
        5,
        "pages 0-2, then page 3 repeats page 0; page 4 was asked for while page 3 was read (the prefetch)"
    );
    assert_eq!(world.writes(), 0);
}

#[test]
fn duplicate_listing_entries_are_a_failed_read_not_two_deletes() {
    let world = World::new(0);
    world.target.set_accounts(vec![
        json!({"userId": "gone", "createdBy": "slack-im"}),
        json!({"userId": "GONE", "createdBy": "slack-im"}),
    ]);
    let run = world.run(&["sync"]);
    run.assert_code(1);
    assert!(run.stderr.to_lowercase().contains("\"gone\" again"), "{}", run.stderr);
    assert_eq!(world.writes(), 0);
}

#[test]
fn rate_limits_share_one_budget_for_the_whole_run() {
    let mut world = World::new(2416);
    world.slack.configure(|o| o.default_limit_clamp = 100); // 25 pages
    world.set("SLACK_IM_RETRY_BUDGET", "10");
    for call in (2..60).step_by(2) {
        world.slack.add_fault(SlackFault::new("users.list", call, Effect::rate_limited(0)));
    }
    let run = world.run(&["sync"]);
    run.assert_code(1);
    assert!(run.stderr.contains("SLACK_IM_RETRY_BUDGET"), "{}", run.stderr);
    assert_eq!(world.writes(), 0);
}

#[test]
fn the_run_deadline_stops_a_slow_read_before_any_write() {
    let mut world = World::new(2416);
    world.slack.configure(|o| {
        o.default_limit_clamp = 100;
        o.latency = Duration::from_millis(300);
    });
    world.set("SLACK_IM_DEADLINE_SECS", "2");
    let run = world.run(&["sync"]);
    run.assert_code(1);
    assert!(run.stderr.contains("SLACK_IM_DEADLINE_SECS"), "{}", run.stderr);
    // An upper bound on purpose: how far past the deadline the run ends depends on the machine.
    assert!(run.elapsed < Duration::from_secs(6), "{:?}", run.elapsed);
    assert_eq!(world.writes(), 0);
}

// ---- Nothing a server sends panics the process -------------------------------------------

#[test]
fn an_absurd_retry_after_from_slack_fails_cleanly() {
    // A huge or infinite wait is capped, and the cap does not fit in the run's deadline: exit 1.
    // NaN is no number: the default wait applies, and the retry succeeds.
    for (retry_after, code) in [("1e300", 1), ("18446744073709551616", 1), ("inf", 1), ("NaN", 0)] {
        let world = World::new(0);
        world.slack.add_fault(SlackFault::new(
            "users.list",
            1,
            Effect::RateLimited { retry_after: Some(retry_after.into()) },
        ));
        let mut world = world;
        world.set("SLACK_IM_DEADLINE_SECS", "20");
        let run = world.run(&["sync"]);
        assert_eq!(world.slack.requests()[0].status, 429, "{retry_after}: the 429 itself reached slack-im");
        assert_eq!(run.code, code, "{retry_after}: exit {}\n{}", run.code, run.stderr);
        assert!(run.summary.is_some(), "{retry_after}: a report is written");
        assert!(!run.stderr.contains("panicked"), "{retry_after}: {}", run.stderr);
    }
}

#[test]
fn an_absurd_retry_after_from_the_target_after_writes_landed_is_recorded() {
    let mut world = World::new(0);
    world.set("SLACK_IM_DEADLINE_SECS", "20").set("SLACK_IM_CONCURRENCY", "1");
    world.target.add_fault(TargetFault::new(
        TargetOp::Create,
        5,
        Effect::RateLimited { retry_after: Some("1e300".into()) },
    ));
    let run = world.run(&["sync"]);
    run.assert_code(3);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let done = summary_actions(&run).iter().filter(|a| a["status"] == "done").count();
    assert_eq!(done, world.accounts().len(), "every landed write is in the report");
    let journal = std::fs::read_to_string(world.reports().join("actions.jsonl")).unwrap();
    assert_eq!(journal.lines().filter(|l| l.contains(r#""status":"done""#)).count(), done);
}

// ---- Keys --------------------------------------------------------------------------------

#[test]
fn dot_segment_and_control_character_keys_are_never_sent() {
    let world = World::new(0);
    world.target.set_accounts(vec![
        json!({"userId": "..", "createdBy": "slack-im"}),
        json!({"userId": ".", "createdBy": "slack-im"}),
        json!({"userId": "bad\u{7}key", "createdBy": "slack-im"}),
    ]);
    let mut world = world;
    world.set("SLACK_IM_MAX_DEACTIVATE", "10");
    let run = world.run(&["sync"]);
    run.assert_code(3);
    let deletes: Vec<_> = world.target.requests().into_iter().filter(|r| r.method == "DELETE").collect();
    assert!(deletes.is_empty(), "{deletes:?}");
    let failed: Vec<_> = summary_actions(&run).into_iter().filter(|a| a["status"] == "failed").collect();
    assert_eq!(failed.len(), 3, "{failed:?}");
    for a in failed {
        assert!(a["error"].as_str().unwrap().contains("path segment"), "{a}");
    }
}

// ---- Accounts slack-im does not manage ---------------------------------------------------

fn world_with_init_data_admin() -> World {
    let mut world = World::new(0);
    // A company with two domains: the intruder's is one of them (an outsider is kept out by
    // SLACK_IM_EMAIL_DOMAINS before any of this).
    world.set("SLACK_IM_EMAIL_DOMAINS", "acme.example,any-domain.example");
    world.target.set_accounts(vec![json!({
        "userId": "admin", "name": "Init Admin", "createdBy": "init-data", "roleGroupId": "ADMIN",
        "centerIds": ["spectra"], "customType": "user", "metadata": {"counselType": "user", "slackId": ""}
    })]);
    let mut members = world.slack.members();
    let mut intruder = members.iter().find(|m| is_eligible(m)).unwrap().clone();
    intruder["id"] = json!("U0INTRUDE1");
    intruder["profile"]["email"] = json!("admin@any-domain.example");
    intruder["profile"]["real_name"] = json!("Someone Else");
    members.push(intruder);
    world.slack.set_members(members);
    world
}

#[test]
fn a_key_that_ignores_the_domain_needs_the_company_domains_so_nobody_claims_a_leavers_account() {
    // leaver.1 left; someone sets their Slack e-mail to leaver.1@elsewhere.example, and the
    // shipped key (the e-mail's local part) would keep the leaver's account alive for them.
    let mut world = World::new(0);
    world.target.set_accounts(vec![json!({
        "userId": "leaver.1", "name": "Lee Ver", "createdBy": "slack-im", "roleGroupId": "AGENT",
        "centerIds": ["spectra"], "customType": "user", "metadata": {"counselType": "user", "slackId": "U9LEAVER01"}
    })]);
    let mut members = world.slack.members();
    let mut claimant = members.iter().find(|m| is_eligible(m)).unwrap().clone();
    claimant["id"] = json!("U0CLAIMS01");
    claimant["profile"]["email"] = json!("leaver.1@elsewhere.example");
    members.push(claimant);
    world.slack.set_members(members);

    world.unset("SLACK_IM_EMAIL_DOMAINS");
    let run = world.run(&["sync"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("SLACK_IM_EMAIL_DOMAINS") && run.stderr.contains("leaver@any-domain"),
        "{}",
        run.stderr
    );
    assert_eq!(world.writes(), 0);

    world.set("SLACK_IM_EMAIL_DOMAINS", "acme.example");
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert!(!world.accounts().contains_key("leaver.1"), "the leaver's account went, nobody claimed it");
    let skipped = &run.summary.as_ref().unwrap()["skipped"];
    assert!(skipped.as_array().unwrap().iter().any(|s| s["slack_id"] == "U0CLAIMS01"), "{skipped}");
}

#[test]
fn a_member_never_takes_over_an_account_slack_im_does_not_manage() {
    let world = world_with_init_data_admin();
    let run = world.run(&["sync"]);
    run.assert_code(0);
    let admin = &world.accounts()["admin"];
    assert_eq!(admin["name"], "Init Admin");
    assert_eq!(admin["metadata"]["slackId"], "");
    let puts: Vec<_> = world.target.requests().into_iter().filter(|r| r.path == "/api/users/admin").collect();
    assert!(puts.is_empty(), "{puts:?}");
    let unmanaged = &run.summary.as_ref().unwrap()["unmanaged"];
    assert_eq!(unmanaged, &json!([{"key": "admin", "slack_id": "U0INTRUDE1"}]));
    assert_eq!(run.count("unmanaged"), 1);
    let plan = world.run(&["plan"]);
    assert!(plan.stdout.contains("admin (U0INTRUDE1) unmanaged, left alone"), "{}", plan.stdout);
}

#[test]
fn adopt_lets_a_member_take_over_the_accounts_it_selects() {
    let mut world = world_with_init_data_admin();
    with_system_json(&mut world, |spec| spec["adopt"] = json!("account.createdBy == 'init-data'"));
    let run = world.run(&["sync"]);
    run.assert_code(0);
    let admin = &world.accounts()["admin"];
    assert_eq!(admin["name"], "Someone Else");
    assert_eq!(admin["metadata"]["slackId"], "U0INTRUDE1");
    assert_eq!(run.count("unmanaged"), 0);
}

#[test]
fn a_secret_in_a_path_is_refused_before_any_request() {
    // An API key in the query string lands in every access log and proxy on the way.
    let mut world = World::new(3);
    with_system_json(&mut world, |spec| spec["list"]["path"] = json!("__KEYED_PATH__"));
    let path = std::path::Path::new(&world.env["SLACK_IM_TEMPLATES"]).join("dev/system.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace(r#""__KEYED_PATH__""#, r#"{{ "/api/users?page={page}&size=500&key=" ~ secrets.api_key }}"#);
    std::fs::write(&path, text).unwrap();
    world.set("SLACK_IM_SECRET_API_KEY", "k3y-9f8e7d6c5b4a3");
    let run = world.run(&["sync"]);
    run.assert_code(2);
    assert!(run.stderr.contains("list.path holds a secret"), "{}", run.stderr);
    assert_eq!(world.target.requests().len(), 0, "nothing asked of the target");
    assert_no_secret_leaked(&run, &world.env, &world.reports());

    let mut world = World::new(3);
    with_system_json(&mut world, |spec| {
        spec["list"]["path"] = json!("/api/users?page=0&size=500");
        spec["list"]["next"] = json!("'/api/users?size=500&key=' ~ secrets.api_key ~ '&page=' ~ (page + 1)");
    });
    world.target.set_accounts(vec![json!({"userId": "svc", "name": "Service", "createdBy": "init-data"})]);
    world.set("SLACK_IM_SECRET_API_KEY", "k3y-9f8e7d6c5b4a3");
    let run = world.run(&["sync"]);
    assert_eq!(run.code, 1, "a listing that would send the secret fails the read: {}", run.stderr);
    assert!(run.stderr.contains("holding a secret"), "{}", run.stderr);
    assert_eq!(world.target.requests().len(), 1, "only the first page was asked for");
    assert_eq!(world.writes(), 0);
}

#[test]
fn the_plan_names_the_fields_a_write_adds_that_the_listing_lacks() {
    // The listing does not show metadata: the plan said "changes name" while the write also
    // linked the account to the member who claimed it.
    let mut world = world_with_init_data_admin();
    let mut admin = world.target.accounts()[0].clone();
    admin.as_object_mut().unwrap().remove("metadata");
    world.target.set_accounts(vec![admin]);
    with_system_json(&mut world, |spec| spec["adopt"] = json!("account.createdBy == 'init-data'"));
    let plan = world.run(&["plan"]);
    plan.assert_code(0);
    assert!(
        plan.stdout.contains("~ update     admin (U0INTRUDE1) changes name adds metadata"),
        "{}",
        plan.stdout
    );
    let action = &plan.actions_for("admin")[0];
    assert_eq!((&action["changed"], &action["adds"]), (&json!(["name"]), &json!(["metadata"])));
    let md = std::fs::read_to_string(world.reports().join("summary.md")).unwrap();
    assert!(md.contains(r#"name: "Init Admin" → "Someone Else"; adds metadata"#), "{md}");
    assert_eq!(
        action["diff"],
        json!([{"field": "name", "old": "\"Init Admin\"", "new": "\"Someone Else\""}])
    );
    assert!(plan.stdout.contains("\n      name: \"Init Admin\" → \"Someone Else\"\n"), "{}", plan.stdout);
}

#[test]
fn an_adopt_expression_over_a_field_the_account_lacks_adopts_nothing() {
    // The README's example used to exclude admins by `roleGroupId != 'ADMIN'`; an init-data admin
    // that keeps its role under another name made that undefined, and `undefined != 'ADMIN'` was
    // true: the admin account was renamed and linked to whoever claimed its key.
    let mut world = world_with_init_data_admin();
    let mut admin = world.target.accounts()[0].clone();
    admin.as_object_mut().unwrap().remove("roleGroupId");
    admin["role"] = json!("ADMIN");
    world.target.set_accounts(vec![admin.clone()]);
    with_system_json(&mut world, |spec| {
        spec["adopt"] = json!("account.createdBy == 'init-data' and account.roleGroupId != 'ADMIN'")
    });
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!(world.accounts()["admin"], admin, "the admin account is untouched");
    let plan = world.run(&["plan"]);
    assert!(plan.stdout.contains("admin (U0INTRUDE1) unmanaged, left alone"), "{}", plan.stdout);
}

#[test]
fn a_managed_expression_over_a_field_the_account_lacks_manages_nothing() {
    let mut world = world_with_init_data_admin();
    with_system_json(&mut world, |spec| spec["managed"] = json!("account.origin != 'init-data'"));
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!(
        world.accounts()["admin"]["name"],
        "Init Admin",
        "not managed, so neither renamed nor deleted"
    );
    assert_eq!(world.target.count(TargetOp::Delete), 0);
}

#[test]
fn keys_the_target_supplies_cannot_forge_plan_lines_on_the_console_or_in_summary_md() {
    // A listed key carrying a terminal escape (cursor up, erase line), a line break and a
    // right-to-left override: printed raw, it rewrites the plan a reviewer approves.
    let world = World::new(0);
    let forged = "gone\u{1b}[1A\u{1b}[2K\r+ create     ceo\nsafe\u{202e}txt.exe";
    world.target.set_accounts(vec![json!({"userId": forged, "createdBy": "slack-im"})]);
    let plan = world.run(&["plan"]);
    plan.assert_code(0);
    let sync = world.run(&["sync", "--dry-run"]);
    let md = std::fs::read_to_string(world.reports().join("summary.md")).unwrap();
    for (what, text) in [("plan", &plan.stdout), ("dry run", &sync.stdout), ("summary.md", &md)] {
        assert!(
            !text.contains('\u{1b}') && !text.contains('\r') && !text.contains('\u{202e}'),
            "{what}: {text}"
        );
        assert!(!text.contains("\nsafe"), "{what}: the key's line break is not a line: {text}");
    }
    let line =
        plan.stdout.lines().find(|l| l.starts_with("- deactivate")).expect("the deactivation is planned");
    assert!(line.contains("gone\u{fffd}[1A") && line.contains("\u{fffd}safe\u{fffd}txt.exe"), "{line}");
}

#[test]
fn a_proxy_in_the_environment_never_sees_requests_to_loopback() {
    // The sandbox and CI talk plain http to servers on 127.0.0.1, bearer tokens included: sent
    // through HTTP_PROXY, every token would reach the proxy in clear text.
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    proxy.set_nonblocking(true).unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let mut world = World::new(0);
    for name in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"] {
        world.set(name, &proxy_url);
    }
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!(world.accounts().len(), world.expected_keys().len());
    assert!(proxy.accept().is_err(), "the proxy received a connection");
}

#[test]
fn a_listing_of_fat_pages_stops_at_the_byte_limit_before_it_fills_memory() {
    // Few accounts but large ones: the account limit never trips, and forty 30 MB pages would
    // be held in memory. SLACK_IM_READ_MAX_MB bounds the bytes a system's listing may take.
    let mut world = World::new(0);
    let padding = "x".repeat(4_000);
    let accounts: Vec<_> = (0..1_500)
        .map(|i| json!({"userId": format!("fat{i:04}"), "createdBy": "slack-im", "note": padding}))
        .collect();
    world.target.set_accounts(accounts); // 3 pages of 500, about 2 MB each
    world.set("SLACK_IM_READ_MAX_MB", "3");
    let run = world.run(&["sync"]);
    run.assert_code(1);
    assert!(run.stderr.contains("SLACK_IM_READ_MAX_MB") && run.stderr.contains("3 MB"), "{}", run.stderr);
    assert_eq!(world.writes(), 0);
    assert_eq!(world.target.count(TargetOp::List), 2, "the page past the limit is the last one read");
}

// ---- Conflicts ---------------------------------------------------------------------------

#[test]
fn a_409_about_another_field_is_a_failed_create_with_the_servers_message() {
    let world = World::new(0);
    let body = r#"{"error":"conflict","message":"email already used by user 77"}"#;
    world.target.add_fault(TargetFault::new(
        TargetOp::Create,
        1,
        Effect::Status { code: 409, body: body.into() },
    ));
    let run = world.run(&["sync"]);
    run.assert_code(3);
    assert_eq!(run.count("failed"), 1);
    assert_eq!(run.count("existing"), 0);
    let failed = summary_actions(&run).into_iter().find(|a| a["status"] == "failed").unwrap();
    assert!(failed["error"].as_str().unwrap().contains("email already used by user 77"), "{failed}");
}

// ---- What reaches people -----------------------------------------------------------------

#[test]
fn server_text_in_the_slack_post_cannot_mention_the_channel_or_disguise_a_link() {
    let mut world = World::new(0);
    world.set("SLACK_IM_NOTIFY_CHANNEL", "C0GENERAL1");
    let body = "<!channel> please log in at <https://evil.example|https://sso.acme.example> & now";
    world.target.add_fault(TargetFault::new(
        TargetOp::Create,
        1,
        Effect::Status { code: 422, body: body.into() },
    ));
    let run = world.run(&["sync"]);
    run.assert_code(3);
    let post =
        world.slack.posted_messages().pop().unwrap_or_else(|| panic!("no post: {}", run.stderr)).to_string();
    assert!(!post.contains("<!channel>") && !post.contains("<https://evil"), "{post}");
    assert!(post.contains("&lt;!channel&gt;"), "{post}");
}

#[test]
fn control_characters_from_slack_never_reach_the_terminal() {
    let world = World::new(0);
    let forged = "invalid_auth\u{1b}[2K\r[2026-11-28T00:00:00Z INFO ] sync ok\nall good";
    world.slack.add_fault(SlackFault::new("users.list", 1, Effect::ok_false(forged)));
    let run = world.run(&["sync"]);
    run.assert_code(1);
    assert!(!run.stderr.contains('\u{1b}') && !run.stderr.contains('\r'), "{:?}", run.stderr);
    assert!(!run.stderr.contains("\nall good"), "{:?}", run.stderr);
}

#[test]
fn junit_is_well_formed_xml_whatever_the_server_says() {
    let world = World::new(0);
    let body = "bad \u{FFFE}\u{FFFF}\u{1} char \u{0}";
    world.target.add_fault(TargetFault::new(
        TargetOp::Create,
        1,
        Effect::Status { code: 422, body: body.into() },
    ));
    world.run(&["sync"]).assert_code(3);
    let xml = std::fs::read_to_string(world.reports().join("junit.xml")).unwrap();
    for c in xml.chars() {
        let allowed =
            matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..);
        assert!(allowed, "U+{:04X} is not allowed in XML 1.0", c as u32);
    }
}

#[test]
fn list_variables_reject_separators_other_than_commas() {
    for value in ["admin ops", "admin;ops", "admin|ops"] {
        let mut world = World::new(0);
        world.set("SLACK_IM_PROTECT", value);
        let run = world.run(&["plan"]);
        run.assert_code(2);
        assert!(run.stderr.contains("SLACK_IM_PROTECT") && run.stderr.contains(value), "{}", run.stderr);
    }
}

#[test]
fn credentials_in_a_url_are_refused_without_being_printed() {
    let mut world = World::new(0);
    let url = world.target.base_url().replace("http://", "http://ops:hunter2-in-url@");
    world.set("SLACK_IM_TARGET_URL", &url);
    let run = world.run(&["plan"]);
    run.assert_code(2);
    assert!(run.stderr.contains("SLACK_IM_TARGET_URL"), "{}", run.stderr);
    assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);
    assert!(world.target.requests().is_empty());
}

#[test]
fn plain_http_to_a_host_that_is_not_loopback_is_refused() {
    let mut world = World::new(0);
    world.set("SLACK_IM_SLACK_URL", "http://slack.example.com/api/");
    let run = world.run(&["plan"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("SLACK_IM_SLACK_URL") && run.stderr.contains("SLACK_IM_ALLOW_HTTP"),
        "{}",
        run.stderr
    );
}

// ---- The write journal -------------------------------------------------------------------

#[test]
fn a_killed_run_leaves_a_journal_of_every_write_the_target_received() {
    let world = World::new(300);
    world.target.set_latency(Duration::from_millis(20));
    let reports = world.reports();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_slack-im"))
        .arg("sync")
        .env_clear()
        .envs(&world.env)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while world.target.count(TargetOp::Create) < 40 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL: no chance to write a report
    child.wait().unwrap();
    let received: Vec<String> = world
        .target
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["userId"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    // A range on purpose: how many creates land between the 40th and the kill depends on timing.
    assert!(received.len() >= 40 && received.len() < 300, "{} creates", received.len());
    let journal = std::fs::read_to_string(reports.join("actions.jsonl")).expect("the journal exists");
    let sent: std::collections::HashSet<String> = journal
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("every journal line is whole JSON"))
        .filter(|e| e["status"] == "sending")
        .map(|e| e["key"].as_str().unwrap().to_string())
        .collect();
    for key in &received {
        assert!(sent.contains(key), "{key} reached the target but not the journal");
    }
    assert_no_secret_in("actions.jsonl", &journal, &world.secrets());
}

/// Files someone with write access to the report folder planted before the run.
#[cfg(unix)]
#[test]
fn reports_and_the_journal_never_follow_a_planted_symlink_and_the_journal_is_private() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let world = World::new(3);
    let reports = world.reports();
    std::fs::create_dir_all(&reports).unwrap();
    let victim = world.dir.path().join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    for planted in [".summary.json.tmp", ".summary.md.tmp", ".junit.xml.tmp", "summary.json"] {
        symlink(&victim, reports.join(planted)).unwrap();
    }
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me", "nothing written through a symlink");
    let summary = std::fs::symlink_metadata(reports.join("summary.json")).unwrap();
    assert!(summary.file_type().is_file(), "the report replaced the planted link");
    let journal = std::fs::metadata(reports.join("actions.jsonl")).unwrap();
    assert_eq!(journal.permissions().mode() & 0o777, 0o600, "the journal holds who got which account");

    // A journal that is a symlink is refused: no write is sent without it.
    let world = World::new(3);
    std::fs::create_dir_all(world.reports()).unwrap();
    symlink(&victim, world.reports().join("actions.jsonl")).unwrap();
    let run = world.run(&["sync"]);
    run.assert_code(1);
    assert!(run.stderr.contains("actions.jsonl: it is a symbolic link"), "{}", run.stderr);
    assert_eq!(world.writes(), 0);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
}

#[test]
fn a_header_value_a_folder_builds_from_vars_is_redacted_like_a_secret() {
    // The folder put its API key in SLACK_IM_VAR_API_KEY, not in a secret; a careless server
    // quotes the Authorization header back in its errors.
    let mut world = World::new(3);
    with_system_json(&mut world, |spec| spec["headers"]["Authorization"] = json!("__VARS_AUTH__"));
    let path = std::path::Path::new(&world.env["SLACK_IM_TEMPLATES"]).join("dev/system.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace(r#""__VARS_AUTH__""#, r#"{{ "Bearer " ~ vars.api_key }}"#);
    std::fs::write(&path, text).unwrap();
    let key = "vk7Hq2Zp4Lm9Wx3Rt6Yb1Nc";
    world.set("SLACK_IM_VAR_API_KEY", key);
    world.target.add_fault(TargetFault::new(
        TargetOp::List,
        1,
        Effect::Echo { code: 400, form: EchoForm::Raw },
    ));
    let run = world.run(&["sync"]);
    run.assert_code(1);
    let piece = &key[8..20];
    let mut texts = vec![run.stdout.clone(), run.stderr.clone()];
    for entry in std::fs::read_dir(world.reports()).unwrap() {
        texts.push(std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default());
    }
    assert!(texts.iter().all(|t| !t.contains(piece)), "the header's value was printed");
    assert!(
        texts.iter().any(|t| t.contains("(authorization: [redacted])")),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
}

/// The shipped dev folder, whose create.json sends `"password": {{ new_password() }}`.
fn world_with_own_passwords(synthetic: usize) -> World {
    let world = World::new(synthetic);
    let text = std::fs::read_to_string(shipped_templates().join("dev/create.json")).unwrap();
    assert!(text.contains(r#""password": {{ new_password() }}"#), "{text}");
    world
}

/// The `password` of every create the target received.
fn passwords_sent(world: &World) -> Vec<String> {
    let body = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
    let creates = world.target_requests("POST", "/api/users");
    creates.iter().map(|r| body(&r.body)["password"].as_str().unwrap().to_string()).collect()
}

#[test]
fn new_password_gives_every_account_its_own_and_none_is_ever_printed() {
    let world = world_with_own_passwords(5);
    world.run(&["sync"]).assert_code(0);
    let passwords = passwords_sent(&world);
    assert!(passwords.len() > 5);
    let distinct: std::collections::BTreeSet<&String> = passwords.iter().collect();
    assert_eq!(distinct.len(), passwords.len(), "no two accounts share a password");
    assert!(passwords.iter().all(|p| p.len() == 20), "{passwords:?}");

    // A server that quotes the request body back in its error: the password is not shown.
    let world = world_with_own_passwords(2);
    world.target.add_fault(
        TargetFault::new(TargetOp::Create, 1, Effect::Echo { code: 400, form: EchoForm::Json }).times(1000),
    );
    let run = world.run(&["sync"]);
    run.assert_code(3);
    let sent = passwords_sent(&world);
    assert!(!sent.is_empty());
    let mut texts = vec![run.stdout.clone(), run.stderr.clone()];
    for entry in std::fs::read_dir(world.reports()).unwrap() {
        texts.push(std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default());
    }
    for password in &sent {
        assert!(texts.iter().all(|t| !t.contains(&password[..10])), "a password was printed");
    }
    assert!(texts.iter().any(|t| t.contains("[redacted]")), "the echo was there, redacted: {}", run.stdout);
}

#[test]
fn check_warns_when_every_account_gets_the_same_initial_password() {
    // sales-demo stays the documented example of a shared password per system.
    let mut world = World::new(0);
    world.set("SLACK_IM_SYSTEM", "sales-demo");
    let run = world.run(&["check"]);
    run.assert_code(0);
    assert!(
        run.stdout.contains(
            "WARNING: every account sales-demo creates gets the same \"password\" (secrets.initial_password)"
        ),
        "{}",
        run.stdout
    );
    let world = world_with_own_passwords(0);
    let run = world.run(&["check"]);
    run.assert_code(0);
    assert!(!run.stdout.contains("the same \"password\""), "{}", run.stdout);
}
