//! The step between the two reads and the plan: the listed accounts, indexed by key, and each
//! eligible member matched with the account that has its key, rendered through the templates and
//! compared with that account at once, so only what differs is kept. No HTTP: unit-tested alone.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::members::{Member, UserGroups};
use crate::plan::{self, Change, Desired, Existing, Refusal};
use crate::target::{normalize_key, Account};
use crate::template::{AccountTests, SystemTemplates, TemplateError, UserView};

/// The listed accounts: what the plan needs, an index by key, and each account's JSON kept as
/// compact text, parsed again only when a member matches it or it is deactivated (50,000 accounts
/// cost megabytes, not tens of them).
#[derive(Default)]
pub struct Listing {
    accounts: Vec<Existing>,
    json: Vec<Box<str>>,
    /// Normalised key -> position. The target client already refused a listing with a key twice.
    index: HashMap<String, usize>,
    /// Anchor (the Slack id a managed account keeps) -> position; `None` for an anchor two managed
    /// accounts hold, which then match by key alone.
    anchors: HashMap<String, Option<usize>>,
    /// Accounts the listing gave no key: never matched, never managed, reported.
    unkeyed: Vec<Unkeyed>,
}

/// A listed account without a key (`list.key` found nothing): slack-im cannot tell whose it is,
/// so it never touches it, and says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unkeyed {
    /// The server's id, when the listing has one.
    pub id: Option<String>,
    /// Which listing of `system.json` gave it (0 for the first).
    pub listing: usize,
}

impl Listing {
    /// Adds one listed account with `system.json`'s verdicts on it.
    pub fn push(&mut self, account: Account, tests: &AccountTests<'_>) -> Result<(), TemplateError> {
        let Some(key) = account.key else {
            self.unkeyed.push(Unkeyed { id: account.id, listing: account.listing });
            return Ok(());
        };
        let managed = tests.is_managed(&key, &account.value)?;
        let adoptable = !managed && tests.is_adoptable(&key, &account.value)?;
        let active = tests.is_active(&key, &account.value)?;
        let reactivatable = managed && !active && tests.is_reactivatable(&key, &account.value)?;
        let anchor = if managed { tests.anchor(&key, &account.value)? } else { None };
        let position = self.accounts.len();
        if let Some(anchor) = &anchor {
            self.anchors.entry(anchor.clone()).and_modify(|held| *held = None).or_insert(Some(position));
        }
        self.index.insert(normalize_key(&key), position);
        self.json.push(account.value.to_string().into());
        self.accounts.push(Existing {
            key,
            id: account.id,
            managed,
            adoptable,
            active,
            reactivatable,
            anchor,
        });
        Ok(())
    }

    /// The accounts without a key.
    pub fn unkeyed(&self) -> &[Unkeyed] {
        &self.unkeyed
    }

    pub fn accounts(&self) -> &[Existing] {
        &self.accounts
    }

    /// How many accounts slack-im manages.
    pub fn managed(&self) -> usize {
        self.accounts.iter().filter(|a| a.managed).count()
    }

    /// The account at `i` as compact JSON.
    pub fn json(&self, i: usize) -> &str {
        &self.json[i]
    }

    /// The account at `i` as the listing returned it.
    pub fn value(&self, i: usize) -> Arc<Value> {
        let value =
            serde_json::from_str(&self.json[i]).expect("the listing's own JSON, serialised by us, parses");
        Arc::new(value)
    }

