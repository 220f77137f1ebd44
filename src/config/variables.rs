//! The variable table: every variable slack-im reads, once, with what it holds (its kind, default
//! and range) and its help line. It is the one source of `--help` (and so of the README table the
//! integration tests compare with it), of the names handed to envy, of each value's syntax check
//! and default, and of the unknown-variable check with its suggestion.

use super::values::{bounded, flag, list};
use super::{invalid, ConfigError};

/// Prefix of every slack-im variable (besides the bot token, `SSL_CERT_FILE` and `RUST_LOG`).
pub const PREFIX: &str = "SLACK_IM_";

/// One variable: its name, what it holds, and its help line (without the default and range,
/// which [`Variable::help_line`] adds from the kind).
#[derive(Debug)]
pub struct Variable {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

/// What a variable holds: how its value is checked, and what it is when unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A secret: wrapped as soon as it is read; unset is none.
    Secret,
    /// Text; unset is the default, or none.
    Text { default: Option<&'static str> },
    /// A path; unset is the default (with a note for `--help`), or none.
    Path { default: Option<&'static str>, note: Option<&'static str> },
    /// `true`/`false` (and `1`/`0`, `yes`/`no`, `on`/`off`), any case.
    Flag { default: bool },
    /// A comma list; unset is empty.
    List,
    /// A whole number in `min..=max`; unset is the default, or none.
    Number { min: u64, max: u64, default: Option<u64> },
    /// Not read by [`super::Config`]: read elsewhere (`RUST_LOG`, by the logger), or a family of
    /// names (`SLACK_IM_VAR_<NAME>`) read by prefix.
    Elsewhere,
}

const fn var(name: &'static str, kind: Kind, help: &'static str) -> Variable {
    Variable { name, kind, help }
}

const TEXT: Kind = Kind::Text { default: None };
const PATH: Kind = Kind::Path { default: None, note: None };
const FLAG: Kind = Kind::Flag { default: false };

/// Every variable slack-im reads, in the order `--help` lists them.
pub const VARIABLES: &[Variable] = &[
    var("SLACK_BOT_TOKEN", Kind::Secret, "bot token (xoxb-...) with users:read and users:read.email"),
    var("SLACK_BOT_TOKEN_FILE", TEXT, "file holding the bot token (Docker/Kubernetes secrets)"),
    var(
        "SLACK_IM_SYSTEM",
        TEXT,
        "required: the system(s) to sync, folders under the templates root (a,b,c: one Slack read)",
    ),
    var(
        "SLACK_IM_TARGET_URL",
        TEXT,
        "base URL of the system's API (default: \"url\" in its system.json); with several systems use SLACK_IM_TARGET_URL__<SYSTEM>; with one, a host other than that of the folder's url needs it too, unless the host is loopback (the run's own machine) or the folder has no url",
    ),
    var(
        "SLACK_IM_TEMPLATES",
        Kind::Path { default: Some("templates"), note: Some("/templates in the image") },
        "templates root",
    ),
    var("SLACK_IM_SLACK_URL", Kind::Text { default: Some("https://slack.com/api/") }, "Slack API base"),
    var("SLACK_IM_SLACK_TEAM_ID", TEXT, "workspace id: for Enterprise Grid org-level tokens, and the workspace a members file must come from"),
    var(
        "SLACK_IM_CHANNEL",
        TEXT,
        "only members of this channel id (needs channels:read; groups:read if private)",
    ),
    var("SLACK_IM_INCLUDE_GUESTS", FLAG, "true: also sync guests"),
    var(
        "SLACK_IM_REQUIRE_CONFIRMED_EMAIL",
        Kind::Flag { default: true },
        "false: also sync members whose e-mail Slack marks unconfirmed (single sign-on workspaces)",
    ),
    var(
        "SLACK_IM_EMAIL_DOMAINS",
        Kind::List,
        "comma list: only members with these e-mail domains; required when the key ignores the domain (email_local)",
    ),
    var(
        "SLACK_IM_USERGROUPS",
        Kind::List,
        "comma list of user group handles (qa,cs-agents): only their members (needs usergroups:read)",
    ),
    var("SLACK_IM_EXCLUDE", Kind::List, "comma list of e-mails or Slack ids never synced"),
    var("SLACK_IM_PROTECT", Kind::List, "comma list of target keys never updated or deactivated"),
    var("SLACK_IM_ALLOW_HTTP", FLAG, "true: allow plain http:// to hosts other than loopback"),
    var("SLACK_IM_DRY_RUN", FLAG, "true: read and plan only, the same as `slack-im plan`"),
    var(
        "SLACK_IM_MAX_DEACTIVATE",
        Kind::Number { min: 0, max: 4_294_967_295, default: None },
        "most deactivations one run may make (default max(3, 10% of managed))",
    ),
    var(
        "SLACK_IM_MAX_REACTIVATE",
        Kind::Number { min: 0, max: 4_294_967_295, default: None },
        "most reactivations one run may make (default max(3, 10% of managed))",
    ),
    var(
        "SLACK_IM_MAX_CREATE",
        Kind::Number { min: 0, max: 4_294_967_295, default: None },
        "most creates one run may make (default: no limit); more withholds every create (exit 4)",
    ),
    var(
        "SLACK_IM_DEACTIVATE_AFTER",
        Kind::Text { default: Some("0") },
        "grace: a member deactivated in Slack less than this ago (72h, 3d) is a pending deactivation",
    ),
    var("SLACK_IM_CONCURRENCY", Kind::Number { min: 1, max: 64, default: Some(4) }, "parallel target writes"),
    var("SLACK_IM_TIMEOUT_SECS", Kind::Number { min: 1, max: 600, default: Some(30) }, "per HTTP request"),
    var(
        "SLACK_IM_DEADLINE_SECS",
        Kind::Number { min: 1, max: 86_400, default: Some(3600) },
        "the whole run, checked between requests",
    ),
    var(
        "SLACK_IM_RETRY_BUDGET",
        Kind::Number { min: 0, max: 100_000, default: Some(100) },
        "retries the whole run may make, Slack and target together",
    ),
    var(
        "SLACK_IM_READ_LIMIT",
        Kind::Number { min: 1, max: 100_000_000, default: Some(200_000) },
        "most members or accounts one read (Slack, a members file, a listing) may return",
    ),
    var(
        "SLACK_IM_READ_MAX_MB",
        Kind::Number { min: 1, max: 1_000_000, default: Some(512) },
        "most megabytes of pages one system's target listing may read, and of a members file",
    ),
    var("SLACK_IM_REPORT_DIR", PATH, "where summary.json, summary.md and junit.xml go (unset: none)"),
    var("SLACK_IM_NOTIFY_CHANNEL", TEXT, "post the run's summary to this channel id (needs chat:write)"),
    var(
        "SLACK_IM_NOTIFY_ON",
        Kind::Text { default: Some("changes") },
        "when to post to SLACK_IM_NOTIFY_CHANNEL: problems (exit code not 0, a failed or withheld action, a warning), changes (problems, and any run that writes or would write) or always",
    ),
    var(
        "BUILD_URL",
        TEXT,
        "set by Jenkins, not a slack-im variable: the build's page, linked from the Slack post (http:// or https:// only)",
    ),
    var(
        "SLACK_IM_RUN_ID",
        TEXT,
        "an id of the caller's (a CI build), written back as run_id in summary.json",
    ),
    var(
        "SLACK_IM_MEMBERS_FILE",
        PATH,
        "read the members from this file (`slack-im export`) instead of Slack",
    ),
    var(
        "SLACK_IM_MEMBERS_MAX_AGE",
        Kind::Text { default: Some("24h") },
        "oldest members file accepted: 90m, 24h, 2d or seconds",
    ),
    var(
        "SLACK_IM_PLAN_MAX_AGE",
        Kind::Text { default: Some("24h") },
        "oldest saved plan `sync --plan FILE` applies: 90m, 24h, 2d or seconds",
    ),
    var(
        "SLACK_IM_MEMBERS_KEY",
        Kind::Secret,
        "key (32+ characters) that signs the members file on export and checks it on read (HMAC-SHA256)",
    ),
    var("SLACK_IM_MEMBERS_KEY_FILE", TEXT, "file holding SLACK_IM_MEMBERS_KEY"),
    var(
        "SLACK_IM_MEMBERS_UNSIGNED",
        TEXT,
        "allow: export and read members files without a signature, with a warning (unauthenticated)",
    ),
    var(
        "SLACK_IM_EXPORT_FIELDS",
        TEXT,
        "what export keeps of each member: product (default: the fields slack-im reads, no phone, custom fields or 2FA) or all (the whole object but 2FA, for templates that read user.slack or user.phone)",
    ),
    var("SLACK_IM_VAR_<NAME>", Kind::Elsewhere, "exposed to templates as vars.<name> (lower-cased)"),
    var(
        "SLACK_IM_SECRET_<NAME>",
        Kind::Elsewhere,
        "exposed to templates as secrets.<name>; redacted everywhere",
    ),
    var("SLACK_IM_SECRET_<NAME>_FILE", Kind::Elsewhere, "the same, read from a file"),
    var(
        "<VARIABLE>__<SYSTEM>",
        Kind::Elsewhere,
        "TARGET_URL, SECRET_*, VAR_*, EMAIL_DOMAINS, USERGROUPS, PROTECT, MAX_DEACTIVATE, MAX_REACTIVATE, MAX_CREATE, DEACTIVATE_AFTER for one system only",
    ),
    var(
        "SSL_CERT_FILE",
        PATH,
        "PEM bundle of extra CAs the targets may use (a private CA), besides Mozilla's roots; never trusted for Slack",
    ),
    var(
        "SLACK_IM_SLACK_CA_FILE",
        PATH,
        "PEM bundle of extra CAs trusted for Slack only (a TLS-inspecting proxy's), besides Mozilla's roots",
    ),
    var("RUST_LOG", Kind::Elsewhere, "log level: error, warn, info (default), debug"),
];

impl Variable {
    /// The line `--help` prints: the help text with the default and range the reader applies.
    pub fn help_line(&self) -> String {
        let help = self.help;
        match self.kind {
            Kind::Text { default: Some(d) } | Kind::Path { default: Some(d), note: None } => {
                format!("{help} (default: {d})")
            }
            Kind::Path { default: Some(d), note: Some(note) } => format!("{help} (default: {d}; {note})"),
            Kind::Flag { default } => format!("{help} (default {default})"),
            Kind::Number { min, max, default: Some(d) } => format!("{help}, {min} to {max} (default {d})"),
            _ => help.to_string(),
        }
    }

