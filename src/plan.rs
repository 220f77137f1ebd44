//! The plan: a pure function of the desired accounts (members rendered through the templates) and
//! the accounts the target has. It decides create / update / deactivate / unchanged, applies the
//! protections and the deactivation guard, and touches no network.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::eligibility::{SkipReason, Skipped};

/// One member as the templates render it.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub slack_id: String,
    pub key: String,
    pub create: Value,
    /// Rendered from `update.json` against the member's existing account, when both exist.
    pub update: Option<Value>,
}

/// One account the target lists, with the `managed` verdict already taken.
#[derive(Debug, Clone, PartialEq)]
pub struct Existing {
    pub key: String,
    pub value: Value,
    pub managed: bool,
    /// Rendered from `deactivate.json`, when it exists.
    pub deactivate_body: Option<Value>,
}

/// What the plan may do.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Lower-case keys never updated or deactivated.
    pub protect: Vec<String>,
    /// `None`: the default, max(3, 10% of managed accounts).
    pub max_deactivate: Option<usize>,
    /// The system has a deactivate endpoint.
    pub can_deactivate: bool,
    /// Set when the reads cannot be trusted for deactivation (e.g. no eligible member): every
    /// deactivation is withheld with this reason.
    pub deactivation_blocked: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    Create,
    Update,
    Deactivate,
}

/// One write the plan asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub kind: ActionKind,
    pub key: String,
    pub slack_id: Option<String>,
    pub body: Option<Value>,
    /// For updates: the top-level fields whose values differ.
    pub changed: Vec<String>,
    /// Set when a guard holds this action back; it is reported, not applied.
    pub withheld: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub unchanged: usize,
    /// Members left out by the plan itself (two members with one key).
    pub skipped: Vec<Skipped>,
    /// Keys that would have been updated or deactivated but are in `SLACK_IM_PROTECT`.
    pub protected: Vec<String>,
    /// Accounts without a member that slack-im does not manage, left alone.
    pub unmanaged_kept: usize,
    pub managed_accounts: usize,
}

impl Plan {
    pub fn count(&self, kind: ActionKind) -> usize {
        self.actions.iter().filter(|a| a.kind == kind && a.withheld.is_none()).count()
    }

    pub fn withheld(&self) -> usize {
        self.actions.iter().filter(|a| a.withheld.is_some()).count()
    }
}

/// Keys compare case-insensitively.
pub fn normalize_key(key: &str) -> String {
    key.to_lowercase()
}

/// The default deactivation guard: max(3, 10% of managed accounts, rounded up).
pub fn default_max_deactivate(managed: usize) -> usize {
    3usize.max(managed.div_ceil(10))
}

