//! A system folder (`templates/<system>/`): reads `system.json` and the payload templates, renders
//! them with JSON auto-escaping and strict undefined variables, and parses every result as JSON.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use minijinja::value::{Enumerator, Object};
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use serde::{Deserialize, Serialize};

use crate::secret::Secret;
use crate::slack::Member;

const SYSTEM: &str = "system.json";
const CREATE: &str = "create.json";
const UPDATE: &str = "update.json";
const DEACTIVATE: &str = "deactivate.json";
const MANAGED: &str = "managed expression";
const ADOPT: &str = "adopt expression";

/// A template that did not load, render or parse. Names the file, the line and the member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub file: String,
    pub line: Option<usize>,
    /// The member (Slack id and e-mail) or account (key) being rendered.
    pub subject: Option<String>,
    pub detail: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
        }
        if let Some(subject) = &self.subject {
            write!(f, " for {subject}")?;
        }
        write!(f, ": {}", self.detail)
    }
}

impl std::error::Error for TemplateError {}

/// One HTTP call of the target API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub method: String,
    pub path: String,
}

/// How to list the accounts the target already has.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListSpec {
    #[serde(default = "default_list_method")]
    pub method: String,
    /// May contain `{page}`: 0, 1, 2 … until a page has no items.
    pub path: String,
    /// JSON pointer to the array of accounts in a list response ("" for the whole response).
    #[serde(default)]
    pub items: String,
    /// JSON pointer to the key inside one account.
    pub key: String,
}

fn default_list_method() -> String {
    "GET".into()
}

/// `system.json` after rendering: how to talk to the system.
#[derive(Debug, Clone)]
pub struct SystemSpec {
    /// Header values often hold tokens: kept as secrets.
    pub headers: Vec<(String, Secret<String>)>,
    pub list: ListSpec,
    pub create: Endpoint,
    pub update: Option<Endpoint>,
    pub deactivate: Option<Endpoint>,
    pub managed: Option<String>,
    /// Which accounts slack-im does not manage a matching member may take over (update).
    /// Without it, such accounts are left alone.
    pub adopt: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSystemSpec {
    #[serde(default)]
    headers: BTreeMap<String, String>,
    list: ListSpec,
    create: Endpoint,
    update: Option<Endpoint>,
    deactivate: Option<Endpoint>,
    managed: Option<String>,
    adopt: Option<String>,
}

/// What templates see as `user`. Text fields Slack left out are empty strings, so a template
/// never has to guard against null.
#[derive(Debug, Clone)]
pub struct UserView {
    pub id: String,
    pub team_id: String,
    pub email: String,
    pub email_local: String,
    pub email_domain: String,
    pub name: String,
    pub real_name: String,
    pub display_name: String,
    pub first_name: String,
    pub last_name: String,
    pub title: String,
    pub phone: String,
    pub tz: String,
    pub is_admin: bool,
    pub is_owner: bool,
    /// The whole member object, when a template uses it.
    pub slack: Option<Arc<serde_json::Value>>,
}

/// The fields of `user`, for templates that iterate over it.
const USER_FIELDS: &[&str] = &[
    "id",
    "team_id",
    "email",
    "email_local",
    "email_domain",
    "name",
    "real_name",
    "display_name",
    "first_name",
    "last_name",
    "title",
    "phone",
    "tz",
    "is_admin",
    "is_owner",
    "slack",
];

/// `user` is a lazy template object: a template that reads four fields converts four fields.
/// (Converting every member through serde into a template map was most of a steady-state run's
/// CPU time at 50,000 members.)
impl Object for UserView {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let text = |s: &String| Some(Value::from(s.as_str()));
        match key.as_str()? {
            "id" => text(&self.id),
            "team_id" => text(&self.team_id),
            "email" => text(&self.email),
            "email_local" => text(&self.email_local),
            "email_domain" => text(&self.email_domain),
            "name" => text(&self.name),
            "real_name" => text(&self.real_name),
            "display_name" => text(&self.display_name),
            "first_name" => text(&self.first_name),
            "last_name" => text(&self.last_name),
            "title" => text(&self.title),
            "phone" => text(&self.phone),
            "tz" => text(&self.tz),
            "is_admin" => Some(Value::from(self.is_admin)),
            "is_owner" => Some(Value::from(self.is_owner)),
            "slack" => self.slack.clone().map(json_value_shared),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let present = if self.slack.is_some() { USER_FIELDS.len() } else { USER_FIELDS.len() - 1 };
        Enumerator::Str(&USER_FIELDS[..present])
    }
}

/// A JSON object (an account, `user.slack`) as a lazy template object: fields are converted when a
/// template reads them, not all at once.
#[derive(Debug)]
struct JsonObject(Arc<serde_json::Value>);

impl Object for JsonObject {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let field = self.0.as_object()?.get(key.as_str()?)?;
        Some(json_value(field))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let keys = self
            .0
            .as_object()
            .map(|o| o.keys().map(|k| Value::from(k.as_str())).collect())
            .unwrap_or_default();
        Enumerator::Values(keys)
    }
}

