//! The plan: a pure function of the desired accounts (members rendered through the templates) and
//! the accounts the target has. It decides create / update / deactivate / unchanged, applies the
//! protections and the deactivation guard, and touches no network.
//!
//! The field-by-field comparison of one account ([`update_diff`]) is also here; the caller runs it
//! while rendering, so only the bodies of accounts that differ are kept in memory.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::action::{Action, ActionKind, FieldChange, DIFF_LIMIT};
use crate::eligibility::{SkipReason, Skipped};
use crate::target::normalize_key;

/// One member as the templates render it. Kept for every eligible member, so it is small: the
/// bodies are kept only when something is to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub slack_id: String,
    pub key: String,
    /// The listed account with this key (its position in the listing), found once by the matcher.
    pub account: Option<usize>,
    /// `None`: the member's account exists and matches its update body (or there is no update.json).
    pub change: Option<Box<Change>>,
    /// The passwords `new_password()` put in this member's body: redacted from what the target
    /// answers about the write.
    pub hidden: Vec<crate::secret::Secret<String>>,
    /// For a create with `welcome.txt`: the DM the member is sent once the account exists.
    pub welcome: Option<crate::secret::Secret<String>>,
}

impl Desired {
    /// A member matched (or not) with what is to be written for it, no password made yet.
    pub fn new(slack_id: String, key: String, account: Option<usize>, change: Option<Change>) -> Desired {
        Desired { slack_id, key, account, change: change.map(Box::new), hidden: Vec::new(), welcome: None }
    }
}

/// What the renderer found for one member.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// No listed account has the key: the create body.
    Create(Value),
    /// The account differs from the update body in these fields ([`update_diff`]); the body also
    /// sets the fields the listing does not show ([`added_fields`]).
    Update { body: Value, changed: Vec<String>, added: Vec<String>, diff: Vec<FieldChange> },
    /// The account is managed but inactive: the body that makes it active (none for a
    /// `reactivate` endpoint without `reactivate.json`), and the fields it changes and adds.
    Reactivate { body: Option<Value>, changed: Vec<String>, added: Vec<String>, diff: Vec<FieldChange> },
    /// The member's managed account is inactive and `system.json`'s `reactivatable` says someone
    /// else locked it: left alone, reported.
    Locked,
    /// What the member would get must not be done (a recycled address, a rename onto a key
    /// another account holds): a failed action, with the reason and what to do.
    Refused(Refusal),
}

/// Why a member's write is refused before it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The account with the member's key belongs to another Slack member (its anchor): the
    /// address was given to someone new.
    Recycled { anchor: String },
    /// The member's own account (by anchor) is under `from`; their new key is held by `holder`.
    RenameTaken { from: String, holder: String },
}

impl Refusal {
    /// The reason, naming the member and what the person running slack-im can do.
    fn reason(&self, key: &str, slack_id: &str) -> String {
        match self {
            Refusal::Recycled { anchor } => format!(
                "the account {key} belongs to Slack member {anchor} (system.json \"anchor\"), not to {slack_id}: a recycled address is never taken over; rename or remove that account on the target, or give {slack_id} another key"
            ),
            Refusal::RenameTaken { from, holder } => format!(
                "{slack_id}'s account is {from} (system.json \"anchor\"); renaming it to {key} is refused because the account {holder} has that key: rename or remove {holder} on the target"
            ),
        }
    }

    /// The write the member would have had.
    fn kind(&self) -> ActionKind {
        match self {
            Refusal::Recycled { .. } => ActionKind::Create,
            Refusal::RenameTaken { .. } => ActionKind::Update,
        }
    }
}

