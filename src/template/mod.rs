//! A system folder (`templates/<system>/`): reads `system.json` and the payload templates, renders
//! them with JSON auto-escaping and strict undefined variables, and parses every result as JSON.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use minijinja::value::{Enumerator, Object};
use minijinja::{AutoEscape, Environment, Expression, UndefinedBehavior, Value};
use serde::Serialize;

use crate::members::Member;
use crate::secret::{Redactor, Secret};
use crate::target::{key_at, normalize_key, KeyRule, ListingRules, PageRead, SystemSpec};

mod password;
mod user;

pub use user::UserView;

const SYSTEM: &str = "system.json";
const CREATE: &str = "create.json";
const UPDATE: &str = "update.json";
const DEACTIVATE: &str = "deactivate.json";
const REACTIVATE: &str = "reactivate.json";
/// The welcome DM: plain text (no JSON escaping), rendered for each member about to be created.
pub const WELCOME: &str = "welcome.txt";
/// `system.json`'s `key` expression, held in the template environment as a one-line template that
/// sets `key`: compiled once, owned by the environment, and evaluated to a value, not to text.
/// (A compiled `Expression` borrows its environment, which `SystemTemplates` owns.)
const KEY: &str = "system.json key";

/// A template that did not load, render or parse. Names the file, the line and the member.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}{}: {detail}", line.map(|l| format!(" line {l}")).unwrap_or_default(), subject.as_ref().map(|s| format!(" for {s}")).unwrap_or_default())]
pub struct TemplateError {
    pub file: String,
    pub line: Option<usize>,
    /// The member (Slack id and e-mail) or account (key) being rendered.
    pub subject: Option<String>,
    pub detail: String,
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

/// A loaded system folder, ready to render.
pub struct SystemTemplates {
    /// The system's name: its folder's.
    name: String,
    folder: PathBuf,
    env: Environment<'static>,
    /// For the expressions over listed accounts (`list.key`, `list.next`): a missing field is
    /// undefined, and a chain of lookups through it stays undefined.
    account_env: Environment<'static>,
    /// For `managed` and `adopt`, strict: an expression that reads a field the account lacks is
    /// false, whatever it compares it with (`undefined != 'ADMIN'` would be true).
    guard_env: Environment<'static>,
    pub spec: SystemSpec,
    pub has_update_body: bool,
    pub has_deactivate_body: bool,
    pub has_reactivate_body: bool,
    /// The folder has `welcome.txt`: each member created is sent it as a Slack DM.
    pub has_welcome: bool,
    /// A template uses `user.slack` (or the whole `user`): members must keep their Slack object.
    pub uses_slack_object: bool,
    /// A template uses `user.groups` (or the whole `user`): the run must read the user groups.
    pub uses_groups: bool,
    /// A template uses `user.phone` (or the whole `user`): a members file must hold the phone.
    pub uses_phone: bool,
    /// The secrets, so an error never quotes a rendered line that holds one and no path carries one.
    secrets: Redactor,
}

/// The templates of a folder, compiled, before `system.json` is rendered.
struct Compiled {
    env: Environment<'static>,
    present: Vec<&'static str>,
    uses_slack_object: bool,
    uses_groups: bool,
}

impl SystemTemplates {
    /// Loads and checks `root/system`: every template compiles, `system.json` renders to a valid
    /// spec, its expressions compile, and every body template has its endpoint.
    pub fn load(
        root: &Path,
        system: &str,
        target_url: Option<&str>,
        vars: &BTreeMap<String, String>,
        secrets: &BTreeMap<String, Secret<String>>,
    ) -> Result<SystemTemplates, TemplateError> {
        let folder = system_folder(root, system)?;
        let Compiled { mut env, present, uses_slack_object, uses_groups } = compile(&folder)?;
        let mut account_env = Environment::new();
        account_env.set_undefined_behavior(UndefinedBehavior::Chainable);
        let mut guard_env = Environment::new();
        guard_env.set_undefined_behavior(UndefinedBehavior::Strict);
        let secrets_value: BTreeMap<&str, &str> =
            secrets.iter().map(|(k, v)| (k.as_str(), v.expose().as_str())).collect();
        // vars, secrets and system are the same for every render: globals, not per-render context.
        let system_value =
            to_value(&BTreeMap::from([("name", system), ("target_url", target_url.unwrap_or(""))]));
        for env in [&mut env, &mut account_env, &mut guard_env] {
            env.add_global("vars", to_value(vars));
            env.add_global("secrets", to_value(&secrets_value));
            env.add_global("system", system_value.clone());
        }
        let secrets = Redactor::new(secrets.values());
        let spec_json = render_json(&env, &folder, SYSTEM, BTreeMap::new(), &|| None, &secrets)?;
        let spec =
            SystemSpec::from_json(spec_json).map_err(|detail| error_in(&folder, SYSTEM, None, detail))?;
        if let Some(field) = secret_in_an_address(&spec, &secrets) {
            let detail = format!(
                "{field} holds a secret: a URL or a path lands in access logs and proxies; send it in a header (\"headers\") instead"
            );
            return Err(error_in(&folder, SYSTEM, None, detail));
        }
        if let Some(expression) = &spec.key {
            compile_key(&mut env, &folder, expression)?;
        }
        let uses_slack_object = uses_slack_object || uses_field(&env, &[KEY], "slack");
        let uses_groups = uses_groups || uses_field(&env, &[KEY], "groups");
        let uses_phone = uses_field(&env, &[CREATE, UPDATE, REACTIVATE, WELCOME, KEY], "phone");
        let templates = SystemTemplates {
            has_update_body: present.contains(&UPDATE),
            has_deactivate_body: present.contains(&DEACTIVATE),
            has_reactivate_body: present.contains(&REACTIVATE),
            has_welcome: present.contains(&WELCOME),
            name: system.to_string(),
            folder,
            env,
            account_env,
            guard_env,
            spec,
            uses_slack_object,
            uses_groups,
            uses_phone,
            secrets,
        };
        templates.account_tests()?;
        templates.check_endpoints_for_bodies()?;
        Ok(templates)
    }