pub fn plan(desired: Vec<Desired>, existing: &[Existing], policy: &Policy) -> Plan {
    let mut plan = Plan::default();
    let protected: HashSet<&str> = policy.protect.iter().map(String::as_str).collect();

    // Two members rendering one key cannot both own the account: skip both, touch the key not at all.
    let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, d) in desired.iter().enumerate() {
        by_key.entry(normalize_key(&d.key)).or_default().push(i);
    }
    let mut held: HashSet<String> = HashSet::new();
    for (key, indexes) in &by_key {
        if indexes.len() > 1 {
            held.insert(key.clone());
            for &i in indexes {
                let other = indexes
                    .iter()
                    .filter(|&&j| j != i)
                    .map(|&j| desired[j].slack_id.clone())
                    .collect::<Vec<_>>()
                    .join(", ");
                plan.skipped.push(Skipped {
                    slack_id: desired[i].slack_id.clone(),
                    reason: SkipReason::DuplicateKey { key: desired[i].key.clone(), other },
                });
            }
        }
    }

    let mut accounts: HashMap<String, &Existing> = HashMap::new();
    for e in existing {
        accounts.entry(normalize_key(&e.key)).or_insert(e);
    }
    plan.managed_accounts = existing.iter().filter(|e| e.managed).count();

    let mut wanted: HashSet<String> = HashSet::new();
    for d in desired {
        let key = normalize_key(&d.key);
        if held.contains(&key) {
            continue;
        }
        wanted.insert(key.clone());
        match accounts.get(&key) {
            None => plan.actions.push(Action {
                kind: ActionKind::Create,
                key: d.key,
                slack_id: Some(d.slack_id),
                body: Some(d.create),
                changed: Vec::new(),
                withheld: None,
            }),
            Some(account) => {
                let mut changed =
                    d.update.as_ref().map(|u| changed_fields(u, &account.value)).unwrap_or_default();
                // The key itself differing only in case is the same key, not a change.
                changed.retain(|f| !is_key_field(d.update.as_ref(), &account.value, f, &account.key));
                if changed.is_empty() {
                    plan.unchanged += 1;
                } else if protected.contains(key.as_str()) {
                    plan.protected.push(account.key.clone());
                    plan.unchanged += 1;
                } else {
                    plan.actions.push(Action {
                        kind: ActionKind::Update,
                        key: account.key.clone(),
                        slack_id: Some(d.slack_id),
                        body: d.update,
                        changed,
                        withheld: None,
                    });
                }
            }
        }
    }

    let mut leavers = Vec::new();
    for e in existing {
        let key = normalize_key(&e.key);
        if wanted.contains(&key) || held.contains(&key) {
            continue;
        }
        if !e.managed || !policy.can_deactivate {
            plan.unmanaged_kept += 1;
        } else if protected.contains(key.as_str()) {
            plan.protected.push(e.key.clone());
        } else {
            leavers.push(e);
        }
    }
    let limit = policy.max_deactivate.unwrap_or_else(|| default_max_deactivate(plan.managed_accounts));
    let withheld = match &policy.deactivation_blocked {
        Some(reason) => Some(reason.clone()),
        None if leavers.len() > limit => Some(format!(
            "{} deactivations exceed the guard of {limit} (SLACK_IM_MAX_DEACTIVATE{})",
            leavers.len(),
            if policy.max_deactivate.is_some() { "" } else { ", default max(3, 10% of managed accounts)" }
        )),
        None => None,
    };
    for e in leavers {
        plan.actions.push(Action {
            kind: ActionKind::Deactivate,
            key: e.key.clone(),
            slack_id: None,
            body: e.deactivate_body.clone(),
            changed: Vec::new(),
            withheld: withheld.clone(),
        });
    }
    plan
}

/// The top-level fields of `desired` whose value differs from the account's. A field the account
/// does not have (the listing does not return it, like a password) is not compared; nested objects
/// follow the same rule.
pub fn changed_fields(desired: &Value, account: &Value) -> Vec<String> {
    let (Some(want), Some(have)) = (desired.as_object(), account.as_object()) else {
        return if desired == account { Vec::new() } else { vec![String::new()] };
    };
    want.iter()
        .filter(|(field, value)| match have.get(*field) {
            None => false,
            Some(current) => differs(value, current),
        })
        .map(|(field, _)| field.clone())
        .collect()
}

fn is_key_field(update: Option<&Value>, account: &Value, field: &str, key: &str) -> bool {
    let as_text = |v: Option<&Value>| v.and_then(|v| v.get(field)).and_then(Value::as_str).map(normalize_key);
    let key = normalize_key(key);
    as_text(update) == Some(key.clone()) && as_text(Some(account)) == Some(key)
}

