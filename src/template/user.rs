//! What templates see as `user`: one member as a lazy template object (`UserView`), built from the
//! member model. A new field of `user` is one field here, one line of `TEXT_FIELDS` (or
//! `OTHER_FIELDS`) and one line of `from_member`; then the README's list of `user` fields.

use std::sync::Arc;

use minijinja::value::{Enumerator, Object};
use minijinja::Value;

use super::json_value_shared;
use crate::members::Member;

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
    /// The handles of the enabled user groups the member is in, when the run read them (a
    /// template mentions `user.groups`, or `SLACK_IM_USERGROUPS` is set).
    pub groups: Option<Arc<[String]>>,
}

/// How a text field of `user` is read.
type TextField = fn(&UserView) -> &str;

/// The text fields of `user`, in the order templates iterate over them (then `is_admin`, `is_owner`,
/// `groups`, `slack`): the one list the template object reads its text fields by.
const TEXT_FIELDS: &[(&str, TextField)] = &[
    ("id", |u| &u.id),
    ("team_id", |u| &u.team_id),
    ("email", |u| &u.email),
    ("email_local", |u| &u.email_local),
    ("email_domain", |u| &u.email_domain),
    ("name", |u| &u.name),
    ("real_name", |u| &u.real_name),
    ("display_name", |u| &u.display_name),
    ("first_name", |u| &u.first_name),
    ("last_name", |u| &u.last_name),
    ("title", |u| &u.title),
    ("phone", |u| &u.phone),
    ("tz", |u| &u.tz),
];

/// The other fields of `user`, after the text fields.
const OTHER_FIELDS: &[&str] = &["is_admin", "is_owner", "groups", "slack"];

/// `user` is a lazy template object: a template that reads four fields converts four fields.
/// (Converting every member through serde into a template map was most of a steady-state run's
/// CPU time at 50,000 members.)
impl Object for UserView {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "is_admin" => Some(Value::from(self.is_admin)),
            "is_owner" => Some(Value::from(self.is_owner)),
            "groups" => self.groups.as_ref().map(|g| g.iter().map(|h| Value::from(h.as_str())).collect()),
            "slack" => self.slack.clone().map(json_value_shared),
            name => {
                let (_, field) = TEXT_FIELDS.iter().find(|(n, _)| *n == name)?;
                Some(Value::from(field(self)))
            }
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let fields = TEXT_FIELDS.iter().map(|(name, _)| *name).chain(OTHER_FIELDS.iter().copied());
        let present = fields
            .filter(|f| (*f != "slack" || self.slack.is_some()) && (*f != "groups" || self.groups.is_some()));
        Enumerator::Values(present.map(Value::from).collect())
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
            groups: None,
        }
    }

    /// The member with the handles of its user groups as `user.groups`.
    pub fn with_groups(mut self, groups: &[String]) -> UserView {
        self.groups = Some(groups.into());
        self
    }

    /// How errors and logs name the member: id and e-mail, never more.
    pub fn label(&self) -> String {
        format!("member {} ({})", self.id, self.email)
    }
}
