//! Turns the environment into one validated [`Config`]: every variable of the contract, checked once,
//! with errors that name the variable at fault and secrets wrapped before anything can print them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::secret::{redactable_len, Secret, MIN_SECRET_LEN};

/// Prefix of every slack-im variable (besides the bot token, `SSL_CERT_FILE` and `RUST_LOG`).
pub const PREFIX: &str = "SLACK_IM_";
const VAR_PREFIX: &str = "SLACK_IM_VAR_";
const SECRET_PREFIX: &str = "SLACK_IM_SECRET_";

/// Every variable slack-im reads, with the line `--help` prints for it. The single source of truth
/// for the help text and for the "unknown variable" check.
pub const VARIABLES: &[(&str, &str)] = &[
    ("SLACK_BOT_TOKEN", "bot token (xoxb-...) with users:read and users:read.email"),
    ("SLACK_BOT_TOKEN_FILE", "file holding the bot token (Docker/Kubernetes secrets)"),
    ("SLACK_IM_SYSTEM", "required: the system to sync, a folder under the templates root"),
    ("SLACK_IM_TARGET_URL", "required: base URL of that system's API"),
    ("SLACK_IM_TEMPLATES", "templates root (default: templates; /templates in the image)"),
    ("SLACK_IM_SLACK_URL", "Slack API base (default: https://slack.com/api/)"),
    ("SLACK_IM_SLACK_TEAM_ID", "workspace id, for Enterprise Grid org-level tokens"),
    ("SLACK_IM_CHANNEL", "only members of this channel id (needs channels:read; groups:read if private)"),
    ("SLACK_IM_INCLUDE_GUESTS", "true: also sync guests (default false)"),
    // Issue 12 (port onto the rewritten config): one field, this entry, one parse line, Config::filter.
    (
        "SLACK_IM_REQUIRE_CONFIRMED_EMAIL",
        "false: also sync members whose e-mail Slack marks unconfirmed (single sign-on workspaces); default true",
    ),
    ("SLACK_IM_EMAIL_DOMAINS", "comma list: only members with these e-mail domains"),
    ("SLACK_IM_EXCLUDE", "comma list of e-mails or Slack ids never synced"),
    ("SLACK_IM_PROTECT", "comma list of target keys never updated or deactivated"),
    ("SLACK_IM_ALLOW_HTTP", "true: allow plain http:// to hosts other than loopback (default false)"),
    ("SLACK_IM_DRY_RUN", "true: read and plan only, the same as `slack-im plan`"),
    ("SLACK_IM_MAX_DEACTIVATE", "most deactivations one run may make (default max(3, 10% of managed))"),
    ("SLACK_IM_CONCURRENCY", "parallel target writes, 1 to 64 (default 4)"),
    ("SLACK_IM_TIMEOUT_SECS", "per HTTP request, 1 to 600 (default 30)"),
    ("SLACK_IM_DEADLINE_SECS", "the whole run, checked between requests, 1 to 86400 (default 3600)"),
    ("SLACK_IM_RETRY_BUDGET", "retries the whole run may make, Slack and target together (default 100)"),
    ("SLACK_IM_READ_LIMIT", "most members or accounts one read may return (default 200000)"),
    ("SLACK_IM_REPORT_DIR", "where summary.json, summary.md and junit.xml go (unset: none)"),
    ("SLACK_IM_NOTIFY_CHANNEL", "post the run's summary to this channel id (needs chat:write)"),
    ("SLACK_IM_RUN_ID", "an id of the caller's (a CI build), written back as run_id in summary.json"),
    ("SLACK_IM_VAR_<NAME>", "exposed to templates as vars.<name> (lower-cased)"),
    ("SLACK_IM_SECRET_<NAME>", "exposed to templates as secrets.<name>; redacted everywhere"),
    ("SLACK_IM_SECRET_<NAME>_FILE", "the same, read from a file"),
    ("SSL_CERT_FILE", "PEM bundle of extra CAs to trust (a private CA), besides Mozilla's roots"),
    ("RUST_LOG", "log level: error, warn, info (default), debug"),
];

pub const DEFAULT_SLACK_URL: &str = "https://slack.com/api/";
pub const DEFAULT_CONCURRENCY: usize = 4;
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
pub const DEFAULT_DEADLINE_SECS: u64 = 3600;
pub const DEFAULT_RETRY_BUDGET: u64 = 100;
pub const DEFAULT_READ_LIMIT: u64 = 200_000;

