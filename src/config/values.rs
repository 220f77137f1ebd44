//! Value parsers: the syntax of each kind of variable (a flag, a bounded number, a comma list) and
//! the checks of what a value means (a token's shape, a secret long enough to redact, a URL, a
//! Slack id, an e-mail domain, an age). Each takes the variable's name, so its error names it.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{invalid, missing, ConfigError};
use crate::secret::{redactable_len, Secret, MIN_SECRET_LEN};

// ---- Syntax: one parser per kind of variable; the error is the problem, without the name. ----

/// A yes/no variable: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`, any case.
pub(super) fn flag(text: &str) -> Result<bool, String> {
    let value = text.trim().to_ascii_lowercase();
    match value.as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("{value:?} is not true or false")),
    }
}

/// A whole number in `min..=max`.
pub(super) fn bounded(text: &str, min: u64, max: u64) -> Result<u64, String> {
    let n: u64 = text.trim().parse().map_err(|_| format!("{text:?} is not a whole number"))?;
    if !(min..=max).contains(&n) {
        return Err(format!("{n} is outside {min}..={max}"));
    }
    Ok(n)
}

/// A list variable: items separated by commas, white space around them ignored. Any other
/// separator (a space, `;`, `|`) is an error: read as one item it would silently match nothing,
/// and "protect nothing" is not what anyone wrote.
pub(super) fn list(text: &str) -> Result<Vec<String>, String> {
    let mut items = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if item.contains(|c: char| c.is_whitespace() || c == ';' || c == '|') {
            return Err(format!(
                "{item:?}: items are separated by commas only (a,b,c); white space, ; and | are not separators"
            ));
        }
        items.push(item.to_string());
    }
    Ok(items)
}

// ---- Secrets ----

/// `SLACK_BOT_TOKEN` or the file `SLACK_BOT_TOKEN_FILE` names: exactly one of them.
pub(super) fn bot_token(
    (var, token): (&str, Option<String>),
    (file_var, file): (&str, Option<String>),
    required: bool,
) -> Result<Option<Secret<String>>, ConfigError> {
    let token = match (token, file) {
        (Some(_), Some(_)) => return Err(ConfigError::Conflict { a: var.into(), b: file_var.into() }),
        (Some(t), None) => Secret::new(t),
        (None, Some(path)) => Secret::new(read_secret_file(file_var, &path)?),
        (None, None) if !required => return Ok(None),
        (None, None) => {
            return Err(missing(
                var,
                "set it (or SLACK_BOT_TOKEN_FILE) to a bot token with users:read and users:read.email",
            ))
        }
    };
    check_token_shape(var, &token)?;
    Ok(Some(token))
}

/// The members file's key: at least [`MEMBERS_KEY_MIN_LEN`] characters, from the variable or its
/// file.
pub(super) fn members_key(
    (var, key): (&str, Option<String>),
    (file_var, file): (&str, Option<String>),
) -> Result<Option<Secret<String>>, ConfigError> {
    let (key, named) = match (key, file) {
        (Some(_), Some(_)) => return Err(ConfigError::Conflict { a: var.into(), b: file_var.into() }),
        (Some(k), None) => (Secret::new(k), var),
        (None, Some(path)) => (Secret::new(read_secret_file(file_var, &path)?), file_var),
        (None, None) => return Ok(None),
    };
    if key.expose().chars().count() < MEMBERS_KEY_MIN_LEN {
        return Err(invalid(
            named,
            format!("the key must be at least {MEMBERS_KEY_MIN_LEN} characters (for example `openssl rand -hex 32`)"),
        ));
    }
    Ok(Some(key))
}

/// The shortest members key accepted.
pub(super) const MEMBERS_KEY_MIN_LEN: usize = 32;

/// `SLACK_IM_MEMBERS_UNSIGNED`: `allow`, or unset.
pub(super) fn members_unsigned((var, value): (&str, Option<String>)) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(false),
        Some("allow") => Ok(true),
        Some(other) => Err(invalid(var, format!("{other:?}: the only value is allow"))),
    }
}

/// `SLACK_IM_EXPORT_FIELDS`: `product` (the default) or `all`.
pub(super) fn export_all_fields((var, value): (&str, Option<String>)) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::trim) {
        None | Some("") | Some("product") => Ok(false),
        Some("all") => Ok(true),
        Some(other) => Err(invalid(var, format!("{other:?}: product (the default) or all"))),
    }
}

/// `SLACK_IM_NOTIFY_ON`: `always`, `changes` (the default) or `problems`, any case.
pub(super) fn notify_on((var, text): (&str, String)) -> Result<super::NotifyOn, ConfigError> {
    use super::NotifyOn;
    match text.trim().to_ascii_lowercase().as_str() {
        "always" => Ok(NotifyOn::Always),
        "changes" => Ok(NotifyOn::Changes),
        "problems" => Ok(NotifyOn::Problems),
        _ => Err(invalid(var, format!("{text:?}: always, changes (the default) or problems"))),
    }
}

/// An age: `90m`, `24h`, `2d`, `30s` or plain seconds.
pub(super) fn age((var, text): (&str, String)) -> Result<Duration, ConfigError> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let seconds_per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(invalid(var, format!("{text:?} is not an age like 90m, 24h or 2d"))),
    };
    let n: u64 =
        digits.parse().map_err(|_| invalid(var, format!("{text:?} is not an age like 90m, 24h or 2d")))?;
    Ok(Duration::from_secs(n.saturating_mul(seconds_per)))
}

