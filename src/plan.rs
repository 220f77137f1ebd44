//! The plan: a pure function of the desired accounts (members rendered through the templates) and
//! the accounts the target has. It decides create / update / deactivate / unchanged, applies the
//! protections and the deactivation guard, and touches no network.
//!
//! The field-by-field comparison of one account ([`update_diff`]) is also here; the caller runs it
//! while rendering, so only the bodies of accounts that differ are kept in memory.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::eligibility::{SkipReason, Skipped};

/// One member as the templates render it. Kept for every eligible member, so it is small: the
/// bodies are kept only when something is to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub slack_id: String,
    pub key: String,
    /// `None`: the member's account exists and matches its update body (or there is no update.json).
    pub change: Option<Box<Change>>,
}

/// What the renderer found for one member.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// No listed account has the key: the create body.
    Create(Value),
    /// The account differs from the update body in these fields ([`update_diff`]).
    Update { body: Value, changed: Vec<String> },
}

/// One account the target lists, with the `managed` and `adopt` verdicts already taken.
#[derive(Debug, Clone, PartialEq)]
pub struct Existing {
    pub key: String,
    pub managed: bool,
    /// Not managed, but `system.json`'s `adopt` lets a matching member take it over.
    pub adoptable: bool,
}

impl Existing {
    /// A member with this key may write to it.
    pub fn writable(&self) -> bool {
        self.managed || self.adoptable
    }
}

/// A member whose key matches an account slack-im does not manage (an init-data `admin`):
/// neither created nor updated, and reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmanaged {
    pub key: String,
    pub slack_id: String,
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
    /// Members whose key matches an account slack-im does not manage (and may not adopt).
    pub unmanaged: Vec<Unmanaged>,
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

    // One map, desired key -> first member with it. Two members rendering one key cannot both own
    // the account: both are skipped and the key is not touched at all.
    let mut by_key: HashMap<String, usize> = HashMap::with_capacity(desired.len());
    let mut duplicates: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, d) in desired.iter().enumerate() {
        match by_key.entry(normalize_key(&d.key)) {
            Entry::Vacant(v) => {
                v.insert(i);
            }
            Entry::Occupied(o) => duplicates.entry(o.key().clone()).or_insert_with(|| vec![*o.get()]).push(i),
        }
    }
    for indexes in duplicates.values() {
        for &i in indexes {
            let other = indexes
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| desired[j].slack_id.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            plan.skipped.push(Skipped {
                slack_id: desired[i].slack_id.clone(),
                reason: SkipReason::DuplicateKey { key: desired[i].key.clone(), other },
            });
        }
    }
    plan.skipped.sort_by(|a, b| a.slack_id.cmp(&b.slack_id));

    // Each listed account either belongs to a member or is a leaver.
    plan.managed_accounts = existing.iter().filter(|e| e.managed).count();
    let mut account_of: Vec<Option<&Existing>> = vec![None; desired.len()];
    let mut leavers = Vec::new();
    for e in existing {
        let key = normalize_key(&e.key);
        if duplicates.contains_key(&key) {
            continue;
        }
        match by_key.get(&key) {
            Some(&i) => {
                account_of[i].get_or_insert(e);
            }
            None if !e.managed || !policy.can_deactivate => plan.unmanaged_kept += 1,
            None if protected.contains(key.as_str()) => plan.protected.push(e.key.clone()),
            None => leavers.push(e),
        }
    }
    drop(by_key);

    for (d, account) in desired.into_iter().zip(account_of) {
        if duplicates.contains_key(&normalize_key(&d.key)) {
            continue;
        }
        match (account, d.change.map(|c| *c)) {
            (Some(account), _) if !account.writable() => {
                plan.unmanaged.push(Unmanaged { key: account.key.clone(), slack_id: d.slack_id })
            }
            (None, Some(Change::Create(body))) => plan.actions.push(Action {
                kind: ActionKind::Create,
                key: d.key,
                slack_id: Some(d.slack_id),
                body: Some(body),
                changed: Vec::new(),
                withheld: None,
            }),
            (Some(account), Some(Change::Update { body, changed })) if !changed.is_empty() => {
                if protected.contains(normalize_key(&account.key).as_str()) {
                    plan.protected.push(account.key.clone());
                    plan.unchanged += 1;
                } else {
                    plan.actions.push(Action {
                        kind: ActionKind::Update,
                        key: account.key.clone(),
                        slack_id: Some(d.slack_id),
                        body: Some(body),
                        changed,
                        withheld: None,
                    });
                }
            }
            // The account matches its body (or, a caller's slip, a body for the wrong case).
            _ => plan.unchanged += 1,
        }
    }

    plan.protected.sort();
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
            // Rendered from `deactivate.json` by the caller, for the deactivations not withheld.
            body: None,
            changed: Vec::new(),
            withheld: withheld.clone(),
        });
    }
    plan
}