/// The `SLACK_IM_*` variables as they come from the environment: flat, all text, so that every
/// parse error below can name its variable (envy's own messages drop the prefix).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    system: Option<String>,
    target_url: Option<String>,
    templates: Option<String>,
    slack_url: Option<String>,
    slack_team_id: Option<String>,
    channel: Option<String>,
    include_guests: Option<String>,
    require_confirmed_email: Option<String>,
    email_domains: Option<String>,
    exclude: Option<String>,
    protect: Option<String>,
    allow_http: Option<String>,
    dry_run: Option<String>,
    max_deactivate: Option<String>,
    concurrency: Option<String>,
    timeout_secs: Option<String>,
    deadline_secs: Option<String>,
    retry_budget: Option<String>,
    read_limit: Option<String>,
    report_dir: Option<String>,
    notify_channel: Option<String>,
    run_id: Option<String>,
}

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub system: String,
    /// Without a trailing slash; template paths start with one.
    pub target_url: String,
    pub templates_root: PathBuf,
    /// With a trailing slash; method names are appended.
    pub slack_url: String,
    pub slack_token: Secret<String>,
    pub slack_team_id: Option<String>,
    pub channel: Option<String>,
    pub include_guests: bool,
    /// `SLACK_IM_REQUIRE_CONFIRMED_EMAIL` (issue 12): skip members whose e-mail is unconfirmed.
    pub require_confirmed_email: bool,
    /// Lower-case.
    pub email_domains: Vec<String>,
    /// Lower-case e-mails and upper-case Slack ids, as written.
    pub exclude: Vec<String>,
    /// Lower-case target keys.
    pub protect: Vec<String>,
    pub dry_run: bool,
    pub max_deactivate: Option<usize>,
    pub concurrency: usize,
    pub timeout: Duration,
    /// The whole run's deadline (`SLACK_IM_DEADLINE_SECS`).
    pub deadline: Duration,
    /// Retries the whole run may make (`SLACK_IM_RETRY_BUDGET`).
    pub retry_budget: u32,
    /// Most members or accounts one read may return (`SLACK_IM_READ_LIMIT`).
    pub read_limit: usize,
    pub report_dir: Option<PathBuf>,
    pub notify_channel: Option<String>,
    /// `SLACK_IM_RUN_ID`: the caller's id for this run, echoed in `summary.json` so the caller can
    /// tell this run's report from a stale one.
    pub run_id: Option<String>,
    /// `SLACK_IM_VAR_ROLE_GROUP=x` becomes `role_group -> x`.
    pub vars: BTreeMap<String, String>,
    /// `SLACK_IM_SECRET_TARGET_TOKEN=x` becomes `target_token -> x`.
    pub secrets: BTreeMap<String, Secret<String>>,
    /// `SSL_CERT_FILE`: extra CAs to trust.
    pub ca_file: Option<PathBuf>,
}

