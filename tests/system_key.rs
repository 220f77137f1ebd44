//! `system.json`'s `key` expression: with it, members whose account exists never render
//! `create.json`; a `key` that disagrees with `create.json` stops `sync` and `check` before any write.

use std::path::Path;

use slack_im_fakes::TargetOp;

use crate::common::*;

/// The shipped dev folder's `key`, as it stands in its system.json.
const SHIPPED_KEY: &str = r#""key": "user.email_local | lower""#;

/// Rewrites `file` of the dev folder under `templates` (a private copy) with `edit`.
fn rewrite(templates: &Path, file: &str, edit: impl FnOnce(String) -> String) {
    let path = templates.join("dev").join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(text)).unwrap();
}

#[test]
fn with_a_key_a_steady_state_run_renders_no_create_json_for_members_with_an_account() {
    let mut world = World::new(50);
    world.run(&["sync"]).assert_code(0);
    let members = world.expected_keys().len() as u64;
    let writes = world.writes();

    // create.json now fails for anyone it is rendered for.
    let templates = world.own_templates();
    rewrite(&templates, "create.json", |text| format!("{{{{ create_json_was_rendered }}}}{text}"));
    let steady = world.run(&["sync"]);
    steady.assert_code(0);
    assert_eq!(steady.count("unchanged"), members);
    assert_eq!(world.writes(), writes);

    // A member without an account still gets create.json, and here it fails before any write.
    world.slack.update_member("U0KOR00001", |m| m["profile"]["email"] = "minjun.kim.new@acme.example".into());
    let joiner = world.run(&["sync"]);
    joiner.assert_code(2);
    assert!(joiner.stderr.contains("dev/create.json"), "{}", joiner.stderr);
    assert!(joiner.stderr.contains("for member U0KOR00001"), "{}", joiner.stderr);
    assert_eq!(world.writes(), writes);

    // Without `key`, every member renders create.json, as before.
    world.slack.update_member("U0KOR00001", |m| m["profile"]["email"] = "minjun.kim@acme.example".into());
    rewrite(&templates, "system.json", |text| text.replace(&format!(",\n  {SHIPPED_KEY}"), ""));
    let unkeyed = world.run(&["sync"]);
    unkeyed.assert_code(2);
    assert!(unkeyed.stderr.contains("create_json_was_rendered"), "{}", unkeyed.stderr);
    assert_eq!(world.writes(), writes);
}

#[test]
fn a_key_that_disagrees_with_create_json_stops_sync_and_check_before_any_write() {
    let mut world = World::new(5);
    rewrite(&world.own_templates(), "system.json", |text| {
        assert!(text.contains(SHIPPED_KEY));
        text.replace(SHIPPED_KEY, r#""key": "user.id | lower""#)
    });
    let sync = world.run(&["sync"]);
    sync.assert_code(2);
    assert!(sync.stderr.contains("dev/create.json for member U"), "{}", sync.stderr);
    assert!(
        sync.stderr.contains("gives \"u0") && sync.stderr.contains("but create.json has"),
        "{}",
        sync.stderr
    );
    assert_eq!(world.writes(), 0);
    assert_eq!(world.target.count(TargetOp::Create), 0);

    let check = world.run(&["check"]);
    check.assert_code(2);
    // check reads the workspace like a sync does, so the first member that disagrees is named
    // (the built-in samples are checked too, after the reads).
    assert!(
        check.stderr.contains(r#"the "key" expression of system.json gives "u0"#)
            && check.stderr.contains("but create.json has"),
        "{}",
        check.stderr
    );
    assert_eq!(world.writes(), 0);
}