/// One account the target lists, with the `managed` and `adopt` verdicts already taken.
#[derive(Debug, Clone, PartialEq)]
pub struct Existing {
    pub key: String,
    /// The server's id (`list.id`), which addresses the account in write paths with `{id}`.
    pub id: Option<String>,
    pub managed: bool,
    /// Not managed, but `system.json`'s `adopt` lets a matching member take it over.
    pub adoptable: bool,
    /// `system.json`'s `active` expression holds (always, without one).
    pub active: bool,
    /// Managed and inactive, and `system.json`'s `reactivatable` lets slack-im reactivate it.
    pub reactivatable: bool,
    /// For a managed account: the Slack id it belongs to, by `system.json`'s `anchor`.
    pub anchor: Option<String>,
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

/// A member deactivated in Slack within `SLACK_IM_DEACTIVATE_AFTER`: their account's deactivation
/// waits (it may be a mistake, undone in Slack within the grace period).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentlyLeft {
    pub slack_id: String,
    /// Every Slack id of the person (workspace and Grid), matched against anchors.
    pub ids: Vec<String>,
    /// Their key, when the templates could give one.
    pub key: Option<String>,
    /// When the grace ends: Slack's `updated` plus `SLACK_IM_DEACTIVATE_AFTER` (Unix seconds).
    pub due_at: i64,
}

/// A managed account whose deactivation waits for the grace period to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub key: String,
    pub slack_id: String,
    pub due_at: i64,
}

/// What the plan may do.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Lower-case keys never updated or deactivated.
    pub protect: Vec<String>,
    /// `None`: the default, max(3, 10% of managed accounts).
    pub max_deactivate: Option<usize>,
    /// `None`: the default, max(3, 10% of managed accounts).
    pub max_reactivate: Option<usize>,
    /// `SLACK_IM_MAX_CREATE`: `None`, no limit (a first sync creates everyone).
    pub max_create: Option<usize>,
    /// The system has a deactivate endpoint.
    pub can_deactivate: bool,
    /// Set when the reads cannot be trusted for deactivation (e.g. no eligible member): every
    /// deactivation is withheld with this reason.
    pub deactivation_blocked: Option<String>,
    /// Members deactivated in Slack within the grace period: their accounts are not deactivated yet.
    pub recently_left: Vec<RecentlyLeft>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub unchanged: usize,
    /// Members left out by the plan itself (two members with one key).
    pub skipped: Vec<Skipped>,
    /// Keys that would have been updated or deactivated but are in `SLACK_IM_PROTECT`.
    pub protected: Vec<String>,
    /// Members whose key matches an account slack-im does not manage (and may not adopt).
    pub unmanaged: Vec<Unmanaged>,
    /// Members whose managed account is inactive and locked by someone else (`reactivatable`).
    pub locked: Vec<Unmanaged>,
    pub managed_accounts: usize,
    /// Managed accounts of leavers that are inactive already: nothing to do, not counted by the guard.
    pub already_inactive: usize,
    /// Managed accounts of members deactivated in Slack within the grace period: no write yet, not
    /// counted by the guard.
    pub pending: Vec<Pending>,
}

/// The default deactivation guard: max(3, 10% of managed accounts, rounded up).
pub fn default_max_deactivate(managed: usize) -> usize {
    3usize.max(managed.div_ceil(10))
}