    /// Whether [`super::Config`] reads it by its name (through envy).
    pub(super) fn is_read_by_name(&self) -> bool {
        self.kind != Kind::Elsewhere
    }

    /// Checks a value's syntax for this variable's kind, naming the variable when it is wrong.
    pub(super) fn check(&self, value: &str) -> Result<(), ConfigError> {
        let problem = match self.kind {
            Kind::Flag { .. } => flag(value).err(),
            Kind::List => list(value).err(),
            Kind::Number { min, max, .. } => bounded(value, min, max).err(),
            _ => None,
        };
        problem.map_or(Ok(()), |p| Err(invalid(self.name, p)))
    }

    /// A flag's value, or its default when unset.
    pub(super) fn flag(&self, value: Option<String>) -> Result<bool, ConfigError> {
        let Kind::Flag { default } = self.kind else { unreachable!("{} is not a flag", self.name) };
        value.map_or(Ok(default), |v| flag(&v).map_err(|p| invalid(self.name, p)))
    }

    /// A list's items (unset: none).
    pub(super) fn list(&self, value: Option<String>) -> Result<Vec<String>, ConfigError> {
        assert_eq!(self.kind, Kind::List, "{} is not a list", self.name);
        value.map_or(Ok(Vec::new()), |v| list(&v).map_err(|p| invalid(self.name, p)))
    }

