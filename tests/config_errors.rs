//! Configuration mistakes exit 2 with a message naming the variable, before any request.

use crate::common::*;

#[test]
fn a_missing_variable_exits_2_naming_it() {
    let mut world = World::new(0);
    world.unset("SLACK_IM_SYSTEM");
    let run = world.run(&["sync"]);
    run.assert_code(2);
    assert!(run.stderr.contains("SLACK_IM_SYSTEM is not set"), "{}", run.stderr);
    assert!(world.slack.requests().is_empty());
}

#[test]
fn a_misspelled_variable_exits_2_with_a_suggestion() {
    let mut world = World::new(0);
    world.set("SLACK_IM_CONCURENCY", "8");
    let run = world.run(&["plan"]);
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("SLACK_IM_CONCURENCY is not a slack-im variable (did you mean SLACK_IM_CONCURRENCY?)"),
        "{}",
        run.stderr
    );
}

/// A caller (the Jenkins step) shows the binary's own message: a run stopped at its configuration
/// still leaves a summary.json carrying it and the caller's run id.
#[test]
fn a_configuration_error_leaves_a_summary_with_the_message() {
    let mut world = World::new(0);
    world.set("SLACK_IM_CONCURRENCY", "100").set("SLACK_IM_RUN_ID", "build-7");
    let run = world.run(&["sync"]);
    run.assert_code(2);
    let s = run.summary.as_ref().expect("summary.json");
    assert_eq!(s["run_id"], "build-7");
    assert_eq!(s["exit_code"], 2);
    assert_eq!(s["exit_meaning"], "bad configuration or template");
    let error = s["error"].as_str().unwrap();
    assert!(error.contains("SLACK_IM_CONCURRENCY"), "{error}");
    assert_eq!(s["first_failures"][0].as_str(), Some(error));
    assert!(s["headline"].as_str().unwrap().contains("exit 2"), "{s}");
}

#[test]
fn an_unknown_system_lists_the_systems_there_are() {
    let mut world = World::new(0);
    world.set("SLACK_IM_SYSTEM", "prod");
    let run = world.run(&["sync"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("systems found: dev, model-office, redmine, sales-demo, scim"),
        "{}",
        run.stderr
    );
}

/// `--help` and the README's table are written apart: they must list the same variables.
#[test]
fn help_and_readme_list_the_same_variables_and_version_prints() {
    let world = World::new(0);
    let help = world.run(&["--help"]);
    help.assert_code(0);
    let in_help: Vec<String> = help
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("ENVIRONMENT"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .collect();
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut in_readme = Vec::new();
    for row in readme.lines().skip_while(|l| !l.starts_with("| variable |")).skip(2) {
        let Some(cell) = row.strip_prefix("| ").and_then(|r| r.split(" |").next()) else { break };
        // `A` / `…_FILE` is A and A_FILE.
        for name in cell.split(" / ").map(|n| n.trim_matches('`')) {
            match name.strip_prefix('…') {
                Some(suffix) => in_readme.push(format!("{}{suffix}", in_readme.last().unwrap())),
                None => in_readme.push(name.to_string()),
            }
        }
    }
    assert_eq!(in_help.len(), slack_im::config::VARIABLES.len(), "{in_help:?}");
    assert_eq!(in_help, in_readme);
    let version = world.run(&["--version"]);
    assert_eq!(version.stdout.trim(), format!("slack-im {}", env!("CARGO_PKG_VERSION")));
    world.run(&["frobnicate"]).assert_code(2);
}

#[test]
fn check_validates_templates_slack_and_target_without_writing() {
    let world = World::new(5);
    let run = world.run(&["check"]);
    run.assert_code(0);
    assert_eq!(world.slack.calls("auth.test"), 1);
    assert_eq!(world.target.count(slack_im_fakes::TargetOp::List), 1);
    assert_eq!(world.writes(), 0);
}