/// A JSON value as a template value: objects lazily, everything else converted.
fn json_value(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Object(_) => Value::from_object(JsonObject(Arc::new(value.clone()))),
        other => to_value(other),
    }
}

fn json_value_shared(value: Arc<serde_json::Value>) -> Value {
    if value.is_object() {
        Value::from_object(JsonObject(value))
    } else {
        to_value(&*value)
    }
}

impl UserView {
    /// The member as the template value `user`: shares the view, copies nothing.
    pub fn to_template_value(self: &Arc<Self>) -> Value {
        Value::from_dyn_object(Arc::clone(self))
    }
}

impl UserView {
    pub fn from_member(m: &Member) -> UserView {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let email = m.profile.email.clone().unwrap_or_default().trim().to_string();
        let (local, domain) = email.rsplit_once('@').unwrap_or((email.as_str(), ""));
        let real_name = m
            .profile
            .real_name
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| m.real_name.clone())
            .unwrap_or_default();
        let display_name = text(&m.profile.display_name);
        let name = [&real_name, &display_name, &text(&m.name)]
            .into_iter()
            .find(|s| !s.trim().is_empty())
            .cloned()
            .unwrap_or_default();
        UserView {
            id: m.id.clone(),
            team_id: text(&m.team_id),
            email_local: local.to_string(),
            email_domain: domain.to_lowercase(),
            email: email.clone(),
            name,
            real_name,
            display_name,
            first_name: text(&m.profile.first_name),
            last_name: text(&m.profile.last_name),
            title: text(&m.profile.title),
            phone: text(&m.profile.phone),
            tz: text(&m.tz),
            is_admin: m.is_admin == Some(true),
            is_owner: m.is_owner == Some(true),
            slack: m.raw.as_ref().and_then(|r| serde_json::from_str(r.get()).ok()).map(Arc::new),
        }
    }

    /// How errors and logs name the member: id and e-mail, never more.
    pub fn label(&self) -> String {
        format!("member {} ({})", self.id, self.email)
    }
}

/// A loaded system folder, ready to render.
pub struct SystemTemplates {
    folder: PathBuf,
    env: Environment<'static>,
    /// For the `managed` expression: an account lacking a field is simply not managed.
    managed_env: Environment<'static>,
    pub spec: SystemSpec,
    pub has_update_body: bool,
    pub has_deactivate_body: bool,
    /// A template mentions `slack`: members must keep their whole Slack object.
    pub uses_slack_object: bool,
    /// The secret values, so an error never quotes a rendered line that holds one.
    secret_values: Vec<String>,
}

