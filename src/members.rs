//! The member model: a workspace member as slack-im reads it (`Member`, every field optional) and
//! the user groups (`UserGroups`). Slack, a members file, eligibility, matching and the templates
//! all speak it, so it lives apart from the Slack client that fills it.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::http;

/// A workspace member as slack-im reads it. Every field is optional: deactivated users, bots and
/// Slackbot each omit different ones, and only the fields slack-im uses are parsed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Member {
    #[serde(default)]
    pub id: String,
    pub team_id: Option<String>,
    pub name: Option<String>,
    pub deleted: Option<bool>,
    pub is_bot: Option<bool>,
    pub is_workflow_bot: Option<bool>,
    pub is_restricted: Option<bool>,
    pub is_ultra_restricted: Option<bool>,
    pub is_invited_user: Option<bool>,
    pub is_email_confirmed: Option<bool>,
    /// A member of another workspace, visible through a shared channel.
    pub is_stranger: Option<bool>,
    pub is_admin: Option<bool>,
    pub is_owner: Option<bool>,
    pub real_name: Option<String>,
    pub tz: Option<String>,
    /// When Slack last changed the member (seconds since the epoch): for a deactivated member,
    /// about when they were deactivated.
    pub updated: Option<i64>,
    #[serde(default)]
    pub profile: Profile,
    /// Enterprise Grid: the person's org-wide identity (`W…`), beside the workspace's `id`.
    pub enterprise_user: Option<EnterpriseUser>,
    /// The whole member object as Slack sent it, kept only when a template uses `user.slack`.
    #[serde(skip)]
    pub raw: Option<Box<RawValue>>,
    /// Set when the member object could not be read (`"profile": null`…): why, for the report.
    /// Such a member carries only its id (when it has one) and is skipped with this reason.
    #[serde(skip)]
    pub malformed: Option<String>,
}

impl Member {
    /// Every Slack id of this person: the member's `id` and, on Enterprise Grid, the org-wide
    /// `enterprise_user.id` (a `U…` and a `W…` of one person are one person).
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        let grid = self.enterprise_user.as_ref().and_then(|e| e.id.as_deref());
        std::iter::once(self.id.as_str()).chain(grid.filter(|g| *g != self.id)).filter(|id| !id.is_empty())
    }
}

/// The part of Slack's `enterprise_user` slack-im reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EnterpriseUser {
    pub id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Profile {
    pub email: Option<String>,
    pub real_name: Option<String>,
    pub display_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    pub phone: Option<String>,
    pub bot_id: Option<String>,
    pub api_app_id: Option<String>,
}

/// An enabled user group (`@handle`) and its members' ids, as `usergroups.list` lists it and a
/// members file stores it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct UserGroup {
    pub id: String,
    pub handle: String,
    pub users: Vec<String>,
}

/// The workspace's enabled user groups, and for each member the handles of the groups it is in:
/// read once per run and shared by every system.
#[derive(Debug, Clone, Default)]
pub struct UserGroups {
    /// By handle.
    groups: Vec<UserGroup>,
    /// Member id -> handles, sorted.
    by_member: HashMap<String, Vec<String>>,
}

impl UserGroups {
    pub fn new(mut groups: Vec<UserGroup>) -> UserGroups {
        groups.sort_by(|a, b| a.handle.cmp(&b.handle));
        let mut by_member: HashMap<String, Vec<String>> = HashMap::new();
        for group in &groups {
            for id in &group.users {
                let handles = by_member.entry(id.clone()).or_default();
                if !handles.contains(&group.handle) {
                    handles.push(group.handle.clone());
                }
            }
        }
        UserGroups { groups, by_member }
    }

    /// The handles of the groups a member is in (none: empty).
    pub fn of(&self, member: &str) -> &[String] {
        self.by_member.get(member).map(Vec::as_slice).unwrap_or_default()
    }

    /// The group with this handle (case-insensitive).
    pub fn get(&self, handle: &str) -> Option<&UserGroup> {
        self.groups.iter().find(|g| g.handle.eq_ignore_ascii_case(handle))
    }

    /// Every group, by handle.
    pub fn all(&self) -> &[UserGroup] {
        &self.groups
    }
}

/// One member object; one that does not read (`"profile": null`, `"deleted": "no"`) becomes a
/// [`Member`] carrying its id (when it has a readable one) and the parser's words in `malformed`.
pub(crate) fn read_member(raw: Box<RawValue>, keep_raw: bool) -> Member {
    let mut member = match serde_json::from_str::<Member>(raw.get()) {
        Ok(member) => member,
        Err(e) => {
            let object = serde_json::from_str::<serde_json::Value>(raw.get()).ok();
            let id = object.as_ref().and_then(|o| o.get("id")?.as_str().map(|id| http::clean(id, 40)));
            Member {
                id: id.unwrap_or_default(),
                malformed: Some(http::clean(&e.to_string(), 200)),
                ..Member::default()
            }
        }
    };
    if keep_raw {
        member.raw = Some(raw);
    }
    member
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_groups_index_members_and_handles() {
        let groups = UserGroups::new(vec![
            UserGroup { id: "S2".into(), handle: "sales".into(), users: vec!["U1".into(), "U2".into()] },
            UserGroup { id: "S1".into(), handle: "qa".into(), users: vec!["U1".into()] },
        ]);
        assert_eq!(groups.of("U1"), ["qa", "sales"]);
        assert_eq!(groups.of("U2"), ["sales"]);
        assert!(groups.of("U3").is_empty());
        assert_eq!(groups.get("QA").map(|g| g.id.as_str()), Some("S1"));
        assert!(groups.get("gone").is_none());
    }

    #[test]
    fn members_parse_with_any_field_missing_or_null() {
        let deleted: Member = serde_json::from_str(r#"{"id":"U0DELETED1","name":"gone","deleted":true,"profile":{"email":"gone@acme.example","fields":null}}"#).unwrap();
        assert_eq!(deleted.deleted, Some(true));
        assert_eq!(deleted.real_name, None);
        let bare: Member = serde_json::from_str(r#"{"id":"U1","tz":null}"#).unwrap();
        assert_eq!(bare.profile.email, None);
    }
}
