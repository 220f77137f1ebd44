//! The target's API as `system.json` describes it once rendered: headers, the listings (paged by
//! `{page}` or by a `next` expression, checked against the server's `total`, by JSON pointers or
//! expressions), the create, update and deactivate calls (addressed by key or by the server's
//! id, bodies optionally wrapped), which accounts slack-im manages or may adopt, and the
//! expression giving a member's key. Checked once per run, so a typo fails before any request.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::secret::Secret;

/// One HTTP call of the target API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub method: String,
    /// May hold `{key}` (the member's key) and `{id}` (the listed account's server id).
    pub path: String,
    /// A JSON pointer: the rendered document is sent at this place of the request body
    /// (`"/user"` sends `{"user": document}`); the unwrapped document is what is compared.
    #[serde(default)]
    pub wrap: Option<String>,
}

impl Endpoint {
    /// This endpoint's path names the account by its server id.
    pub fn uses_id(&self) -> bool {
        self.path.contains("{id}")
    }

    /// The request body for a rendered document: the document itself, or placed at `wrap`.
    pub fn body_for(&self, document: &serde_json::Value) -> serde_json::Value {
        let Some(pointer) = self.wrap.as_deref().filter(|p| !p.is_empty()) else {
            return document.clone();
        };
        let mut body = document.clone();
        for segment in pointer.split('/').skip(1).collect::<Vec<_>>().into_iter().rev() {
            let name = segment.replace("~1", "/").replace("~0", "~");
            body = serde_json::Value::Object(serde_json::Map::from_iter([(name, body)]));
        }
        body
    }
}

/// Where a listed account's key is: a JSON pointer, or an expression over `account`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRule {
    Pointer(String),
    Expression(String),
}

impl KeyRule {
    fn parse(text: String) -> KeyRule {
        if text.starts_with('/') {
            KeyRule::Pointer(text)
        } else {
            KeyRule::Expression(text)
        }
    }
}

impl std::fmt::Display for KeyRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyRule::Pointer(p) | KeyRule::Expression(p) => f.write_str(p),
        }
    }
}

/// How to list (some of) the accounts the target already has.
#[derive(Debug, Clone)]
pub struct ListSpec {
    pub method: String,
    /// The first request; may contain `{page}`: 0, 1, 2 … until a page has no items.
    pub path: String,
    /// JSON pointer to the array of accounts in a list response ("" for the whole response).
    pub items: String,
    /// Where the key is inside one account.
    pub key: KeyRule,
    /// JSON pointer to the server's id inside one account (fills `{id}` in write paths).
    pub id: Option<String>,
    /// JSON pointer to the server's own count of this listing's accounts, in every answer.
    pub total: Option<String>,
    /// An expression over the page just read giving the next path, or nothing to stop.
    pub next: Option<String>,
    /// Fields set on every account of this listing (a listing that filters instead of showing).
    pub with: serde_json::Map<String, serde_json::Value>,
}

impl ListSpec {
    /// A listing by pointers only, one request or `{page}` pages (what the first contract had).
    pub fn simple(path: &str, items: &str, key: &str) -> ListSpec {
        ListSpec {
            method: "GET".into(),
            path: path.into(),
            items: items.into(),
            key: KeyRule::parse(key.into()),
            id: None,
            total: None,
            next: None,
            with: Default::default(),
        }
    }