impl SystemTemplates {
    /// Loads and checks `root/system`: every template compiles, `system.json` renders to a valid spec.
    pub fn load(
        root: &Path,
        system: &str,
        target_url: &str,
        vars: &BTreeMap<String, String>,
        secrets: &BTreeMap<String, Secret<String>>,
    ) -> Result<SystemTemplates, TemplateError> {
        let folder = root.join(system);
        if !folder.is_dir() {
            let found = list_systems(root);
            return Err(TemplateError {
                file: folder.display().to_string(),
                line: None,
                subject: None,
                detail: format!(
                    "no such system folder (SLACK_IM_TEMPLATES={}, SLACK_IM_SYSTEM={system}); systems found: {}",
                    root.display(),
                    if found.is_empty() { "none".to_string() } else { found.join(", ") }
                ),
            });
        }
        let mut env = Environment::new();
        let mut managed_env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".json") {
                AutoEscape::Json
            } else {
                AutoEscape::None
            }
        });
        let mut uses_slack_object = false;
        let mut present = Vec::new();
        for name in [SYSTEM, CREATE, UPDATE, DEACTIVATE] {
            let path = folder.join(name);
            match std::fs::read_to_string(&path) {
                Ok(source) => {
                    uses_slack_object |= mentions_slack_object(&source);
                    env.add_template_owned(name.to_string(), source)
                        .map_err(|e| from_jinja(&folder, name, None, &e))?;
                    present.push(name);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && name != SYSTEM && name != CREATE => {}
                Err(e) => {
                    return Err(TemplateError {
                        file: path.display().to_string(),
                        line: None,
                        subject: None,
                        detail: e.to_string(),
                    })
                }
            }
        }
        let secrets_value: BTreeMap<&str, &str> =
            secrets.iter().map(|(k, v)| (k.as_str(), v.expose().as_str())).collect();
        // vars, secrets and system are the same for every render: globals, not per-render context.
        let system_value = to_value(&BTreeMap::from([("name", system), ("target_url", target_url)]));
        for env in [&mut env, &mut managed_env] {
            env.add_global("vars", to_value(vars));
            env.add_global("secrets", to_value(&secrets_value));
            env.add_global("system", system_value.clone());
        }

        let mut templates = SystemTemplates {
            folder,
            env,
            managed_env,
            spec: SystemSpec {
                headers: Vec::new(),
                list: ListSpec {
                    method: String::new(),
                    path: String::new(),
                    items: String::new(),
                    key: String::new(),
                },
                create: Endpoint { method: String::new(), path: String::new() },
                update: None,
                deactivate: None,
                managed: None,
                adopt: None,
            },
            has_update_body: present.contains(&UPDATE),
            has_deactivate_body: present.contains(&DEACTIVATE),
            uses_slack_object,
            secret_values: secrets.values().map(|s| s.expose().clone()).collect(),
        };
        let spec_json = templates.render(SYSTEM, BTreeMap::new(), &|| None)?;
        templates.spec = templates.parse_spec(spec_json)?;
        templates.managed_env.set_undefined_behavior(UndefinedBehavior::Chainable);
        for (name, field, expr) in [
            (MANAGED, "managed", templates.spec.managed.clone()),
            (ADOPT, "adopt", templates.spec.adopt.clone()),
        ] {
            if let Some(expr) = expr {
                let source = format!("{{% if ({expr}) %}}yes{{% endif %}}");
                templates.managed_env.add_template_owned(name, source).map_err(|e| {
                    templates.error(SYSTEM, None, format!("\"{field}\" is not a valid expression: {e}"))
                })?;
            }
        }
        if templates.has_update_body && templates.spec.update.is_none() {
            return Err(templates.error(
                UPDATE,
                None,
                "update.json exists but system.json has no \"update\" endpoint".into(),
            ));
        }
        if templates.has_deactivate_body && templates.spec.deactivate.is_none() {
            return Err(templates.error(
                DEACTIVATE,
                None,
                "deactivate.json exists but system.json has no \"deactivate\" endpoint".into(),
            ));
        }
        Ok(templates)
    }

    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// The create body for a member, and the member's key (the body's value at `list.key`).
    pub fn render_create(&self, user: &Arc<UserView>) -> Result<(String, serde_json::Value), TemplateError> {
        let ctx = BTreeMap::from([("user", user.to_template_value())]);
        let body = self.render(CREATE, ctx, &|| Some(user.label()))?;
        let key = key_at(&body, &self.spec.list.key).ok_or_else(|| {
            self.error(
                CREATE,
                Some(user.label()),
                format!(
                    "the body has no text at {} (system.json list.key), so the member has no key",
                    self.spec.list.key
                ),
            )
        })?;
        Ok((key, body))
    }

    /// The update body for a member whose account exists; `None` without `update.json`.
    pub fn render_update(
        &self,
        user: &Arc<UserView>,
        account: &Arc<serde_json::Value>,
    ) -> Result<Option<serde_json::Value>, TemplateError> {
        if !self.has_update_body {
            return Ok(None);
        }
        let ctx = BTreeMap::from([
            ("user", user.to_template_value()),
            ("account", json_value_shared(account.clone())),
        ]);
        self.render(UPDATE, ctx, &|| Some(user.label())).map(Some)
    }

    /// The deactivate body for an account; `None` without `deactivate.json`.
    pub fn render_deactivate(
        &self,
        key: &str,
        account: &Arc<serde_json::Value>,
    ) -> Result<Option<serde_json::Value>, TemplateError> {
        if !self.has_deactivate_body {
            return Ok(None);
        }
        let ctx = BTreeMap::from([("account", json_value_shared(account.clone()))]);
        self.render(DEACTIVATE, ctx, &|| Some(format!("account {key}"))).map(Some)
    }

    /// Whether slack-im manages an account. Without a `managed` expression, nothing is managed.
    pub fn is_managed(&self, key: &str, account: &Arc<serde_json::Value>) -> Result<bool, TemplateError> {
        self.account_test(MANAGED, "managed", self.spec.managed.is_some(), key, account)
    }

    /// Whether a member may take over an account slack-im does not manage. Without an `adopt`
    /// expression, no such account is touched.
    pub fn is_adoptable(&self, key: &str, account: &Arc<serde_json::Value>) -> Result<bool, TemplateError> {
        self.account_test(ADOPT, "adopt", self.spec.adopt.is_some(), key, account)
    }

    fn account_test(
        &self,
        name: &str,
        field: &str,
        present: bool,
        key: &str,
        account: &Arc<serde_json::Value>,
    ) -> Result<bool, TemplateError> {
        if !present {
            return Ok(false);
        }
        let template =
            self.managed_env.get_template(name).map_err(|e| from_jinja(&self.folder, SYSTEM, None, &e))?;
        let ctx = BTreeMap::from([("account", json_value_shared(account.clone()))]);
        let out = template.render(ctx).map_err(|e| {
            self.error(
                SYSTEM,
                Some(format!("account {key}")),
                format!("\"{field}\" expression failed: {}", jinja_detail(&e)),
            )
        })?;
        Ok(out == "yes")
    }

    /// Renders one template and parses the result. `subject` names the member or account, and is
    /// only called when there is an error to report.
    fn render(
        &self,
        name: &str,
        ctx: BTreeMap<&'static str, Value>,
        subject: &dyn Fn() -> Option<String>,
    ) -> Result<serde_json::Value, TemplateError> {
        let template =
            self.env.get_template(name).map_err(|e| from_jinja(&self.folder, name, subject(), &e))?;
        let text = template.render(ctx).map_err(|e| from_jinja(&self.folder, name, subject(), &e))?;
        serde_json::from_str(&text).map_err(|e| {
            let line = text.lines().nth(e.line().saturating_sub(1)).unwrap_or("").trim();
            // The rendered line is the best evidence, unless a secret was rendered into it.
            let holds_secret = self
                .secret_values
                .iter()
                .any(|s| line.contains(s.as_str()) || line.contains(&json_escaped(s)));
            let shown = if holds_secret {
                "(not shown: it holds a secret value)".to_string()
            } else {
                crate::http::clean(line, 300)
            };
            TemplateError {
                file: self.folder.join(name).display().to_string(),
                line: Some(e.line()),
                subject: subject(),
                detail: format!("the rendered text is not JSON ({e}); that line reads: {shown}"),
            }
        })
    }

    fn parse_spec(&self, json: serde_json::Value) -> Result<SystemSpec, TemplateError> {
        let raw: RawSystemSpec =
            serde_json::from_value(json).map_err(|e| self.error(SYSTEM, None, e.to_string()))?;
        let check_endpoint = |what: &str, e: &Endpoint, needs_key: bool| -> Result<(), TemplateError> {
            let method = e.method.to_ascii_uppercase();
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                return Err(self.error(
                    SYSTEM,
                    None,
                    format!("{what}.method {:?} is not GET, POST, PUT, PATCH or DELETE", e.method),
                ));
            }
            if !e.path.starts_with('/') {
                return Err(self.error(SYSTEM, None, format!("{what}.path {:?} must start with /", e.path)));
            }
            if needs_key && !e.path.contains("{key}") {
                return Err(self.error(
                    SYSTEM,
                    None,
                    format!("{what}.path {:?} must contain {{key}}", e.path),
                ));
            }
            Ok(())
        };
        let list_endpoint = Endpoint { method: raw.list.method.clone(), path: raw.list.path.clone() };
        check_endpoint("list", &list_endpoint, false)?;
        check_endpoint("create", &raw.create, false)?;
        if let Some(u) = &raw.update {
            check_endpoint("update", u, true)?;
        }
        if let Some(d) = &raw.deactivate {
            check_endpoint("deactivate", d, true)?;
        }
        if !raw.list.items.is_empty() && !raw.list.items.starts_with('/') {
            return Err(self.error(
                SYSTEM,
                None,
                format!(
                    "list.items {:?} is not a JSON pointer (\"/data\", or \"\" for the whole answer)",
                    raw.list.items
                ),
            ));
        }
        if !raw.list.key.starts_with('/') {
            return Err(self.error(
                SYSTEM,
                None,
                format!("list.key {:?} is not a JSON pointer like \"/userId\"", raw.list.key),
            ));
        }
        let upper = |e: Endpoint| Endpoint { method: e.method.to_ascii_uppercase(), path: e.path };
        Ok(SystemSpec {
            headers: raw.headers.into_iter().map(|(k, v)| (k, Secret::new(v))).collect(),
            list: ListSpec { method: raw.list.method.to_ascii_uppercase(), ..raw.list },
            create: upper(raw.create),
            update: raw.update.map(upper),
            deactivate: raw.deactivate.map(upper),
            managed: raw.managed.filter(|m| !m.trim().is_empty()),
            adopt: raw.adopt.filter(|m| !m.trim().is_empty()),
        })
    }

    fn error(&self, name: &str, subject: Option<String>, detail: String) -> TemplateError {
        TemplateError { file: self.folder.join(name).display().to_string(), line: None, subject, detail }
    }
}