    /// What the templates want for one eligible member: the create body when no account has its
    /// key; the update body when (and only when) its account differs from it; nothing for an
    /// account slack-im may not touch (the plan reports it). `groups`: the run's user groups, when
    /// it read them (they become `user.groups`).
    ///
    /// With `system.json`'s `key` expression, the key comes from it and `create.json` is rendered
    /// only for a member no account has (and must agree with it); without, from `create.json`.
    pub fn desired_for(
        &self,
        templates: &SystemTemplates,
        member: &Member,
        groups: Option<&UserGroups>,
    ) -> Result<Desired, TemplateError> {
        let mut user = UserView::from_member(member);
        if let Some(groups) = groups {
            user = user.with_groups(groups.of(&member.id));
        }
        let user = Arc::new(user);
        // The passwords `new_password()` makes for this member, and only those, go with its write.
        let _ = templates.take_new_passwords();
        let desired = self.match_member(templates, member, &user);
        let mut hidden = templates.take_new_passwords();
        let desired = desired?;
        // A member to be created is told their password once the account exists (welcome.txt):
        // rendered now, so a template error stops the run before its first write.
        let welcome = match desired.change.as_deref() {
            Some(Change::Create(_)) => templates.render_welcome(&user, &desired.key, &hidden),
            _ => Ok(None),
        };
        hidden.extend(templates.take_new_passwords());
        let change = desired.change.map(|c| Box::new(without(*c, &hidden)));
        Ok(Desired { change, hidden, welcome: welcome?, ..desired })
    }

    fn match_member(
        &self,
        templates: &SystemTemplates,
        member: &Member,
        user: &Arc<UserView>,
    ) -> Result<Desired, TemplateError> {
        let user = user.clone();
        let slack_id = user.id.clone();
        let (key, create) = match templates.render_key(&user)? {
            Some(key) => (key, None),
            None => templates.render_create(&user).map(|(key, body)| (key, Some(body)))?,
        };
        // The anchor first: the member's own account, whatever key it has now.
        let anchored = member.ids().find_map(|id| self.anchors.get(id).copied().flatten());
        let by_key = self.index.get(&normalize_key(&key)).copied();
        if let (Some(i), Some(other)) = (anchored, by_key.filter(|&j| Some(j) != anchored)) {
            let refusal = Refusal::RenameTaken {
                from: self.accounts[i].key.clone(),
                holder: self.accounts[other].key.clone(),
            };
            return Ok(Desired::new(slack_id, key, Some(i), Some(Change::Refused(refusal))));
        }
        if anchored.is_none() {
            if let Some(j) = by_key {
                let account = &self.accounts[j];
                if let Some(anchor) = account.anchor.as_deref().filter(|a| !member.ids().any(|id| id == *a)) {
                    let refusal = Refusal::Recycled { anchor: anchor.to_string() };
                    return Ok(Desired::new(slack_id, key, None, Some(Change::Refused(refusal))));
                }
            }
        }
        let Some(i) = anchored.or(by_key) else {
            let (key, create) = match create {
                Some(body) => (key, body),
                None => templates.render_create_for_key(&user, &key)?,
            };
            return Ok(Desired::new(slack_id, key, None, Some(Change::Create(create))));
        };
        let account = &self.accounts[i];
        if !account.writable() {
            return Ok(Desired::new(slack_id, key, Some(i), None));
        }
        // The key the account is to have: its own spelling of the member's key, or the member's
        // key when the anchor found the account under another (a rename).
        let target_key = if normalize_key(&account.key) == normalize_key(&key) { &account.key } else { &key };
        let value = self.value(i);
        if account.managed && !account.active {
            if !account.reactivatable {
                return Ok(Desired::new(slack_id, key, Some(i), Some(Change::Locked)));
            }
            let body = templates.render_reactivate(&user, &value, target_key)?;
            let changed =
                body.as_ref().map(|b| plan::update_diff(b, &value, &account.key)).unwrap_or_default();
            let added = body.as_ref().map(|b| plan::added_fields(b, &value)).unwrap_or_default();
            let diff =
                body.as_ref().map(|b| plan::field_changes(b, &value, &account.key)).unwrap_or_default();
            let change = Change::Reactivate { body, changed, added, diff };
            return Ok(Desired::new(slack_id, key, Some(i), Some(change)));
        }
        let change = match templates.render_update(&user, &value, target_key)? {
            Some(body) => {
                let changed = plan::update_diff(&body, &value, &account.key);
                (!changed.is_empty()).then(|| {
                    let added = plan::added_fields(&body, &value);
                    let diff = plan::field_changes(&body, &value, &account.key);
                    Change::Update { body, changed, added, diff }
                })
            }
            None => None,
        };
        Ok(Desired::new(slack_id, key, Some(i), change))
    }
}