    /// A number's value, or its default when unset (`None`: unset without a default).
    pub(super) fn number(&self, value: Option<String>) -> Result<Option<u64>, ConfigError> {
        let Kind::Number { min, max, default } = self.kind else {
            unreachable!("{} is not a number", self.name)
        };
        match value {
            Some(v) => bounded(&v, min, max).map(Some).map_err(|p| invalid(self.name, p)),
            None => Ok(default),
        }
    }

    /// A number that has a default: always a value.
    pub(super) fn number_or_default(&self, value: Option<String>) -> Result<u64, ConfigError> {
        Ok(self.number(value)?.unwrap_or_else(|| unreachable!("{} has no default", self.name)))
    }

    /// A text's (or a path's) value, or its default when unset.
    pub(super) fn text(&self, value: Option<String>) -> Option<String> {
        let default = match self.kind {
            Kind::Text { default } | Kind::Path { default, .. } => default,
            _ => unreachable!("{} is not text", self.name),
        };
        value.or_else(|| default.map(str::to_string))
    }
}

/// The variable of this name; a name not in the table is a bug (the tests read every one).
pub(super) fn variable(name: &str) -> &'static Variable {
    VARIABLES.iter().find(|v| v.name == name).unwrap_or_else(|| unreachable!("{name} is not in VARIABLES"))
}

/// Whether the reader reads this variable by its name.
pub(super) fn is_read_by_name(name: &str) -> bool {
    VARIABLES.iter().any(|v| v.name == name && v.is_read_by_name())
}

/// A `SLACK_IM_*` name that is not in [`VARIABLES`], with the closest one that is.
pub(super) fn unknown(var: String) -> ConfigError {
    let suggestion = VARIABLES
        .iter()
        .map(|v| v.name)
        .filter(|n| n.starts_with(PREFIX) && !n.contains('<'))
        .map(|k| (edit_distance(k, &var), k))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, k)| k.to_string());
    ConfigError::Unknown { var, suggestion }
}

pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for j in 0..b.len() {
            let cur = row[j + 1];
            row[j + 1] = if ca == b[j] { prev } else { 1 + prev.min(row[j]).min(cur) };
            prev = cur;
        }
    }
    row[b.len()]
}