/// Decides every write: creates and updates from what the matcher found for each member, the
/// deactivation of managed accounts no member claims, protections, and the guard.
pub fn plan(desired: Vec<Desired>, existing: &[Existing], policy: &Policy) -> Plan {
    let mut plan =
        Plan { managed_accounts: existing.iter().filter(|e| e.managed).count(), ..Plan::default() };
    let protected: HashSet<&str> = policy.protect.iter().map(String::as_str).collect();
    let duplicates = duplicate_keys(&desired);
    plan.skipped = skipped_duplicates(&desired, &duplicates);

    // Every account a member (or two members with one key) claims; the others may be leavers.
    let mut claimed = vec![false; existing.len()];
    let mut returning = Vec::new();
    for d in desired {
        if let Some(i) = d.account {
            claimed[i] = true;
        }
        if duplicates.contains(&normalize_key(&d.key)) {
            continue;
        }
        match (d.account.map(|i| &existing[i]), d.change.map(|c| *c)) {
            (Some(account), _) if !account.writable() => {
                plan.unmanaged.push(Unmanaged { key: account.key.clone(), slack_id: d.slack_id })
            }
            (None, Some(Change::Create(body))) => {
                let mut create = Action::new(ActionKind::Create, d.key, Some(d.slack_id), Some(body));
                create.hidden = d.hidden;
                create.welcome = d.welcome;
                plan.actions.push(create)
            }
            (_, Some(Change::Refused(refusal))) => {
                let mut refused = Action::new(refusal.kind(), d.key.clone(), Some(d.slack_id.clone()), None);
                refused.refused = Some(refusal.reason(&d.key, &d.slack_id));
                plan.actions.push(refused);
            }
            (Some(account), Some(Change::Locked)) => {
                plan.locked.push(Unmanaged { key: account.key.clone(), slack_id: d.slack_id })
            }
            (Some(account), Some(change @ (Change::Update { .. } | Change::Reactivate { .. }))) => {
                if protected.contains(normalize_key(&account.key).as_str()) {
                    plan.protected.push(account.key.clone());
                    plan.unchanged += 1;
                    continue;
                }
                let (kind, body, changed, added, diff) = match change {
                    Change::Reactivate { body, changed, added, diff } => {
                        (ActionKind::Reactivate, body, changed, added, diff)
                    }
                    Change::Update { body, changed, added, diff } => {
                        (ActionKind::Update, Some(body), changed, added, diff)
                    }
                    _ => unreachable!("matched as an update or a reactivation"),
                };
                let renamed = normalize_key(&account.key) != normalize_key(&d.key);
                let key = if renamed { d.key } else { account.key.clone() };
                let mut write = Action::new(kind, key, Some(d.slack_id), body);
                write.renamed_from = renamed.then(|| account.key.clone());
                write.changed = changed;
                write.added = added;
                write.diff = diff;
                write.hidden = d.hidden;
                write.id = account.id.clone();
                write.account = d.account;
                if kind == ActionKind::Reactivate {
                    returning.push(plan.actions.len());
                }
                plan.actions.push(write);
            }
            // The account matches its update body (or there is no update.json).
            _ => plan.unchanged += 1,
        }
    }

    if let Some(limit) = policy.max_create {
        let is_create = |a: &Action| a.kind == ActionKind::Create && a.refused.is_none();
        let creates = plan.actions.iter().filter(|a| is_create(a)).count();
        if creates > limit {
            let reason = format!("{creates} creates exceed the guard of {limit} (SLACK_IM_MAX_CREATE)");
            for create in plan.actions.iter_mut().filter(|a| is_create(a)) {
                create.withheld = Some(reason.clone());
            }
        }
    }

    let limit = policy.max_reactivate.unwrap_or_else(|| default_max_deactivate(plan.managed_accounts));
    if returning.len() > limit {
        let reason = format!(
            "{} reactivations exceed the guard of {limit} (SLACK_IM_MAX_REACTIVATE{})",
            returning.len(),
            if policy.max_reactivate.is_some() { "" } else { ", default max(3, 10% of managed accounts)" }
        );
        for &i in &returning {
            plan.actions[i].withheld = Some(reason.clone());
        }
    }

    let leavers: Vec<usize> = (0..existing.len())
        .filter(|&i| !claimed[i] && existing[i].managed && policy.can_deactivate)
        .filter(|&i| {
            if !existing[i].active {
                plan.already_inactive += 1;
            }
            existing[i].active
        })
        .filter(|&i| match grace_of(&existing[i], policy) {
            Some(left) => {
                let (key, slack_id) = (existing[i].key.clone(), left.slack_id.clone());
                plan.pending.push(Pending { key, slack_id, due_at: left.due_at });
                false
            }
            None => true,
        })
        .filter(|&i| {
            let key = normalize_key(&existing[i].key);
            let keep = protected.contains(key.as_str());
            if keep {
                plan.protected.push(existing[i].key.clone());
            }
            !keep && !duplicates.contains(&key)
        })
        .collect();
    plan.protected.sort();
    let withheld = guard(policy, leavers.len(), plan.managed_accounts);
    for i in leavers {
        let mut gone = Action::new(ActionKind::Deactivate, existing[i].key.clone(), None, None);
        gone.withheld = withheld.clone();
        gone.account = Some(i);
        gone.id = existing[i].id.clone();
        plan.actions.push(gone);
    }
    plan
}

