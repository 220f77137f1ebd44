//! The members file is trusted only as far as it is tied to Slack: signed with the key export and
//! the runs share (`SLACK_IM_MEMBERS_KEY`), exported from the configured workspace, a regular file
//! of bounded size, holding only what the product reads.

use serde_json::{json, Value};

use crate::common::*;

/// A world that exported its members to `members.json` and reads them from it from now on, with
/// no Slack token: so without the shipped folders' welcome DMs, which need one.
fn exported(world: &mut World) -> std::path::PathBuf {
    if world.env["SLACK_IM_TEMPLATES"] == shipped_templates().display().to_string() {
        world.without_welcome();
    }
    let file = world.dir.path().join("members.json");
    world.run(&["export", file.to_str().unwrap()]).assert_code(0);
    world.set("SLACK_IM_MEMBERS_FILE", file.to_str().unwrap()).unset("SLACK_BOT_TOKEN");
    file
}

fn forged_member() -> String {
    std::fs::read_to_string(fixtures().join("members_file/forged_member.json")).unwrap().trim().to_string()
}

/// The file with one more member, as someone who can write the file but holds no key would add it.
fn with_forged_member(text: &str) -> String {
    text.replacen("\"members\":[", &format!("\"members\":[\n{},", forged_member()), 1)
}

/// Refused before anything is written, exit 2 (the file cannot be trusted: a configuration matter,
/// not a read to retry), naming the file and why.
#[track_caller]
fn assert_refused(world: &World, run: &Run, file: &std::path::Path, why: &str) {
    run.assert_code(2);
    assert!(run.stderr.contains(&file.display().to_string()), "names the file: {}", run.stderr);
    assert!(run.stderr.contains(why), "says why ({why}): {}", run.stderr);
    assert!(run.error().contains(why), "summary.json says why ({why}): {}", run.error());
    assert_eq!(world.writes(), 0, "nothing written");
}

#[test]
fn a_members_file_changed_after_export_is_refused_and_nothing_is_written() {
    let mut world = World::new(0);
    let file = exported(&mut world);
    let good = std::fs::read_to_string(&file).unwrap();
    let read_at = serde_json::from_str::<Value>(&good).unwrap()["read_at"].as_str().unwrap().to_string();
    let fresher = jiff::Timestamp::now().to_string();
    for (name, text) in [
        ("a forged member", with_forged_member(&good)),
        ("read_at moved to now", good.replacen(&read_at, &fresher, 1)),
        ("a member dropped", good.replacen("\"U0ADMIN001\"", "\"U0ADMIN00X\"", 1)),
    ] {
        std::fs::write(&file, text).unwrap();
        for command in ["sync", "plan", "check"] {
            let run = world.run(&[command]);
            assert_refused(&world, &run, &file, "signature does not match SLACK_IM_MEMBERS_KEY");
            assert!(!world.accounts().values().any(|a| a.to_string().contains("mallory")), "{name}");
        }
    }
    std::fs::write(&file, &good).unwrap();
    world.run(&["sync"]).assert_code(0);
}

#[test]
fn a_members_file_signed_with_another_key_is_refused() {
    let mut world = World::new(0);
    let file = exported(&mut world);
    world.set("SLACK_IM_MEMBERS_KEY", "mk-9Wq2Er5Ty8Ui1Op4As7Df0Gh3Jk6Lz");
    let run = world.run(&["plan"]);
    assert_refused(&world, &run, &file, "signature does not match SLACK_IM_MEMBERS_KEY");
}

