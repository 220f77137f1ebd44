//! The Slack post (issue 22): which runs post (`SLACK_IM_NOTIFY_ON`), the link to the build
//! (Jenkins' `BUILD_URL`), and the changes it lists, old -> new, within Slack's limits and
//! redacted. `World::run` checks every post for every piece of every secret.

use serde_json::{json, Value};
use slack_im_fakes::{Effect, SlackFault, TargetFault, TargetOp};

use crate::common::*;

const CHANNEL: &str = "C0GENERAL1";

fn notifying(synthetic: usize) -> World {
    let mut world = World::new(synthetic);
    world.set("SLACK_IM_NOTIFY_CHANNEL", CHANNEL);
    world
}

/// The run summaries posted to the channel (not the welcome DMs the creates send).
fn summary_posts(world: &World) -> Vec<Value> {
    world.slack.posted_messages().into_iter().filter(|p| p["channel"] == CHANNEL).collect()
}

fn posts(world: &World) -> usize {
    summary_posts(world).len()
}

/// The last post, whole (text and blocks), as JSON text.
fn last_post(world: &World, run: &Run) -> Value {
    summary_posts(world).pop().unwrap_or_else(|| panic!("no post:\n{}", run.stderr))
}

/// Every section's text of a post, in order.
fn section_texts(post: &Value) -> Vec<String> {
    post["blocks"]
        .as_array()
        .expect("blocks")
        .iter()
        .filter(|b| b["type"] == "section")
        .map(|b| b["text"]["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Renames `n` eligible synthetic members (`Renamed N`, or a longer name of `len` characters).
fn rename_members(world: &World, n: usize, len: usize) {
    let ids: Vec<String> = world
        .slack
        .members()
        .iter()
        .filter(|m| is_eligible(m) && m["id"].as_str().unwrap_or("").starts_with("U1SYN"))
        .map(|m| m["id"].as_str().unwrap().to_string())
        .take(n)
        .collect();
    assert_eq!(ids.len(), n, "enough eligible synthetic members");
    for (i, id) in ids.iter().enumerate() {
        let name = match len {
            0 => format!("Renamed {i:02}"),
            _ => format!("Renamed {i:02} {}", "x".repeat(len.saturating_sub(11))),
        };
        world.slack.update_member(id, |m| {
            m["real_name"] = json!(name);
            m["profile"]["real_name"] = json!(name);
        });
    }
}

/// The shipped dev folder with this create.json and update.json (from tests/fixtures/notify/),
/// without its welcome.txt (these bodies make no password of their own to tell).
fn dev_with(world: &mut World, create: &str, update: &str) {
    let templates = world.without_welcome();
    for (name, fixture) in [("create.json", create), ("update.json", update)] {
        let text = std::fs::read_to_string(fixtures().join("notify").join(fixture)).unwrap();
        std::fs::write(templates.join("dev").join(name), text).unwrap();
    }
}

// ---- SLACK_IM_NOTIFY_ON ------------------------------------------------------------------

#[test]
fn by_default_a_run_that_writes_posts_and_one_that_changes_nothing_does_not() {
    let world = notifying(10);
    world.run(&["sync"]).assert_code(0);
    assert_eq!(posts(&world), 1, "the first sync creates accounts: posted");
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!(run.count("create") + run.count("update"), 0);
    assert_eq!(posts(&world), 1, "nothing changed: nothing posted\n{}", run.stderr);
    assert!(run.stderr.contains("no Slack post: SLACK_IM_NOTIFY_ON=changes"), "{}", run.stderr);
}

#[test]
fn always_posts_a_run_that_changes_nothing() {
    let mut world = notifying(0);
    world.set("SLACK_IM_NOTIFY_ON", "always");
    world.run(&["sync"]).assert_code(0);
    world.run(&["sync"]).assert_code(0);
    assert_eq!(posts(&world), 2);
}

#[test]
fn problems_posts_a_failing_run_but_not_one_that_only_writes() {
    let mut world = notifying(0);
    world.set("SLACK_IM_NOTIFY_ON", "problems");
    world.target.add_fault(TargetFault::new(
        TargetOp::Create,
        1,
        Effect::Status { code: 422, body: "name rejected".into() },
    ));
    world.run(&["sync"]).assert_code(3);
    assert_eq!(posts(&world), 1, "a failed write is a problem");
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!(run.count("create"), 1, "the failed create is made now");
    assert_eq!(posts(&world), 1, "a run that only writes is no problem\n{}", run.stderr);
}

#[test]
fn problems_posts_a_run_that_could_not_read_slack() {
    let mut world = notifying(0);
    world.set("SLACK_IM_NOTIFY_ON", "problems");
    world.slack.add_fault(SlackFault::new("users.list", 1, Effect::ok_false("team_access_not_granted")));
    let run = world.run(&["sync"]);
    run.assert_code(1);
    let post = last_post(&world, &run).to_string();
    assert!(post.contains("team_access_not_granted"), "{post}");
}

#[test]
fn problems_posts_a_run_stopped_by_a_template_error_and_says_why() {
    let mut world = notifying(0);
    world.set("SLACK_IM_NOTIFY_ON", "problems");
    let templates = world.own_templates();
    let create = templates.join("dev").join("create.json");
    let text = std::fs::read_to_string(&create).unwrap();
    std::fs::write(&create, text.replace("{{ user.name }}", "{{ user.nickname }}")).unwrap();
    let run = world.run(&["sync"]);
    run.assert_code(2);
    assert_eq!(world.writes(), 0);
    let post = last_post(&world, &run).to_string();
    assert!(post.contains(":x:") && post.contains("dev/create.json"), "{post}");
}

#[test]
fn a_dry_run_posts_what_it_would_write_and_under_problems_only_what_a_guard_withholds() {
    let world = notifying(0);
    world.run(&["plan"]).assert_code(0);
    assert_eq!(posts(&world), 1, "a plan that would create accounts is a change");

    let mut world = notifying(0);
    world.set("SLACK_IM_NOTIFY_ON", "problems");
    world.run(&["plan"]).assert_code(0);
    assert_eq!(posts(&world), 0, "a plan that would only write is no problem");
    world.set("SLACK_IM_MAX_CREATE", "1");
    let run = world.run(&["plan"]);
    run.assert_code(0);
    let post = last_post(&world, &run).to_string();
    assert!(post.contains("WITHHELD"), "a plan hitting a guard is a problem: {post}");
}

#[test]
fn a_bad_notify_on_value_exits_2_naming_the_variable_and_the_values() {
    let mut world = notifying(0);
    world.set("SLACK_IM_NOTIFY_ON", "sometimes");
    let run = world.run(&["sync"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains(
            "SLACK_IM_NOTIFY_ON is invalid: \"sometimes\": always, changes (the default) or problems"
        ),
        "{}",
        run.stderr
    );
    assert!(world.slack.requests().is_empty() && world.target.requests().is_empty());
}

// ---- BUILD_URL -------------------------------------------------------------------------------

#[test]
fn the_post_links_to_the_build_when_jenkins_sets_build_url() {
    let mut world = notifying(0);
    world.set("BUILD_URL", "https://jenkins.example/job/slack-im|sync/42/?a=1&b=<2>");
    let run = world.run(&["sync"]);
    run.assert_code(0);
    let post = last_post(&world, &run);
    let sections = section_texts(&post).join("\n");
    assert!(
        sections.contains("<https://jenkins.example/job/slack-im%7Csync/42/?a=1&amp;b=&lt;2&gt;|build>"),
        "the link, its | < > & escaped: {sections}"
    );
}

#[test]
fn a_build_url_that_is_not_an_http_url_is_not_linked() {
    for url in
        ["javascript:alert(1)", "ftp://jenkins.example/42/", "https://jenkins.example/4 2/", "/job/42/"]
    {
        let mut world = notifying(0);
        world.set("BUILD_URL", url);
        let run = world.run(&["sync"]);
        run.assert_code(0);
        let post = last_post(&world, &run).to_string();
        assert!(!post.contains("|build>") && !post.contains("jenkins.example"), "{url}: {post}");
        assert!(!post.contains("alert") && !post.contains("/job/42/"), "{url}: {post}");
    }
}

// ---- The changes, old -> new ---------------------------------------------------------------------

#[test]
fn the_post_lists_each_update_old_to_new_up_to_ten_then_how_many_more() {
    let world = notifying(20);
    world.run(&["sync"]).assert_code(0);
    rename_members(&world, 15, 0);
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!(run.count("update"), 15);
    let post = last_post(&world, &run);
    let text = section_texts(&post).join("\n");
    assert_eq!(text.matches("~ update").count(), 10, "{text}");
    assert!(text.contains("name: \"") && text.contains("\" → \"Renamed 0"), "{text}");
    assert!(text.contains("and 5 more"), "{text}");
}

#[test]
fn a_long_list_of_changes_stays_within_slacks_limits() {
    let mut world = notifying(30);
    dev_with(&mut world, "create-aliases.json", "update-aliases.json");
    world.run(&["sync"]).assert_code(0);
    rename_members(&world, 25, 200);
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!(run.count("update"), 25);
    // The fake refuses a post Slack would refuse (a section over 3000 characters, over 50 blocks).
    let post = last_post(&world, &run);
    assert!(post["blocks"].as_array().unwrap().len() <= 50);
    let sections = section_texts(&post);
    for text in &sections {
        assert!(text.chars().count() <= 3000, "{} characters: {text}", text.chars().count());
    }
    let text = sections.join("\n");
    assert!(text.contains("alias1: \""), "{text}");
    assert!(text.contains("… 1 more"), "six values changed, five shown: {text}");
    assert_eq!(text.matches("~ update").count(), 10, "{text}");
    assert!(text.contains("… and 15 more (summary.md)"), "{text}");
}

#[test]
fn a_secret_in_a_changed_field_never_reaches_the_post() {
    let mut world = notifying(0);
    dev_with(&mut world, "create-api-key.json", "update-api-key.json");
    world.run(&["sync"]).assert_code(0);
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert!(run.count("update") > 0);
    let post = last_post(&world, &run);
    let text = section_texts(&post).join("\n");
    assert!(text.contains("apiKey: \"issued-by-hand-0001\" → "), "{text}");
    assert!(text.contains("[redacted]"), "{text}");
    // World::run has checked every post for every 8-character piece of every secret.
}

/// `new_password()` values are secrets of their own write, not of the run: the old -> new line of
/// a changed field holding one shows it nowhere (console, reports, the post).
#[test]
fn a_new_password_in_a_changed_field_is_shown_nowhere() {
    let mut world = notifying(0);
    dev_with(&mut world, "create-api-key.json", "update-new-api-key.json");
    world.run(&["sync"]).assert_code(0);
    let run = world.run(&["plan"]);
    run.assert_code(0);
    let planned = run.count("update");
    assert!(planned > 0);
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!(run.count("update"), planned);
    let keys: Vec<String> = world
        .accounts()
        .values()
        .filter_map(|a| a["apiKey"].as_str().filter(|k| *k != "issued-by-hand-0001").map(str::to_string))
        .collect();
    assert_eq!(keys.len(), planned as usize, "each updated account got its own key");
    let mut texts = vec![run.stdout.clone(), run.stderr.clone()];
    texts.extend(files_below(&world.reports()).iter().filter_map(|f| std::fs::read_to_string(f).ok()));
    texts.extend(world.slack.posted_messages().iter().map(Value::to_string));
    for key in &keys {
        for text in &texts {
            assert!(!text.contains(key.as_str()), "a new_password() value leaked:\n{text}");
        }
    }
    let post = section_texts(&last_post(&world, &run)).join("\n");
    assert!(post.contains("apiKey: \"issued-by-hand-0001\" → \"[redacted]\""), "{post}");
}

/// A saved plan shows no `new_password()` value either, and applies although every render makes
/// new ones (its fingerprints leave them out).
#[test]
fn a_saved_plan_of_new_passwords_hides_them_and_still_applies() {
    let mut world = notifying(0);
    dev_with(&mut world, "create-api-key.json", "update-new-api-key.json");
    world.run(&["sync"]).assert_code(0);
    let file = world.dir.path().join("plan.json");
    world.run(&["plan", "--out", file.to_str().unwrap()]).assert_code(0);
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let updates: Vec<&Value> =
        plan["systems"][0]["actions"].as_array().unwrap().iter().filter(|a| a["kind"] == "update").collect();
    assert!(!updates.is_empty());
    for update in &updates {
        let key = update["diff"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["field"] == "apiKey")
            .expect("apiKey changes");
        assert_eq!(key["new"], "\"[redacted]\"", "{update}");
    }
    let run = world.run(&["sync", "--plan", file.to_str().unwrap()]);
    run.assert_code(0);
    assert_eq!(run.count("update"), updates.len() as u64, "every reviewed update applied");
}