/// The text at a JSON pointer, as a key: strings as they are, numbers in decimal.
pub fn key_at(value: &serde_json::Value, pointer: &str) -> Option<String> {
    match value.pointer(pointer)? {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A text as it stands inside a JSON string, without the quotes.
fn json_escaped(text: &str) -> String {
    let quoted = serde_json::to_string(text).unwrap_or_default();
    quoted.trim_matches('"').to_string()
}

/// Any serialisable value as a template value.
fn to_value<T: Serialize + ?Sized>(value: &T) -> Value {
    Value::from(minijinja::value::Serde(value))
}

fn mentions_slack_object(source: &str) -> bool {
    source.contains(".slack") || source.contains("[\"slack\"]") || source.contains("['slack']")
}

fn list_systems(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join(SYSTEM).is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

fn jinja_detail(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    }
}

fn from_jinja(folder: &Path, name: &str, subject: Option<String>, e: &minijinja::Error) -> TemplateError {
    TemplateError {
        file: folder.join(name).display().to_string(),
        line: e.line(),
        subject,
        detail: jinja_detail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Folder(PathBuf);

    impl Folder {
        fn new(files: &[(&str, &str)]) -> Folder {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static N: AtomicUsize = AtomicUsize::new(0);
            let root = std::env::temp_dir().join(format!(
                "slack-im-tpl-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            let dir = root.join("sys");
            std::fs::create_dir_all(&dir).unwrap();
            for (name, text) in files {
                std::fs::write(dir.join(name), text).unwrap();
            }
            Folder(root)
        }

        fn load(&self) -> Result<SystemTemplates, TemplateError> {
            let vars = BTreeMap::from([("role".to_string(), "AGENT".to_string())]);
            let secrets =
                BTreeMap::from([("target_token".to_string(), Secret::new("tok-123456".to_string()))]);
            SystemTemplates::load(&self.0, "sys", "http://t", &vars, &secrets)
        }
    }

    impl Drop for Folder {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
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
        assert_eq!(t.spec.list.items, "/data");
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
        assert!(t
            .is_managed("a", &Arc::new(serde_json::json!({"userId": "a", "createdBy": "slack-im"})))
            .unwrap());
        assert!(!t
            .is_managed("b", &Arc::new(serde_json::json!({"userId": "b", "createdBy": "init-data"})))
            .unwrap());
        assert!(!t.is_managed("c", &Arc::new(serde_json::json!({"userId": "c"}))).unwrap());
        let f = Folder::new(&[
            (
                "system.json",
                &SYSTEM_JSON.replace(",\n  \"managed\": \"account.createdBy == 'slack-im'\"", ""),
            ),
            ("create.json", r#"{"userId": 1}"#),
        ]);
        assert!(!f
            .load()
            .unwrap()
            .is_managed("a", &Arc::new(serde_json::json!({"createdBy": "slack-im"})))
            .unwrap());
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
        let err = SystemTemplates::load(&f.0, "nope", "http://t", &BTreeMap::new(), &BTreeMap::new())
            .err()
            .unwrap();
        assert!(err.detail.contains("systems found: sys"), "{err}");
    }
}
#[cfg(test)]
mod shipped_templates {
    use super::*;

    #[test]
    fn the_shipped_dev_templates_render() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let secrets = BTreeMap::from([
            ("target_token".to_string(), Secret::new("tok".to_string())),
            ("initial_password".to_string(), Secret::new("pw-123".to_string())),
        ]);
        let vars = BTreeMap::from([("center_ids".to_string(), "a, b".to_string())]);
        for system in ["dev", "model-office", "sales-demo"] {
            let t = SystemTemplates::load(&root, system, "http://t", &vars, &secrets).unwrap();
            let m: Member = serde_json::from_str(include_str!("check_member.json")).unwrap();
            let (key, body) = t.render_create(&Arc::new(UserView::from_member(&m))).unwrap();
            assert_eq!(key, "check.sample");
            assert_eq!(body["centerIds"], serde_json::json!(["a", "b"]), "{system}");
            assert_eq!(body["password"], "pw-123");
        }
    }
}