#[test]
fn an_unsigned_members_file_is_refused_unless_explicitly_allowed_with_a_warning() {
    let mut world = World::new(0);
    world.without_welcome(); // its runs from the file have no Slack token for the welcome DMs
    world.unset("SLACK_IM_MEMBERS_KEY");
    let file = world.dir.path().join("members.json");
    let export = world.run(&["export", file.to_str().unwrap()]);
    export.assert_code(2);
    assert!(export.stderr.contains("SLACK_IM_MEMBERS_KEY is not set"), "{}", export.stderr);
    assert!(!file.exists());

    world.set("SLACK_IM_MEMBERS_UNSIGNED", "allow");
    let export = world.run(&["export", file.to_str().unwrap()]);
    export.assert_code(0);
    assert!(
        export.stderr.contains("the file is not signed (SLACK_IM_MEMBERS_UNSIGNED=allow)"),
        "{}",
        export.stderr
    );
    let unsigned = std::fs::read_to_string(&file).unwrap();
    serde_json::from_str::<Value>(&unsigned).expect("an unsigned file is JSON too");
    std::fs::write(&file, with_forged_member(&unsigned)).unwrap();

    // A key, and no permission: the unsigned file is refused.
    world.unset("SLACK_IM_MEMBERS_UNSIGNED").set("SLACK_IM_MEMBERS_KEY", MEMBERS_KEY);
    world.set("SLACK_IM_MEMBERS_FILE", file.to_str().unwrap()).unset("SLACK_BOT_TOKEN");
    let run = world.run(&["sync"]);
    assert_refused(&world, &run, &file, "is not signed");
    assert!(run.stderr.contains("SLACK_IM_MEMBERS_UNSIGNED=allow"), "names the way out: {}", run.stderr);

    // Neither key nor permission: a configuration error before anything is read.
    world.unset("SLACK_IM_MEMBERS_KEY");
    let run = world.run(&["sync"]);
    run.assert_code(2);
    assert!(run.stderr.contains("SLACK_IM_MEMBERS_KEY is not set"), "{}", run.stderr);
    assert!(run.stderr.contains("SLACK_IM_MEMBERS_FILE"), "names the file's variable: {}", run.stderr);
    assert_eq!(world.writes(), 0);

    // Explicitly allowed: read, with a warning that says what it costs.
    world.set("SLACK_IM_MEMBERS_UNSIGNED", "allow");
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert!(run.stderr.contains("read unauthenticated (SLACK_IM_MEMBERS_UNSIGNED=allow)"), "{}", run.stderr);
    assert!(world.accounts().contains_key("mallory"), "what the file says is what runs");
}