/// A configuration problem. Every message names the variable and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    Missing { var: String, hint: &'static str },
    Invalid { var: String, problem: String },
    Unknown { var: String, suggestion: Option<String> },
    Conflict { a: String, b: String },
    File { var: String, path: String, problem: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Missing { var, hint } => write!(f, "{var} is not set: {hint}"),
            ConfigError::Invalid { var, problem } => write!(f, "{var} is invalid: {problem}"),
            ConfigError::Unknown { var, suggestion } => {
                write!(f, "{var} is not a slack-im variable")?;
                match suggestion {
                    Some(s) => write!(f, " (did you mean {s}?)"),
                    None => write!(f, " (see `slack-im --help` for the list)"),
                }
            }
            ConfigError::Conflict { a, b } => write!(f, "{a} and {b} are both set: set only one"),
            ConfigError::File { var, path, problem } => {
                write!(f, "{var} names the file {path}, which cannot be read: {problem}")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        let vars =
            std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        Config::from_vars(vars)
    }

    /// Reads the given variables as if they were the environment (tests use this).
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Config, ConfigError> {
        // The last value of a repeated variable wins, as in a shell.
        let mut plain = BTreeMap::new();
        let mut template_vars = BTreeMap::new();
        let mut secret_values: BTreeMap<String, (String, Secret<String>)> = BTreeMap::new();
        let mut token = None;
        let mut token_file = None;
        let mut ca_file = None;

        for (name, value) in vars {
            // An empty value counts as unset: CI systems pass empty parameters as empty variables.
            if value.is_empty() {
                continue;
            }
            if name == "SLACK_BOT_TOKEN" {
                token = Some(Secret::new(value));
            } else if name == "SLACK_BOT_TOKEN_FILE" {
                token_file = Some(value);
            } else if name == "SSL_CERT_FILE" {
                ca_file = Some(PathBuf::from(value));
            } else if let Some(rest) = name.strip_prefix(VAR_PREFIX) {
                template_vars.insert(template_name(&name, rest)?, value);
            } else if let Some(rest) = name.strip_prefix(SECRET_PREFIX) {
                let (key, secret) = match rest.strip_suffix("_FILE") {
                    Some(base) => {
                        (template_name(&name, base)?, Secret::new(read_secret_file(&name, &value)?))
                    }
                    None => (template_name(&name, rest)?, Secret::new(value)),
                };
                if let Some((other, _)) = secret_values.get(&key) {
                    return Err(ConfigError::Conflict { a: other.clone(), b: name });
                }
                secret_values.insert(key, (name, secret));
            } else if let Some(rest) = name.strip_prefix(PREFIX) {
                check_known(&name)?;
                plain.insert(rest.to_ascii_lowercase(), value);
            }
        }

        let raw: RawConfig = envy::from_iter(plain)
            .map_err(|e| ConfigError::Invalid { var: "SLACK_IM_*".into(), problem: e.to_string() })?;

        let slack_token = match (token, token_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Conflict {
                    a: "SLACK_BOT_TOKEN".into(),
                    b: "SLACK_BOT_TOKEN_FILE".into(),
                })
            }
            (Some(t), None) => t,
            (None, Some(path)) => Secret::new(read_secret_file("SLACK_BOT_TOKEN_FILE", &path)?),
            (None, None) => {
                return Err(ConfigError::Missing {
                    var: "SLACK_BOT_TOKEN".into(),
                    hint:
                        "set it (or SLACK_BOT_TOKEN_FILE) to a bot token with users:read and users:read.email",
                })
            }
        };
        check_token_shape("SLACK_BOT_TOKEN", &slack_token)?;
        for (var, secret) in secret_values.values() {
            if redactable_len(secret.expose()) < MIN_SECRET_LEN {
                return Err(invalid(
                    var,
                    format!(
                        "the value is too short to redact safely: a secret needs at least {MIN_SECRET_LEN} characters, or it could not be told apart from ordinary text in logs and reports"
                    ),
                ));
            }
        }
        let allow_http = parse_bool("SLACK_IM_ALLOW_HTTP", raw.allow_http)?;

        let system = raw.system.ok_or(ConfigError::Missing {
            var: "SLACK_IM_SYSTEM".into(),
            hint: "name the system to sync, a folder under the templates root (e.g. dev)",
        })?;
        if system.is_empty()
            || !system.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            || system.starts_with('.')
        {
            return Err(invalid(
                "SLACK_IM_SYSTEM",
                format!("{system:?} is not a folder name (letters, digits, - _ .)"),
            ));
        }
        let target_url = raw.target_url.ok_or(ConfigError::Missing {
            var: "SLACK_IM_TARGET_URL".into(),
            hint: "set it to the base URL of the system's API, e.g. https://dev.example.com",
        })?;
        let target_url =
            check_url("SLACK_IM_TARGET_URL", &target_url, allow_http)?.trim_end_matches('/').to_string();
        let slack_url = raw.slack_url.unwrap_or_else(|| DEFAULT_SLACK_URL.to_string());
        let mut slack_url = check_url("SLACK_IM_SLACK_URL", &slack_url, allow_http)?.to_string();
        if !slack_url.ends_with('/') {
            slack_url.push('/');
        }

        let concurrency =
            parse_number("SLACK_IM_CONCURRENCY", raw.concurrency, DEFAULT_CONCURRENCY as u64, 1, 64)?
                as usize;
        let timeout_secs =
            parse_number("SLACK_IM_TIMEOUT_SECS", raw.timeout_secs, DEFAULT_TIMEOUT_SECS, 1, 600)?;
        let deadline_secs =
            parse_number("SLACK_IM_DEADLINE_SECS", raw.deadline_secs, DEFAULT_DEADLINE_SECS, 1, 86_400)?;
        let retry_budget =
            parse_number("SLACK_IM_RETRY_BUDGET", raw.retry_budget, DEFAULT_RETRY_BUDGET, 0, 100_000)? as u32;
        let read_limit =
            parse_number("SLACK_IM_READ_LIMIT", raw.read_limit, DEFAULT_READ_LIMIT, 1, 100_000_000)? as usize;
        let max_deactivate = match raw.max_deactivate {
            None => None,
            Some(text) => {
                Some(parse_number("SLACK_IM_MAX_DEACTIVATE", Some(text), 0, 0, u32::MAX as u64)? as usize)
            }
        };

        let channel = raw.channel.map(|c| c.trim().to_string());
        if let Some(c) = &channel {
            check_slack_id("SLACK_IM_CHANNEL", c, "a channel id like C0123ABCD (not a #name)")?;
        }
        let notify_channel = raw.notify_channel.map(|c| c.trim().to_string());
        if let Some(c) = &notify_channel {
            check_slack_id("SLACK_IM_NOTIFY_CHANNEL", c, "a channel id like C0123ABCD (not a #name)")?;
        }
        let slack_team_id = raw.slack_team_id.map(|t| t.trim().to_string());
        if let Some(t) = &slack_team_id {
            check_slack_id("SLACK_IM_SLACK_TEAM_ID", t, "a workspace id like T0123ABCD")?;
        }

        let email_domains = split_list("SLACK_IM_EMAIL_DOMAINS", raw.email_domains.as_deref())?
            .into_iter()
            .map(|d| d.trim_start_matches('@').to_ascii_lowercase())
            .collect::<Vec<_>>();
        for d in &email_domains {
            if !d.contains('.') || d.contains('@') || d.contains(char::is_whitespace) {
                return Err(invalid(
                    "SLACK_IM_EMAIL_DOMAINS",
                    format!("{d:?} is not an e-mail domain like example.com"),
                ));
            }
        }

        let run_id = raw.run_id.map(|r| r.trim().to_string());
        if let Some(r) = &run_id {
            if r.chars().count() > 200 || r.chars().any(char::is_control) {
                return Err(invalid(
                    "SLACK_IM_RUN_ID",
                    "at most 200 characters, no control characters".into(),
                ));
            }
        }

        let secrets = secret_values.into_iter().map(|(k, (_, s))| (k, s)).collect();
        Ok(Config {
            system,
            target_url,
            templates_root: PathBuf::from(raw.templates.unwrap_or_else(|| "templates".into())),
            slack_url,
            slack_token,
            slack_team_id,
            channel,
            include_guests: parse_bool("SLACK_IM_INCLUDE_GUESTS", raw.include_guests)?,
            // Issue 12: default true, hence not parse_bool's default.
            require_confirmed_email: raw.require_confirmed_email.is_none()
                || parse_bool("SLACK_IM_REQUIRE_CONFIRMED_EMAIL", raw.require_confirmed_email)?,
            email_domains,
            exclude: split_list("SLACK_IM_EXCLUDE", raw.exclude.as_deref())?
                .into_iter()
                .map(|e| normalize_exclude(&e))
                .collect(),
            protect: split_list("SLACK_IM_PROTECT", raw.protect.as_deref())?
                .into_iter()
                .map(|k| k.to_lowercase())
                .collect(),
            dry_run: parse_bool("SLACK_IM_DRY_RUN", raw.dry_run)?,
            max_deactivate,
            concurrency,
            timeout: Duration::from_secs(timeout_secs),
            deadline: Duration::from_secs(deadline_secs),
            retry_budget,
            read_limit,
            report_dir: raw.report_dir.map(PathBuf::from),
            notify_channel,
            run_id,
            vars: template_vars,
            secrets,
            ca_file,
        })
    }

    /// The member filter this configuration asks for.
    pub fn filter(
        &self,
        channel_members: Option<std::collections::HashSet<String>>,
    ) -> crate::eligibility::Filter {
        crate::eligibility::Filter {
            include_guests: self.include_guests,
            email_domains: self.email_domains.clone(),
            exclude: self.exclude.clone(),
            channel_members,
            require_confirmed_email: self.require_confirmed_email,
        }
    }

    /// Every secret of the run, for the [`crate::secret::Redactor`].
    pub fn all_secrets(&self) -> Vec<&Secret<String>> {
        std::iter::once(&self.slack_token).chain(self.secrets.values()).collect()
    }
}

