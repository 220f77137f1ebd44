//! The unit tests of `template`, beside it so the module itself reads in one sitting.

use super::*;
use crate::members::Member;

/// A templates root with one system folder, `sys`, removed when dropped.
struct Folder(tempfile::TempDir);

impl Folder {
    fn new(files: &[(&str, &str)]) -> Folder {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("sys");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        Folder(root)
    }

    fn load(&self) -> Result<SystemTemplates, TemplateError> {
        let vars = BTreeMap::from([("role".to_string(), "AGENT".to_string())]);
        let secrets = BTreeMap::from([("target_token".to_string(), Secret::new("tok-123456".to_string()))]);
        SystemTemplates::load(self.0.path(), "sys", Some("http://t"), &vars, &secrets)
    }
}

const SYSTEM_JSON: &str = r#"{
  "headers": {"Authorization": {{ "Bearer " ~ secrets.target_token }}},
  "list": {"method": "GET", "path": "/api/users?page={page}", "items": "/data", "key": "/userId"},
  "create": {"method": "POST", "path": "/api/users"},
  "update": {"method": "PUT", "path": "/api/users/{key}"},
  "managed": "account.createdBy == 'slack-im'"
}"#;

fn user(name: &str) -> Arc<UserView> {
    let m: Member = serde_json::from_value(serde_json::json!({
        "id": "U1", "real_name": name, "profile": {"email": "Jo.Doe@Acme.example", "real_name": name}
    }))
    .unwrap();
    Arc::new(UserView::from_member(&m))
}

