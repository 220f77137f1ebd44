//! The opt-in welcome DM (`welcome.txt` in the system folder): after each create that succeeded,
//! the member is told their account's own password in a Slack DM, and nowhere else; a DM that fails
//! leaves the account and fails the action (exit 3); a dry run sends none; `check` wants
//! `chat:write` for it and warns when a password of its own reaches nobody.

use std::collections::BTreeSet;

use serde_json::Value;
use slack_im_fakes::{Effect, SlackFault};

use crate::common::*;

/// The dev folder with `"password": {{ new_password() }}` and, with `welcome`, the fixture's
/// welcome.txt.
fn world_with_welcome(synthetic: usize, welcome: bool) -> World {
    let mut world = World::new(synthetic);
    let folder = world.own_templates().join("dev");
    let create = std::fs::read_to_string(folder.join("create.json")).unwrap();
    let own = create.replace("{{ secrets.initial_password }}", "{{ new_password() }}");
    std::fs::write(folder.join("create.json"), own).unwrap();
    let _ = std::fs::remove_file(folder.join("welcome.txt"));
    if welcome {
        std::fs::copy(fixtures().join("welcome/welcome.txt"), folder.join("welcome.txt")).unwrap();
    }
    world
}

/// Every create of the run's summary: (key, Slack id).
fn creates(run: &Run) -> Vec<(String, String)> {
    let summary = run.summary.as_ref().expect("summary.json was written");
    let actions = summary["actions"].as_array().unwrap();
    let creates = actions.iter().filter(|a| a["action"] == "create");
    creates.map(|a| (a["key"].as_str().unwrap().into(), a["slack_id"].as_str().unwrap().into())).collect()
}

/// Every text the run left outside Slack: its console, its log and every file of the report folder
/// (the journal included).
fn everything_printed(world: &World, run: &Run) -> Vec<(String, String)> {
    let mut texts =
        vec![("stdout".to_string(), run.stdout.clone()), ("stderr".to_string(), run.stderr.clone())];
    for file in files_below(&world.reports()) {
        texts.push((file.display().to_string(), std::fs::read_to_string(&file).unwrap_or_default()));
    }
    texts
}

/// No piece of any account's password is in any of the run's outputs.
#[track_caller]
fn assert_no_password_printed(world: &World, run: &Run) {
    let texts = everything_printed(world, run);
    for (key, account) in world.accounts() {
        let Some(password) = account["password"].as_str() else { continue };
        for (name, text) in &texts {
            assert!(!text.contains(&password[..10]), "{key}'s password is in {name}:\n{text}");
        }
    }
}

#[test]
fn a_sync_dms_exactly_the_created_members_the_password_their_account_got() {
    let world = world_with_welcome(3, true);
    let run = world.run(&["sync"]);
    run.assert_code(0);
    let created = creates(&run);
    assert!(created.len() > 3, "{}", run.stdout);
    let posts = world.slack.posted_messages();
    let channels: BTreeSet<&str> = posts.iter().map(|p| p["channel"].as_str().unwrap()).collect();
    let members: BTreeSet<&str> = created.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(channels, members, "one DM to each created member, and to nobody else");
    assert_eq!(posts.len(), created.len(), "one DM each");
    let accounts = world.accounts();
    for (key, id) in &created {
        let password = accounts[key]["password"].as_str().unwrap();
        assert_eq!(password.len(), 20, "{key} got a password of its own");
        let post = posts.iter().find(|p| p["channel"] == id.as_str()).unwrap();
        let text = post["text"].as_str().unwrap();
        assert!(text.contains(password) && text.contains(&format!("account is {key};")), "{text}");
        let action = &run.actions_for(key)[0];
        assert_eq!(action["welcome"], "sent", "{action}");
    }
    assert_no_password_printed(&world, &run);

    // Nothing new to create: nobody is told anything again.
    world.run(&["sync"]).assert_code(0);
    assert_eq!(world.slack.posted_messages().len(), posts.len());
}