fn invalid(var: &str, problem: String) -> ConfigError {
    ConfigError::Invalid { var: var.to_string(), problem }
}

/// The part after `SLACK_IM_VAR_` / `SLACK_IM_SECRET_`: upper-case letters, digits, underscores.
fn template_name(var: &str, rest: &str) -> Result<String, ConfigError> {
    if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') {
        return Err(invalid(
            var,
            "the name after the prefix must be upper-case letters, digits and _".into(),
        ));
    }
    Ok(rest.to_ascii_lowercase())
}

fn read_secret_file(var: &str, path: &str) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        var: var.to_string(),
        path: path.to_string(),
        problem: e.to_string(),
    })?;
    // Files written by `echo` end with a newline that is not part of the secret.
    let value = text.trim_end_matches(['\n', '\r']).to_string();
    if value.is_empty() {
        return Err(ConfigError::File {
            var: var.to_string(),
            path: path.to_string(),
            problem: "the file is empty".into(),
        });
    }
    Ok(value)
}

fn check_known(var: &str) -> Result<(), ConfigError> {
    let known: Vec<&str> =
        VARIABLES.iter().map(|(n, _)| *n).filter(|n| n.starts_with(PREFIX) && !n.contains('<')).collect();
    if known.contains(&var) {
        return Ok(());
    }
    let suggestion = known
        .iter()
        .map(|k| (edit_distance(k, var), *k))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, k)| k.to_string());
    Err(ConfigError::Unknown { var: var.to_string(), suggestion })
}

