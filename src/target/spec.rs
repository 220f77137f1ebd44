//! The target's API as `system.json` describes it once rendered: headers, the listing (paged, by
//! JSON pointers), the create, update and deactivate calls, which accounts slack-im manages or
//! may adopt, and the expression giving a member's key. Checked once per run, so a typo fails
//! before any request.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::secret::Secret;

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
    /// The system's base URL, when the folder names it (`SLACK_IM_TARGET_URL` overrides it).
    pub url: Option<String>,
    /// Header values often hold tokens: kept as secrets.
    pub headers: Vec<(String, Secret<String>)>,
    pub list: ListSpec,
    pub create: Endpoint,
    pub update: Option<Endpoint>,
    pub deactivate: Option<Endpoint>,
    /// A Jinja expression over `account`: the accounts slack-im manages (may deactivate).
    pub managed: Option<String>,
    /// A Jinja expression over `account`: accounts slack-im does not manage that a matching member
    /// may take over (update). Without it, such accounts are left alone.
    pub adopt: Option<String>,
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
    list: ListSpec,
    create: Endpoint,
    update: Option<Endpoint>,
    deactivate: Option<Endpoint>,
    managed: Option<String>,
    adopt: Option<String>,
    key: Option<String>,
}

impl SystemSpec {
    /// Reads and checks the rendered `system.json`; the error says what is wrong with which field.
    pub fn from_json(json: serde_json::Value) -> Result<SystemSpec, String> {
        let raw: RawSystemSpec = serde_json::from_value(json).map_err(|e| e.to_string())?;
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
            return Err(format!(
                "list.items {:?} is not a JSON pointer (\"/data\", or \"\" for the whole answer)",
                raw.list.items
            ));
        }
        if !raw.list.key.starts_with('/') {
            return Err(format!("list.key {:?} is not a JSON pointer like \"/userId\"", raw.list.key));
        }
        let upper = |e: Endpoint| Endpoint { method: e.method.to_ascii_uppercase(), path: e.path };
        let expression = |e: Option<String>| e.filter(|m| !m.trim().is_empty());
        Ok(SystemSpec {
            url: raw.url.filter(|u| !u.trim().is_empty()),
            headers: raw.headers.into_iter().map(|(k, v)| (k, Secret::new(v))).collect(),
            list: ListSpec { method: raw.list.method.to_ascii_uppercase(), ..raw.list },
            create: upper(raw.create),
            update: raw.update.map(upper),
            deactivate: raw.deactivate.map(upper),
            managed: expression(raw.managed),
            adopt: expression(raw.adopt),
            key: expression(raw.key),
        })
    }
}

fn check_endpoint(what: &str, e: &Endpoint, needs_key: bool) -> Result<(), String> {
    let method = e.method.to_ascii_uppercase();
    if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
        return Err(format!("{what}.method {:?} is not GET, POST, PUT, PATCH or DELETE", e.method));
    }
    if !e.path.starts_with('/') {
        return Err(format!("{what}.path {:?} must start with /", e.path));
    }
    if needs_key && !e.path.contains("{key}") {
        return Err(format!("{what}.path {:?} must contain {{key}}", e.path));
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
        assert_eq!((s.list.method.as_str(), s.create.method.as_str()), ("GET", "POST"));
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
