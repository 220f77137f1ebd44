//! The write vocabulary: the four writes (`ActionKind`), one write the plan asks for (`Action`)
//! and how it ended (`Outcome`). The plan makes actions, `apply` sends them, `journal` and `report`
//! record them; all of them speak these types, so none of them has to import another for them.

use serde_json::Value;

/// The four writes. One name each, everywhere: logs, console, reports, journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    Create,
    Update,
    Deactivate,
    /// A member's managed account is inactive (`system.json`'s `active`): made active again.
    Reactivate,
}

/// The writes a guard may hold back, with the plural the reports name them by: creates
/// (`SLACK_IM_MAX_CREATE`), deactivations (`SLACK_IM_MAX_DEACTIVATE`) and reactivations
/// (`SLACK_IM_MAX_REACTIVATE`).
pub const GUARDED: [(ActionKind, &str); 3] = [
    (ActionKind::Create, "creates"),
    (ActionKind::Deactivate, "deactivations"),
    (ActionKind::Reactivate, "reactivations"),
];

impl std::fmt::Display for ActionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ActionKind::Create => "create",
            ActionKind::Update => "update",
            ActionKind::Deactivate => "deactivate",
            ActionKind::Reactivate => "reactivate",
        })
    }
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
    /// For updates and reactivations: the fields the body sets that the listing does not show.
    pub added: Vec<String>,
    /// For updates and reactivations: each changed value, old -> new.
    pub diff: Vec<FieldChange>,
    /// Set when a guard holds this action back; it is reported, not applied.
    pub withheld: Option<String>,
    /// The listed account it writes to (its position in the listing): a deactivation's body is
    /// rendered from it; a saved plan's fingerprint holds it.
    pub account: Option<usize>,
    /// For updates, deactivations and reactivations: the account's server id, when the listing gives one.
    pub id: Option<String>,
    /// For updates and reactivations: the account's key before this write, when the write renames
    /// it (the anchor found the member's account under another key). `key` is the new one.
    pub renamed_from: Option<String>,
    /// Set when the plan refuses the write (a recycled address…): never sent, reported as failed
    /// with this reason.
    pub refused: Option<String>,
    /// Values in the body nobody may see (passwords `new_password()` made): redacted from the
    /// target's answer about this write before it is logged or reported.
    pub hidden: Vec<crate::secret::Secret<String>>,
    /// For creates, with `welcome.txt`: the DM the member is sent once the account exists. It
    /// holds the password, so it is a secret: it goes in the one request to Slack, nowhere else.
    pub welcome: Option<crate::secret::Secret<String>>,
}

impl Action {
    pub(crate) fn new(
        kind: ActionKind,
        key: String,
        slack_id: Option<String>,
        body: Option<Value>,
    ) -> Action {
        Action {
            kind,
            key,
            slack_id,
            body,
            changed: Vec::new(),
            added: Vec::new(),
            diff: Vec::new(),
            withheld: None,
            account: None,
            id: None,
            renamed_from: None,
            refused: None,
            hidden: Vec::new(),
            welcome: None,
        }
    }
}

impl Action {
    /// The key the account has on the target now: the one a `{key}` path addresses.
    pub fn current_key(&self) -> &str {
        self.renamed_from.as_deref().unwrap_or(&self.key)
    }
}

/// One changed value, old -> new, as compact JSON cut to [`DIFF_LIMIT`] characters: what the plan
/// shows for each field an update changes (`name: "Ann" -> "Ann Kim"`, nested fields by path).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub old: String,
    pub new: String,
}

impl FieldChange {
    /// `field: old → new`, for the console and `summary.md`.
    pub fn line(&self) -> String {
        format!("{}: {} → {}", self.field, self.old, self.new)
    }
}

/// The longest old or new value a [`FieldChange`] shows, in characters.
pub const DIFF_LIMIT: usize = 80;

/// How one action ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// A create answered 409: the account exists already (a concurrent run, or it appeared since the
    /// listing). Nothing to do, not a failure.
    AlreadyExisted,
    Failed(String),
    /// The account was created, but its welcome DM failed (the reason and what to do): a failed
    /// action, the account kept. Never sent again: the next run finds the account and creates nothing.
    WelcomeFailed(String),
    /// Not applied: a guard held it back (the reason is on the action).
    Withheld,
    /// Not applied: dry run.
    Planned,
}