fn edit_distance(a: &str, b: &str) -> usize {
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

fn check_token_shape(var: &str, token: &Secret<String>) -> Result<(), ConfigError> {
    let t = token.expose();
    if t.trim() != t || t.contains(char::is_whitespace) {
        return Err(invalid(var, "it contains white space (copied with a line break?)".into()));
    }
    if !(t.starts_with("xox") || t.starts_with("xoxe.")) {
        return Err(invalid(var, "it does not look like a Slack token (xoxb-... or xoxp-...)".into()));
    }
    Ok(())
}

/// An http(s) URL with a host, no user name or password in it (it would be printed and logged
/// like any URL; credentials belong in `SLACK_IM_SECRET_*` and `system.json` headers), and plain
/// `http://` only to loopback unless `SLACK_IM_ALLOW_HTTP` says otherwise (a token sent in clear
/// over the network is a token given away).
fn check_url<'a>(var: &str, url: &'a str, allow_http: bool) -> Result<&'a str, ConfigError> {
    let url = url.trim();
    let (plain, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => (false, rest),
        (None, Some(rest)) => (true, rest),
        (None, None) => return Err(invalid(var, format!("{url:?} must start with http:// or https://"))),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(invalid(
            var,
            "it holds a user name or password (user:pass@host); put credentials in SLACK_IM_SECRET_* and system.json headers (the value is not shown)".into(),
        ));
    }
    if authority.is_empty() || rest.contains(char::is_whitespace) {
        return Err(invalid(var, format!("{url:?} has no host")));
    }
    if plain && !allow_http && !is_loopback(authority) {
        return Err(invalid(
            var,
            format!(
                "{url:?} is plain http:// to a host that is not loopback: tokens would cross the network unencrypted; use https://, or set SLACK_IM_ALLOW_HTTP=true to accept that"
            ),
        ));
    }
    Ok(url)
}

/// `localhost`, `127.x.x.x` or `[::1]`, with or without a port.
fn is_loopback(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn check_slack_id(var: &str, id: &str, expected: &str) -> Result<(), ConfigError> {
    let ok = id.len() >= 3 && id.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(invalid(var, format!("{id:?} is not {expected}")))
    }
}

fn parse_bool(var: &str, value: Option<String>) -> Result<bool, ConfigError> {
    match value.as_deref().map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) => match v.as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(invalid(var, format!("{v:?} is not true or false"))),
        },
    }
}