pub(super) fn check_token_shape(var: &str, token: &Secret<String>) -> Result<(), ConfigError> {
    let t = token.expose();
    if t.trim() != t || t.contains(char::is_whitespace) {
        return Err(invalid(var, "it contains white space (copied with a line break?)".into()));
    }
    if !(t.starts_with("xox") || t.starts_with("xoxe.")) {
        return Err(invalid(var, "it does not look like a Slack token (xoxb-... or xoxp-...)".into()));
    }
    Ok(())
}

/// Every `SLACK_IM_SECRET_*` long enough to be redacted; keyed by template name.
pub(super) fn check_secrets(
    secrets: BTreeMap<String, (String, Secret<String>)>,
) -> Result<BTreeMap<String, Secret<String>>, ConfigError> {
    for (var, secret) in secrets.values() {
        if redactable_len(secret.expose()) < MIN_SECRET_LEN {
            return Err(invalid(
                var,
                format!(
                    "the value is too short to redact safely: a secret needs at least {MIN_SECRET_LEN} characters, or it could not be told apart from ordinary text in logs and reports"
                ),
            ));
        }
    }
    Ok(secrets.into_iter().map(|(k, (_, s))| (k, s)).collect())
}

pub(super) fn read_secret_file(var: &str, path: &str) -> Result<String, ConfigError> {
    let file_error =
        |problem: String| ConfigError::File { var: var.to_string(), path: path.to_string(), problem };
    let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
    // Files written by `echo` end with a newline that is not part of the secret.
    let value = text.trim_end_matches(['\n', '\r']).to_string();
    if value.is_empty() {
        return Err(file_error("the file is empty".into()));
    }
    Ok(value)
}

// ---- Names ----

/// The part after `SLACK_IM_VAR_` / `SLACK_IM_SECRET_`: upper-case letters, digits, underscores.
pub(super) fn template_name(var: &str, rest: &str) -> Result<String, ConfigError> {
    if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') {
        return Err(invalid(
            var,
            "the name after the prefix must be upper-case letters, digits and _".into(),
        ));
    }
    Ok(rest.to_ascii_lowercase())
}

pub(super) fn run_id((var, run_id): (&str, Option<String>)) -> Result<Option<String>, ConfigError> {
    let run_id = run_id.map(|r| r.trim().to_string());
    if let Some(r) = &run_id {
        if r.chars().count() > 200 || r.chars().any(char::is_control) {
            return Err(invalid(var, "at most 200 characters, no control characters".into()));
        }
    }
    Ok(run_id)
}

// ---- URLs ----

/// A target's base URL (from `var`, or from `system.json`'s `url`), without a trailing slash.
pub(crate) fn check_target_url(var: &str, url: &str, allow_http: bool) -> Result<String, ConfigError> {
    Ok(check_url(var, url, allow_http)?.trim_end_matches('/').to_string())
}

/// A URL's host and port as its server is reached: `host:port`, the host lower-case and without
/// a trailing dot, the port the scheme's default (443, 80) when none is written. Two URLs with the
/// same result reach the same server whatever their case and path.
pub(super) fn host_and_port(url: &str) -> String {
    let url = url.trim().to_ascii_lowercase();
    let (rest, default_port) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => (rest, "443"),
        (None, Some(rest)) => (rest, "80"),
        (None, None) => (url.as_str(), ""),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((host, after)) => (format!("[{host}]"), after.strip_prefix(':')),
            None => (authority.to_string(), None),
        },
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_string(), Some(port)),
            None => (authority.to_string(), None),
        },
    };
    let port = match port.filter(|p| !p.is_empty()) {
        // A port that is no number is kept as written: it then matches only itself.
        Some(port) => port.parse::<u16>().map_or(port.to_string(), |n| n.to_string()),
        None => default_port.to_string(),
    };
    format!("{}:{port}", host.strip_suffix('.').unwrap_or(&host))
}

pub(super) fn slack_url((var, url): (&str, String), allow_http: bool) -> Result<String, ConfigError> {
    let mut url = check_url(var, &url, allow_http)?.to_string();
    if !url.ends_with('/') {
        url.push('/');
    }
    Ok(url)
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
    if plain && !allow_http && !crate::http::is_loopback(authority) {
        return Err(invalid(
            var,
            format!(
                "{url:?} is plain http:// to a host that is not loopback: tokens would cross the network unencrypted; use https://, or set SLACK_IM_ALLOW_HTTP=true to accept that"
            ),
        ));
    }
    Ok(url)
}

// ---- Slack ids ----

pub(super) const CHANNEL_ID: &str = "a channel id like C0123ABCD (not a #name)";
pub(super) const TEAM_ID: &str = "a workspace id like T0123ABCD";

pub(super) fn slack_id(
    (var, id): (&str, Option<String>),
    expected: &str,
) -> Result<Option<String>, ConfigError> {
    let Some(id) = id.map(|i| i.trim().to_string()) else {
        return Ok(None);
    };
    if id.len() >= 3 && id.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) {
        Ok(Some(id))
    } else {
        Err(invalid(var, format!("{id:?} is not {expected}")))
    }
}

// ---- Lists ----

/// Lower-case domains, a leading `@` dropped.
pub(super) fn email_domains((var, list): (&str, Vec<String>)) -> Result<Vec<String>, ConfigError> {
    let domains: Vec<String> = list.iter().map(|d| d.trim_start_matches('@').to_ascii_lowercase()).collect();
    match domains.iter().find(|d| !d.contains('.') || d.contains('@') || d.contains(char::is_whitespace)) {
        Some(d) => Err(invalid(var, format!("{d:?} is not an e-mail domain like example.com"))),
        None => Ok(domains),
    }
}

/// E-mails compare case-insensitively; Slack ids are upper-case.
pub(super) fn normalize_exclude(entry: &str) -> String {
    if entry.contains('@') {
        entry.to_lowercase()
    } else {
        entry.to_ascii_uppercase()
    }
}