#[test]
fn system_json_renders_with_secrets_kept_secret() {
    let f = Folder::new(&[
        ("system.json", SYSTEM_JSON),
        ("create.json", r#"{"userId": {{ user.email_local|lower }}}"#),
    ]);
    let t = f.load().unwrap();
    assert_eq!(t.spec.headers[0].0, "Authorization");
    assert_eq!(t.spec.headers[0].1.expose(), "Bearer tok-123456");
    assert!(!format!("{:?}", t.spec).contains("tok-123456"));
    assert_eq!(t.spec.list[0].items, "/data");
    assert!(t.spec.deactivate.is_none());
}

#[test]
fn hostile_names_stay_inside_their_json_string() {
    let f = Folder::new(&[
        ("system.json", SYSTEM_JSON),
        (
            "create.json",
            r#"{"userId": {{ user.email_local|lower }}, "name": {{ user.name }}, "role": {{ vars.role }}}"#,
        ),
    ]);
    let t = f.load().unwrap();
    for name in [
        r#"", "role": "SUPER"#,
        "{{ secrets }}",
        "{% raw %}",
        "a\\b\n\"c\"\u{2028}",
        "김민준 🌸",
        &"x".repeat(10_000),
    ] {
        let (key, body) = t.render_create(&user(name)).unwrap();
        assert_eq!(key, "jo.doe");
        assert_eq!(body["name"], *name);
        assert_eq!(body["role"], "AGENT");
        assert_eq!(body.as_object().unwrap().len(), 3);
    }
}

#[test]
fn an_undefined_variable_names_file_line_and_member() {
    let f = Folder::new(&[
        ("system.json", SYSTEM_JSON),
        ("create.json", "{\n\"userId\": {{ user.email_local }},\n\"x\": {{ user.nmae }}}"),
    ]);
    let err = f.load().unwrap().render_create(&user("Jo")).unwrap_err();
    assert!(err.file.ends_with("sys/create.json"), "{err}");
    assert_eq!(err.line, Some(3));
    assert_eq!(err.subject.as_deref(), Some("member U1 (Jo.Doe@Acme.example)"));
    assert!(err.to_string().contains("undefined"), "{err}");
}

#[test]
fn user_groups_are_a_list_when_read_and_undefined_when_not() {
    let f = Folder::new(&[
        ("system.json", SYSTEM_JSON),
        (
            "create.json",
            r#"{"userId": {{ user.email_local }}, "role": {{ "QA" if "qa" in user.groups else "AGENT" }}, "groups": {{ user.groups }}}"#,
        ),
    ]);
    let t = f.load().unwrap();
    assert!(t.uses_groups && !t.uses_slack_object);
    let member = |groups: &[&str]| {
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        Arc::new(Arc::unwrap_or_clone(user("Jo")).with_groups(&groups))
    };
    let (_, body) = t.render_create(&member(&["cs-agents", "qa"])).unwrap();
    assert_eq!(
        (body["role"].as_str(), &body["groups"]),
        (Some("QA"), &serde_json::json!(["cs-agents", "qa"]))
    );
    let (_, body) = t.render_create(&member(&[])).unwrap();
    assert_eq!(body["role"], "AGENT");
    let err = t.render_create(&user("Jo")).unwrap_err();
    assert!(err.detail.contains("undefined"), "groups not read are never an empty list: {err}");
    let plain = Folder::new(&[("system.json", SYSTEM_JSON), ("create.json", r#"{"userId": {{ user.id }}}"#)]);
    assert!(!plain.load().unwrap().uses_groups);
    assert!(folder_uses_groups(f.0.path(), "sys") && !folder_uses_groups(plain.0.path(), "sys"));
}

#[test]
fn a_body_without_the_key_is_an_error() {
    let f = Folder::new(&[("system.json", SYSTEM_JSON), ("create.json", r#"{"id": {{ user.id }}}"#)]);
    let err = f.load().unwrap().render_create(&user("Jo")).unwrap_err();
    assert!(err.detail.contains("/userId"), "{err}");
}

#[test]
fn managed_is_false_without_the_field_and_without_the_expression() {
    let f = Folder::new(&[
        ("system.json", SYSTEM_JSON),
        ("create.json", r#"{"userId": {{ user.email_local }}}"#),
    ]);
    let t = f.load().unwrap();
    let t = t.account_tests().unwrap();
    assert!(t
        .is_managed("a", &Arc::new(serde_json::json!({"userId": "a", "createdBy": "slack-im"})))
        .unwrap());
    assert!(!t
        .is_managed("b", &Arc::new(serde_json::json!({"userId": "b", "createdBy": "init-data"})))
        .unwrap());
    assert!(!t.is_managed("c", &Arc::new(serde_json::json!({"userId": "c"}))).unwrap());
    let f = Folder::new(&[
        ("system.json", &SYSTEM_JSON.replace(",\n  \"managed\": \"account.createdBy == 'slack-im'\"", "")),
        ("create.json", r#"{"userId": 1}"#),
    ]);
    assert!(!f
        .load()
        .unwrap()
        .account_tests()
        .unwrap()
        .is_managed("a", &Arc::new(serde_json::json!({"createdBy": "slack-im"})))
        .unwrap());
}

/// A folder whose `system.json` has `"key": <expression>` (kept raw: system.json is a template
/// itself) and the given create.json.
fn keyed(expression: &str, create: &str) -> Folder {
    let quoted = serde_json::to_string(expression).unwrap();
    let raw = format!("{{% raw %}}{}{{% endraw %}}", &quoted[1..quoted.len() - 1]);
    let system = SYSTEM_JSON.replace("\"managed\":", &format!("\"key\": \"{raw}\",\n  \"managed\":"));
    Folder::new(&[("system.json", &system), ("create.json", create)])
}

#[test]
fn the_key_expression_gives_text_or_a_number_in_decimal() {
    let create = r#"{"userId": {{ user.email_local | lower }}}"#;
    let t = keyed("user.email_local | lower", create).load().unwrap();
    assert_eq!(t.render_key(&user("Jo")).unwrap().as_deref(), Some("jo.doe"));
    let t = keyed("40 + 2", create).load().unwrap();
    assert_eq!(t.render_key(&user("Jo")).unwrap().as_deref(), Some("42"));
    let t = keyed("vars.role ~ '-' ~ system.name", create).load().unwrap();
    assert_eq!(t.render_key(&user("Jo")).unwrap().as_deref(), Some("AGENT-sys"), "globals as in templates");
    let t = Folder::new(&[("system.json", SYSTEM_JSON), ("create.json", create)]).load().unwrap();
    assert_eq!(t.render_key(&user("Jo")).unwrap(), None, "no expression: the key is create.json's");
}

#[test]
fn a_key_that_is_not_text_names_the_member_and_what_it_was() {
    let create = r#"{"userId": {{ user.email_local | lower }}}"#;
    for (expression, expected) in [
        ("user.title", "blank text \"\""),
        ("none", "none"),
        ("user.is_admin", "bool"),
        ("[user.id]", "sequence"),
        ("user", "map"),
    ] {
        let err = keyed(expression, create).load().unwrap().render_key(&user("Jo")).unwrap_err();
        assert!(err.file.ends_with("sys/system.json"), "{err}");
        assert_eq!(err.subject.as_deref(), Some("member U1 (Jo.Doe@Acme.example)"));
        assert!(err.detail.contains(&format!("gave {expected}, not text")), "{expression}: {err}");
    }
    let err = keyed("user.nmae | lower", create).load().unwrap().render_key(&user("Jo")).unwrap_err();
    assert!(err.detail.contains("\"key\" expression failed") && err.detail.contains("undefined"), "{err}");
}

#[test]
fn a_key_expression_that_does_not_compile_is_a_load_error() {
    let create = r#"{"userId": 1}"#;
    for expression in ["user.email_local |", "user.id }}{{ secrets.target_token", "user.id %}{% set x = 1"] {
        let err = keyed(expression, create).load().err().unwrap();
        assert!(err.detail.starts_with("\"key\" is not a valid expression"), "{expression}: {err}");
        assert!(err.file.ends_with("sys/system.json"), "{err}");
    }
}

#[test]
fn create_json_must_agree_with_the_key_expression() {
    let create = r#"{"userId": {{ user.email_local }}, "name": {{ user.name }}}"#;
    let t = keyed("user.email_local | lower", create).load().unwrap();
    let (key, body) = t.render_create_for_key(&user("Jo"), "jo.doe").unwrap();
    assert_eq!((key.as_str(), &body["name"]), ("Jo.Doe", &serde_json::json!("Jo")), "case-insensitively");
    let t = keyed("user.id", create).load().unwrap();
    let err = t.render_create_for_key(&user("Jo"), "U1").unwrap_err();
    assert!(err.file.ends_with("sys/create.json"), "{err}");
    assert_eq!(err.subject.as_deref(), Some("member U1 (Jo.Doe@Acme.example)"));
    assert!(err.detail.contains(r#"gives "U1" but create.json has "Jo.Doe" at /userId"#), "{err}");
}

#[test]
fn a_key_reading_user_slack_keeps_the_slack_object() {
    let create = r#"{"userId": {{ user.email_local }}}"#;
    assert!(!keyed("user.email_local", create).load().unwrap().uses_slack_object);
    assert!(keyed("user.slack.name", create).load().unwrap().uses_slack_object);
}

#[test]
fn a_bad_system_json_is_explained() {
    let f = Folder::new(&[
        (
            "system.json",
            r#"{"list": {"path": "api", "key": "/id"}, "create": {"method": "POST", "path": "/x"}}"#,
        ),
        ("create.json", "{}"),
    ]);
    let err = f.load().err().unwrap();
    assert!(err.detail.contains("list.path \"api\" must start with /"), "{err}");
    let f = Folder::new(&[
        (
            "system.json",
            r#"{"list": {"path": "/a", "key": "/id"}, "create": {"method": "POST", "path": "/x"}, "delete": {}}"#,
        ),
        ("create.json", "{}"),
    ]);
    assert!(f.load().err().unwrap().detail.contains("unknown field `delete`"));
}

#[test]
fn a_missing_system_folder_lists_the_ones_found() {
    let f = Folder::new(&[("system.json", SYSTEM_JSON), ("create.json", "{}")]);
    let err = SystemTemplates::load(f.0.path(), "nope", Some("http://t"), &BTreeMap::new(), &BTreeMap::new())
        .err()
        .unwrap();
    assert!(err.detail.contains("systems found: sys"), "{err}");
}
