//! Decides which Slack members should have an account, and says why the others should not.
//! Pure: members in, eligible members and reasons out.

use std::collections::HashSet;
use std::fmt;

use crate::members::Member;

/// Why a member gets no account. Every skipped member carries one into the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    Slackbot,
    Bot,
    WorkflowBot,
    /// A user that belongs to an app (profile `bot_id` / `api_app_id`).
    AppUser,
    Deleted,
    Invited,
    EmailUnconfirmed,
    Guest,
    NoEmail,
    DomainNotAllowed(String),
    Excluded,
    NotInChannel,
    /// In none of the user groups of `SLACK_IM_USERGROUPS`.
    NotInUserGroups,
    NoId,
    /// `is_stranger`: a member of another workspace, seen through a shared channel.
    Stranger,
    /// A member object slack-im cannot read (`"profile": null`, a field of the wrong type): the
    /// rest of the read goes on; the parser's words are kept as evidence.
    Malformed(String),
    /// Two members render the same target key: neither is synced, since either could be the owner.
    DuplicateKey {
        key: String,
        other: String,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::Slackbot => f.write_str("Slackbot"),
            SkipReason::Bot => f.write_str("bot"),
            SkipReason::WorkflowBot => f.write_str("workflow bot"),
            SkipReason::AppUser => f.write_str("app user"),
            SkipReason::Deleted => f.write_str("deactivated in Slack"),
            SkipReason::Invited => f.write_str("invitation not accepted yet"),
            SkipReason::EmailUnconfirmed => f.write_str("e-mail not confirmed"),
            SkipReason::Guest => f.write_str("guest (SLACK_IM_INCLUDE_GUESTS is false)"),
            SkipReason::NoEmail => f.write_str("no e-mail (does the token have users:read.email?)"),
            SkipReason::DomainNotAllowed(d) => {
                write!(f, "e-mail domain {d} not in SLACK_IM_EMAIL_DOMAINS")
            }
            SkipReason::Excluded => f.write_str("listed in SLACK_IM_EXCLUDE"),
            SkipReason::NotInChannel => f.write_str("not a member of SLACK_IM_CHANNEL"),
            SkipReason::NotInUserGroups => f.write_str("not in user groups"),
            SkipReason::NoId => f.write_str("member without an id"),
            SkipReason::Stranger => f.write_str("member of another workspace (is_stranger)"),
            SkipReason::Malformed(detail) => write!(f, "malformed member object: {detail}"),
            SkipReason::DuplicateKey { key, other } => {
                write!(f, "key {key} is also rendered for {other}")
            }
        }
    }
}

impl SkipReason {
    /// The reason without its particulars (which domain, which key), for counting members by
    /// reason, and what to look at when it skips most of the workspace.
    pub fn kind(&self) -> (&'static str, &'static str) {
        match self {
            SkipReason::Slackbot => ("Slackbot", ""),
            SkipReason::Bot => ("bot", ""),
            SkipReason::WorkflowBot => ("workflow bot", ""),
            SkipReason::AppUser => ("app user", ""),
            SkipReason::Deleted => ("deactivated in Slack", ""),
            SkipReason::Invited => ("invitation not accepted yet", ""),
            SkipReason::EmailUnconfirmed => (
                "e-mail not confirmed",
                "single sign-on workspaces report signed-in people as unconfirmed: if yours uses SSO, set SLACK_IM_REQUIRE_CONFIRMED_EMAIL=false",
            ),
            SkipReason::Guest => ("guest", "SLACK_IM_INCLUDE_GUESTS=true includes guests"),
            SkipReason::NoEmail => ("no e-mail", "does the token have users:read.email?"),
            SkipReason::DomainNotAllowed(_) => {
                ("e-mail domain not in SLACK_IM_EMAIL_DOMAINS", "check SLACK_IM_EMAIL_DOMAINS")
            }
            SkipReason::Excluded => ("listed in SLACK_IM_EXCLUDE", "check SLACK_IM_EXCLUDE"),
            SkipReason::NotInChannel => ("not a member of SLACK_IM_CHANNEL", "check SLACK_IM_CHANNEL"),
            SkipReason::NotInUserGroups => ("not in user groups", "check SLACK_IM_USERGROUPS"),
            SkipReason::NoId => ("member without an id", ""),
            SkipReason::Stranger => ("member of another workspace (is_stranger)", ""),
            SkipReason::Malformed(_) => ("malformed member object", "Slack sent member objects it does not document"),
            SkipReason::DuplicateKey { .. } => ("two members render the same key", "see summary.json for which"),
        }
    }