/// Whether a member of this system can be matched as soon as the account with its key is
/// listed, before the rest of the listing is in: the key comes from `system.json`'s `key`
/// (no create body needed for it) and there is no `anchor` (so the member's account is the one
/// with its key, whatever else the listing holds).
pub fn matches_by_key_alone(templates: &SystemTemplates) -> bool {
    templates.spec.key.is_some() && templates.spec.anchor.is_none()
}

/// The member's key, normalised, by `system.json`'s `key` expression; `None` when there is
/// no expression or it fails (the full match then renders it again, and reports the failure).
pub fn normalised_key_of(
    templates: &SystemTemplates,
    member: &Member,
    groups: Option<&UserGroups>,
) -> Option<String> {
    let mut user = UserView::from_member(member);
    if let Some(groups) = groups {
        user = user.with_groups(groups.of(&member.id));
    }
    let key = templates.render_key(&Arc::new(user));
    // A key expression that made a password made it for nothing.
    let _ = templates.take_new_passwords();
    Some(normalize_key(&key.ok()??))
}

/// A change whose old -> new values do not show the passwords `hidden` (the member's
/// `new_password()` values, which the run's redactor does not know: they belong to this write
/// alone), so no report, post or saved plan can show them.
fn without(change: Change, hidden: &[crate::secret::Secret<String>]) -> Change {
    if hidden.is_empty() {
        return change;
    }
    let redactor = crate::secret::Redactor::new(hidden);
    let clean = |diff: Vec<crate::action::FieldChange>| {
        diff.into_iter()
            .map(|c| crate::action::FieldChange {
                old: redactor.redact(&c.old),
                new: redactor.redact(&c.new),
                ..c
            })
            .collect()
    };
    match change {
        Change::Update { body, changed, added, diff } => {
            Change::Update { body, changed, added, diff: clean(diff) }
        }
        Change::Reactivate { body, changed, added, diff } => {
            Change::Reactivate { body, changed, added, diff: clean(diff) }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn templates() -> SystemTemplates {
        load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"))
    }

    fn load(root: &std::path::Path) -> SystemTemplates {
        let secrets = BTreeMap::from([
            ("target_token".to_string(), crate::secret::Secret::new("tok-123456".to_string())),
            ("initial_password".to_string(), crate::secret::Secret::new("pw-123456".to_string())),
        ]);
        SystemTemplates::load(root, "dev", Some("http://127.0.0.1:1"), &BTreeMap::new(), &secrets).unwrap()
    }

    const SHIPPED_KEY: &str = r#""key": "user.email_local | lower""#;

    /// A copy of the shipped dev folder, each file changed by `edit(name, text)`, loaded.
    fn dev_folder(edit: impl Fn(&str, String) -> String) -> (tempfile::TempDir, SystemTemplates) {
        let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/dev");
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("dev");
        std::fs::create_dir(&dir).unwrap();
        for name in ["system.json", "create.json", "update.json", "deactivate.json"] {
            let Ok(text) = std::fs::read_to_string(shipped.join(name)) else { continue };
            std::fs::write(dir.join(name), edit(name, text)).unwrap();
        }
        let templates = load(root.path());
        (root, templates)
    }

    /// The shipped dev folder with `"key": <expression>` in system.json and create.json changed
    /// by `edit`: its userId must be `{{ user.email_local | lower }}` for a member who has an account.
    fn keyed(expression: &str, edit: fn(String) -> String) -> (tempfile::TempDir, SystemTemplates) {
        dev_folder(|name, text| match name {
            "system.json" => text.replace(SHIPPED_KEY, &format!("\"key\": {}", json!(expression))),
            "create.json" => edit(text),
            _ => text,
        })
    }

    /// create.json that fails for any member but `Ann.Lee@…`: proof it was not rendered.
    fn create_only_for_ann(text: String) -> String {
        let guard = "{% if user.email_local != 'Ann.Lee' %}{{ fail_loudly_for_existing_members }}{% endif %}";
        format!("{guard}{text}")
    }

    fn member(id: &str, email: &str, name: &str) -> Member {
        serde_json::from_value(json!({"id": id, "real_name": name, "profile": {"email": email}})).unwrap()
    }

    fn listing(templates: &SystemTemplates, accounts: &[Value]) -> Listing {
        let tests = templates.account_tests().unwrap();
        let mut listing = Listing::default();
        for value in accounts {
            let key = value["userId"].as_str().map(str::to_string);
            listing
                .push(Account { key, id: None, listing: 0, value: Arc::new(value.clone()) }, &tests)
                .unwrap();
        }
        listing
    }

    /// The account the shipped dev templates would create for `member`, as the target lists it.
    fn account_of(id: &str, user_id: &str, name: &str, created_by: &str) -> Value {
        json!({
            "userId": user_id, "name": name, "roleGroupId": "AGENT", "centerIds": ["spectra"],
            "customType": "user", "metadata": {"counselType": "user", "slackId": id}, "createdBy": created_by,
        })
    }

    #[test]
    fn a_member_without_an_account_gets_a_create_body() {
        let t = templates();
        let listing = listing(&t, &[]);
        let d = listing.desired_for(&t, &member("U1", "Ann.Lee@acme.example", "Ann Lee"), None).unwrap();
        assert_eq!((d.key.as_str(), d.account), ("ann.lee", None));
        let Some(change) = d.change else { panic!("no change") };
        let Change::Create(body) = *change else { panic!("not a create") };
        assert_eq!(body["name"], "Ann Lee");
        // The shipped dev folder: a password of the account's own, hidden with the write and told
        // only in the member's welcome DM.
        let password = body["password"].as_str().unwrap();
        assert_eq!(d.hidden.iter().map(|p| p.expose().as_str()).collect::<Vec<_>>(), [password]);
        let welcome = d.welcome.expect("dev has welcome.txt");
        assert!(welcome.expose().contains(password) && welcome.expose().contains("`ann.lee`"));
    }

    #[test]
    fn an_account_that_matches_its_member_needs_nothing_and_a_rename_is_an_update() {
        let t = templates();
        let listing = listing(&t, &[account_of("U1", "Ann.Lee", "Ann Lee", "slack-im")]);
        let same = listing.desired_for(&t, &member("U1", "ann.lee@acme.example", "Ann Lee"), None).unwrap();
        assert_eq!((same.account, same.change.is_none()), (Some(0), true), "keys compare case-insensitively");
        let renamed =
            listing.desired_for(&t, &member("U1", "ann.lee@acme.example", "Ann Kim"), None).unwrap();
        let Some(change) = renamed.change else { panic!("no change") };
        let Change::Update { changed, .. } = *change else { panic!("not an update") };
        assert_eq!(changed, ["name"]);
    }

    #[test]
    fn an_account_slack_im_does_not_manage_is_matched_but_never_rendered_for() {
        let t = templates();
        let listing = listing(&t, &[account_of("", "admin", "Init Admin", "init-data")]);
        assert_eq!(listing.managed(), 0);
        let d = listing.desired_for(&t, &member("U9", "admin@other.example", "Someone Else"), None).unwrap();
        assert_eq!((d.account, d.change), (Some(0), None));
        assert!(!listing.accounts()[0].writable());
    }

    #[test]
    fn with_a_key_expression_create_json_is_rendered_only_for_members_without_an_account() {
        let (_root, t) = keyed("user.email_local | lower", create_only_for_ann);
        let listing = listing(&t, &[account_of("U2", "Bo.Kim", "Bo Kim", "slack-im")]);
        let same = listing.desired_for(&t, &member("U2", "bo.kim@acme.example", "Bo Kim"), None).unwrap();
        assert_eq!((same.key.as_str(), same.account, same.change.is_none()), ("bo.kim", Some(0), true));
        let renamed = listing.desired_for(&t, &member("U2", "bo.kim@acme.example", "Bo Lee"), None).unwrap();
        let Some(change) = renamed.change else { panic!("no change") };
        assert!(matches!(*change, Change::Update { .. }), "update.json is still rendered for an account");
        let new = listing.desired_for(&t, &member("U1", "Ann.Lee@acme.example", "Ann Lee"), None).unwrap();
        let Some(change) = new.change else { panic!("no change") };
        let Change::Create(body) = *change else { panic!("not a create") };
        assert_eq!((new.key.as_str(), &body["userId"]), ("ann.lee", &json!("ann.lee")));
        let err = listing.desired_for(&t, &member("U3", "cy@acme.example", "Cy"), None).unwrap_err();
        assert!(
            err.detail.contains("fail_loudly_for_existing_members"),
            "a new member does render it: {err}"
        );
    }

    /// The shipped dev folder with `"anchor": "account.metadata.slackId"` in system.json.
    fn anchored() -> (tempfile::TempDir, SystemTemplates) {
        let anchor = format!("{SHIPPED_KEY},\n  \"anchor\": \"account.metadata.slackId\"");
        dev_folder(|_, text| text.replace(SHIPPED_KEY, &anchor))
    }

    #[test]
    fn the_workspace_id_and_the_grid_id_of_one_person_find_their_account() {
        let (_root, t) = anchored();
        let listing = listing(&t, &[account_of("W0GRID0009", "grace.old", "Grace", "slack-im")]);
        let mut grace = member("U0GRACE009", "grace.grid@acme.example", "Grace");
        grace.enterprise_user = Some(crate::members::EnterpriseUser { id: Some("W0GRID0009".into()) });
        let d = listing.desired_for(&t, &grace, None).unwrap();
        assert_eq!((d.key.as_str(), d.account), ("grace.grid", Some(0)), "matched by the anchor");
        assert!(matches!(d.change.as_deref(), Some(Change::Update { .. })), "{:?}", d.change);
    }

    #[test]
    fn an_anchor_two_accounts_hold_matches_by_key_alone() {
        let (_root, t) = anchored();
        let accounts =
            [account_of("U1", "ann.one", "Ann", "slack-im"), account_of("U1", "ann.two", "Ann", "slack-im")];
        let listing = listing(&t, &accounts);
        let d = listing.desired_for(&t, &member("U1", "ann.two@acme.example", "Ann"), None).unwrap();
        assert_eq!(d.account, Some(1));
        let d = listing.desired_for(&t, &member("U1", "ann.new@acme.example", "Ann"), None).unwrap();
        assert!(
            matches!(d.change.as_deref(), Some(Change::Create(_))),
            "no rename of either: {:?}",
            d.change
        );
    }

    #[test]
    fn a_key_expression_that_disagrees_with_create_json_is_an_error_for_a_new_member() {
        let (_root, t) = keyed("user.id", |text| text);
        let listing = listing(&t, &[]);
        let err =
            listing.desired_for(&t, &member("U1", "Ann.Lee@acme.example", "Ann Lee"), None).unwrap_err();
        assert_eq!(err.subject.as_deref(), Some("member U1 (Ann.Lee@acme.example)"));
        assert!(err.detail.contains(r#"gives "U1" but create.json has "ann.lee" at /userId"#), "{err}");
    }
}