    fn check_endpoints_for_bodies(&self) -> Result<(), TemplateError> {
        for (present, file, endpoint, name) in [
            (self.has_update_body, UPDATE, self.spec.update.is_some(), "update"),
            (self.has_deactivate_body, DEACTIVATE, self.spec.deactivate.is_some(), "deactivate"),
            (self.has_reactivate_body, REACTIVATE, self.spec.reactivate.is_some(), "reactivate"),
        ] {
            if present && !endpoint {
                let detail = format!("{file} exists but system.json has no \"{name}\" endpoint");
                return Err(self.error(file, None, detail));
            }
        }
        if self.spec.reactivatable.is_some() && self.spec.active.is_none() {
            let detail = "\"reactivatable\" is set but \"active\" is not: without it no account is inactive, so nothing is reactivated".to_string();
            return Err(self.error(SYSTEM, None, detail));
        }
        let can_update = self.spec.update.is_some() && self.has_update_body;
        if self.spec.active.is_some() && self.spec.reactivate.is_none() && !can_update {
            let detail = "\"active\" is set but nothing can reactivate a returning member's inactive account: give system.json a \"reactivate\" endpoint, or an \"update\" endpoint with an update.json that makes the account active".to_string();
            return Err(self.error(SYSTEM, None, detail));
        }
        Ok(())
    }

    /// The `managed`, `adopt` and `active` expressions and each listing's `key` and `next` expressions,
    /// compiled once for a listing.
    pub fn account_tests(&self) -> Result<AccountTests<'_>, TemplateError> {
        let lists = &self.spec.list;
        let mut keys = Vec::with_capacity(lists.len());
        let mut nexts = Vec::with_capacity(lists.len());
        for list in lists {
            let key = match &list.key {
                KeyRule::Expression(e) => Some(e.as_str()),
                KeyRule::Pointer(_) => None,
            };
            keys.push(self.compile(&self.account_env, "list.key", key)?);
            nexts.push(self.compile(&self.account_env, "list.next", list.next.as_deref())?);
        }
        Ok(AccountTests {
            templates: self,
            managed: self.compile(&self.guard_env, "managed", self.spec.managed.as_deref())?,
            adopt: self.compile(&self.guard_env, "adopt", self.spec.adopt.as_deref())?,
            active: self.compile(&self.account_env, "active", self.spec.active.as_deref())?,
            anchor: self.compile(&self.account_env, "anchor", self.spec.anchor.as_deref())?,
            reactivatable: self.compile(
                &self.guard_env,
                "reactivatable",
                self.spec.reactivatable.as_deref(),
            )?,
            keys,
            nexts,
        })
    }