/// The member deactivated in Slack within the grace period whose account this is: by its anchor,
/// else by its key.
fn grace_of<'p>(account: &Existing, policy: &'p Policy) -> Option<&'p RecentlyLeft> {
    let key = normalize_key(&account.key);
    policy.recently_left.iter().find(|left| {
        account.anchor.as_ref().is_some_and(|anchor| left.ids.contains(anchor))
            || left.key.as_ref().is_some_and(|k| normalize_key(k) == key)
    })
}

/// Keys two or more members render: none of them can own the account, so the key is left alone.
fn duplicate_keys(desired: &[Desired]) -> HashSet<String> {
    let mut seen = HashSet::with_capacity(desired.len());
    desired.iter().map(|d| normalize_key(&d.key)).filter(|k| !seen.insert(k.clone())).collect()
}

/// Every member whose key another member renders too, with the others' ids, by Slack id.
fn skipped_duplicates(desired: &[Desired], duplicates: &HashSet<String>) -> Vec<Skipped> {
    let mut by_key: HashMap<String, Vec<&Desired>> = HashMap::new();
    for d in desired.iter().filter(|d| duplicates.contains(&normalize_key(&d.key))) {
        by_key.entry(normalize_key(&d.key)).or_default().push(d);
    }
    let mut skipped: Vec<Skipped> = by_key
        .values()
        .flat_map(|group| {
            group.iter().map(|d| {
                let other = group
                    .iter()
                    .filter(|o| o.slack_id != d.slack_id)
                    .map(|o| o.slack_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                Skipped {
                    slack_id: d.slack_id.clone(),
                    reason: SkipReason::DuplicateKey { key: d.key.clone(), other },
                }
            })
        })
        .collect();
    skipped.sort_by(|a, b| a.slack_id.cmp(&b.slack_id));
    skipped
}

/// Why every deactivation of the run is withheld, if it is.
fn guard(policy: &Policy, leavers: usize, managed: usize) -> Option<String> {
    let limit = policy.max_deactivate.unwrap_or_else(|| default_max_deactivate(managed));
    match &policy.deactivation_blocked {
        Some(reason) => Some(reason.clone()),
        None if leavers > limit => Some(format!(
            "{leavers} deactivations exceed the guard of {limit} (SLACK_IM_MAX_DEACTIVATE{})",
            if policy.max_deactivate.is_some() { "" } else { ", default max(3, 10% of managed accounts)" }
        )),
        None => None,
    }
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

/// The fields `desired` sets that the account as listed does not have (a listing that leaves out
/// `metadata` still gets it written): top-level names, and `parent.child` inside objects both have.
/// Not compared, so they never cause an update on their own; reported with every write that is sent.
pub fn added_fields(desired: &Value, account: &Value) -> Vec<String> {
    fn walk(want: &Value, have: &Value, prefix: &str, out: &mut Vec<String>) {
        let (Some(want), Some(have)) = (want.as_object(), have.as_object()) else { return };
        for (field, value) in want {
            match have.get(field) {
                None => out.push(format!("{prefix}{field}")),
                Some(current) => walk(value, current, &format!("{prefix}{field}."), out),
            }
        }
    }
    let mut added = Vec::new();
    walk(desired, account, "", &mut added);
    added
}

/// Old -> new for every value of `desired` that differs from the account's, by path (`name`,
/// `metadata.slackId`; a list is one value), the key field excepted when it differs only in case.
/// Values the account lacks are [`added_fields`], not here.
pub fn field_changes(desired: &Value, account: &Value, key: &str) -> Vec<FieldChange> {
    fn cut(value: &Value) -> String {
        let text = value.to_string();
        match text.char_indices().nth(DIFF_LIMIT) {
            Some((at, _)) => format!("{}…", &text[..at]),
            None => text,
        }
    }
    fn walk(want: &Value, have: &Value, prefix: &str, out: &mut Vec<FieldChange>) {
        let (Some(want), Some(have)) = (want.as_object(), have.as_object()) else { return };
        for (field, value) in want {
            let Some(current) = have.get(field) else { continue };
            let path = format!("{prefix}{field}");
            if value.is_object() && current.is_object() {
                walk(value, current, &format!("{path}."), out);
            } else if differs(value, current) {
                out.push(FieldChange { field: path, old: cut(current), new: cut(value) });
            }
        }
    }
    let mut diff = Vec::new();
    walk(desired, account, "", &mut diff);
    diff.retain(|change| !is_key_field(Some(desired), account, &change.field, key));
    diff
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

    // What the matcher hands the plan, written out: the plan is tested on its own input, not
    // through a second copy of the matcher (src/matching.rs has its own tests).

    fn account(key: &str, managed: bool) -> Existing {
        Existing {
            key: key.into(),
            id: None,
            managed,
            adoptable: false,
            active: true,
            reactivatable: false,
            anchor: None,
        }
    }

    /// A member no listed account has: a create.
    fn joiner(id: &str, key: &str) -> Desired {
        let body = json!({"userId": key});
        Desired::new(id.into(), key.into(), None, Some(Change::Create(body)))
    }

    /// A member whose account (at `i`) already matches.
    fn settled(id: &str, key: &str, i: usize) -> Desired {
        Desired::new(id.into(), key.into(), Some(i), None)
    }

    /// A member whose account (at `i`) differs in `fields`.
    fn changed(id: &str, key: &str, i: usize, fields: &[&str]) -> Desired {
        let change = Change::Update {
            body: json!({"name": "new"}),
            changed: fields.iter().map(|f| f.to_string()).collect(),
            added: vec![],
            diff: vec![],
        };
        Desired::new(id.into(), key.into(), Some(i), Some(change))
    }

    #[test]
    fn a_change_shows_old_and_new_per_value_nested_ones_by_path_lists_whole_long_ones_cut() {
        let long = "x".repeat(200);
        let body = json!({"userId": "Ann", "name": "Ann Kim", "metadata": {"slackId": "U1", "kind": "user"},
                          "centerIds": ["a", "b"], "note": long, "password": "only-sent"});
        let listed = json!({"userId": "ann", "name": "Ann", "metadata": {"slackId": "", "kind": "user"},
                            "centerIds": ["a"], "note": "short"});
        let diff = field_changes(&body, &listed, "ann");
        let shown: Vec<(&str, &str, &str)> =
            diff.iter().map(|d| (d.field.as_str(), d.old.as_str(), d.new.as_str())).collect();
        assert_eq!(
            shown[..3],
            [
                ("centerIds", r#"["a"]"#, r#"["a","b"]"#),
                ("metadata.slackId", r#""""#, r#""U1""#),
                ("name", r#""Ann""#, r#""Ann Kim""#),
            ]
        );
        assert_eq!(shown[3].0, "note");
        assert_eq!(shown[3].2.chars().count(), DIFF_LIMIT + 1, "cut, with an ellipsis");
        assert_eq!(diff.len(), 4, "the key differing only in case and the unlisted password are not changes");
    }

    #[test]
    fn the_fields_a_body_sets_that_the_listing_lacks_are_named_nested_ones_by_path() {
        let body = json!({"name": "A", "password": "x", "metadata": {"slackId": "U1", "kind": "user"}});
        let listed = json!({"name": "B", "metadata": {"kind": "user"}});
        assert_eq!(added_fields(&body, &listed), ["metadata.slackId", "password"]);
        assert!(added_fields(&body, &body).is_empty());
    }

    fn policy() -> Policy {
        Policy { can_deactivate: true, ..Policy::default() }
    }

    fn kinds(plan: &Plan) -> Vec<(ActionKind, &str, bool)> {
        plan.actions.iter().map(|a| (a.kind, a.key.as_str(), a.withheld.is_some())).collect()
    }

    fn leavers(n: usize) -> Vec<Existing> {
        (0..n).map(|i| account(&format!("gone{i}"), true)).collect()
    }

    #[test]
    fn joiners_are_created_and_settled_members_left_alone() {
        let p = plan(vec![settled("U1", "ann", 0), joiner("U2", "bob")], &[account("ANN", true)], &policy());
        assert_eq!(kinds(&p), [(ActionKind::Create, "bob", false)]);
        assert_eq!(p.actions[0].slack_id.as_deref(), Some("U2"));
        assert_eq!(p.unchanged, 1);
    }

    #[test]
    fn a_changed_account_is_updated_under_its_listed_key() {
        let p = plan(vec![changed("U1", "ann", 0, &["name"])], &[account("Ann", true)], &policy());
        assert_eq!(kinds(&p), [(ActionKind::Update, "Ann", false)]);
        assert_eq!(p.actions[0].changed, ["name"]);
    }

    #[test]
    fn managed_leavers_are_deactivated_and_others_kept() {
        let listed = [account("ann", true), account("old", true), account("admin", false)];
        let p = plan(vec![settled("U1", "ann", 0)], &listed, &policy());
        assert_eq!(kinds(&p), [(ActionKind::Deactivate, "old", false)]);
        assert_eq!(p.actions[0].account, Some(1), "the deactivation knows its account");
    }

    #[test]
    fn protected_keys_are_never_updated_or_deactivated() {
        let listed = [account("ann", true), account("old", true)];
        let policy = Policy { protect: vec!["ann".into(), "old".into()], ..policy() };
        let p = plan(vec![changed("U1", "Ann", 0, &["name"])], &listed, &policy);
        assert!(p.actions.is_empty(), "{:?}", p.actions);
        assert_eq!(p.protected, ["ann", "old"]);
    }

    #[test]
    fn too_many_leavers_withholds_every_deactivation() {
        let p =
            plan(vec![joiner("U1", "ann")], &leavers(40), &Policy { max_deactivate: Some(5), ..policy() });
        assert_eq!(p.actions.len(), 41);
        let gone: Vec<_> = p.actions.iter().filter(|a| a.kind == ActionKind::Deactivate).collect();
        assert_eq!(gone.len(), 40);
        for a in gone {
            assert_eq!(
                a.withheld.as_deref(),
                Some("40 deactivations exceed the guard of 5 (SLACK_IM_MAX_DEACTIVATE)")
            );
        }
        assert_eq!(kinds(&p)[0], (ActionKind::Create, "ann", false), "the create goes ahead");
    }

    #[test]
    fn the_default_guard_is_three_or_ten_percent() {
        assert_eq!(default_max_deactivate(0), 3);
        assert_eq!(default_max_deactivate(31), 4);
        assert_eq!(default_max_deactivate(200), 20);
        let four = plan(vec![], &leavers(4), &policy());
        assert!(four.actions.iter().all(|a| a.withheld.as_deref()
            == Some("4 deactivations exceed the guard of 3 (SLACK_IM_MAX_DEACTIVATE, default max(3, 10% of managed accounts))")));
        let three = plan(vec![], &leavers(3), &policy());
        assert_eq!(three.actions.iter().filter(|a| a.withheld.is_none()).count(), 3);
    }

    #[test]
    fn an_inactive_leaver_is_not_deactivated_again_nor_counted_by_the_guard() {
        let mut listed: Vec<Existing> =
            (0..5).map(|i| Existing { active: false, ..account(&format!("gone{i}"), true) }).collect();
        listed.push(account("left.today", true));
        let p = plan(vec![], &listed, &policy());
        assert_eq!(kinds(&p), [(ActionKind::Deactivate, "left.today", false)]);
        assert_eq!(p.already_inactive, 5);
    }

    /// A member whose account (at `i`) is inactive.
    fn returning(id: &str, key: &str, i: usize) -> Desired {
        let change = Change::Reactivate {
            body: Some(json!({"active": true})),
            changed: vec!["active".into()],
            added: vec![],
            diff: vec![],
        };
        Desired::new(id.into(), key.into(), Some(i), Some(change))
    }

    #[test]
    fn a_returning_member_is_reactivated_within_its_own_guard() {
        let listed: Vec<Existing> =
            (0..5).map(|i| Existing { active: false, ..account(&format!("back{i}"), true) }).collect();
        let members: Vec<Desired> =
            (0..5).map(|i| returning(&format!("U{i}"), &format!("back{i}"), i)).collect();
        let p = plan(members.clone(), &listed, &Policy { max_reactivate: Some(5), ..policy() });
        assert_eq!(p.actions.len(), 5);
        assert!(p.actions.iter().all(|a| a.kind == ActionKind::Reactivate && a.withheld.is_none()));
        assert_eq!(p.actions[0].body, Some(json!({"active": true})));
        assert_eq!(p.already_inactive, 0, "claimed accounts are no leavers");
        let p = plan(members.clone(), &listed, &Policy { max_reactivate: Some(4), ..policy() });
        assert!(p.actions.iter().all(|a| a.withheld.as_deref()
            == Some("5 reactivations exceed the guard of 4 (SLACK_IM_MAX_REACTIVATE)")));
        let p = plan(members, &listed, &policy());
        assert!(p.actions.iter().all(|a| a.withheld.as_deref()
            == Some("5 reactivations exceed the guard of 3 (SLACK_IM_MAX_REACTIVATE, default max(3, 10% of managed accounts))")));
    }

    #[test]
    fn a_blocked_read_withholds_deactivation_with_its_reason() {
        let blocked = Policy { deactivation_blocked: Some("no eligible member".into()), ..policy() };
        let p = plan(vec![], &[account("a", true)], &blocked);
        assert_eq!(p.actions[0].withheld.as_deref(), Some("no eligible member"));
    }

    #[test]
    fn two_members_with_one_key_are_both_skipped_and_the_account_untouched() {
        let p = plan(
            vec![changed("U1", "jo", 0, &["name"]), changed("U2", "JO", 0, &["name"])],
            &[account("jo", true)],
            &policy(),
        );
        assert!(p.actions.is_empty(), "{:?}", p.actions);
        assert_eq!(p.skipped.len(), 2);
        assert_eq!(p.skipped[0].slack_id, "U1");
        assert_eq!(
            p.skipped[0].reason.to_string(),
            SkipReason::DuplicateKey { key: "jo".into(), other: "U2".into() }.to_string()
        );
    }

    #[test]
    fn two_joiners_with_one_key_create_nothing() {
        let p = plan(vec![joiner("U1", "jo"), joiner("U2", "Jo")], &[], &policy());
        assert!(p.actions.is_empty());
        assert_eq!(p.skipped.len(), 2);
    }

    #[test]
    fn without_a_deactivate_endpoint_leavers_are_kept() {
        let p = plan(vec![], &[account("old", true)], &Policy::default());
        assert!(p.actions.is_empty());
    }

    #[test]
    fn a_member_matching_an_unmanaged_account_is_left_alone_unless_it_may_be_adopted() {
        let admin = [account("admin", false)];
        let p = plan(vec![changed("U9", "admin", 0, &["name"])], &admin, &policy());
        assert!(p.actions.is_empty(), "{:?}", p.actions);
        assert_eq!(p.unmanaged, [Unmanaged { key: "admin".into(), slack_id: "U9".into() }]);
        assert_eq!(p.unchanged, 0, "left alone is not unchanged");

        let adoptable = [Existing { adoptable: true, ..account("admin", false) }];
        let p = plan(vec![changed("U9", "admin", 0, &["name"])], &adoptable, &policy());
        assert_eq!(kinds(&p), [(ActionKind::Update, "admin", false)]);
        assert!(p.unmanaged.is_empty());
    }

    #[test]
    fn the_key_field_differing_only_in_case_is_no_change() {
        let account = json!({"userId": "Ann", "name": "Ann"});
        assert!(update_diff(&json!({"userId": "ann", "name": "Ann"}), &account, "Ann").is_empty());
        assert_eq!(update_diff(&json!({"userId": "ann", "name": "Ann Lee"}), &account, "Ann"), ["name"]);
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
