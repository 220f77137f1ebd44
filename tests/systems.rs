//! Several systems in one run: one Slack read feeds every system; each system lists, plans,
//! applies and is guarded on its own, with its own URL and token by `__<SYSTEM>` suffix, and its
//! own report folder beside a combined one.

use slack_im_fakes::{FakeTarget, TargetFault, TargetOp, TargetOptions};

use crate::common::*;

const SYSTEMS: [&str; 3] = ["dev", "model-office", "sales-demo"];

/// The world's target serves `dev`; two more fake targets, each accepting only its own token,
/// serve `model-office` and `sales-demo`.
struct Three {
    world: World,
    others: Vec<FakeTarget>,
}

impl Three {
    fn new(synthetic: usize) -> Three {
        let mut world = World::new(synthetic);
        world.set("SLACK_IM_SYSTEM", &SYSTEMS.join(","));
        world.unset("SLACK_IM_TARGET_URL");
        world.set("SLACK_IM_TARGET_URL__DEV", &world.target.base_url());
        world.unset("SLACK_IM_SECRET_TARGET_TOKEN");
        world.set("SLACK_IM_SECRET_TARGET_TOKEN__DEV", TARGET_TOKEN);
        let mut others = Vec::new();
        for (system, token) in SYSTEMS[1..].iter().zip(["tgt-4d91c2aa7e-own", "tgt-b83f0e11c9-own"]) {
            let token = token.to_string();
            let target = FakeTarget::start(TargetOptions {
                tokens: vec![(token.clone(), "slack-im".into())],
                ..Default::default()
            });
            let suffix = slack_im::system_suffix(system);
            world.set(&format!("SLACK_IM_TARGET_URL__{suffix}"), &target.base_url());
            world.set(&format!("SLACK_IM_SECRET_TARGET_TOKEN__{suffix}"), &token);
            others.push(target);
        }
        Three { world, others }
    }

    fn target(&self, system: &str) -> &FakeTarget {
        match system {
            "dev" => &self.world.target,
            "model-office" => &self.others[0],
            _ => &self.others[1],
        }
    }

    fn creates(&self, system: &str) -> usize {
        self.target(system).count(TargetOp::Create)
    }
}