    /// One expression over accounts, compiled in `env`: `account_env` (a missing field is undefined
    /// and chains on) or `guard_env` (strict: `managed` and `adopt`).
    fn compile<'t>(
        &'t self,
        env: &'t Environment<'static>,
        field: &str,
        expression: Option<&'t str>,
    ) -> Result<Option<Expression<'t, 't>>, TemplateError> {
        expression
            .map(|e| env.compile_expression(e))
            .transpose()
            .map_err(|e| self.error(SYSTEM, None, format!("\"{field}\" is not a valid expression: {e}")))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// The member's key by `system.json`'s `key` expression; `None` without one (the key is then
    /// the create body's, [`render_create`](Self::render_create)). Text, or a number in decimal
    /// (like [`key_at`]); anything else, blank text included, is an error naming the member.
    pub fn render_key(&self, user: &Arc<UserView>) -> Result<Option<String>, TemplateError> {
        if self.spec.key.is_none() {
            return Ok(None);
        }
        let failed = |detail: String| self.error(SYSTEM, Some(user.label()), detail);
        let template = self.env.get_template(KEY).map_err(|e| failed(jinja_detail(&e)))?;
        let ctx = BTreeMap::from([("user", user.to_template_value())]);
        let captured = template
            .render_captured(ctx)
            .map_err(|e| failed(format!("\"key\" expression failed: {}", jinja_detail(&e))))?;
        let value = captured.state().lookup("key").unwrap_or_default();
        match key_text(&value) {
            Some(key) => Ok(Some(key)),
            None => Err(failed(format!(
                "the \"key\" expression gave {}, not text: the member has no key",
                describe_key_value(&value)
            ))),
        }
    }

    /// The rendered header values a run must never print: every header's but those that only name
    /// a media type or a client ([`PLAIN_HEADERS`]), whatever they were built from (`secrets` are
    /// hidden anyway; a token a folder built from `vars` is hidden too).
    pub fn header_values_to_hide(&self) -> Vec<Secret<String>> {
        self.spec
            .headers
            .iter()
            .filter(|(name, _)| !PLAIN_HEADERS.iter().any(|plain| plain.eq_ignore_ascii_case(name)))
            .flat_map(|(_, value)| {
                // `Bearer TOKEN`, `Token TOKEN`: the token alone too, where a server echoes only it.
                let whole = value.expose().trim().to_string();
                let last = whole.rsplit(' ').next().unwrap_or("").to_string();
                [whole, last].into_iter().filter(|v| !v.is_empty()).map(Secret::new).collect::<Vec<_>>()
            })
            .collect()
    }

    /// Whether the folder gives two members who differ only in their e-mail's domain the same key
    /// (`user.email_local`): then anyone who sets their Slack e-mail to `leaver@any-domain` claims
    /// the leaver's account, unless `SLACK_IM_EMAIL_DOMAINS` keeps other domains out. Tried on two
    /// sample members; a folder whose key cannot be rendered for them is not judged here.
    pub fn key_ignores_the_domain(&self) -> bool {
        let sample = |domain: &str| {
            let member: Member = serde_json::from_value(serde_json::json!({
                "id": "U0KEYCHECK", "name": "key.check", "real_name": "Key Check",
                "profile": {"email": format!("key.check@{domain}"), "real_name": "Key Check",
                            "first_name": "Key", "last_name": "Check"},
            }))
            .expect("a sample member");
            self.key_of_member(&member).map(|key| normalize_key(&key))
        };
        match (sample("one.example"), sample("two.example")) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }

    /// The passwords `new_password()` made on this thread since the last call: the ones of the
    /// member whose bodies were just rendered. They travel with that member's write and are
    /// redacted from what the target answers about it.
    pub fn take_new_passwords(&self) -> Vec<Secret<String>> {
        password::take()
    }

    /// The key of a member who is not rendered for (deactivated in Slack): by the `key` expression,
    /// else from `create.json`; `None` when the templates cannot give one for them.
    pub fn key_of_member(&self, member: &Member) -> Option<String> {
        let user = Arc::new(UserView::from_member(member));
        let key = match self.render_key(&user) {
            Ok(Some(key)) => Some(key),
            Ok(None) => self.render_create(&user).ok().map(|(key, _)| key),
            Err(_) => None,
        };
        // A body rendered only for its key sends nothing: its new_password() values go nowhere.
        let _ = password::take();
        key
    }

    /// The create body for a member whose key the `key` expression gave: the body's value at
    /// `list.key` must be that key (compared case-insensitively, like every key), or it is an
    /// error naming the member and both values, since the two would send the member different ways.
    pub fn render_create_for_key(
        &self,
        user: &Arc<UserView>,
        key: &str,
    ) -> Result<(String, serde_json::Value), TemplateError> {
        let body = self
            .render(CREATE, BTreeMap::from([("user", user.to_template_value())]), &|| Some(user.label()))?;
        let body_key = self.key_of_document(&body, user)?;
        match body_key {
            Some(body_key) if normalize_key(&body_key) != normalize_key(key) => {
                let detail = format!(
                    "the \"key\" expression of {SYSTEM} gives {key:?} but {CREATE} has {body_key:?} at {} (list.key): they must agree",
                    self.spec.first_list().key
                );
                Err(self.error(CREATE, Some(user.label()), detail))
            }
            Some(body_key) => Ok((body_key, body)),
            // A create-or-modify path names the account itself: its body need not.
            None if self.spec.create_is_upsert() => Ok((key.to_string(), body)),
            None => Err(self.no_key_in_body(user)),
        }
    }

    /// The create body for a member, and the member's key (the body's value at `list.key`).
    pub fn render_create(&self, user: &Arc<UserView>) -> Result<(String, serde_json::Value), TemplateError> {
        let ctx = BTreeMap::from([("user", user.to_template_value())]);
        let body = self.render(CREATE, ctx, &|| Some(user.label()))?;
        let key = self.key_of_document(&body, user)?.ok_or_else(|| self.no_key_in_body(user))?;
        Ok((key, body))
    }

    /// The key of a rendered create document, by the first listing's `key` (pointer or
    /// expression over the document as `account`).
    fn key_of_document(
        &self,
        body: &serde_json::Value,
        user: &Arc<UserView>,
    ) -> Result<Option<String>, TemplateError> {
        match &self.spec.first_list().key {
            KeyRule::Pointer(pointer) => Ok(key_at(body, pointer)),
            KeyRule::Expression(expression) => {
                // Compiled per create (a few microseconds): creates are the rare case.
                let failed = |e: minijinja::Error| {
                    let detail = format!("\"list.key\" expression failed: {}", jinja_detail(&e));
                    self.error(CREATE, Some(user.label()), detail)
                };
                let compiled = self.account_env.compile_expression(expression).map_err(failed)?;
                let value = compiled.eval(BTreeMap::from([("account", json_value(body))])).map_err(failed)?;
                Ok(key_text(&value))
            }
        }
    }

    fn no_key_in_body(&self, user: &Arc<UserView>) -> TemplateError {
        let detail = format!(
            "the body has no text at {} (system.json list.key), so the member has no key",
            self.spec.first_list().key
        );
        self.error(CREATE, Some(user.label()), detail)
    }

    /// The update body for a member whose account exists; `None` without `update.json`. `key` is
    /// the key the account is to have: its own, or the member's new one when the anchor found the
    /// account under another (a rename).
    pub fn render_update(
        &self,
        user: &Arc<UserView>,
        account: &Arc<serde_json::Value>,
        key: &str,
    ) -> Result<Option<serde_json::Value>, TemplateError> {
        if !self.has_update_body {
            return Ok(None);
        }
        self.render(UPDATE, account_context(user, account, key), &|| Some(user.label())).map(Some)
    }

    /// The body that makes a returning member's inactive account active again. With a
    /// `reactivate` endpoint: `reactivate.json` (with `user` and `account`), or no body without
    /// one. Without: `update.json`, which must make the account active: the `active` expression,
    /// over the account with the body's fields put on it, must hold, or it is an error naming the
    /// member (the update would be sent on every run and change nothing).
    pub fn render_reactivate(
        &self,
        user: &Arc<UserView>,
        account: &Arc<serde_json::Value>,
        key: &str,
    ) -> Result<Option<serde_json::Value>, TemplateError> {
        let ctx = account_context(user, account, key);
        if self.spec.reactivate.is_some() {
            if !self.has_reactivate_body {
                return Ok(None);
            }
            return self.render(REACTIVATE, ctx, &|| Some(user.label())).map(Some);
        }
        let body = self.render(UPDATE, ctx, &|| Some(user.label()))?;
        let mut after = (**account).clone();
        if let (Some(fields), Some(sent)) = (after.as_object_mut(), body.as_object()) {
            fields.extend(sent.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let expression = self.spec.active.as_deref().unwrap_or("true");
        let failed = |detail: String| self.error(UPDATE, Some(user.label()), detail);
        let compiled = self
            .account_env
            .compile_expression(expression)
            .map_err(|e| failed(format!("\"active\" expression: {}", jinja_detail(&e))))?;
        let value = compiled
            .eval(BTreeMap::from([("account", json_value(&after))]))
            .map_err(|e| failed(format!("\"active\" expression: {}", jinja_detail(&e))))?;
        if !value.is_true() {
            return Err(failed(format!(
                "the account is inactive and {UPDATE} does not make the account active (system.json \"active\": {expression:?} is still false with its fields applied): set the field there (e.g. \"active\": true) or give system.json a \"reactivate\" endpoint"
            )));
        }
        Ok(Some(body))
    }

    /// The welcome DM for a member about to be created (`welcome.txt`, with `user`, `key`: the
    /// account's, `password`: the first `new_password()` value of the create body, defined only when
    /// it made one, and `passwords`: all of them), as a secret: it is sent to Slack and shown nowhere
    /// else. `None` without `welcome.txt`. A template error never quotes the text; a text that is
    /// blank is an error (Slack refuses an empty message).
    pub fn render_welcome(
        &self,
        user: &Arc<UserView>,
        key: &str,
        passwords: &[Secret<String>],
    ) -> Result<Option<Secret<String>>, TemplateError> {
        if !self.has_welcome {
            return Ok(None);
        }
        let failed = |detail: String| self.error(WELCOME, Some(user.label()), detail);
        let mut ctx = BTreeMap::from([
            ("user", user.to_template_value()),
            ("key", Value::from(key)),
            ("passwords", Value::from(passwords.iter().map(|p| p.expose().clone()).collect::<Vec<_>>())),
        ]);
        if let Some(first) = passwords.first() {
            ctx.insert("password", Value::from(first.expose().as_str()));
        }
        let template = self.env.get_template(WELCOME).map_err(|e| failed(jinja_detail(&e)))?;
        let text =
            template.render(ctx).map_err(|e| TemplateError { line: e.line(), ..failed(jinja_detail(&e)) })?;
        let text = text.trim().to_string();
        if text.is_empty() {
            return Err(failed("the welcome DM renders to nothing: Slack refuses an empty message".into()));
        }
        Ok(Some(Secret::new(text)))
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

    /// Renders one template and parses the result.
    fn render(
        &self,
        name: &str,
        ctx: BTreeMap<&'static str, Value>,
        subject: &dyn Fn() -> Option<String>,
    ) -> Result<serde_json::Value, TemplateError> {
        render_json(&self.env, &self.folder, name, ctx, subject, &self.secrets)
    }

    fn error(&self, name: &str, subject: Option<String>, detail: String) -> TemplateError {
        error_in(&self.folder, name, subject, detail)
    }
}

/// Headers whose values name a media type, a language or a client: never secret, and too common
/// in ordinary text to redact.
const PLAIN_HEADERS: &[&str] =
    &["Accept", "Accept-Language", "Accept-Encoding", "Content-Type", "User-Agent", "Cache-Control"];

/// The first field of `system.json` whose URL or path holds one of the secrets, if any.
fn secret_in_an_address(spec: &SystemSpec, secrets: &Redactor) -> Option<String> {
    let holds = |text: &str| holds_secret(secrets, text);
    let lists = spec.list.iter().enumerate().map(|(n, l)| {
        let name = if spec.list.len() == 1 { "list.path".to_string() } else { format!("list[{n}].path") };
        (name, l.path.as_str())
    });
    let endpoints = [
        ("create", Some(&spec.create)),
        ("update", spec.update.as_ref()),
        ("deactivate", spec.deactivate.as_ref()),
        ("reactivate", spec.reactivate.as_ref()),
    ]
    .into_iter()
    .filter_map(|(name, e)| e.map(|e| (format!("{name}.path"), e.path.as_str())));
    let url = spec.url.as_deref().map(|u| ("url".to_string(), u));
    url.into_iter().chain(lists).chain(endpoints).find(|(_, text)| holds(text)).map(|(name, _)| name)
}

/// A secret is in the text in a form the redactor knows (as it is, percent-encoded, escaped, cut).
fn holds_secret(secrets: &Redactor, text: &str) -> bool {
    secrets.redact(text) != text
}

/// What `update.json` and `reactivate.json` see: the member, their account as listed, and the key
/// the account is to have.
fn account_context(
    user: &Arc<UserView>,
    account: &Arc<serde_json::Value>,
    key: &str,
) -> BTreeMap<&'static str, Value> {
    BTreeMap::from([
        ("user", user.to_template_value()),
        ("account", json_value_shared(account.clone())),
        ("key", Value::from(key)),
    ])
}

/// The verdicts `system.json` gives on listed accounts: does slack-im manage it, may a matching
/// member adopt it, and is it active. Compiled once per listing.
pub struct AccountTests<'t> {
    templates: &'t SystemTemplates,
    managed: Option<Expression<'t, 't>>,
    adopt: Option<Expression<'t, 't>>,
    active: Option<Expression<'t, 't>>,
    anchor: Option<Expression<'t, 't>>,
    reactivatable: Option<Expression<'t, 't>>,
    /// Per listing: its `key` expression, when its key is not a pointer.
    keys: Vec<Option<Expression<'t, 't>>>,
    /// Per listing: its `next` expression.
    nexts: Vec<Option<Expression<'t, 't>>>,
}

impl ListingRules for AccountTests<'_> {
    fn key(&self, listing: usize, account: &Arc<serde_json::Value>) -> Result<Option<String>, String> {
        let Some(Some(expression)) = self.keys.get(listing) else { return Ok(None) };
        let ctx = BTreeMap::from([("account", json_value_shared(account.clone()))]);
        let value =
            expression.eval(ctx).map_err(|e| format!("\"list.key\" expression: {}", jinja_detail(&e)))?;
        Ok(key_text(&value))
    }

    fn next(&self, listing: usize, page: &PageRead<'_>) -> Result<Option<String>, String> {
        let Some(Some(expression)) = self.nexts.get(listing) else { return Ok(None) };
        let ctx = BTreeMap::from([
            ("response", json_value_shared(page.response.clone())),
            ("page", Value::from(page.page)),
            ("count", Value::from(page.count)),
            ("path", Value::from(page.path)),
        ]);
        let value = expression.eval(ctx).map_err(|e| jinja_detail(&e))?;
        if !value.is_true() {
            return Ok(None);
        }
        match value.as_str() {
            Some(path) if holds_secret(&self.templates.secrets, path) => {
                Err("it gave a path holding a secret: send secrets in a header, never in a path".to_string())
            }
            Some(path) => Ok(Some(path.to_string())),
            None => Err(format!("it gave {}, not a path", value.kind())),
        }
    }
}