    /// Whether the member is not a person who could want an account at all (a bot, Slackbot, a
    /// deactivated member): such members being most of a workspace is normal, not a warning.
    pub fn is_not_a_person(&self) -> bool {
        matches!(
            self,
            SkipReason::Slackbot
                | SkipReason::Bot
                | SkipReason::WorkflowBot
                | SkipReason::AppUser
                | SkipReason::Deleted
        )
    }
}

/// What the filter is configured with.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub include_guests: bool,
    /// Lower-case; empty means every domain.
    pub email_domains: Vec<String>,
    /// Lower-case e-mails and upper-case Slack ids.
    pub exclude: Vec<String>,
    /// `Some`: only these Slack ids.
    pub channel_members: Option<HashSet<String>>,
    /// `Some`: only these Slack ids, the members of the groups of `SLACK_IM_USERGROUPS`.
    pub usergroup_members: Option<HashSet<String>>,
    /// `SLACK_IM_REQUIRE_CONFIRMED_EMAIL` (the variable defaults to true; `Default` here is
    /// false): false for single sign-on workspaces, whose signed-in people carry
    /// `is_email_confirmed: false`.
    pub require_confirmed_email: bool,
}

/// A member left out, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub slack_id: String,
    pub reason: SkipReason,
}

impl Filter {
    /// The reason a member gets no account, or `None` when it should have one. Checks run from the
    /// most fundamental (not a person) to the most local (an operator's exclusion).
    pub fn reason_to_skip(&self, m: &Member) -> Option<SkipReason> {
        let yes = |flag: Option<bool>| flag == Some(true);
        if let Some(detail) = &m.malformed {
            return Some(SkipReason::Malformed(detail.clone()));
        }
        if m.id.is_empty() {
            return Some(SkipReason::NoId);
        }
        // Slackbot is not `is_bot`: it can only be recognised by its id.
        if m.id == "USLACKBOT" {
            return Some(SkipReason::Slackbot);
        }
        if yes(m.is_workflow_bot) {
            return Some(SkipReason::WorkflowBot);
        }
        if yes(m.is_bot) {
            return Some(SkipReason::Bot);
        }
        // `is_app_user` is also true for humans who authorised the app, so it does not mark an app.
        // Slack documents `api_app_id` as "App ID or empty string": an empty one marks nothing.
        let set = |id: &Option<String>| id.as_deref().is_some_and(|id| !id.trim().is_empty());
        if set(&m.profile.bot_id) || set(&m.profile.api_app_id) {
            return Some(SkipReason::AppUser);
        }
        if yes(m.is_stranger) {
            return Some(SkipReason::Stranger);
        }
        if yes(m.deleted) {
            return Some(SkipReason::Deleted);
        }
        if yes(m.is_invited_user) {
            return Some(SkipReason::Invited);
        }
        if self.require_confirmed_email && m.is_email_confirmed == Some(false) {
            return Some(SkipReason::EmailUnconfirmed);
        }
        if !self.include_guests && (yes(m.is_restricted) || yes(m.is_ultra_restricted)) {
            return Some(SkipReason::Guest);
        }
        let email = match m.profile.email.as_deref().map(str::trim) {
            Some(e) if e.contains('@') => e.to_lowercase(),
            _ => return Some(SkipReason::NoEmail),
        };
        let domain = email.rsplit('@').next().unwrap_or_default();
        if !self.email_domains.is_empty() && !self.email_domains.iter().any(|d| d == domain) {
            return Some(SkipReason::DomainNotAllowed(domain.to_string()));
        }
        if self.exclude.iter().any(|x| *x == email || *x == m.id) {
            return Some(SkipReason::Excluded);
        }
        if let Some(ids) = &self.channel_members {
            if !ids.contains(&m.id) {
                return Some(SkipReason::NotInChannel);
            }
        }
        if let Some(ids) = &self.usergroup_members {
            if !ids.contains(&m.id) {
                return Some(SkipReason::NotInUserGroups);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(json: &str) -> Member {
        serde_json::from_str(json).unwrap()
    }

    fn human(id: &str, email: &str) -> Member {
        member(&format!(
            r#"{{"id":"{id}","deleted":false,"is_bot":false,"is_email_confirmed":true,"profile":{{"email":"{email}"}}}}"#
        ))
    }

    #[test]
    fn a_confirmed_human_with_an_email_is_eligible() {
        assert_eq!(Filter::default().reason_to_skip(&human("U1", "a@acme.example")), None);
    }

    #[test]
    fn each_kind_of_non_person_is_skipped_with_its_reason() {
        let f = strict();
        let cases = [
            (
                r#"{"id":"USLACKBOT","is_bot":false,"is_email_confirmed":false,"profile":{}}"#,
                SkipReason::Slackbot,
            ),
            (r#"{"id":"U2","is_bot":true,"profile":{"bot_id":"B1"}}"#, SkipReason::Bot),
            (r#"{"id":"U3","is_bot":true,"is_workflow_bot":true,"profile":{}}"#, SkipReason::WorkflowBot),
            (
                r#"{"id":"U4","is_bot":false,"profile":{"api_app_id":"A1","email":"x@y.z"}}"#,
                SkipReason::AppUser,
            ),
            (r#"{"id":"U5","deleted":true,"profile":{"email":"x@y.z"}}"#, SkipReason::Deleted),
            (r#"{"id":"U6","is_invited_user":true,"profile":{"email":"x@y.z"}}"#, SkipReason::Invited),
            (
                r#"{"id":"U7","is_email_confirmed":false,"profile":{"email":"x@y.z"}}"#,
                SkipReason::EmailUnconfirmed,
            ),
            (r#"{"id":"U8","is_restricted":true,"profile":{"email":"x@y.z"}}"#, SkipReason::Guest),
            (
                r#"{"id":"U9","is_restricted":true,"is_ultra_restricted":true,"profile":{"email":"x@y.z"}}"#,
                SkipReason::Guest,
            ),
            (r#"{"id":"U10","profile":{}}"#, SkipReason::NoEmail),
            (r#"{"id":"U11","profile":{"email":null}}"#, SkipReason::NoEmail),
            (r#"{"profile":{"email":"x@y.z"}}"#, SkipReason::NoId),
        ];
        for (json, reason) in cases {
            assert_eq!(f.reason_to_skip(&member(json)), Some(reason), "{json}");
        }
    }

    fn strict() -> Filter {
        Filter { require_confirmed_email: true, ..Filter::default() }
    }

    #[test]
    fn strangers_and_unreadable_members_have_their_own_reasons() {
        let stranger = member(
            r#"{"id":"U0DERIV010","is_stranger":true,"is_email_confirmed":true,"profile":{"email":"x@other.example"}}"#,
        );
        assert_eq!(strict().reason_to_skip(&stranger), Some(SkipReason::Stranger));
        let broken = Member { id: "U1".into(), malformed: Some("profile: null".into()), ..Member::default() };
        assert_eq!(strict().reason_to_skip(&broken), Some(SkipReason::Malformed("profile: null".into())));
        assert_eq!(
            SkipReason::Malformed("profile: null".into()).to_string(),
            "malformed member object: profile: null"
        );
    }

    #[test]
    fn an_empty_bot_id_or_app_id_does_not_make_a_human_an_app() {
        // U0DERIV011 / U0DERIV012 of the real-derived members: Slack sends "" for "no app".
        for profile in [r#""api_app_id":"""#, r#""bot_id":"""#, r#""bot_id":" ","api_app_id":"""#] {
            let m = member(&format!(
                r#"{{"id":"U1","is_bot":false,"is_email_confirmed":true,"profile":{{{profile},"email":"a@acme.example"}}}}"#
            ));
            assert_eq!(strict().reason_to_skip(&m), None, "{profile}");
        }
    }

    #[test]
    fn unconfirmed_emails_count_only_when_confirmation_is_required() {
        // A signed-in employee of a single sign-on workspace (U0DERIV024 of the real-derived members).
        let sso =
            member(r#"{"id":"U0DERIV024","is_email_confirmed":false,"profile":{"email":"a@acme.example"}}"#);
        assert_eq!(strict().reason_to_skip(&sso), Some(SkipReason::EmailUnconfirmed));
        let lenient = Filter { require_confirmed_email: false, ..Filter::default() };
        assert_eq!(lenient.reason_to_skip(&sso), None);
        let invited = member(
            r#"{"id":"U2","is_invited_user":true,"is_email_confirmed":false,"profile":{"email":"b@acme.example"}}"#,
        );
        assert_eq!(lenient.reason_to_skip(&invited), Some(SkipReason::Invited), "an invitation still counts");
    }

    #[test]
    fn a_human_flagged_is_app_user_stays_a_human() {
        let m = member(
            r#"{"id":"U0APPUSR01","is_app_user":true,"is_email_confirmed":true,"profile":{"email":"a@acme.example"}}"#,
        );
        assert_eq!(Filter::default().reason_to_skip(&m), None);
    }

    #[test]
    fn guests_can_be_included() {
        let f = Filter { include_guests: true, ..Filter::default() };
        let m = member(r#"{"id":"U8","is_restricted":true,"profile":{"email":"x@y.z"}}"#);
        assert_eq!(f.reason_to_skip(&m), None);
    }

    #[test]
    fn domains_exclusions_and_channels_narrow_the_set() {
        let f = Filter {
            email_domains: vec!["acme.example".into()],
            exclude: vec!["bob@acme.example".into(), "U3".into()],
            channel_members: Some(["U1".to_string(), "U2".to_string(), "U3".to_string()].into()),
            ..Filter::default()
        };
        assert_eq!(f.reason_to_skip(&human("U1", "Alice@ACME.example")), None);
        assert_eq!(
            f.reason_to_skip(&human("U2", "bob@other.example")),
            Some(SkipReason::DomainNotAllowed("other.example".into()))
        );
        assert_eq!(f.reason_to_skip(&human("U2", "Bob@Acme.example")), Some(SkipReason::Excluded));
        assert_eq!(f.reason_to_skip(&human("U3", "c@acme.example")), Some(SkipReason::Excluded));
        assert_eq!(f.reason_to_skip(&human("U4", "d@acme.example")), Some(SkipReason::NotInChannel));
    }

    #[test]
    fn user_groups_keep_only_their_members() {
        let f = Filter { usergroup_members: Some(["U1".to_string()].into()), ..Filter::default() };
        assert_eq!(f.reason_to_skip(&human("U1", "a@acme.example")), None);
        assert_eq!(f.reason_to_skip(&human("U2", "b@acme.example")), Some(SkipReason::NotInUserGroups));
        assert_eq!(SkipReason::NotInUserGroups.to_string(), "not in user groups");
        let none = Filter { usergroup_members: Some(HashSet::new()), ..Filter::default() };
        assert_eq!(none.reason_to_skip(&human("U1", "a@acme.example")), Some(SkipReason::NotInUserGroups));
    }
}