/// The fields an update would change: [`changed_fields`], except the key field when it differs
/// only in case (keys compare case-insensitively, so it is the same key).
pub fn update_diff(update: &Value, account: &Value, key: &str) -> Vec<String> {
    let mut changed = changed_fields(update, account);
    changed.retain(|field| !is_key_field(Some(update), account, field, key));
    changed
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

    /// A listed account: key, the name the target holds, managed or not.
    struct Listed(&'static str, &'static str, bool);

    /// What the renderer hands the plan for members `(slack id, key, name)`: a create body for new
    /// keys, an update body (and its diff) for accounts that differ.
    fn render(members: &[(&str, &str, &str)], listed: &[Listed]) -> Vec<Desired> {
        members
            .iter()
            .map(|&(id, key, name)| {
                let body = json!({"userId": key, "name": name, "password": "pw"});
                let change = match listed.iter().find(|l| normalize_key(l.0) == normalize_key(key)) {
                    None => Some(Change::Create(body)),
                    Some(l) => {
                        let account = json!({"userId": l.0, "name": l.1, "createdBy": "x"});
                        let changed = update_diff(&body, &account, l.0);
                        (!changed.is_empty()).then_some(Change::Update { body, changed })
                    }
                };
                Desired { slack_id: id.into(), key: key.into(), change: change.map(Box::new) }
            })
            .collect()
    }

    fn existing(listed: &[Listed]) -> Vec<Existing> {
        listed.iter().map(|l| Existing { key: l.0.into(), managed: l.2, adoptable: false }).collect()
    }

    fn run(members: &[(&str, &str, &str)], listed: &[Listed], policy: &Policy) -> Plan {
        plan(render(members, listed), &existing(listed), policy)
    }

    fn policy() -> Policy {
        Policy { can_deactivate: true, ..Policy::default() }
    }

    fn kinds(plan: &Plan) -> Vec<(ActionKind, &str, bool)> {
        plan.actions.iter().map(|a| (a.kind, a.key.as_str(), a.withheld.is_some())).collect()
    }

    fn leavers(n: usize) -> Vec<Listed> {
        (0..n).map(|i| Listed(Box::leak(format!("gone{i}").into_boxed_str()), "Gone", true)).collect()
    }

    #[test]
    fn missing_accounts_are_created_and_matching_ones_left_alone() {
        let p = run(&[("U1", "ann", "Ann"), ("U2", "bob", "Bob")], &[Listed("ANN", "Ann", true)], &policy());
        assert_eq!(kinds(&p), [(ActionKind::Create, "bob", false)]);
        assert_eq!(p.unchanged, 1, "a key differing only in case is the same key");
    }

    #[test]
    fn a_changed_field_is_an_update_and_unlisted_fields_are_not_compared() {
        let p = run(&[("U1", "ann", "Ann Lee")], &[Listed("ann", "Ann", true)], &policy());
        assert_eq!(kinds(&p), [(ActionKind::Update, "ann", false)]);
        assert_eq!(p.actions[0].changed, ["name"], "password is not listed, so not compared");
    }

    #[test]
    fn managed_leavers_are_deactivated_and_others_kept() {
        let listed =
            [Listed("ann", "Ann", true), Listed("old", "Old", true), Listed("admin", "Admin", false)];
        let p = run(&[("U1", "ann", "Ann")], &listed, &policy());
        assert_eq!(kinds(&p), [(ActionKind::Deactivate, "old", false)]);
        assert_eq!(p.unmanaged_kept, 1);
    }

    #[test]
    fn protected_keys_are_never_updated_or_deactivated() {
        let listed = [Listed("ann", "Ann", true), Listed("old", "Old", true)];
        let policy = Policy { protect: vec!["ann".into(), "old".into()], ..policy() };
        let p = run(&[("U1", "Ann", "Ann Changed")], &listed, &policy);
        assert!(p.actions.is_empty(), "{:?}", p.actions);
        assert_eq!(p.protected, ["ann", "old"]);
    }

    #[test]
    fn too_many_leavers_withholds_every_deactivation() {
        let p = run(&[("U1", "ann", "Ann")], &leavers(40), &Policy { max_deactivate: Some(5), ..policy() });
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
        assert_eq!(run(&[], &leavers(4), &policy()).withheld(), 4);
        assert_eq!(run(&[], &leavers(3), &policy()).count(ActionKind::Deactivate), 3);
    }

    #[test]
    fn a_blocked_read_withholds_deactivation_with_its_reason() {
        let blocked = Policy { deactivation_blocked: Some("no eligible member".into()), ..policy() };
        let p = run(&[], &[Listed("a", "A", true)], &blocked);
        assert_eq!(p.actions[0].withheld.as_deref(), Some("no eligible member"));
    }

    #[test]
    fn two_members_with_one_key_are_both_skipped_and_the_account_untouched() {
        let p = run(&[("U1", "jo", "Jo A"), ("U2", "JO", "Jo B")], &[Listed("jo", "Jo", true)], &policy());
        assert!(p.actions.is_empty(), "{:?}", p.actions);
        assert_eq!(p.skipped.len(), 2);
        assert!(matches!(&p.skipped[0].reason, SkipReason::DuplicateKey { .. }));
    }

    #[test]
    fn a_member_matching_an_unmanaged_account_is_left_alone_unless_it_may_be_adopted() {
        let listed = [Listed("admin", "Init Admin", false)];
        let p = run(&[("U9", "admin", "Someone Else")], &listed, &policy());
        assert!(p.actions.is_empty(), "{:?}", p.actions);
        assert_eq!(p.unmanaged, [Unmanaged { key: "admin".into(), slack_id: "U9".into() }]);
        assert_eq!(p.unchanged, 0, "left alone is not unchanged");

        let mut adoptable = existing(&listed);
        adoptable[0].adoptable = true;
        let p = plan(render(&[("U9", "admin", "Someone Else")], &listed), &adoptable, &policy());
        assert_eq!(kinds(&p), [(ActionKind::Update, "admin", false)]);
        assert!(p.unmanaged.is_empty());
    }

    #[test]
    fn without_a_deactivate_endpoint_leavers_are_kept() {
        let p = run(&[], &[Listed("old", "Old", true)], &Policy::default());
        assert!(p.actions.is_empty());
        assert_eq!(p.unmanaged_kept, 1);
    }

    #[test]
    fn nested_fields_compare_like_top_level_ones() {
        let want = json!({"metadata": {"counselType": "user", "extra": 1}, "centerIds": ["a"], "n": 1});
        let same = json!({"metadata": {"counselType": "user"}, "centerIds": ["a"], "n": 1.0});
        assert!(changed_fields(&want, &same).is_empty());
        let other = json!({"metadata": {"counselType": "x"}, "centerIds": ["b"]});
        assert_eq!(changed_fields(&want, &other), ["centerIds", "metadata"]);
    }
}