fn parse_number(
    var: &str,
    value: Option<String>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(text) = value else {
        return Ok(default);
    };
    let n: u64 = text.trim().parse().map_err(|_| invalid(var, format!("{text:?} is not a whole number")))?;
    if n < min || n > max {
        return Err(invalid(var, format!("{n} is outside {min}..={max}")));
    }
    Ok(n)
}

/// A list variable: items separated by commas, white space around them ignored. Any other
/// separator (a space, `;`, `|`) is an error: read as one item it would silently match nothing,
/// and "protect nothing" is not what anyone wrote.
fn split_list(var: &str, value: Option<&str>) -> Result<Vec<String>, ConfigError> {
    let mut items = Vec::new();
    for item in value.unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if item.contains(|c: char| c.is_whitespace() || c == ';' || c == '|') {
            return Err(invalid(
                var,
                format!("{item:?}: items are separated by commas only (a,b,c); white space, ; and | are not separators"),
            ));
        }
        items.push(item.to_string());
    }
    Ok(items)
}

/// E-mails compare case-insensitively; Slack ids are upper-case.
fn normalize_exclude(entry: &str) -> String {
    if entry.contains('@') {
        entry.to_lowercase()
    } else {
        entry.to_ascii_uppercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Vec<(String, String)> {
        [
            ("SLACK_BOT_TOKEN", "xoxb-test-token"),
            ("SLACK_IM_SYSTEM", "dev"),
            ("SLACK_IM_TARGET_URL", "http://127.0.0.1:9/"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn with(extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut vars = base();
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Config::from_vars(vars)
    }

    #[test]
    fn defaults_apply_when_only_the_required_variables_are_set() {
        let c = with(&[]).unwrap();
        assert_eq!(c.system, "dev");
        assert_eq!(c.target_url, "http://127.0.0.1:9");
        assert_eq!(c.slack_url, DEFAULT_SLACK_URL);
        assert_eq!(c.concurrency, 4);
        assert_eq!(c.timeout, Duration::from_secs(30));
        assert!(!c.dry_run && !c.include_guests);
        assert_eq!(c.templates_root, PathBuf::from("templates"));
    }

    #[test]
    fn a_missing_required_variable_is_named() {
        let vars = base().into_iter().filter(|(k, _)| k != "SLACK_IM_SYSTEM");
        let err = Config::from_vars(vars).unwrap_err();
        assert!(err.to_string().starts_with("SLACK_IM_SYSTEM is not set"), "{err}");
        let vars = base().into_iter().filter(|(k, _)| k != "SLACK_BOT_TOKEN");
        assert!(Config::from_vars(vars).unwrap_err().to_string().contains("SLACK_BOT_TOKEN"));
    }

    #[test]
    fn a_misspelled_variable_is_an_error_with_a_suggestion() {
        let err = with(&[("SLACK_IM_DRYRUN", "true")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SLACK_IM_DRYRUN is not a slack-im variable (did you mean SLACK_IM_DRY_RUN?)"
        );
    }

    #[test]
    fn malformed_values_name_the_variable() {
        for (var, value) in [
            ("SLACK_IM_CONCURRENCY", "four"),
            ("SLACK_IM_CONCURRENCY", "0"),
            ("SLACK_IM_TIMEOUT_SECS", "-1"),
            ("SLACK_IM_DRY_RUN", "maybe"),
            ("SLACK_IM_TARGET_URL", "dev.example.com"),
            ("SLACK_IM_CHANNEL", "#general"),
            ("SLACK_IM_EMAIL_DOMAINS", "example"),
            ("SLACK_IM_SYSTEM", "../etc"),
            ("SLACK_IM_VAR_role", "x"),
            ("SLACK_IM_PROTECT", "a b"),
            ("SLACK_IM_EXCLUDE", "a@x.example;b@x.example"),
            ("SLACK_IM_SLACK_URL", "http://slack.example.com/api/"),
            ("SLACK_IM_TARGET_URL", "https://ops:pw@dev.example.com"),
            ("SLACK_IM_SECRET_PASSWORD", "12345"),
            ("SLACK_IM_DEADLINE_SECS", "0"),
            ("SLACK_IM_READ_LIMIT", "lots"),
        ] {
            let err = with(&[(var, value)]).unwrap_err().to_string();
            assert!(err.starts_with(var), "{var}={value}: {err}");
        }
    }

    #[test]
    fn vars_and_secrets_are_lower_cased_and_secrets_stay_wrapped() {
        let c =
            with(&[("SLACK_IM_VAR_ROLE_GROUP", "AGENT"), ("SLACK_IM_SECRET_TARGET_TOKEN", "s3cr3t-value")])
                .unwrap();
        assert_eq!(c.vars["role_group"], "AGENT");
        assert_eq!(c.secrets["target_token"].expose(), "s3cr3t-value");
        let debug = format!("{c:?}");
        assert!(!debug.contains("s3cr3t-value") && !debug.contains("xoxb-test-token"), "{debug}");
    }

    #[test]
    fn secrets_can_come_from_files_and_not_twice() {
        let dir = std::env::temp_dir().join(format!("slack-im-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "from-a-file\n").unwrap();
        let path = file.to_str().unwrap();
        let c = with(&[("SLACK_IM_SECRET_TARGET_TOKEN_FILE", path)]).unwrap();
        assert_eq!(c.secrets["target_token"].expose(), "from-a-file");
        let err = with(&[("SLACK_IM_SECRET_TARGET_TOKEN_FILE", path), ("SLACK_IM_SECRET_TARGET_TOKEN", "x")])
            .unwrap_err();
        assert!(matches!(err, ConfigError::Conflict { .. }), "{err}");
        let err = with(&[("SLACK_IM_SECRET_X_FILE", "/nonexistent/x")]).unwrap_err().to_string();
        assert!(err.starts_with("SLACK_IM_SECRET_X_FILE names the file /nonexistent/x"), "{err}");
    }

    #[test]
    fn plain_http_is_for_loopback_unless_allowed() {
        for url in ["http://127.0.0.1:8080", "http://localhost/", "http://[::1]:9", "http://127.9.9.9"] {
            assert!(with(&[("SLACK_IM_TARGET_URL", url)]).is_ok(), "{url}");
        }
        for url in
            ["http://10.0.0.1", "http://localhost.example.com", "http://[::2]:9", "http://127.0.0.1.nip.io"]
        {
            assert!(with(&[("SLACK_IM_TARGET_URL", url)]).is_err(), "{url}");
        }
        let c =
            with(&[("SLACK_IM_TARGET_URL", "http://dev.internal"), ("SLACK_IM_ALLOW_HTTP", "true")]).unwrap();
        assert_eq!(c.target_url, "http://dev.internal");
    }

    #[test]
    fn credentials_in_a_url_are_refused_and_not_echoed() {
        let err = with(&[("SLACK_IM_TARGET_URL", "https://ops:hunter2@dev.example.com")]).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        // An @ after the host is a path, not credentials.
        assert!(with(&[("SLACK_IM_TARGET_URL", "https://dev.example.com/@team")]).is_ok());
    }

    #[test]
    fn confirmed_emails_are_required_unless_switched_off() {
        assert!(with(&[]).unwrap().require_confirmed_email);
        assert!(!with(&[("SLACK_IM_REQUIRE_CONFIRMED_EMAIL", "false")]).unwrap().require_confirmed_email);
        assert!(
            with(&[("SLACK_IM_REQUIRE_CONFIRMED_EMAIL", "true")])
                .unwrap()
                .filter(None)
                .require_confirmed_email
        );
        let err = with(&[("SLACK_IM_REQUIRE_CONFIRMED_EMAIL", "sometimes")]).unwrap_err().to_string();
        assert!(err.starts_with("SLACK_IM_REQUIRE_CONFIRMED_EMAIL is invalid"), "{err}");
    }

    #[test]
    fn empty_values_count_as_unset() {
        let c = with(&[("SLACK_IM_CHANNEL", ""), ("SLACK_IM_CONCURRENCY", "")]).unwrap();
        assert_eq!(c.channel, None);
        assert_eq!(c.concurrency, 4);
    }

    #[test]
    fn lists_are_trimmed_and_normalised() {
        let c = with(&[
            ("SLACK_IM_EMAIL_DOMAINS", " Acme.example , @other.example"),
            ("SLACK_IM_EXCLUDE", "Bob@Acme.example, u0abc"),
            ("SLACK_IM_PROTECT", "Admin"),
        ])
        .unwrap();
        assert_eq!(c.email_domains, ["acme.example", "other.example"]);
        assert_eq!(c.exclude, ["bob@acme.example", "U0ABC"]);
        assert_eq!(c.protect, ["admin"]);
    }
}