#[test]
fn a_members_key_that_is_short_or_given_twice_is_a_configuration_error() {
    let mut world = World::new(0);
    let key_file = world.dir.path().join("members.key");
    std::fs::write(&key_file, format!("{MEMBERS_KEY}\n")).unwrap();
    world.set("SLACK_IM_MEMBERS_KEY_FILE", key_file.to_str().unwrap());
    let run = world.run(&["plan"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("SLACK_IM_MEMBERS_KEY and SLACK_IM_MEMBERS_KEY_FILE are both set"),
        "{}",
        run.stderr
    );

    // The key from its file signs and checks like the variable.
    world.unset("SLACK_IM_MEMBERS_KEY");
    exported(&mut world);
    world.run(&["plan"]).assert_code(0);

    world.unset("SLACK_IM_MEMBERS_KEY_FILE").set("SLACK_IM_MEMBERS_KEY", "short-key-1234");
    let run = world.run(&["plan"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("SLACK_IM_MEMBERS_KEY is invalid: the key must be at least 32 characters"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_members_file_from_another_workspace_is_refused_and_the_workspace_is_named() {
    let mut world = World::new(0);
    let file = exported(&mut world);
    let exported_team = slack_im_fakes::members::ACME_TEAM_ID;
    world.set("SLACK_IM_SLACK_TEAM_ID", "T0OTHERWS1");
    for command in ["sync", "plan", "check"] {
        let run = world.run(&[command]);
        assert_refused(&world, &run, &file, "was exported from the Slack workspace T0ACMEW0RK");
        assert!(
            run.stderr.contains("SLACK_IM_SLACK_TEAM_ID=T0OTHERWS1"),
            "names the setting: {}",
            run.stderr
        );
    }

    // The workspace it names: a run from the file says which one the members came from.
    world.set("SLACK_IM_SLACK_TEAM_ID", exported_team);
    let run = world.run(&["sync"]);
    run.assert_code(0);
    assert!(
        run.stderr.contains(&format!("read from the Slack workspace {exported_team} at")),
        "console: {}",
        run.stderr
    );
    let summary = run.summary.as_ref().expect("summary.json");
    assert_eq!(summary["sources"]["slack_team_id"], exported_team, "summary.json: {summary}");
    assert!(world.accounts().len() > 1);

    // Without SLACK_IM_SLACK_TEAM_ID the file's workspace is still reported.
    world.unset("SLACK_IM_SLACK_TEAM_ID");
    let run = world.run(&["plan"]);
    run.assert_code(0);
    assert_eq!(run.summary.as_ref().unwrap()["sources"]["slack_team_id"], exported_team);
}

#[test]
fn a_members_file_without_a_workspace_is_refused_when_one_is_configured() {
    let mut world = World::new(0);
    world.unset("SLACK_IM_MEMBERS_KEY").set("SLACK_IM_MEMBERS_UNSIGNED", "allow");
    let file = exported(&mut world);
    let text = std::fs::read_to_string(&file).unwrap();
    let no_team = text.replacen("\"team_id\":\"T0ACMEW0RK\"", "\"team_id\":null", 1);
    assert_ne!(text, no_team, "the export names its workspace: {}", &text[..200.min(text.len())]);
    std::fs::write(&file, no_team).unwrap();
    world.set("SLACK_IM_SLACK_TEAM_ID", slack_im_fakes::members::ACME_TEAM_ID);
    let run = world.run(&["sync"]);
    assert_refused(&world, &run, &file, "was exported from an unknown Slack workspace");
}

#[test]
fn a_members_file_that_is_a_fifo_or_a_folder_is_refused_at_once() {
    let mut world = World::new(0);
    exported(&mut world);
    world.set("SLACK_IM_DEADLINE_SECS", "5");
    let fifo = world.dir.path().join("members.fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
    assert!(made.success());
    let folder = world.dir.path().join("members.d");
    std::fs::create_dir(&folder).unwrap();
    for path in [&fifo, &folder] {
        world.set("SLACK_IM_MEMBERS_FILE", path.to_str().unwrap());
        let started = std::time::Instant::now();
        // A FIFO nobody writes to would block its reader for ever: the run must not open it so.
        let run = world.run(&["sync"]);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "refused at once: {:?}",
            started.elapsed()
        );
        run.assert_code(1);
        assert!(run.stderr.contains(&path.display().to_string()), "{}", run.stderr);
        assert!(run.stderr.contains("is not a regular file"), "{}", run.stderr);
        assert_eq!(world.writes(), 0);
    }
}

#[test]
fn a_members_file_larger_than_the_read_cap_or_with_more_members_than_the_read_limit_fails_the_read() {
    let mut world = World::new(30);
    let file = exported(&mut world);
    let members = serde_json::from_str::<Value>(&std::fs::read_to_string(&file).unwrap()).unwrap()["members"]
        .as_array()
        .unwrap()
        .len();
    assert!(members > 30);

    // More members than SLACK_IM_READ_LIMIT: refused as a Slack read of that many would be.
    world.set("SLACK_IM_READ_LIMIT", "20");
    let run = world.run(&["sync"]);
    run.assert_code(1);
    assert!(run.stderr.contains("more than 20 members (SLACK_IM_READ_LIMIT)"), "{}", run.stderr);
    assert!(run.stderr.contains(&file.display().to_string()), "{}", run.stderr);
    assert_eq!(world.writes(), 0);
    world.unset("SLACK_IM_READ_LIMIT");

    // Bigger than SLACK_IM_READ_MAX_MB: refused before it is read, whatever it holds.
    let big = world.dir.path().join("big.json");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(&" ".repeat(1_000_001));
    std::fs::write(&big, text).unwrap();
    world.set("SLACK_IM_MEMBERS_FILE", big.to_str().unwrap()).set("SLACK_IM_READ_MAX_MB", "1");
    let run = world.run(&["sync"]);
    run.assert_code(1);
    assert!(run.stderr.contains("is larger than 1 MB (SLACK_IM_READ_MAX_MB)"), "{}", run.stderr);
    assert_eq!(world.writes(), 0);
}

/// The first eligible member of the world's workspace, given the sensitive fields of the fixture
/// (2FA status, phone, custom profile fields…) as Slack would send them.
fn with_sensitive_fields(world: &World) -> (String, Value) {
    let extra: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("members_file/sensitive_fields.json")).unwrap(),
    )
    .unwrap();
    let member = world.slack.members().into_iter().find(is_eligible).expect("an eligible member");
    let id = member["id"].as_str().unwrap().to_string();
    world.slack.update_member(&id, |m| {
        for (k, v) in extra.as_object().unwrap() {
            match (k.as_str(), m.get_mut(k)) {
                ("profile", Some(profile)) => {
                    profile.as_object_mut().unwrap().extend(v.as_object().unwrap().clone())
                }
                _ => {
                    m[k] = v.clone();
                }
            }
        }
    });
    (id, extra)
}

fn exported_member(file: &std::path::Path, id: &str) -> Value {
    let file: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    file["members"].as_array().unwrap().iter().find(|m| m["id"] == id).cloned().expect("exported")
}

#[test]
fn export_writes_only_the_fields_slack_im_reads_never_2fa_phone_or_custom_fields() {
    let mut world = World::new(20);
    world.without_welcome(); // the plans from Slack and from the file, alike
    let (id, _) = with_sensitive_fields(&world);
    let from_slack = world.run(&["plan"]);
    from_slack.assert_code(0);
    let file = exported(&mut world);
    let text = std::fs::read_to_string(&file).unwrap();
    for secret in [
        "has_2fa",
        "two_factor_type",
        "+44 20 7946 0958",
        "secret-clearance-level-3",
        "Xf0CLEARANCE",
        "in hospital",
        "avatars.example",
        "Acme Hidden Org",
        "\"phone\"",
    ] {
        assert!(!text.contains(secret), "the export holds {secret}");
    }
    let member = exported_member(&file, &id);
    let read = [
        "id",
        "team_id",
        "name",
        "deleted",
        "is_bot",
        "is_workflow_bot",
        "is_restricted",
        "is_ultra_restricted",
        "is_invited_user",
        "is_email_confirmed",
        "is_stranger",
        "is_admin",
        "is_owner",
        "real_name",
        "tz",
        "updated",
        "enterprise_user",
        "profile",
    ];
    assert_eq!(
        member["enterprise_user"],
        json!({"id": "W0ACME0001"}),
        "a Grid id is kept for the anchor, nothing else of it"
    );
    for key in member.as_object().unwrap().keys() {
        assert!(read.contains(&key.as_str()), "{key} is not a field slack-im reads: {member}");
    }
    let profile =
        ["email", "real_name", "display_name", "first_name", "last_name", "title", "bot_id", "api_app_id"];
    for key in member["profile"].as_object().unwrap().keys() {
        assert!(profile.contains(&key.as_str()), "profile.{key} is not a field slack-im reads: {member}");
    }
    // What it keeps plans exactly what a read of Slack plans.
    let from_file = world.run(&["plan"]);
    from_file.assert_code(0);
    assert_eq!(
        from_file.summary.as_ref().unwrap()["actions"],
        from_slack.summary.as_ref().unwrap()["actions"]
    );
    assert_eq!(
        from_file.summary.as_ref().unwrap()["skipped"],
        from_slack.summary.as_ref().unwrap()["skipped"]
    );
}

#[test]
fn a_template_that_reads_user_phone_or_user_slack_needs_an_export_of_all_fields_still_without_2fa() {
    let mut world = World::new(0);
    let (id, _) = with_sensitive_fields(&world);
    let root = world.without_welcome();
    let create = root.join("dev/create.json");
    let text = std::fs::read_to_string(&create).unwrap();
    std::fs::write(
        &create,
        text.replacen(
            "\"customType\": \"user\",",
            "\"customType\": \"user\", \"phone\": {{ user.phone }},",
            1,
        ),
    )
    .unwrap();
    let file = exported(&mut world);
    let run = world.run(&["sync"]);
    run.assert_code(1);
    assert!(run.stderr.contains(&file.display().to_string()), "{}", run.stderr);
    assert!(run.stderr.contains("SLACK_IM_EXPORT_FIELDS=all"), "names the fix: {}", run.stderr);
    assert_eq!(world.writes(), 0);

    world.set("SLACK_BOT_TOKEN", BOT_TOKEN).set("SLACK_IM_EXPORT_FIELDS", "all");
    world.run(&["export", file.to_str().unwrap()]).assert_code(0);
    world.unset("SLACK_BOT_TOKEN").unset("SLACK_IM_EXPORT_FIELDS");
    let member = exported_member(&file, &id);
    assert_eq!(member["profile"]["phone"], "+44 20 7946 0958");
    assert!(
        member.get("has_2fa").is_none() && member.get("two_factor_type").is_none(),
        "never 2FA: {member}"
    );
    world.run(&["sync"]).assert_code(0);
    assert!(world.accounts().values().any(|a| a["phone"] == "+44 20 7946 0958"));
}

#[test]
fn export_writes_through_a_new_private_temporary_file_never_a_planted_one_or_a_symlink() {
    use std::os::unix::fs::PermissionsExt;
    let world = World::new(0);
    let folder = world.dir.path().join("export");
    std::fs::create_dir(&folder).unwrap();
    let file = folder.join("members.json");
    // What the old fixed temporary name let anyone with write access to the folder plant: a file
    // anyone may read, and a symlink to a file elsewhere.
    let planted = folder.join(".members.json.partial");
    std::fs::write(&planted, "planted").unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o666)).unwrap();
    let elsewhere = world.dir.path().join("elsewhere.txt");
    std::fs::write(&elsewhere, "not yours").unwrap();
    let linked = world.dir.path().join("linked");
    std::fs::create_dir(&linked).unwrap();
    std::os::unix::fs::symlink(&elsewhere, linked.join(".members.json.partial")).unwrap();

    for folder in [&folder, &linked] {
        let file = folder.join("members.json");
        world.run(&["export", file.to_str().unwrap()]).assert_code(0);
        let metadata = std::fs::symlink_metadata(&file).unwrap();
        assert!(metadata.file_type().is_file(), "{} is a regular file, not a link", file.display());
        assert_eq!(metadata.permissions().mode() & 0o777, 0o600, "{} is private", file.display());
        let names: Vec<String> = std::fs::read_dir(folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file left behind: {names:?}");
    }
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "not yours", "the symlink was not followed");
    assert_eq!(
        std::fs::read_to_string(&planted).unwrap(),
        "planted",
        "the planted file was not written through"
    );
    assert!(std::fs::read_to_string(&file).unwrap().contains("\"members\""));
}