impl AccountTests<'_> {
    /// Whether slack-im manages an account. Without a `managed` expression, nothing is managed.
    pub fn is_managed(&self, key: &str, account: &Arc<serde_json::Value>) -> Result<bool, TemplateError> {
        self.test("managed", self.managed.as_ref(), key, account)
    }

    /// Whether a member may take over an account slack-im does not manage. Without an `adopt`
    /// expression, no such account is touched.
    pub fn is_adoptable(&self, key: &str, account: &Arc<serde_json::Value>) -> Result<bool, TemplateError> {
        self.test("adopt", self.adopt.as_ref(), key, account)
    }

    /// Whether a listed account is active. Without an `active` expression, every account is; with
    /// one, it must be truthy (a field the account lacks is not).
    pub fn is_active(&self, key: &str, account: &Arc<serde_json::Value>) -> Result<bool, TemplateError> {
        match self.active {
            None => Ok(true),
            Some(_) => self.test("active", self.active.as_ref(), key, account),
        }
    }

    /// Whether slack-im may reactivate an inactive managed account. Without a `reactivatable`
    /// expression, it may; with one, it must be truthy (strict: a field the account lacks is not).
    pub fn is_reactivatable(
        &self,
        key: &str,
        account: &Arc<serde_json::Value>,
    ) -> Result<bool, TemplateError> {
        match self.reactivatable {
            None => Ok(true),
            Some(_) => self.test("reactivatable", self.reactivatable.as_ref(), key, account),
        }
    }

    /// The Slack id an account belongs to, by the `anchor` expression: text, or a number in
    /// decimal; `None` without the expression, or when it finds nothing (an account made before
    /// the anchor was kept is matched by key alone).
    pub fn anchor(
        &self,
        key: &str,
        account: &Arc<serde_json::Value>,
    ) -> Result<Option<String>, TemplateError> {
        let Some(expression) = &self.anchor else { return Ok(None) };
        let ctx = BTreeMap::from([("account", json_value_shared(account.clone()))]);
        let value = expression.eval(ctx).map_err(|e| {
            let detail = format!("\"anchor\" expression failed: {}", jinja_detail(&e));
            self.templates.error(SYSTEM, Some(format!("account {key}")), detail)
        })?;
        Ok(key_text(&value))
    }

    fn test(
        &self,
        field: &str,
        expression: Option<&Expression<'_, '_>>,
        key: &str,
        account: &Arc<serde_json::Value>,
    ) -> Result<bool, TemplateError> {
        let Some(expression) = expression else { return Ok(false) };
        let ctx = BTreeMap::from([("account", json_value_shared(account.clone()))]);
        let value = match expression.eval(ctx) {
            // A field the account lacks: it is not one the expression selects.
            Err(e) if e.kind() == minijinja::ErrorKind::UndefinedError => return Ok(false),
            other => other,
        };
        let value = value.map_err(|e| {
            let detail = format!("\"{field}\" expression failed: {}", jinja_detail(&e));
            self.templates.error(SYSTEM, Some(format!("account {key}")), detail)
        })?;
        Ok(value.is_true())
    }
}