    /// Pages by `{page}` in the path.
    pub fn paged(&self) -> bool {
        self.path.contains("{page}")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListSpec {
    #[serde(default = "default_list_method")]
    method: String,
    path: String,
    #[serde(default)]
    items: String,
    key: String,
    id: Option<String>,
    total: Option<String>,
    next: Option<String>,
    #[serde(default)]
    with: serde_json::Map<String, serde_json::Value>,
}

fn default_list_method() -> String {
    "GET".into()
}

/// `system.json` after rendering: how to talk to the system.
#[derive(Debug, Clone)]
pub struct SystemSpec {
    /// The system's base URL, when the folder names it (`SLACK_IM_TARGET_URL` overrides it).
    pub url: Option<String>,
    /// Header values often hold tokens: kept as secrets.
    pub headers: Vec<(String, Secret<String>)>,
    /// One or more listings, read in order; never empty.
    pub list: Vec<ListSpec>,
    pub create: Endpoint,
    pub update: Option<Endpoint>,
    pub deactivate: Option<Endpoint>,
    /// Where a reactivation goes when the API has a call of its own for it; without it, a
    /// reactivation is sent to `update` with `update.json`'s body.
    pub reactivate: Option<Endpoint>,
    /// A Jinja expression over `account`: the accounts slack-im manages (may deactivate).
    pub managed: Option<String>,
    /// A Jinja expression over `account`: accounts slack-im does not manage that a matching member
    /// may take over (update). Without it, such accounts are left alone.
    pub adopt: Option<String>,
    /// A Jinja expression over `account`: which listed accounts are active (truthy). Without it,
    /// every listed account is active; with it, an inactive managed account of a leaver needs nothing.
    pub active: Option<String>,
    /// A Jinja expression over `account`: the Slack id the account belongs to (SCIM's
    /// `externalId`, a custom field). A member is matched by it first, by key second: the same
    /// anchor under a new key is a rename; the same key under another member's anchor is a
    /// recycled address, never taken over.
    pub anchor: Option<String>,
    /// A Jinja expression over `account`: which inactive managed accounts slack-im may reactivate
    /// (e.g. only those its own deactivate body marked). Without it, every one; the others are left
    /// alone, reported as locked by someone else.
    pub reactivatable: Option<String>,
    /// A Jinja expression over `user`: the member's key, so a member whose account exists needs no
    /// `create.json` render. Must agree with `create.json` at `list.key`. Without it, the key is
    /// read from the rendered create body.
    pub key: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSystemSpec {
    url: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    list: serde_json::Value,
    create: Endpoint,
    update: Option<Endpoint>,
    deactivate: Option<Endpoint>,
    reactivate: Option<Endpoint>,
    managed: Option<String>,
    adopt: Option<String>,
    active: Option<String>,
    anchor: Option<String>,
    reactivatable: Option<String>,
    key: Option<String>,
}

impl SystemSpec {
    /// Reads and checks the rendered `system.json`; the error says what is wrong with which field.
    pub fn from_json(json: serde_json::Value) -> Result<SystemSpec, String> {
        let raw: RawSystemSpec = serde_json::from_value(json).map_err(|e| e.to_string())?;
        let list = read_lists(raw.list)?;
        check_endpoint("create", &raw.create, Place::Create)?;
        for (name, endpoint) in
            [("update", &raw.update), ("deactivate", &raw.deactivate), ("reactivate", &raw.reactivate)]
        {
            if let Some(e) = endpoint {
                check_endpoint(name, e, Place::Account)?;
                if e.uses_id() {
                    if let Some(n) = list.iter().position(|l| l.id.is_none()) {
                        return Err(format!(
                            "{name}.path {:?} uses {{id}} but {} has no \"id\" pointer (like \"/id\")",
                            e.path,
                            list_name(n, list.len())
                        ));
                    }
                }
            }
        }
        if raw.create.path.contains("{key}") && !raw.key.as_deref().is_some_and(|k| !k.trim().is_empty()) {
            return Err(format!(
                "create.path {:?} holds {{key}}: system.json needs a \"key\" expression (over user) to fill it before create.json is rendered",
                raw.create.path
            ));
        }
        let upper = |e: Endpoint| Endpoint { method: e.method.to_ascii_uppercase(), ..e };
        let expression = |e: Option<String>| e.filter(|m| !m.trim().is_empty());
        Ok(SystemSpec {
            url: raw.url.filter(|u| !u.trim().is_empty()),
            headers: raw.headers.into_iter().map(|(k, v)| (k, Secret::new(v))).collect(),
            list,
            create: upper(raw.create),
            update: raw.update.map(upper),
            deactivate: raw.deactivate.map(upper),
            reactivate: raw.reactivate.map(upper),
            managed: expression(raw.managed),
            adopt: expression(raw.adopt),
            active: expression(raw.active),
            anchor: expression(raw.anchor),
            reactivatable: expression(raw.reactivatable),
            key: expression(raw.key),
        })
    }

    /// The first listing: the one whose `key` finds a member's key in its create body.
    pub fn first_list(&self) -> &ListSpec {
        &self.list[0]
    }

    /// The create path names the account (`PUT /users/{key}`): a create-or-modify call, which
    /// slack-im sends only after proving the account does not exist.
    pub fn create_is_upsert(&self) -> bool {
        self.create.path.contains("{key}")
    }
}

/// `list`, `list[0]`…: how errors name a listing.
fn list_name(n: usize, of: usize) -> String {
    if of == 1 {
        "list".to_string()
    } else {
        format!("list[{n}]")
    }
}

/// `"list"`: one listing object, or an array of them.
fn read_lists(value: serde_json::Value) -> Result<Vec<ListSpec>, String> {
    let raws: Vec<serde_json::Value> = match value {
        serde_json::Value::Array(items) if items.is_empty() => {
            return Err("list is an empty array: name at least one listing".into())
        }
        serde_json::Value::Array(items) => items,
        object @ serde_json::Value::Object(_) => vec![object],
        other => return Err(format!("list must be an object or an array of objects, not {other}")),
    };
    let of = raws.len();
    raws.into_iter()
        .enumerate()
        .map(|(n, raw)| {
            let name = list_name(n, of);
            let raw: RawListSpec = serde_json::from_value(raw).map_err(|e| format!("{name}: {e}"))?;
            read_list(&name, raw)
        })
        .collect()
}

fn read_list(name: &str, raw: RawListSpec) -> Result<ListSpec, String> {
    let endpoint = Endpoint { method: raw.method.clone(), path: raw.path.clone(), wrap: None };
    check_endpoint(name, &endpoint, Place::List)?;
    if !raw.items.is_empty() && !raw.items.starts_with('/') {
        return Err(format!(
            "{name}.items {:?} is not a JSON pointer (\"/data\", or \"\" for the whole answer)",
            raw.items
        ));
    }
    if !raw.key.starts_with('/') && !raw.key.contains("account") {
        return Err(format!(
            "{name}.key {:?} is not a JSON pointer like \"/userId\", nor an expression over account",
            raw.key
        ));
    }
    for (field, pointer) in [("id", &raw.id), ("total", &raw.total)] {
        if let Some(p) = pointer {
            if !p.starts_with('/') {
                return Err(format!("{name}.{field} {p:?} is not a JSON pointer like \"/{field}\""));
            }
        }
    }
    let next = raw.next.filter(|n| !n.trim().is_empty());
    if next.is_some() && raw.path.contains("{page}") {
        return Err(format!(
            "{name} has both {{page}} in its path and a \"next\" expression: page one way or the other"
        ));
    }
    Ok(ListSpec {
        method: raw.method.to_ascii_uppercase(),
        path: raw.path,
        items: raw.items,
        key: KeyRule::parse(raw.key),
        id: raw.id,
        total: raw.total,
        next,
        with: raw.with,
    })
}

/// Which placeholders an endpoint's path may or must hold.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// A listing: neither `{key}` nor `{id}`.
    List,
    /// A create: `{key}` allowed (an upsert), `{id}` not (a new account has none).
    Create,
    /// An update or deactivation: `{key}` or `{id}` required.
    Account,
}

fn check_endpoint(what: &str, e: &Endpoint, place: Place) -> Result<(), String> {
    let method = e.method.to_ascii_uppercase();
    if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
        return Err(format!("{what}.method {:?} is not GET, POST, PUT, PATCH or DELETE", e.method));
    }
    if !e.path.starts_with('/') {
        return Err(format!("{what}.path {:?} must start with /", e.path));
    }
    let (key, id) = (e.path.contains("{key}"), e.uses_id());
    match place {
        Place::Account if !key && !id => {
            return Err(format!("{what}.path {:?} must contain {{key}} or {{id}}", e.path))
        }
        Place::Create if id => {
            return Err(format!("{what}.path {:?} cannot use {{id}}: a new account has none", e.path))
        }
        _ => {}
    }
    if let Some(wrap) = &e.wrap {
        if !wrap.is_empty() && !wrap.starts_with('/') {
            return Err(format!("{what}.wrap {wrap:?} is not a JSON pointer like \"/user\""));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(edit: impl FnOnce(&mut serde_json::Value)) -> Result<SystemSpec, String> {
        let mut json = json!({
            "list": {"path": "/api/users?page={page}", "items": "/data", "key": "/userId"},
            "create": {"method": "post", "path": "/api/users"},
            "update": {"method": "PUT", "path": "/api/users/{key}"},
        });
        edit(&mut json);
        SystemSpec::from_json(json)
    }

    #[test]
    fn a_valid_spec_is_read_with_methods_upper_cased() {
        let s = spec(|_| {}).unwrap();
        assert_eq!((s.list[0].method.as_str(), s.create.method.as_str()), ("GET", "POST"));
        assert!(s.deactivate.is_none() && s.managed.is_none() && s.adopt.is_none() && s.key.is_none());
    }

    #[test]
    fn a_key_expression_is_read_and_a_blank_one_is_none() {
        let s = spec(|j| j["key"] = json!("user.email_local | lower")).unwrap();
        assert_eq!(s.key.as_deref(), Some("user.email_local | lower"));
        assert!(spec(|j| j["key"] = json!("  ")).unwrap().key.is_none());
        let err = spec(|j| j["key"] = json!(["user.id"])).unwrap_err();
        assert!(err.contains("invalid type"), "{err}");
    }

    #[test]
    fn each_mistake_names_its_field() {
        type Edit = fn(&mut serde_json::Value);
        let cases: [(Edit, &str); 5] = [
            (|j| j["delete"] = json!({"method": "DELETE", "path": "/x/{key}"}), "unknown field `delete`"),
            (|j| j["update"]["path"] = json!("/api/users"), "update.path \"/api/users\" must contain {key}"),
            (|j| j["create"]["method"] = json!("FETCH"), "create.method \"FETCH\" is not GET"),
            (|j| j["list"]["key"] = json!("userId"), "list.key \"userId\" is not a JSON pointer"),
            (|j| j["list"]["items"] = json!("data"), "list.items \"data\" is not a JSON pointer"),
        ];
        for (edit, expected) in cases {
            let err = spec(edit).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
    }
}