#[test]
fn several_systems_with_one_unsuffixed_target_url_is_a_configuration_error_and_no_token_travels() {
    // With one URL for every system, model-office's and sales-demo's tokens would go to dev's
    // server: each system must name its own.
    let mut three = Three::new(0);
    let url = three.world.target.base_url();
    three.world.set("SLACK_IM_TARGET_URL", &url);
    let run = three.world.run(&["sync"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("SLACK_IM_TARGET_URL")
            && run.stderr.contains("SLACK_IM_TARGET_URL__MODEL_OFFICE"),
        "names the variable and the suffixed form to use: {}",
        run.stderr
    );
    for system in SYSTEMS {
        assert!(three.target(system).requests().is_empty(), "{system}'s server was not called");
    }
    for token in ["tgt-4d91c2aa7e-own", "tgt-b83f0e11c9-own", TARGET_TOKEN] {
        assert!(!run.stdout.contains(token) && !run.stderr.contains(token));
    }
}

#[test]
fn two_systems_whose_suffixes_collide_are_refused() {
    // `sales-demo` and `sales.demo` both read SLACK_IM_TARGET_URL__SALES_DEMO: one would get the
    // other's URL and token.
    let mut world = World::new(0);
    let templates = world.own_templates();
    std::fs::create_dir_all(templates.join("sales.demo")).unwrap();
    for file in std::fs::read_dir(templates.join("sales-demo")).unwrap() {
        let file = file.unwrap().path();
        std::fs::copy(&file, templates.join("sales.demo").join(file.file_name().unwrap())).unwrap();
    }
    world.set("SLACK_IM_SYSTEM", "sales-demo,sales.demo");
    world.unset("SLACK_IM_TARGET_URL");
    let run = world.run(&["plan"]);
    run.assert_code(2);
    assert!(run.stderr.contains("SALES_DEMO") && run.stderr.contains("sales.demo"), "{}", run.stderr);
    assert!(world.target.requests().is_empty());
}

#[test]
fn three_systems_read_slack_once_and_each_gets_its_own_accounts_with_its_own_token() {
    let three = Three::new(2416); // 2,437 members: 3 pages of 999
    let run = three.world.run(&["sync"]);
    run.assert_code(0);
    assert_eq!(three.world.slack.calls("users.list"), 3, "ceil(2437 / 999) calls for all three systems");
    let expected = three.world.expected_keys().len();
    for system in SYSTEMS {
        assert_eq!(three.creates(system), expected, "{system}");
        let requests = three.target(system).requests();
        assert!(requests.iter().all(|r| r.status < 400), "{system}: every request was let in");
    }
    // The combined summary and one folder per system.
    let combined = run.summary.as_ref().expect("combined summary.json");
    let names: Vec<&str> =
        combined["systems"].as_array().unwrap().iter().map(|s| s["system"].as_str().unwrap()).collect();
    assert_eq!(names, SYSTEMS);
    assert_eq!(combined["exit_code"], 0);
    // One headline line per system, each system's entry with its own verdict fields.
    assert_eq!(combined["headline"].as_str().unwrap().lines().count(), SYSTEMS.len(), "{combined}");
    assert_eq!(combined["systems"][0]["exit_meaning"], "done");
    for system in SYSTEMS {
        let own: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(three.world.reports().join(system).join("summary.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(own["counts"]["create"], expected, "{system}");
    }
    let junit = std::fs::read_to_string(three.world.reports().join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testsuite ").count(), 3, "{junit}");

    let writes: usize = SYSTEMS.iter().map(|s| three.creates(s)).sum();
    three.world.run(&["sync"]).assert_code(0);
    assert_eq!(
        SYSTEMS.iter().map(|s| three.creates(s)).sum::<usize>(),
        writes,
        "a second run writes nothing"
    );
}

#[test]
fn three_systems_read_the_user_groups_once_each_with_its_own_scope() {
    let mut three = Three::new(0);
    three
        .world
        .set("SLACK_IM_USERGROUPS__DEV", "qa")
        .set("SLACK_IM_USERGROUPS__MODEL_OFFICE", "cs-agents,qa");
    three.world.set("SLACK_IM_USERGROUPS__SALES_DEMO", "sales,solutions");
    three.world.run(&["sync"]).assert_code(0);
    assert_eq!(three.world.slack.calls("usergroups.list"), 1, "one read for every system");
    assert_eq!(three.world.slack.calls("users.list"), 1);
    // qa: bobby.oneil, empty.display, minjun.kim; cs-agents adds alice and grace.grid (una is unconfirmed).
    assert_eq!((three.creates("dev"), three.creates("model-office"), three.creates("sales-demo")), (3, 5, 5));
}

#[test]
fn one_target_down_fails_its_system_only_and_a_re_run_converges() {
    let three = Three::new(0);
    three.others[0]
        .add_fault(TargetFault::new(TargetOp::List, 1, slack_im_fakes::Effect::server_error(503)).times(100));
    let run = three.world.run(&["sync"]);
    run.assert_code(1);
    let expected = three.world.expected_keys().len();
    assert_eq!(three.creates("dev"), expected);
    assert_eq!(three.creates("sales-demo"), expected);
    assert_eq!(three.creates("model-office"), 0);
    let combined = run.summary.as_ref().unwrap();
    let mo = combined["systems"].as_array().unwrap().iter().find(|s| s["system"] == "model-office").unwrap();
    assert_eq!(mo["exit_code"], 1);
    assert!(mo["error"].as_str().unwrap().contains("HTTP 503"), "{mo}");
    assert!(run.stderr.contains("error: model-office: "), "{}", run.stderr);

    three.others[0].heal();
    three.world.run(&["sync"]).assert_code(0);
    assert_eq!(three.creates("model-office"), expected, "model-office caught up");
    assert_eq!(three.creates("dev"), expected, "dev wrote nothing more");
}

#[test]
fn plan_prints_each_system_under_its_name() {
    let three = Three::new(0);
    let run = three.world.run(&["plan"]);
    run.assert_code(0);
    for system in SYSTEMS {
        assert!(run.stdout.contains(&format!("== {system} ==")), "{}", run.stdout);
        assert!(run.stdout.contains(&format!("slack-im plan {system}: ")), "{}", run.stdout);
    }
    assert_eq!(three.world.writes(), 0);
}

#[test]
fn a_suffix_for_a_system_not_in_the_run_is_a_configuration_error() {
    let mut three = Three::new(0);
    three.world.set("SLACK_IM_PROTECT__MODELOFFICE", "admin");
    let run = three.world.run(&["sync"]);
    run.assert_code(2);
    assert!(run.stderr.contains("did you mean SLACK_IM_PROTECT__MODEL_OFFICE?"), "{}", run.stderr);
    assert_eq!(three.world.slack.calls("users.list"), 0);
}

#[test]
fn a_misconfigured_system_stops_every_system_before_anything_is_read() {
    let mut three = Three::new(0);
    three.world.unset("SLACK_IM_TARGET_URL__SALES_DEMO");
    let templates = three.world.own_templates();
    std::fs::write(templates.join("sales-demo/create.json"), "{ not jinja {{").unwrap();
    let run = three.world.run(&["sync"]);
    run.assert_code(2);
    assert_eq!(three.world.slack.calls("users.list"), 0);
    assert_eq!(three.creates("dev"), 0);
}

#[test]
fn the_system_folder_names_its_url_and_the_variable_overrides_it() {
    let mut world = World::new(0);
    let templates = world.own_templates();
    let path = templates.join("dev/system.json");
    // The shipped folder names an example URL: take it out first.
    let shipped = std::fs::read_to_string(&path).unwrap();
    let spec: String =
        shipped.lines().filter(|l| !l.trim_start().starts_with("\"url\"")).collect::<Vec<_>>().join("\n");
    assert_ne!(spec, shipped, "the shipped dev folder names its URL");
    let url = world.target.base_url();
    std::fs::write(&path, spec.replacen('{', &format!("{{\n  \"url\": \"{url}\","), 1)).unwrap();
    world.unset("SLACK_IM_TARGET_URL");
    world.run(&["sync"]).assert_code(0);
    assert_eq!(world.accounts().len(), world.expected_keys().len(), "synced to the folder's URL");

    // Neither the folder nor the variable: exit 2 naming both places.
    std::fs::write(&path, spec).unwrap();
    let run = world.run(&["sync"]);
    run.assert_code(2);
    assert!(run.stderr.contains("SLACK_IM_TARGET_URL") && run.stderr.contains("\"url\""), "{}", run.stderr);

    // A folder URL follows the same rules as the variable: no plain http to another host.
    std::fs::write(
        &path,
        std::fs::read_to_string(&path).unwrap().replacen('{', "{\n  \"url\": \"http://dev.example.com\",", 1),
    )
    .unwrap();
    let run = world.run(&["plan"]);
    run.assert_code(2);
    assert!(run.stderr.contains("SLACK_IM_ALLOW_HTTP"), "{}", run.stderr);
}

// ---- Members from a file -----------------------------------------------------------------

#[test]
fn a_sync_from_an_exported_file_plans_exactly_what_a_sync_from_slack_plans() {
    let mut world = World::new(1200);
    world.set("SLACK_IM_CHANNEL", "C0GENERAL1");
    let file = world.dir.path().join("members.json");
    let export = world.run(&["export", file.to_str().unwrap()]);
    export.assert_code(0);
    assert!(export.stdout.contains("members of workspace T0ACMEW0RK"), "{}", export.stdout);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600, "personal data");
    let from_slack = world.run(&["plan"]);
    from_slack.assert_code(0);
    let slack_calls = world.slack.requests().len();

    world.set("SLACK_IM_MEMBERS_FILE", file.to_str().unwrap());
    world.unset("SLACK_BOT_TOKEN"); // no Slack token needed
    let from_file = world.run(&["plan"]);
    from_file.assert_code(0);
    assert_eq!(world.slack.requests().len(), slack_calls, "the file run asked Slack nothing");
    let plan = |run: &Run| {
        let s = run.summary.as_ref().unwrap();
        (s["counts"].clone(), s["actions"].clone(), s["skipped"].clone())
    };
    assert_eq!(plan(&from_file), plan(&from_slack));
    // The shipped dev folder DMs each member created (welcome.txt): a sync needs the token for it,
    // and says so before any write.
    let run = world.run(&["sync"]);
    run.assert_code(2);
    assert!(
        run.error().contains("SLACK_BOT_TOKEN") && run.error().contains("welcome.txt"),
        "{}",
        run.error()
    );
    assert_eq!(world.writes(), 0);
    world.set("SLACK_BOT_TOKEN", BOT_TOKEN);
    world.run(&["sync"]).assert_code(0);
    assert_eq!(world.accounts().len(), from_slack.count("create") as usize);
    assert_eq!(world.slack.posted_messages().len(), world.accounts().len(), "each told in a DM");
}

#[test]
fn stale_corrupt_and_foreign_members_files_are_refused_with_nothing_written() {
    let mut world = World::new(0);
    let file = world.dir.path().join("members.json");
    world.run(&["export", file.to_str().unwrap()]).assert_code(0);
    let good = std::fs::read_to_string(&file).unwrap();
    world.set("SLACK_IM_MEMBERS_FILE", file.to_str().unwrap());
    // An old file is refused for its age (changing read_at would break its signature: it is
    // read here unsigned, as SLACK_IM_MEMBERS_UNSIGNED=allow permits).
    world.set("SLACK_IM_MEMBERS_UNSIGNED", "allow");
    let unsigned = format!("{}}}\n", &good[..good.rfind(",\"hmac_sha256\":").unwrap()]);
    let old = unsigned.replacen(
        &serde_json::from_str::<serde_json::Value>(&good).unwrap()["read_at"].as_str().unwrap().to_string(),
        "2026-01-01T00:00:00Z",
        1,
    );
    for (name, text, expected) in [
        ("stale", old, "SLACK_IM_MEMBERS_MAX_AGE"),
        ("truncated", good[..good.len() / 2].to_string(), "truncated or corrupt"),
        ("foreign", good.replace("slack-im-members/1", "slack-im-members/9"), "slack-im-members/9"),
    ] {
        std::fs::write(&file, text).unwrap();
        let run = world.run(&["sync"]);
        run.assert_code(1);
        assert!(run.stderr.contains(expected), "{name}: {}", run.stderr);
        assert_eq!(world.writes(), 0, "{name}");
    }
    world.set("SLACK_IM_MEMBERS_MAX_AGE", "soon");
    world.run(&["plan"]).assert_code(2);
}