#[test]
fn a_dm_slack_refuses_fails_that_create_exit_3_naming_the_member_and_the_account_stays() {
    let world = world_with_welcome(2, true);
    world.slack.add_fault(SlackFault::new("chat.postMessage", 2, Effect::ok_false("channel_not_found")));
    let run = world.run(&["sync"]);
    run.assert_code(3);
    let created = creates(&run);
    let summary = run.summary.as_ref().unwrap();
    let failed: Vec<&Value> =
        summary["actions"].as_array().unwrap().iter().filter(|a| a["status"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{}", run.stdout);
    let (key, id) = (failed[0]["key"].as_str().unwrap(), failed[0]["slack_id"].as_str().unwrap());
    let error = failed[0]["error"].as_str().unwrap();
    assert_eq!(failed[0]["welcome"], "failed");
    for needle in [id, "channel_not_found", "created", "reset"] {
        assert!(error.contains(needle), "{needle:?} in {error}");
    }
    assert!(!error.contains("SLACK_IM_NOTIFY_CHANNEL"), "the member is at fault, not a channel: {error}");
    assert!(run.stdout.contains(id), "the console names the member: {}", run.stdout);
    let first = summary["first_failures"][0].as_str().unwrap();
    assert!(first.starts_with(&format!("create {key}: the account was created")), "{first}");
    assert!(
        !first.contains("create create") && first.matches(&format!("create {key}:")).count() == 1,
        "{first}"
    );
    assert!(world.accounts().contains_key(key), "the account stays");
    assert_eq!(world.slack.posted_messages().len(), created.len() - 1, "the others were told");
    assert_eq!(run.count("failed"), 1);
    assert_no_password_printed(&world, &run);
}

#[test]
fn a_dm_answered_with_a_server_error_is_not_sent_again() {
    let world = world_with_welcome(0, true);
    world.slack.add_fault(SlackFault::new("chat.postMessage", 1, Effect::server_error(503)));
    let run = world.run(&["sync"]);
    run.assert_code(3);
    let created = creates(&run);
    // Slack may have posted it before failing: asking again could tell the person twice.
    assert_eq!(world.slack.calls("chat.postMessage"), created.len(), "one request per DM, no retry");
    let failed: Vec<&Value> = run.summary.as_ref().unwrap()["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1);
    let error = failed[0]["error"].as_str().unwrap();
    assert!(error.contains("HTTP 503") && error.contains("not asked again"), "{error}");
    assert!(!error.contains("after retries"), "it was not retried: {error}");
    assert_no_password_printed(&world, &run);
}

#[test]
fn a_dry_run_sends_no_dm_and_the_plan_says_one_would_be_sent() {
    let world = world_with_welcome(1, true);
    let run = world.run(&["plan"]);
    run.assert_code(0);
    assert!(world.slack.posted_messages().is_empty());
    assert_eq!(world.slack.calls("chat.postMessage"), 0);
    let created = creates(&run);
    assert!(!created.is_empty());
    for (key, _) in &created {
        assert_eq!(run.actions_for(key)[0]["welcome"], "planned");
    }
    let line = run.stdout.lines().find(|l| l.starts_with("+ create")).unwrap();
    assert!(line.ends_with("+ welcome DM"), "{line}");
    assert!(world.accounts().is_empty());
    assert_no_password_printed(&world, &run);
}

#[test]
fn check_refuses_a_token_without_chat_write_when_the_folder_has_welcome_txt() {
    let world = world_with_welcome(0, true);
    world.slack.configure(|o| o.tokens[0].scopes.retain(|s| s != "chat:write"));
    let run = world.run(&["check"]);
    run.assert_code(2);
    let error = run.error();
    assert!(error.contains("chat:write") && error.contains("welcome.txt"), "{error}");

    // Without welcome.txt the token needs no chat:write.
    let world = world_with_welcome(0, false);
    world.slack.configure(|o| o.tokens[0].scopes.retain(|s| s != "chat:write"));
    world.run(&["check"]).assert_code(0);
}

#[test]
fn check_warns_when_an_own_password_reaches_nobody_and_not_when_a_dm_tells_it() {
    let world = world_with_welcome(0, false);
    let run = world.run(&["check"]);
    run.assert_code(0);
    let warning =
        "WARNING: every account dev creates gets a password of its own (new_password()) that nobody is told";
    assert!(run.stdout.contains(warning), "{}", run.stdout);
    assert!(run.stdout.contains("welcome.txt"), "it names the ways: {}", run.stdout);
    let world = world_with_welcome(0, true);
    let run = world.run(&["check"]);
    run.assert_code(0);
    assert!(!run.stdout.contains("that nobody is told"), "{}", run.stdout);
}

#[test]
fn a_welcome_txt_that_does_not_render_stops_check_and_sync_before_any_write() {
    let world = world_with_welcome(0, true);
    let path = std::path::Path::new(&world.env["SLACK_IM_TEMPLATES"]).join("dev/welcome.txt");
    std::fs::write(path, "Hi {{ user.no_such_field }}, {{ password }}").unwrap();
    let run = world.run(&["check"]);
    run.assert_code(2);
    assert!(run.error().contains("welcome.txt"), "{}", run.error());
    let run = world.run(&["sync"]);
    run.assert_code(2);
    assert!(run.error().contains("welcome.txt"), "{}", run.error());
    assert!(world.accounts().is_empty() && world.slack.posted_messages().is_empty());
}