/// `root/system`, or an error that lists the systems there are.
fn system_folder(root: &Path, system: &str) -> Result<PathBuf, TemplateError> {
    let folder = root.join(system);
    if folder.is_dir() {
        return Ok(folder);
    }
    let found = list_systems(root);
    let detail = format!(
        "no such system folder (SLACK_IM_TEMPLATES={}, SLACK_IM_SYSTEM={system}); systems found: {}",
        root.display(),
        if found.is_empty() { "none".to_string() } else { found.join(", ") }
    );
    Err(TemplateError { file: folder.display().to_string(), line: None, subject: None, detail })
}

/// Reads and compiles every template of a folder; `system.json` and `create.json` are required.
fn compile(folder: &Path) -> Result<Compiled, TemplateError> {
    let mut env = Environment::new();
    env.add_function("new_password", password::new_password);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(
        |name| if name.ends_with(".json") { AutoEscape::Json } else { AutoEscape::None },
    );
    let mut present = Vec::new();
    for name in [SYSTEM, CREATE, UPDATE, DEACTIVATE, REACTIVATE, WELCOME] {
        let path = folder.join(name);
        match std::fs::read_to_string(&path) {
            Ok(source) => {
                env.add_template_owned(name.to_string(), source)
                    .map_err(|e| from_jinja(folder, name, None, &e))?;
                present.push(name);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && name != SYSTEM && name != CREATE => {}
            Err(e) => return Err(error_in(folder, name, None, e.to_string())),
        }
    }
    let uses_slack_object = uses_field(&env, &[CREATE, UPDATE, REACTIVATE, WELCOME], "slack");
    let uses_groups = uses_field(&env, &[CREATE, UPDATE, REACTIVATE, WELCOME], "groups");
    Ok(Compiled { env, present, uses_slack_object, uses_groups })
}

/// Whether any of these templates (those present) reads `user.<field>`, `user.<field>.x` or the
/// whole `user` (which may be handed on whole).
fn uses_field(env: &Environment<'static>, names: &[&str], field: &str) -> bool {
    let (whole, nested) = (format!("user.{field}"), format!("user.{field}."));
    names.iter().any(|name| {
        env.get_template(name).is_ok_and(|t| {
            t.undeclared_variables(true).iter().any(|v| v == "user" || *v == whole || v.starts_with(&nested))
        })
    })
}

/// Compiles `system.json`'s `key` expression into `env` as the template [`KEY`]. It is compiled
/// as an expression first, so a mistake is reported as one and nothing else can ride in the
/// template around it.
fn compile_key(env: &mut Environment<'static>, folder: &Path, expression: &str) -> Result<(), TemplateError> {
    let invalid = |e: minijinja::Error| {
        error_in(folder, SYSTEM, None, format!("\"key\" is not a valid expression: {e}"))
    };
    env.compile_expression_owned(expression.to_string()).map_err(invalid)?;
    env.add_template_owned(KEY, format!("{{% set key = ({expression}) %}}")).map_err(invalid)
}

/// Whether the templates of `root/system` use `user.groups`, before the folder is loaded (`check`
/// asks, to know the scopes a run needs); a folder that does not compile says no here and fails
/// its load.
pub fn folder_uses_groups(root: &Path, system: &str) -> bool {
    system_folder(root, system).and_then(|folder| compile(&folder)).is_ok_and(|c| c.uses_groups)
}

/// Whether the folder `root/system` has a `welcome.txt`, before the folder is loaded (`check` asks,
/// to know the scopes a run needs).
pub fn folder_has_welcome(root: &Path, system: &str) -> bool {
    root.join(system).join(WELCOME).is_file()
}

/// Renders one template of `env` and parses the result as JSON. An error quotes the rendered line
/// it failed on, unless a secret was rendered into it.
fn render_json(
    env: &Environment<'static>,
    folder: &Path,
    name: &str,
    ctx: BTreeMap<&'static str, Value>,
    subject: &dyn Fn() -> Option<String>,
    secrets: &Redactor,
) -> Result<serde_json::Value, TemplateError> {
    let template = env.get_template(name).map_err(|e| from_jinja(folder, name, subject(), &e))?;
    let text = template.render(ctx).map_err(|e| from_jinja(folder, name, subject(), &e))?;
    serde_json::from_str(&text).map_err(|e| {
        let line = text.lines().nth(e.line().saturating_sub(1)).unwrap_or("").trim();
        let holds_secret = password::in_text(line) || holds_secret(secrets, line);
        let shown = if holds_secret {
            "(not shown: it holds a secret value)".to_string()
        } else {
            crate::http::clean(line, 300)
        };
        TemplateError {
            file: folder.join(name).display().to_string(),
            line: Some(e.line()),
            subject: subject(),
            detail: format!("the rendered text is not JSON ({e}); that line reads: {shown}"),
        }
    })
}

fn error_in(folder: &Path, name: &str, subject: Option<String>, detail: String) -> TemplateError {
    TemplateError { file: folder.join(name).display().to_string(), line: None, subject, detail }
}

/// Any serialisable value as a template value.
fn to_value<T: Serialize + ?Sized>(value: &T) -> Value {
    Value::from(minijinja::value::Serde(value))
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

/// A key expression's value as a key: non-blank text as it is, a number in decimal.
fn key_text(value: &Value) -> Option<String> {
    match value.kind() {
        minijinja::value::ValueKind::String => {
            value.as_str().filter(|s| !s.trim().is_empty()).map(str::to_string)
        }
        minijinja::value::ValueKind::Number => match serde_json::to_value(value).ok()? {
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// What a key expression gave instead of a key, for its error: the kind, and blank text quoted.
/// Never the value of a map or a sequence (it might hold a secret).
fn describe_key_value(value: &Value) -> String {
    match value.as_str() {
        Some(text) => format!("blank text {text:?}"),
        None => value.kind().to_string(),
    }
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
mod tests;
#[cfg(test)]
mod shipped_templates {
    use super::*;
    use crate::members::Member;

    #[test]
    fn the_shipped_dev_templates_render() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let secrets = BTreeMap::from([
            ("target_token".to_string(), Secret::new("tok".to_string())),
            ("initial_password".to_string(), Secret::new("pw-123".to_string())),
        ]);
        let vars = BTreeMap::from([("center_ids".to_string(), "a, b".to_string())]);
        for system in ["dev", "model-office", "sales-demo"] {
            let t = SystemTemplates::load(&root, system, Some("http://t"), &vars, &secrets).unwrap();
            let m: Member = serde_json::from_str(include_str!("../check_member.json")).unwrap();
            let user = UserView::from_member(&m);
            let user = Arc::new(if t.uses_groups { user.with_groups(&["solutions".into()]) } else { user });
            assert_eq!(t.uses_groups, system == "sales-demo", "{system}");
            assert_eq!(t.render_key(&user).unwrap().as_deref(), Some("check.sample"), "{system}");
            let (key, body) = t.render_create(&user).unwrap();
            assert_eq!(key, "check.sample");
            assert_eq!(body["centerIds"], serde_json::json!(["a", "b"]), "{system}");
            // dev and model-office give each account its own and tell it in welcome.txt's DM;
            // sales-demo keeps the documented shared one.
            let passwords = t.take_new_passwords();
            match system {
                "sales-demo" => assert_eq!((&body["password"], passwords.len()), (&"pw-123".into(), 0)),
                _ => {
                    assert_eq!(passwords.len(), 1, "{system}");
                    assert_eq!(body["password"], passwords[0].expose().as_str(), "{system}");
                    let welcome = t.render_welcome(&user, &key, &passwords).unwrap().unwrap();
                    let welcome = welcome.expose();
                    assert!(welcome.contains(passwords[0].expose().as_str()), "{welcome}");
                    assert!(welcome.contains("`check.sample`"), "{welcome}");
                }
            }
            assert_eq!(t.has_welcome, system != "sales-demo", "{system}");
        }
    }
}