fn differs(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => {
            w.iter().any(|(k, v)| h.get(k).is_some_and(|hv| differs(v, hv)))
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() != b.as_f64(),
        _ => want != have,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn desired(id: &str, key: &str, name: &str) -> Desired {
        Desired {
            slack_id: id.into(),
            key: key.into(),
            create: json!({"userId": key, "name": name, "password": "pw"}),
            update: Some(json!({"userId": key, "name": name, "password": "pw"})),
        }
    }

    fn existing(key: &str, name: &str, managed: bool) -> Existing {
        Existing {
            key: key.into(),
            value: json!({"userId": key, "name": name, "createdBy": "x"}),
            managed,
            deactivate_body: None,
        }
    }

    fn policy() -> Policy {
        Policy { can_deactivate: true, ..Policy::default() }
    }

    fn kinds(plan: &Plan) -> Vec<(ActionKind, &str, bool)> {
        plan.actions.iter().map(|a| (a.kind, a.key.as_str(), a.withheld.is_some())).collect()
    }

    #[test]
    fn missing_accounts_are_created_and_matching_ones_left_alone() {
        let p = plan(
            vec![desired("U1", "ann", "Ann"), desired("U2", "bob", "Bob")],
            &[existing("ANN", "Ann", true)],
            &policy(),
        );
        assert_eq!(kinds(&p), [(ActionKind::Create, "bob", false)]);
        assert_eq!(p.unchanged, 1);
    }

    #[test]
    fn a_changed_field_is_an_update_and_unlisted_fields_are_not_compared() {
        let p = plan(vec![desired("U1", "ann", "Ann Lee")], &[existing("ann", "Ann", true)], &policy());
        assert_eq!(kinds(&p), [(ActionKind::Update, "ann", false)]);
        assert_eq!(p.actions[0].changed, ["name"]);
    }

    #[test]
    fn managed_leavers_are_deactivated_and_others_kept() {
        let accounts =
            [existing("ann", "Ann", true), existing("old", "Old", true), existing("admin", "Admin", false)];
        let p = plan(vec![desired("U1", "ann", "Ann")], &accounts, &policy());
        assert_eq!(kinds(&p), [(ActionKind::Deactivate, "old", false)]);
        assert_eq!(p.unmanaged_kept, 1);
    }

    #[test]
    fn protected_keys_are_never_updated_or_deactivated() {
        let accounts = [existing("ann", "Ann", true), existing("old", "Old", true)];
        let policy = Policy { protect: vec!["ann".into(), "old".into()], ..policy() };
        let p = plan(vec![desired("U1", "Ann", "Ann Changed")], &accounts, &policy);
        assert!(p.actions.is_empty(), "{:?}", p.actions);
        assert_eq!(p.protected, ["ann", "old"]);
    }

    #[test]
    fn too_many_leavers_withholds_every_deactivation() {
        let accounts: Vec<Existing> = (0..40).map(|i| existing(&format!("gone{i}"), "Gone", true)).collect();
        let p = plan(
            vec![desired("U1", "ann", "Ann")],
            &accounts,
            &Policy { max_deactivate: Some(5), ..policy() },
        );
        assert_eq!(p.withheld(), 40);
        assert_eq!(p.count(ActionKind::Deactivate), 0);
        let gone = p.actions.iter().find(|a| a.kind == ActionKind::Deactivate).unwrap();
        assert!(gone.withheld.as_deref().unwrap().starts_with("40 deactivations exceed the guard of 5"));
        assert_eq!(p.count(ActionKind::Create), 1);
    }

    #[test]
    fn the_default_guard_is_three_or_ten_percent() {
        assert_eq!(default_max_deactivate(0), 3);
        assert_eq!(default_max_deactivate(31), 4);
        assert_eq!(default_max_deactivate(200), 20);
        let accounts: Vec<Existing> = (0..4).map(|i| existing(&format!("gone{i}"), "Gone", true)).collect();
        assert_eq!(plan(vec![], &accounts, &policy()).withheld(), 4);
        assert_eq!(plan(vec![], &accounts[..3], &policy()).count(ActionKind::Deactivate), 3);
    }

    #[test]
    fn a_blocked_read_withholds_deactivation_with_its_reason() {
        let p = plan(
            vec![],
            &[existing("a", "A", true)],
            &Policy { deactivation_blocked: Some("no eligible member".into()), ..policy() },
        );
        assert_eq!(p.actions[0].withheld.as_deref(), Some("no eligible member"));
    }

    #[test]
    fn two_members_with_one_key_are_both_skipped_and_the_account_untouched() {
        let accounts = [existing("jo", "Jo", true)];
        let p = plan(vec![desired("U1", "jo", "Jo A"), desired("U2", "JO", "Jo B")], &accounts, &policy());
        assert!(p.actions.is_empty(), "{:?}", p.actions);
        assert_eq!(p.skipped.len(), 2);
        assert!(matches!(&p.skipped[0].reason, SkipReason::DuplicateKey { .. }));
    }

    #[test]
    fn without_a_deactivate_endpoint_leavers_are_kept() {
        let p = plan(vec![], &[existing("old", "Old", true)], &Policy::default());
        assert!(p.actions.is_empty());
        assert_eq!(p.unmanaged_kept, 1);
    }

    #[test]
    fn nested_fields_compare_like_top_level_ones() {
        let want = json!({"metadata": {"counselType": "user", "extra": 1}, "centerIds": ["a"], "n": 1});
        assert!(changed_fields(
            &want,
            &json!({"metadata": {"counselType": "user"}, "centerIds": ["a"], "n": 1.0})
        )
        .is_empty());
        assert_eq!(
            changed_fields(&want, &json!({"metadata": {"counselType": "x"}, "centerIds": ["b"]})),
            ["centerIds", "metadata"]
        );
    }
}
