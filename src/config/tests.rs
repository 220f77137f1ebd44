//! The configuration reader's unit tests: defaults, every kind of mistake and its message, the
//! overlay of several systems, and the table against what the reader really reads.

use super::*;

fn base() -> Vec<(String, String)> {
    [
        ("SLACK_BOT_TOKEN", "xoxb-test-token"),
        ("SLACK_IM_SYSTEM", "dev"),
        ("SLACK_IM_TARGET_URL", "http://127.0.0.1:9/"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn with(extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut vars = base();
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_vars(vars)
}

#[test]
fn defaults_apply_when_only_the_required_variables_are_set() {
    let c = with(&[]).unwrap();
    assert_eq!(c.systems[0].system, "dev");
    assert_eq!(c.systems[0].target_url.as_deref(), Some("http://127.0.0.1:9"));
    assert_eq!(c.run.slack_url, "https://slack.com/api/");
    assert_eq!(c.run.concurrency, 4);
    assert_eq!(c.run.timeout, Duration::from_secs(30));
    assert!(!c.run.dry_run && !c.run.include_guests);
    assert_eq!(c.run.templates_root, PathBuf::from("templates"));
}

#[test]
fn a_missing_required_variable_is_named() {
    let vars = base().into_iter().filter(|(k, _)| k != "SLACK_IM_SYSTEM");
    let err = Config::from_vars(vars).unwrap_err();
    assert!(err.to_string().starts_with("SLACK_IM_SYSTEM is not set"), "{err}");
    let vars = base().into_iter().filter(|(k, _)| k != "SLACK_BOT_TOKEN");
    assert!(Config::from_vars(vars).unwrap_err().to_string().contains("SLACK_BOT_TOKEN"));
}

#[test]
fn a_misspelled_variable_is_an_error_with_a_suggestion() {
    let err = with(&[("SLACK_IM_DRYRUN", "true")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "SLACK_IM_DRYRUN is not a slack-im variable (did you mean SLACK_IM_DRY_RUN?)"
    );
}

#[test]
fn malformed_values_name_the_variable() {
    for (var, value) in [
        ("SLACK_IM_CONCURRENCY", "four"),
        ("SLACK_IM_CONCURRENCY", "0"),
        ("SLACK_IM_TIMEOUT_SECS", "-1"),
        ("SLACK_IM_DRY_RUN", "maybe"),
        ("SLACK_IM_TARGET_URL", "dev.example.com"),
        ("SLACK_IM_CHANNEL", "#general"),
        ("SLACK_IM_EMAIL_DOMAINS", "example"),
        ("SLACK_IM_SYSTEM", "../etc"),
        ("SLACK_IM_VAR_role", "x"),
        ("SLACK_IM_PROTECT", "a b"),
        ("SLACK_IM_EXCLUDE", "a@x.example;b@x.example"),
        ("SLACK_IM_SLACK_URL", "http://slack.example.com/api/"),
        ("SLACK_IM_TARGET_URL", "https://ops:pw@dev.example.com"),
        ("SLACK_IM_SECRET_PASSWORD", "12345"),
        ("SLACK_IM_DEADLINE_SECS", "0"),
        ("SLACK_IM_READ_LIMIT", "lots"),
    ] {
        let err = with(&[(var, value)]).unwrap_err().to_string();
        assert!(err.starts_with(var), "{var}={value}: {err}");
    }
}

#[test]
fn vars_and_secrets_are_lower_cased_and_secrets_stay_wrapped() {
    let c = with(&[("SLACK_IM_VAR_ROLE_GROUP", "AGENT"), ("SLACK_IM_SECRET_TARGET_TOKEN", "s3cr3t-value")])
        .unwrap();
    assert_eq!(c.systems[0].vars["role_group"], "AGENT");
    assert_eq!(c.systems[0].secrets["target_token"].expose(), "s3cr3t-value");
    let debug = format!("{c:?}");
    assert!(!debug.contains("s3cr3t-value") && !debug.contains("xoxb-test-token"), "{debug}");
}

#[test]
fn secrets_can_come_from_files_and_not_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let file = dir.join("token");
    std::fs::write(&file, "from-a-file\n").unwrap();
    let path = file.to_str().unwrap();
    let c = with(&[("SLACK_IM_SECRET_TARGET_TOKEN_FILE", path)]).unwrap();
    assert_eq!(c.systems[0].secrets["target_token"].expose(), "from-a-file");
    let err = with(&[("SLACK_IM_SECRET_TARGET_TOKEN_FILE", path), ("SLACK_IM_SECRET_TARGET_TOKEN", "x")])
        .unwrap_err();
    assert!(matches!(err, ConfigError::Conflict { .. }), "{err}");
    let err = with(&[("SLACK_IM_SECRET_X_FILE", "/nonexistent/x")]).unwrap_err().to_string();
    assert!(err.starts_with("SLACK_IM_SECRET_X_FILE names the file /nonexistent/x"), "{err}");
}

#[test]
fn plain_http_is_for_loopback_unless_allowed() {
    for url in ["http://127.0.0.1:8080", "http://localhost/", "http://[::1]:9", "http://127.9.9.9"] {
        assert!(with(&[("SLACK_IM_TARGET_URL", url)]).is_ok(), "{url}");
    }
    for url in
        ["http://10.0.0.1", "http://localhost.example.com", "http://[::2]:9", "http://127.0.0.1.nip.io"]
    {
        assert!(with(&[("SLACK_IM_TARGET_URL", url)]).is_err(), "{url}");
    }
    let c = with(&[("SLACK_IM_TARGET_URL", "http://dev.internal"), ("SLACK_IM_ALLOW_HTTP", "true")]).unwrap();
    assert_eq!(c.systems[0].target_url.as_deref(), Some("http://dev.internal"));
}

#[test]
fn credentials_in_a_url_are_refused_and_not_echoed() {
    let err = with(&[("SLACK_IM_TARGET_URL", "https://ops:hunter2@dev.example.com")]).unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    // An @ after the host is a path, not credentials.
    assert!(with(&[("SLACK_IM_TARGET_URL", "https://dev.example.com/@team")]).is_ok());
}

#[test]
fn several_systems_each_read_their_own_suffixed_values_over_the_shared_ones() {
    let vars = [
        ("SLACK_BOT_TOKEN", "xoxb-test-token"),
        ("SLACK_IM_SYSTEM", "dev, model-office,sales.demo"),
        ("SLACK_IM_TARGET_URL__DEV", "https://dev.example"),
        ("SLACK_IM_TARGET_URL__MODEL_OFFICE", "https://mo.example/"),
        ("SLACK_IM_SECRET_TARGET_TOKEN", "shared-token"),
        ("SLACK_IM_SECRET_TARGET_TOKEN__DEV", "dev-only-token"),
        ("SLACK_IM_VAR_ROLE__SALES_DEMO", "DEMO"),
        ("SLACK_IM_PROTECT__DEV", "admin"),
        ("SLACK_IM_MAX_DEACTIVATE__SALES_DEMO", "0"),
        ("SLACK_IM_USERGROUPS", "qa"),
        ("SLACK_IM_USERGROUPS__SALES_DEMO", "@Sales, solutions"),
    ];
    let all = Config::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap();
    let by = |name: &str| all.systems.iter().find(|c| c.system == name).unwrap();
    assert_eq!(
        all.systems.iter().map(|c| c.system.as_str()).collect::<Vec<_>>(),
        ["dev", "model-office", "sales.demo"]
    );
    assert_eq!(by("model-office").target_url.as_deref(), Some("https://mo.example"));
    assert_eq!(by("dev").target_url.as_deref(), Some("https://dev.example"));
    assert_eq!(by("sales.demo").target_url, None, "the folder's url");
    assert_eq!(by("dev").secrets["target_token"].expose(), "dev-only-token");
    assert_eq!(by("model-office").secrets["target_token"].expose(), "shared-token");
    assert_eq!(by("sales.demo").vars.get("role").map(String::as_str), Some("DEMO"));
    assert!(!by("dev").vars.contains_key("role"));
    assert_eq!(by("dev").protect, ["admin"]);
    assert!(by("model-office").protect.is_empty());
    assert_eq!(by("sales.demo").max_deactivate, Some(0));
    assert_eq!(by("dev").usergroups, ["qa"]);
    assert_eq!(by("dev").usergroups_var, "SLACK_IM_USERGROUPS");
    assert_eq!(by("sales.demo").usergroups, ["sales", "solutions"]);
    assert_eq!(by("sales.demo").usergroups_var, "SLACK_IM_USERGROUPS__SALES_DEMO");
}

#[test]
fn a_suffix_for_a_system_not_being_run_is_an_error_with_a_suggestion() {
    let err = with(&[("SLACK_IM_TARGET_URL__DEVV", "https://x.example")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "SLACK_IM_TARGET_URL__DEVV is not a slack-im variable (did you mean SLACK_IM_TARGET_URL__DEV?)"
    );
    let err = with(&[("SLACK_IM_TARGET_URL__DEV", "ftp://x")]).unwrap_err();
    assert!(err.to_string().starts_with("SLACK_IM_TARGET_URL__DEV is invalid"), "{err}");
    let err = with(&[("SLACK_IM_SYSTEM", "dev,dev")]).unwrap_err();
    assert!(err.to_string().contains("named twice"), "{err}");
}

#[test]
fn confirmed_emails_are_required_unless_switched_off() {
    assert!(with(&[]).unwrap().run.require_confirmed_email);
    assert!(!with(&[("SLACK_IM_REQUIRE_CONFIRMED_EMAIL", "false")]).unwrap().run.require_confirmed_email);
    assert!(with(&[("SLACK_IM_REQUIRE_CONFIRMED_EMAIL", "true")]).unwrap().run.require_confirmed_email);
    let err = with(&[("SLACK_IM_REQUIRE_CONFIRMED_EMAIL", "sometimes")]).unwrap_err().to_string();
    assert!(err.starts_with("SLACK_IM_REQUIRE_CONFIRMED_EMAIL is invalid"), "{err}");
}

#[test]
fn empty_values_count_as_unset() {
    let c = with(&[("SLACK_IM_CHANNEL", ""), ("SLACK_IM_CONCURRENCY", "")]).unwrap();
    assert_eq!(c.run.channel, None);
    assert_eq!(c.run.concurrency, 4);
}

#[test]
fn lists_are_trimmed_and_normalised() {
    let c = with(&[
        ("SLACK_IM_EMAIL_DOMAINS", " Acme.example , @other.example"),
        ("SLACK_IM_EXCLUDE", "Bob@Acme.example, u0abc"),
        ("SLACK_IM_PROTECT", "Admin"),
    ])
    .unwrap();
    assert_eq!(c.systems[0].email_domains, ["acme.example", "other.example"]);
    assert_eq!(c.run.exclude, ["bob@acme.example", "U0ABC"]);
    assert_eq!(c.systems[0].protect, ["admin"]);
}

#[test]
fn errors_from_envy_name_the_variable_and_the_problem() {
    for (var, value, message) in [
        ("SLACK_IM_CONCURRENCY", "four", r#"SLACK_IM_CONCURRENCY is invalid: "four" is not a whole number"#),
        ("SLACK_IM_CONCURRENCY", "65", "SLACK_IM_CONCURRENCY is invalid: 65 is outside 1..=64"),
        ("SLACK_IM_READ_LIMIT", " 0 ", "SLACK_IM_READ_LIMIT is invalid: 0 is outside 1..=100000000"),
        ("SLACK_IM_DRY_RUN", " Maybe", r#"SLACK_IM_DRY_RUN is invalid: "maybe" is not true or false"#),
        (
            "SLACK_IM_PROTECT",
            "a, b c",
            r#"SLACK_IM_PROTECT is invalid: "b c": items are separated by commas only (a,b,c); white space, ; and | are not separators"#,
        ),
    ] {
        // A valid variable read alongside must not hide which one failed.
        let err = with(&[("SLACK_IM_TIMEOUT_SECS", "5"), (var, value)]).unwrap_err();
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn flags_accept_every_spelling_of_yes_and_no() {
    for (value, expected) in [
        ("true", true),
        ("1", true),
        ("YES", true),
        ("on", true),
        ("False", false),
        ("0", false),
        ("no", false),
        ("off", false),
    ] {
        assert_eq!(with(&[("SLACK_IM_DRY_RUN", value)]).unwrap().run.dry_run, expected, "{value}");
    }
}

#[test]
fn the_help_states_the_defaults_and_ranges_the_reader_applies() {
    let help = |name: &str| VARIABLES.iter().find(|v| v.name == name).unwrap().help_line();
    assert_eq!(help("SLACK_IM_CONCURRENCY"), "parallel target writes, 1 to 64 (default 4)");
    assert_eq!(help("SLACK_IM_SLACK_URL"), "Slack API base (default: https://slack.com/api/)");
    assert_eq!(help("SLACK_IM_TEMPLATES"), "templates root (default: templates; /templates in the image)");
    assert_eq!(
        help("SLACK_IM_DRY_RUN"),
        "true: read and plan only, the same as `slack-im plan` (default false)"
    );
    let c = with(&[]).unwrap();
    assert_eq!((c.run.concurrency, c.run.retry_budget, c.run.read_limit), (4, 100, 200_000));
    assert_eq!((c.run.timeout, c.run.deadline), (Duration::from_secs(30), Duration::from_secs(3600)));
    assert!(with(&[("SLACK_IM_RETRY_BUDGET", "0")]).is_ok());
    assert!(with(&[("SLACK_IM_RETRY_BUDGET", "100001")]).is_err());
}

/// Fails when a variable in `--help` is not read (setting it changes nothing and is no error),
/// or when the reader reads a variable `--help` does not list.
#[test]
fn every_documented_variable_is_read_and_every_read_one_is_documented() {
    // What is read by name is the table's (envy gets only those names, and its struct refuses a
    // name it has no field for), so the probes below also prove each of them reaches the struct.
    let documented: Vec<&str> = VARIABLES.iter().map(|v| v.name).collect();
    let unset = format!("{:?}", with(&[]).unwrap());
    // One of these is invalid or different from the default for every kind of variable.
    let probes = ["not valid", "7", "https://probe.example/", "C0PROBE"];
    for name in documented {
        if name == "RUST_LOG" {
            continue; // read by the logger (main.rs), not by Config
        }
        let name = name.replace("<NAME>", "PROBE").replace("<VARIABLE>__<SYSTEM>", "SLACK_IM_PROTECT__DEV");
        let read = probes.iter().any(|value| match with(&[(&name, value)]) {
            Ok(c) => format!("{c:?}") != unset,
            Err(ConfigError::Unknown { .. }) => false,
            Err(e) => e.to_string().contains(&name),
        });
        assert!(read, "{name} is documented, but no value of it changes the configuration");
    }
}

#[test]
fn each_system_has_its_own_report_folder_when_several_run() {
    let one = with(&[("SLACK_IM_REPORT_DIR", "reports")]).unwrap();
    assert_eq!(one.report_dir(&one.systems[0]), Some(PathBuf::from("reports")));
    let two = with(&[
        ("SLACK_IM_REPORT_DIR", "reports"),
        ("SLACK_IM_SYSTEM", "dev,model-office"),
        ("SLACK_IM_TARGET_URL", ""),
    ])
    .unwrap();
    let dirs: Vec<Option<PathBuf>> = two.systems.iter().map(|s| two.report_dir(s)).collect();
    assert_eq!(dirs, [Some(PathBuf::from("reports/dev")), Some(PathBuf::from("reports/model-office"))]);
    assert_eq!(with(&[]).unwrap().report_dir(&one.systems[0]), None);
}

#[test]
fn every_variable_that_may_be_given_per_system_lands_in_that_systems_config() {
    // A suffixable variable kept in the run-wide settings would silently take the first system's
    // value for every system.
    let value = |name: &str| match name {
        "SLACK_IM_TARGET_URL" => "https://mo.example",
        "SLACK_IM_EMAIL_DOMAINS" => "mo.example",
        "SLACK_IM_USERGROUPS" => "mo-agents",
        "SLACK_IM_PROTECT" => "admin",
        "SLACK_IM_MAX_DEACTIVATE" | "SLACK_IM_MAX_REACTIVATE" | "SLACK_IM_MAX_CREATE" => "1",
        "SLACK_IM_DEACTIVATE_AFTER" => "72h",
        other => panic!("give {other} a valid value in this test"),
    };
    for name in super::overlay::PER_SYSTEM {
        let suffixed = format!("{name}__MODEL_OFFICE");
        let c = with(&[
            ("SLACK_IM_SYSTEM", "dev,model-office"),
            ("SLACK_IM_TARGET_URL", ""),
            (suffixed.as_str(), value(name)),
        ])
        .unwrap();
        let [dev, mo] = [&c.systems[0], &c.systems[1]].map(|s| {
            format!(
                "{:?}",
                SystemConfig {
                    system: String::new(),
                    usergroups_var: String::new(),
                    target_url_var: String::new(),
                    ..s.clone()
                }
            )
        });
        assert_ne!(dev, mo, "{suffixed} does not reach model-office's SystemConfig");
    }
}

#[test]
fn several_systems_never_share_one_target_url() {
    let err =
        with(&[("SLACK_IM_SYSTEM", "dev,model-office"), ("SLACK_IM_TARGET_URL", "https://dev.example")])
            .unwrap_err();
    let message = err.to_string();
    assert!(message.starts_with("SLACK_IM_TARGET_URL is invalid"), "{message}");
    assert!(message.contains("SLACK_IM_TARGET_URL__DEV, SLACK_IM_TARGET_URL__MODEL_OFFICE"), "{message}");
    // One system may take it: its server is the only one.
    assert!(with(&[("SLACK_IM_TARGET_URL", "https://dev.example")]).is_ok());
}

#[test]
fn systems_whose_suffixes_collide_are_refused() {
    let err = with(&[("SLACK_IM_SYSTEM", "sales-demo,sales.demo")]).unwrap_err();
    assert!(
        err.to_string().contains("\"sales-demo\" and \"sales.demo\" share the suffix SALES_DEMO"),
        "{err}"
    );
}

#[test]
fn a_host_and_port_compares_whatever_the_case_the_default_port_and_the_path() {
    use super::values::host_and_port;
    for (a, b) in [
        ("https://Dev.Example.Internal", "https://dev.example.internal:443/api/"),
        ("HTTPS://dev.example.internal.", "https://dev.example.internal"),
        ("http://dev.example.internal:80", "http://dev.example.internal/"),
        ("https://[2001:DB8::1]:0443", "https://[2001:db8::1]"),
        ("https://dev.example.internal?x=1", "https://dev.example.internal#y"),
    ] {
        assert_eq!(host_and_port(a), host_and_port(b), "{a} and {b}");
    }
    for (a, b) in [
        ("https://dev.example.internal", "https://model-office.example.internal"),
        ("https://dev.example.internal", "https://dev.example.internal:8443"),
        ("https://dev.example.internal", "http://dev.example.internal"),
        ("https://dev.example.internal.evil.example", "https://dev.example.internal"),
        ("https://[2001:db8::1]", "https://[2001:db8::2]"),
    ] {
        assert_ne!(host_and_port(a), host_and_port(b), "{a} and {b}");
    }
    assert_eq!(host_and_port("https://Dev.Example.Internal/api"), "dev.example.internal:443");
}

#[test]
fn only_the_unsuffixed_target_url_must_keep_to_the_folders_host_and_loopback_is_exempt() {
    let folder = "\"url\" in templates/dev/system.json";
    let check = |vars: &[(&str, &str)], folder_url: Option<&str>| {
        let c = with(vars).unwrap();
        check_shared_url_host(&c.systems[0], folder_url, folder)
    };
    let own = Some("https://dev.example.internal");
    let err = check(&[("SLACK_IM_TARGET_URL", "https://mo.example.internal")], own).unwrap_err();
    assert_eq!(
        err.to_string(),
        "SLACK_IM_TARGET_URL is invalid: it points at mo.example.internal:443, but dev's folder names dev.example.internal:443 (\"url\" in templates/dev/system.json): the unsuffixed variable, set for another system perhaps, would send dev's token to another server; set SLACK_IM_TARGET_URL__DEV to send dev there, or change the folder's \"url\" (only a loopback host may stand in for any folder's)"
    );
    assert!(check(&[("SLACK_IM_TARGET_URL", "https://DEV.example.internal:443/v2")], own).is_ok());
    let suffixed = [("SLACK_IM_TARGET_URL", ""), ("SLACK_IM_TARGET_URL__DEV", "https://mo.example.internal")];
    assert!(check(&suffixed, own).is_ok(), "the suffixed variable names its system");
    let both =
        [("SLACK_IM_TARGET_URL", "https://x.example"), ("SLACK_IM_TARGET_URL__DEV", "https://mo.example")];
    assert!(check(&both, own).is_ok(), "the suffixed one wins, the unsuffixed one is not used");
    assert!(check(&[("SLACK_IM_TARGET_URL", "https://mo.example.internal")], None).is_ok(), "no folder url");
    for loopback in ["http://127.0.0.1:9", "http://127.8.0.1", "http://[::1]:8080", "http://localhost:8080"] {
        assert!(check(&[("SLACK_IM_TARGET_URL", loopback)], own).is_ok(), "{loopback}");
    }
    assert!(check(&[("SLACK_IM_TARGET_URL", "")], own).is_ok(), "no override: the folder's url");
}

#[test]
fn notify_on_defaults_to_changes_and_each_policy_posts_what_it_says() {
    assert_eq!(with(&[]).unwrap().run.notify_on, NotifyOn::Changes);
    assert_eq!(with(&[("SLACK_IM_NOTIFY_ON", " Problems ")]).unwrap().run.notify_on, NotifyOn::Problems);
    assert_eq!(with(&[("SLACK_IM_NOTIFY_ON", "always")]).unwrap().run.notify_on, NotifyOn::Always);
    let err = with(&[("SLACK_IM_NOTIFY_ON", "errors")]).unwrap_err().to_string();
    assert_eq!(err, "SLACK_IM_NOTIFY_ON is invalid: \"errors\": always, changes (the default) or problems");
    // (problem, change) -> posts
    let table = [(false, false), (false, true), (true, false), (true, true)];
    let posts = |on: NotifyOn| table.map(|(p, c)| on.wants(p, c));
    assert_eq!(posts(NotifyOn::Always), [true, true, true, true]);
    assert_eq!(posts(NotifyOn::Changes), [false, true, true, true]);
    assert_eq!(posts(NotifyOn::Problems), [false, false, true, true]);
}

#[test]
fn build_url_is_read_as_jenkins_sets_it_and_never_refused() {
    assert_eq!(with(&[]).unwrap().run.build_url, None);
    let c = with(&[("BUILD_URL", "not a url at all")]).unwrap();
    assert_eq!(c.run.build_url.as_deref(), Some("not a url at all"));
}
