//! Turns the environment into one validated [`Config`]: every variable of the contract, checked once,
//! with errors that name the variable at fault and secrets wrapped before anything can print them.
//!
//! Each variable is written once, in the `variables!` table below: its name, what it holds (which
//! fixes how envy deserializes it, its default and its range) and its help line. The table becomes
//! the `Env` struct envy fills, and [`VARIABLES`], which `--help` prints and the unknown-variable
//! check reads. What depends on more than one variable (plain `http://` needs
//! `SLACK_IM_ALLOW_HTTP`) or is not a syntax (a Slack id, a folder name) is checked afterwards, one
//! small function per concern.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{Deserializer, Error as _, MapAccess, Visitor};
use serde::Deserialize;

use crate::eligibility::Filter;
use crate::secret::{redactable_len, Secret, MIN_SECRET_LEN};

/// Prefix of every slack-im variable (besides the bot token, `SSL_CERT_FILE` and `RUST_LOG`).
pub const PREFIX: &str = "SLACK_IM_";
const VAR_PREFIX: &str = "SLACK_IM_VAR_";
const SECRET_PREFIX: &str = "SLACK_IM_SECRET_";

/// Declares every variable once. An entry is `NAME: kind => "help";`, or `NAME => "help";` for a
/// variable read elsewhere (`RUST_LOG`, by the logger) or a family of names (in quotes). The kind
/// gives the field's type in [`Env`], its default, and what `--help` adds to the help text:
///
/// | kind | field | unset | help adds |
/// |---|---|---|---|
/// | `text`, `path`, `secret` | `Option<String>`, `Option<PathBuf>`, `Option<Token>` | `None` | |
/// | `text(default "d")`, `path(default "d"; "note")` | `String`, `PathBuf` | `d` | ` (default: d; note)` |
/// | `flag` | [`Flag`] | false | ` (default false)` |
/// | `flag(default true)` | [`Flag`] | true | ` (default true)` |
/// | `list` | [`List`] | empty | |
/// | `number(min..=max)` | `Option<Bounded>` | `None` | |
/// | `number(min..=max, default d)` | [`Bounded`] | `d` | `, min to max (default d)` |
macro_rules! variables {
    ($($name:tt $(: $kind:ident $(($($arg:tt)*))?)? => $help:literal;)*) => {
        /// The variables as envy reads them: one field per variable, named as the variable is.
        #[allow(non_snake_case)]
        struct Env {
            $($($name: var_type!($kind $(($($arg)*))?),)?)*
        }

        /// What `#[derive(Deserialize)]` would write, but matching names regardless of case: envy
        /// lower-cases the names it is given, and serde cannot rename a field to lower case.
        impl<'de> Deserialize<'de> for Env {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct EnvVisitor;
                impl<'de> Visitor<'de> for EnvVisitor {
                    type Value = Env;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("slack-im variables")
                    }
                    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Env, M::Error> {
                        let mut env = Env::default();
                        while let Some(key) = map.next_key::<String>()? {
                            $($(if key.eq_ignore_ascii_case(var_field!($name $kind)) {
                                env.$name = map.next_value()?;
                                continue;
                            })?)*
                            return Err(M::Error::unknown_field(&key, FIELDS));
                        }
                        Ok(env)
                    }
                }
                d.deserialize_map(EnvVisitor)
            }
        }

        impl Default for Env {
            fn default() -> Self {
                Env { $($($name: var_default!($kind $(($($arg)*))?),)?)* }
            }
        }

        /// The names [`Env`] has a field for: the variables handed to envy.
        const FIELDS: &[&str] = &[$($(var_field!($name $kind),)?)*];

        /// Every variable slack-im reads, with the line `--help` prints for it.
        pub const VARIABLES: &[(&str, &str)] =
            &[$((var_name!($name), var_help!($help $(, $kind $(($($arg)*))?)?)),)*];
    };
}

macro_rules! var_type {
    (secret) => { Option<Token> };
    (text) => { Option<String> };
    (text(default $d:literal)) => { String };
    (path) => { Option<PathBuf> };
    (path(default $d:literal $(; $note:literal)?)) => { PathBuf };
    (flag) => { Flag };
    (flag(default true)) => { Flag };
    (list) => { List };
    (number($min:literal ..= $max:literal)) => { Option<Bounded<$min, $max>> };
    (number($min:literal ..= $max:literal, default $d:literal)) => { Bounded<$min, $max> };
}

macro_rules! var_default {
    (text(default $d:literal)) => {
        String::from($d)
    };
    (path(default $d:literal $(; $note:literal)?)) => {
        PathBuf::from($d)
    };
    (flag) => {
        Flag(false)
    };
    (flag(default true)) => {
        Flag(true)
    };
    (list) => {
        List::default()
    };
    (number($min:literal ..= $max:literal, default $d:literal)) => {
        Bounded($d)
    };
    ($($unset:tt)*) => {
        None
    };
}

macro_rules! var_help {
    ($help:literal, text(default $d:literal)) => { concat!($help, " (default: ", $d, ")") };
    ($help:literal, path(default $d:literal $(; $note:literal)?)) => {
        concat!($help, " (default: ", $d, $("; ", $note,)? ")")
    };
    ($help:literal, flag) => { concat!($help, " (default false)") };
    ($help:literal, flag(default true)) => { concat!($help, " (default true)") };
    ($help:literal, number($min:literal ..= $max:literal, default $d:literal)) => {
        concat!($help, ", ", $min, " to ", $max, " (default ", $d, ")")
    };
    ($help:literal $($plain:tt)*) => { $help };
}

macro_rules! var_name {
    ($name:ident) => {
        stringify!($name)
    };
    ($name:literal) => {
        $name
    };
}

macro_rules! var_field {
    ($name:ident $kind:ident) => {
        stringify!($name)
    };
}

/// A field of [`Env`] with its variable's name, for the checks that name it in their errors.
macro_rules! named {
    ($env:ident . $field:ident) => {
        (stringify!($field), $env.$field)
    };
}

variables! {
    SLACK_BOT_TOKEN: secret => "bot token (xoxb-...) with users:read and users:read.email";
    SLACK_BOT_TOKEN_FILE: text => "file holding the bot token (Docker/Kubernetes secrets)";
    SLACK_IM_SYSTEM: text => "required: the system(s) to sync, folders under the templates root (a,b,c: one Slack read)";
    SLACK_IM_TARGET_URL: text => "base URL of the system's API (default: \"url\" in its system.json)";
    SLACK_IM_TEMPLATES: path(default "templates"; "/templates in the image") => "templates root";
    SLACK_IM_SLACK_URL: text(default "https://slack.com/api/") => "Slack API base";
    SLACK_IM_SLACK_TEAM_ID: text => "workspace id, for Enterprise Grid org-level tokens";
    SLACK_IM_CHANNEL: text => "only members of this channel id (needs channels:read; groups:read if private)";
    SLACK_IM_INCLUDE_GUESTS: flag => "true: also sync guests";
    SLACK_IM_REQUIRE_CONFIRMED_EMAIL: flag(default true)
        => "false: also sync members whose e-mail Slack marks unconfirmed (single sign-on workspaces)";
    SLACK_IM_EMAIL_DOMAINS: list => "comma list: only members with these e-mail domains";
    SLACK_IM_USERGROUPS: list
        => "comma list of user group handles (qa,cs-agents): only their members (needs usergroups:read)";
    SLACK_IM_EXCLUDE: list => "comma list of e-mails or Slack ids never synced";
    SLACK_IM_PROTECT: list => "comma list of target keys never updated or deactivated";
    SLACK_IM_ALLOW_HTTP: flag => "true: allow plain http:// to hosts other than loopback";
    SLACK_IM_DRY_RUN: flag => "true: read and plan only, the same as `slack-im plan`";
    SLACK_IM_MAX_DEACTIVATE: number(0 ..= 4_294_967_295)
        => "most deactivations one run may make (default max(3, 10% of managed))";
    SLACK_IM_CONCURRENCY: number(1 ..= 64, default 4) => "parallel target writes";
    SLACK_IM_TIMEOUT_SECS: number(1 ..= 600, default 30) => "per HTTP request";
    SLACK_IM_DEADLINE_SECS: number(1 ..= 86_400, default 3600) => "the whole run, checked between requests";
    SLACK_IM_RETRY_BUDGET: number(0 ..= 100_000, default 100)
        => "retries the whole run may make, Slack and target together";
    SLACK_IM_READ_LIMIT: number(1 ..= 100_000_000, default 200_000)
        => "most members or accounts one read may return";
    SLACK_IM_REPORT_DIR: path => "where summary.json, summary.md and junit.xml go (unset: none)";
    SLACK_IM_NOTIFY_CHANNEL: text => "post the run's summary to this channel id (needs chat:write)";
    SLACK_IM_RUN_ID: text => "an id of the caller's (a CI build), written back as run_id in summary.json";
    SLACK_IM_MEMBERS_FILE: path => "read the members from this file (`slack-im export`) instead of Slack";
    SLACK_IM_MEMBERS_MAX_AGE: text(default "24h") => "oldest members file accepted: 90m, 24h, 2d or seconds";
    "SLACK_IM_VAR_<NAME>" => "exposed to templates as vars.<name> (lower-cased)";
    "SLACK_IM_SECRET_<NAME>" => "exposed to templates as secrets.<name>; redacted everywhere";
    "SLACK_IM_SECRET_<NAME>_FILE" => "the same, read from a file";
    "<VARIABLE>__<SYSTEM>" => "TARGET_URL, SECRET_*, VAR_*, EMAIL_DOMAINS, USERGROUPS, PROTECT, MAX_DEACTIVATE for one system only";
    SSL_CERT_FILE: path => "PEM bundle of extra CAs to trust (a private CA), besides Mozilla's roots";
    RUST_LOG => "log level: error, warn, info (default), debug";
}

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub system: String,
    /// Without a trailing slash; template paths start with one. `None`: `system.json`'s `url`.
    pub target_url: Option<String>,
    /// `SLACK_IM_ALLOW_HTTP`: plain `http://` to hosts other than loopback is accepted.
    pub allow_http: bool,
    pub templates_root: PathBuf,
    /// With a trailing slash; method names are appended.
    pub slack_url: String,
    /// `None` only with a members file and no Slack post: then nothing talks to Slack.
    pub slack_token: Option<Secret<String>>,
    pub slack_team_id: Option<String>,
    pub channel: Option<String>,
    pub include_guests: bool,
    /// `SLACK_IM_REQUIRE_CONFIRMED_EMAIL`: skip members whose e-mail is unconfirmed.
    pub require_confirmed_email: bool,
    /// Lower-case.
    pub email_domains: Vec<String>,
    /// `SLACK_IM_USERGROUPS`: user group handles, lower-case, without `@`; empty: no scope.
    pub usergroups: Vec<String>,
    /// The variable `usergroups` came from (`SLACK_IM_USERGROUPS__SALES_DEMO`), for its errors.
    pub usergroups_var: String,
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
    /// `SLACK_IM_MEMBERS_FILE`: the members come from this file, not from Slack.
    pub members_file: Option<PathBuf>,
    /// `SLACK_IM_MEMBERS_MAX_AGE`: an older members file is refused.
    pub members_max_age: Duration,
    /// `SLACK_IM_VAR_ROLE_GROUP=x` becomes `role_group -> x`.
    pub vars: BTreeMap<String, String>,
    /// `SLACK_IM_SECRET_TARGET_TOKEN=x` becomes `target_token -> x`.
    pub secrets: BTreeMap<String, Secret<String>>,
    /// `SSL_CERT_FILE`: extra CAs to trust.
    pub ca_file: Option<PathBuf>,
}

/// A configuration problem. Every message names the variable and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset (or empty).
    #[error("{var} is not set: {hint}")]
    Missing { var: String, hint: &'static str },
    /// A variable's value is malformed or out of range.
    #[error("{var} is invalid: {problem}")]
    Invalid { var: String, problem: String },
    /// A `SLACK_IM_*` variable slack-im does not read: a typo, most likely.
    #[error("{var} is not a slack-im variable ({})", did_you_mean(.suggestion))]
    Unknown { var: String, suggestion: Option<String> },
    /// Two variables that give the same value.
    #[error("{a} and {b} are both set: set only one")]
    Conflict { a: String, b: String },
    /// A variable names a file that cannot supply its value.
    #[error("{var} names the file {path}, which cannot be read: {problem}")]
    File { var: String, path: String, problem: String },
}

impl ConfigError {
    /// The error, naming the suffixed variable a value came from rather than its base name.
    fn named_as(mut self, overlaid: &BTreeMap<String, (String, String)>) -> ConfigError {
        let var = match &mut self {
            ConfigError::Missing { var, .. }
            | ConfigError::Invalid { var, .. }
            | ConfigError::Unknown { var, .. }
            | ConfigError::File { var, .. } => var,
            ConfigError::Conflict { b, .. } => b,
        };
        if let Some((original, _)) = overlaid.get(var.as_str()) {
            *var = original.clone();
        }
        self
    }
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!("did you mean {s}?"),
        None => "see `slack-im --help` for the list".into(),
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        let vars =
            std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        Config::from_vars(vars)
    }

    /// Reads the given variables as if they were the environment, for the first system named
    /// (tests use this).
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Config, ConfigError> {
        let mut all = Config::all_from_vars(vars)?;
        Ok(all.remove(0))
    }

    /// Reads the process environment: one [`Config`] per system of `SLACK_IM_SYSTEM`.
    pub fn all_from_env() -> Result<Vec<Config>, ConfigError> {
        let vars =
            std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        Config::all_from_vars(vars)
    }

    /// One [`Config`] per system of `SLACK_IM_SYSTEM` (`a,b,c`): each reads the unsuffixed
    /// variables with its own `__<SYSTEM>` values laid over them.
    pub fn all_from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Vec<Config>, ConfigError> {
        // The last value of a repeated variable wins, as in a shell; empty counts as unset.
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in vars {
            if value.is_empty() {
                env.remove(&name);
            } else {
                env.insert(name, value);
            }
        }
        let systems = system_names(env.get("SLACK_IM_SYSTEM"))?;
        let (shared, per_system) = split_suffixed(env, &systems)?;
        systems
            .iter()
            .map(|system| {
                let mut own = shared.clone();
                own.insert("SLACK_IM_SYSTEM".into(), system.clone());
                let overlaid = per_system.get(system).cloned().unwrap_or_default();
                for (base, (_, value)) in &overlaid {
                    own.insert(base.clone(), value.clone());
                }
                let mut config = Config::parse_one(own).map_err(|e| e.named_as(&overlaid))?;
                if let Some((name, _)) = overlaid.get("SLACK_IM_USERGROUPS") {
                    config.usergroups_var = name.clone();
                }
                Ok(config)
            })
            .collect()
    }

    fn parse_one(vars: impl IntoIterator<Item = (String, String)>) -> Result<Config, ConfigError> {
        let sorted = Sorted::from_vars(vars)?;
        read_env(sorted.plain)?.into_config(sorted.vars, sorted.secrets)
    }

    /// Every secret of the run, for the [`crate::secret::Redactor`].
    pub fn all_secrets(&self) -> Vec<&Secret<String>> {
        self.slack_token.iter().chain(self.secrets.values()).collect()
    }

    /// Who gets an account, as configured; `channel_members` are the members of `SLACK_IM_CHANNEL`
    /// when it is set.
    /// `usergroup_members` those of the groups of `SLACK_IM_USERGROUPS` when it is set.
    pub fn filter(
        &self,
        channel_members: Option<HashSet<String>>,
        usergroup_members: Option<HashSet<String>>,
    ) -> Filter {
        Filter {
            include_guests: self.include_guests,
            email_domains: self.email_domains.clone(),
            exclude: self.exclude.clone(),
            channel_members,
            usergroup_members,
            require_confirmed_email: self.require_confirmed_email,
        }
    }
}

/// The environment sorted by reader: the variables of [`Env`] for envy, and the two template
/// families, whose names are not known in advance.
#[derive(Default)]
struct Sorted {
    plain: BTreeMap<String, String>,
    vars: BTreeMap<String, String>,
    /// By template name: the variable it came from, and its value.
    secrets: BTreeMap<String, (String, Secret<String>)>,
}

impl Sorted {
    fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Sorted, ConfigError> {
        // The last value of a repeated variable wins, as in a shell.
        let mut sorted = Sorted::default();
        for (name, value) in vars {
            // An empty value counts as unset: CI systems pass empty parameters as empty variables.
            if value.is_empty() {
                continue;
            }
            if let Some(rest) = name.strip_prefix(VAR_PREFIX) {
                sorted.vars.insert(template_name(&name, rest)?, value);
            } else if let Some(rest) = name.strip_prefix(SECRET_PREFIX) {
                let (key, secret) = match rest.strip_suffix("_FILE") {
                    Some(base) => (template_name(&name, base)?, read_secret_file(&name, &value)?),
                    None => (template_name(&name, rest)?, value),
                };
                if let Some((other, _)) = sorted.secrets.get(&key) {
                    return Err(ConfigError::Conflict { a: other.clone(), b: name });
                }
                sorted.secrets.insert(key, (name, Secret::new(secret)));
            } else if FIELDS.contains(&name.as_str()) {
                sorted.plain.insert(name, value);
            } else if name.starts_with(PREFIX) {
                return Err(unknown(name));
            }
        }
        Ok(sorted)
    }
}

/// envy maps the variables onto [`Env`]; the deserializers below check each value's syntax.
fn read_env(plain: BTreeMap<String, String>) -> Result<Env, ConfigError> {
    envy::from_iter(plain.clone()).map_err(|whole| {
        // envy's errors do not say which variable failed: read each one alone to find it.
        plain
            .into_iter()
            .find_map(|(name, value)| {
                let alone = envy::from_iter::<_, Env>([(name.clone(), value)]);
                alone.err().map(|e| invalid(&name, e.to_string()))
            })
            .unwrap_or_else(|| invalid("SLACK_IM_*", whole.to_string()))
    })
}

impl Env {
    /// The checks that need more than one value's syntax, and the conversion into [`Config`].
    fn into_config(
        self,
        vars: BTreeMap<String, String>,
        secrets: BTreeMap<String, (String, Secret<String>)>,
    ) -> Result<Config, ConfigError> {
        // With a members file and no Slack post, nothing talks to Slack: the token may be left out.
        let needs_token = self.SLACK_IM_MEMBERS_FILE.is_none() || self.SLACK_IM_NOTIFY_CHANNEL.is_some();
        let slack_token =
            bot_token(named!(self.SLACK_BOT_TOKEN), named!(self.SLACK_BOT_TOKEN_FILE), needs_token)?;
        let members_max_age = age(named!(self.SLACK_IM_MEMBERS_MAX_AGE))?;
        let secrets = check_secrets(secrets)?;
        let allow_http = self.SLACK_IM_ALLOW_HTTP.0;
        let system = system_name(named!(self.SLACK_IM_SYSTEM))?;
        let target_url = match self.SLACK_IM_TARGET_URL {
            Some(url) => Some(check_target_url("SLACK_IM_TARGET_URL", &url, allow_http)?),
            None => None,
        };
        let slack_url = slack_url(named!(self.SLACK_IM_SLACK_URL), allow_http)?;
        Ok(Config {
            system,
            target_url,
            allow_http,
            templates_root: self.SLACK_IM_TEMPLATES,
            slack_url,
            slack_token,
            slack_team_id: slack_id(named!(self.SLACK_IM_SLACK_TEAM_ID), TEAM_ID)?,
            channel: slack_id(named!(self.SLACK_IM_CHANNEL), CHANNEL_ID)?,
            include_guests: self.SLACK_IM_INCLUDE_GUESTS.0,
            require_confirmed_email: self.SLACK_IM_REQUIRE_CONFIRMED_EMAIL.0,
            email_domains: email_domains(named!(self.SLACK_IM_EMAIL_DOMAINS))?,
            usergroups: self
                .SLACK_IM_USERGROUPS
                .0
                .iter()
                .map(|h| h.trim_start_matches('@').to_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
            usergroups_var: "SLACK_IM_USERGROUPS".into(),
            exclude: self.SLACK_IM_EXCLUDE.0.iter().map(|e| normalize_exclude(e)).collect(),
            protect: self.SLACK_IM_PROTECT.0.iter().map(|k| k.to_lowercase()).collect(),
            dry_run: self.SLACK_IM_DRY_RUN.0,
            max_deactivate: self.SLACK_IM_MAX_DEACTIVATE.map(|n| n.0 as usize),
            concurrency: self.SLACK_IM_CONCURRENCY.0 as usize,
            timeout: Duration::from_secs(self.SLACK_IM_TIMEOUT_SECS.0),
            deadline: Duration::from_secs(self.SLACK_IM_DEADLINE_SECS.0),
            // The range (at most 100000) fits.
            retry_budget: self.SLACK_IM_RETRY_BUDGET.0 as u32,
            read_limit: self.SLACK_IM_READ_LIMIT.0 as usize,
            report_dir: self.SLACK_IM_REPORT_DIR,
            notify_channel: slack_id(named!(self.SLACK_IM_NOTIFY_CHANNEL), CHANNEL_ID)?,
            run_id: run_id(named!(self.SLACK_IM_RUN_ID))?,
            members_file: self.SLACK_IM_MEMBERS_FILE,
            members_max_age,
            vars,
            secrets,
            ca_file: self.SSL_CERT_FILE,
        })
    }
}

fn invalid(var: &str, problem: String) -> ConfigError {
    ConfigError::Invalid { var: var.to_string(), problem }
}

fn missing(var: &str, hint: &'static str) -> ConfigError {
    ConfigError::Missing { var: var.to_string(), hint }
}

// ---- Value syntax: the deserializers envy runs, one per kind of variable. ----

/// A yes/no variable: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`, any case; unset is false.
struct Flag(bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = String::deserialize(d)?.trim().to_ascii_lowercase();
        match value.as_str() {
            "true" | "1" | "yes" | "on" => Ok(Flag(true)),
            "false" | "0" | "no" | "off" => Ok(Flag(false)),
            _ => Err(D::Error::custom(format!("{value:?} is not true or false"))),
        }
    }
}

/// A whole number in `MIN..=MAX`.
struct Bounded<const MIN: u64, const MAX: u64>(u64);

impl<'de, const MIN: u64, const MAX: u64> Deserialize<'de> for Bounded<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let n: u64 =
            text.trim().parse().map_err(|_| D::Error::custom(format!("{text:?} is not a whole number")))?;
        if !(MIN..=MAX).contains(&n) {
            return Err(D::Error::custom(format!("{n} is outside {MIN}..={MAX}")));
        }
        Ok(Bounded(n))
    }
}

/// A list variable: items separated by commas, white space around them ignored. Any other
/// separator (a space, `;`, `|`) is an error: read as one item it would silently match nothing,
/// and "protect nothing" is not what anyone wrote.
#[derive(Default)]
struct List(Vec<String>);

impl<'de> Deserialize<'de> for List {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let mut items = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item.contains(|c: char| c.is_whitespace() || c == ';' || c == '|') {
                return Err(D::Error::custom(format!(
                    "{item:?}: items are separated by commas only (a,b,c); white space, ; and | are not separators"
                )));
            }
            items.push(item.to_string());
        }
        Ok(List(items))
    }
}

/// A secret variable's value, wrapped as soon as it is read.
struct Token(Secret<String>);

impl<'de> Deserialize<'de> for Token {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|t| Token(Secret::new(t)))
    }
}

// ---- Secrets ----

/// `SLACK_BOT_TOKEN` or the file `SLACK_BOT_TOKEN_FILE` names: exactly one of them.
fn bot_token(
    (var, token): (&str, Option<Token>),
    (file_var, file): (&str, Option<String>),
    required: bool,
) -> Result<Option<Secret<String>>, ConfigError> {
    let token = match (token, file) {
        (Some(_), Some(_)) => return Err(ConfigError::Conflict { a: var.into(), b: file_var.into() }),
        (Some(Token(t)), None) => t,
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

/// An age: `90m`, `24h`, `2d`, `30s` or plain seconds.
fn age((var, text): (&str, String)) -> Result<Duration, ConfigError> {
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

/// Every `SLACK_IM_SECRET_*` long enough to be redacted; keyed by template name.
fn check_secrets(
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

fn read_secret_file(var: &str, path: &str) -> Result<String, ConfigError> {
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
fn template_name(var: &str, rest: &str) -> Result<String, ConfigError> {
    if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') {
        return Err(invalid(
            var,
            "the name after the prefix must be upper-case letters, digits and _".into(),
        ));
    }
    Ok(rest.to_ascii_lowercase())
}

// ---- Systems and their suffixes ----

/// The variables that may carry `__<SYSTEM>`, by name or by prefix.
const PER_SYSTEM: &[&str] = &[
    "SLACK_IM_TARGET_URL",
    "SLACK_IM_EMAIL_DOMAINS",
    "SLACK_IM_USERGROUPS",
    "SLACK_IM_PROTECT",
    "SLACK_IM_MAX_DEACTIVATE",
];
const PER_SYSTEM_PREFIXES: &[&str] = &[VAR_PREFIX, SECRET_PREFIX];

/// The systems of `SLACK_IM_SYSTEM` (`a,b,c`), each a folder name, none twice.
fn system_names(value: Option<&String>) -> Result<Vec<String>, ConfigError> {
    let var = "SLACK_IM_SYSTEM";
    let Some(value) = value else {
        return Err(missing(var, "name the system to sync, a folder under the templates root (e.g. dev)"));
    };
    let mut names: Vec<String> = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let name = system_name((var, Some(name.to_string())))?;
        if names.contains(&name) {
            return Err(invalid(var, format!("{name:?} is named twice")));
        }
        names.push(name);
    }
    if names.is_empty() {
        return Err(missing(var, "name the system to sync, a folder under the templates root (e.g. dev)"));
    }
    Ok(names)
}

/// A system's suffix: its folder name upper-cased, `-` and `.` written `_` (`model-office` →
/// `MODEL_OFFICE`).
pub fn system_suffix(system: &str) -> String {
    system.to_ascii_uppercase().replace(['-', '.'], "_")
}

/// Unsuffixed variables, and per system its `__<SYSTEM>` ones by base name (with the name they
/// were given). A suffix for a system not being run is an error with a suggestion.
#[allow(clippy::type_complexity)]
fn split_suffixed(
    env: BTreeMap<String, String>,
    systems: &[String],
) -> Result<(BTreeMap<String, String>, BTreeMap<String, BTreeMap<String, (String, String)>>), ConfigError> {
    let mut shared = BTreeMap::new();
    let mut per_system: BTreeMap<String, BTreeMap<String, (String, String)>> = BTreeMap::new();
    for (name, value) in env {
        let Some((base, suffix)) = name.rsplit_once("__").filter(|(base, _)| is_per_system(base)) else {
            shared.insert(name, value);
            continue;
        };
        match systems.iter().find(|s| system_suffix(s) == suffix) {
            Some(system) => {
                per_system.entry(system.clone()).or_default().insert(base.to_string(), (name.clone(), value));
            }
            None => {
                let suggestion = systems
                    .iter()
                    .map(|s| {
                        (edit_distance(&system_suffix(s), suffix), format!("{base}__{}", system_suffix(s)))
                    })
                    .min()
                    .map(|(_, n)| n);
                return Err(ConfigError::Unknown { var: name, suggestion });
            }
        }
    }
    Ok((shared, per_system))
}

fn is_per_system(base: &str) -> bool {
    PER_SYSTEM.contains(&base)
        || PER_SYSTEM_PREFIXES.iter().any(|p| base.starts_with(p) && base.len() > p.len())
}

/// A folder under the templates root, and nothing that could leave it.
fn system_name((var, system): (&str, Option<String>)) -> Result<String, ConfigError> {
    let system = system.ok_or_else(|| {
        missing(var, "name the system to sync, a folder under the templates root (e.g. dev)")
    })?;
    if !system.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        || system.starts_with('.')
    {
        return Err(invalid(var, format!("{system:?} is not a folder name (letters, digits, - _ .)")));
    }
    Ok(system)
}

fn run_id((var, run_id): (&str, Option<String>)) -> Result<Option<String>, ConfigError> {
    let run_id = run_id.map(|r| r.trim().to_string());
    if let Some(r) = &run_id {
        if r.chars().count() > 200 || r.chars().any(char::is_control) {
            return Err(invalid(var, "at most 200 characters, no control characters".into()));
        }
    }
    Ok(run_id)
}

/// A `SLACK_IM_*` name that is not in [`VARIABLES`], with the closest one that is.
fn unknown(var: String) -> ConfigError {
    let suggestion = VARIABLES
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| n.starts_with(PREFIX) && !n.contains('<'))
        .map(|k| (edit_distance(k, &var), k))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, k)| k.to_string());
    ConfigError::Unknown { var, suggestion }
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

// ---- URLs ----

/// A target's base URL (from `var`, or from `system.json`'s `url`), without a trailing slash.
pub(crate) fn check_target_url(var: &str, url: &str, allow_http: bool) -> Result<String, ConfigError> {
    Ok(check_url(var, url, allow_http)?.trim_end_matches('/').to_string())
}

fn slack_url((var, url): (&str, String), allow_http: bool) -> Result<String, ConfigError> {
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

// ---- Slack ids ----

const CHANNEL_ID: &str = "a channel id like C0123ABCD (not a #name)";
const TEAM_ID: &str = "a workspace id like T0123ABCD";

fn slack_id((var, id): (&str, Option<String>), expected: &str) -> Result<Option<String>, ConfigError> {
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
fn email_domains((var, list): (&str, List)) -> Result<Vec<String>, ConfigError> {
    let domains: Vec<String> =
        list.0.iter().map(|d| d.trim_start_matches('@').to_ascii_lowercase()).collect();
    match domains.iter().find(|d| !d.contains('.') || d.contains('@') || d.contains(char::is_whitespace)) {
        Some(d) => Err(invalid(var, format!("{d:?} is not an e-mail domain like example.com"))),
        None => Ok(domains),
    }
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
        assert_eq!(c.target_url.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(c.slack_url, "https://slack.com/api/");
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
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
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
        assert_eq!(c.target_url.as_deref(), Some("http://dev.internal"));
    }

    #[test]
    fn credentials_in_a_url_are_refused_and_not_echoed() {
        let err = with(&[("SLACK_IM_TARGET_URL", "https://ops:hunter2@dev.example.com")]).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        // An @ after the host is a path, not credentials.
        assert!(with(&[("SLACK_IM_TARGET_URL", "https://dev.example.com/@team")]).is_ok());
    }

    #[test]
    fn several_systems_each_read_their_own_suffixed_values_over_the_shared_ones() {
        let vars = [
            ("SLACK_BOT_TOKEN", "xoxb-test-token"),
            ("SLACK_IM_SYSTEM", "dev, model-office,sales.demo"),
            ("SLACK_IM_TARGET_URL", "https://shared.example"),
            ("SLACK_IM_TARGET_URL__MODEL_OFFICE", "https://mo.example/"),
            ("SLACK_IM_SECRET_TARGET_TOKEN", "shared-token"),
            ("SLACK_IM_SECRET_TARGET_TOKEN__DEV", "dev-only-token"),
            ("SLACK_IM_VAR_ROLE__SALES_DEMO", "DEMO"),
            ("SLACK_IM_PROTECT__DEV", "admin"),
            ("SLACK_IM_MAX_DEACTIVATE__SALES_DEMO", "0"),
            ("SLACK_IM_USERGROUPS", "qa"),
            ("SLACK_IM_USERGROUPS__SALES_DEMO", "@Sales, solutions"),
        ];
        let all = Config::all_from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap();
        let by = |name: &str| all.iter().find(|c| c.system == name).unwrap();
        assert_eq!(
            all.iter().map(|c| c.system.as_str()).collect::<Vec<_>>(),
            ["dev", "model-office", "sales.demo"]
        );
        assert_eq!(by("model-office").target_url.as_deref(), Some("https://mo.example"));
        assert_eq!(by("dev").target_url.as_deref(), Some("https://shared.example"));
        assert_eq!(by("dev").secrets["target_token"].expose(), "dev-only-token");
        assert_eq!(by("model-office").secrets["target_token"].expose(), "shared-token");
        assert_eq!(by("sales.demo").vars.get("role").map(String::as_str), Some("DEMO"));
        assert!(!by("dev").vars.contains_key("role"));
        assert_eq!(by("dev").protect, ["admin"]);
        assert!(by("model-office").protect.is_empty());
        assert_eq!(by("sales.demo").max_deactivate, Some(0));
        assert_eq!(by("dev").usergroups, ["qa"]);
        assert_eq!(by("dev").usergroups_var, "SLACK_IM_USERGROUPS");
        assert_eq!(by("sales.demo").usergroups, ["sales", "solutions"]);
        assert_eq!(by("sales.demo").usergroups_var, "SLACK_IM_USERGROUPS__SALES_DEMO");
    }

    #[test]
    fn a_suffix_for_a_system_not_being_run_is_an_error_with_a_suggestion() {
        let err = with(&[("SLACK_IM_TARGET_URL__DEVV", "https://x.example")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SLACK_IM_TARGET_URL__DEVV is not a slack-im variable (did you mean SLACK_IM_TARGET_URL__DEV?)"
        );
        let err = with(&[("SLACK_IM_TARGET_URL__DEV", "ftp://x")]).unwrap_err();
        assert!(err.to_string().starts_with("SLACK_IM_TARGET_URL__DEV is invalid"), "{err}");
        let err = with(&[("SLACK_IM_SYSTEM", "dev,dev")]).unwrap_err();
        assert!(err.to_string().contains("named twice"), "{err}");
    }

    #[test]
    fn confirmed_emails_are_required_unless_switched_off() {
        assert!(with(&[]).unwrap().require_confirmed_email);
        assert!(!with(&[("SLACK_IM_REQUIRE_CONFIRMED_EMAIL", "false")]).unwrap().require_confirmed_email);
        assert!(
            with(&[("SLACK_IM_REQUIRE_CONFIRMED_EMAIL", "true")])
                .unwrap()
                .filter(None, None)
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

    #[test]
    fn errors_from_envy_name_the_variable_and_the_problem() {
        for (var, value, message) in [
            (
                "SLACK_IM_CONCURRENCY",
                "four",
                r#"SLACK_IM_CONCURRENCY is invalid: "four" is not a whole number"#,
            ),
            ("SLACK_IM_CONCURRENCY", "65", "SLACK_IM_CONCURRENCY is invalid: 65 is outside 1..=64"),
            ("SLACK_IM_READ_LIMIT", " 0 ", "SLACK_IM_READ_LIMIT is invalid: 0 is outside 1..=100000000"),
            ("SLACK_IM_DRY_RUN", " Maybe", r#"SLACK_IM_DRY_RUN is invalid: "maybe" is not true or false"#),
            (
                "SLACK_IM_PROTECT",
                "a, b c",
                r#"SLACK_IM_PROTECT is invalid: "b c": items are separated by commas only (a,b,c); white space, ; and | are not separators"#,
            ),
        ] {
            // A valid variable read alongside must not hide which one failed.
            let err = with(&[("SLACK_IM_TIMEOUT_SECS", "5"), (var, value)]).unwrap_err();
            assert_eq!(err.to_string(), message);
        }
    }

    #[test]
    fn flags_accept_every_spelling_of_yes_and_no() {
        for (value, expected) in [
            ("true", true),
            ("1", true),
            ("YES", true),
            ("on", true),
            ("False", false),
            ("0", false),
            ("no", false),
            ("off", false),
        ] {
            assert_eq!(with(&[("SLACK_IM_DRY_RUN", value)]).unwrap().dry_run, expected, "{value}");
        }
    }

    #[test]
    fn the_help_states_the_defaults_and_ranges_the_reader_applies() {
        let help = |name: &str| VARIABLES.iter().find(|(n, _)| *n == name).unwrap().1;
        assert_eq!(help("SLACK_IM_CONCURRENCY"), "parallel target writes, 1 to 64 (default 4)");
        assert_eq!(help("SLACK_IM_SLACK_URL"), "Slack API base (default: https://slack.com/api/)");
        assert_eq!(
            help("SLACK_IM_TEMPLATES"),
            "templates root (default: templates; /templates in the image)"
        );
        assert_eq!(
            help("SLACK_IM_DRY_RUN"),
            "true: read and plan only, the same as `slack-im plan` (default false)"
        );
        let c = with(&[]).unwrap();
        assert_eq!((c.concurrency, c.retry_budget, c.read_limit), (4, 100, 200_000));
        assert_eq!((c.timeout, c.deadline), (Duration::from_secs(30), Duration::from_secs(3600)));
        assert!(with(&[("SLACK_IM_RETRY_BUDGET", "0")]).is_ok());
        assert!(with(&[("SLACK_IM_RETRY_BUDGET", "100001")]).is_err());
    }

    /// Fails when a variable in `--help` is not read (setting it changes nothing and is no error),
    /// or when the reader reads a variable `--help` does not list.
    #[test]
    fn every_documented_variable_is_read_and_every_read_one_is_documented() {
        let documented: Vec<&str> = VARIABLES.iter().map(|(n, _)| *n).collect();
        for field in FIELDS {
            assert!(documented.contains(field), "{field} is read but not in VARIABLES");
        }
        let unset = format!("{:?}", with(&[]).unwrap());
        // One of these is invalid or different from the default for every kind of variable.
        let probes = ["not valid", "7", "https://probe.example/", "C0PROBE"];
        for name in documented {
            if name == "RUST_LOG" {
                continue; // read by the logger (main.rs), not by Config
            }
            let name =
                name.replace("<NAME>", "PROBE").replace("<VARIABLE>__<SYSTEM>", "SLACK_IM_PROTECT__DEV");
            let read = probes.iter().any(|value| match with(&[(&name, value)]) {
                Ok(c) => format!("{c:?}") != unset,
                Err(ConfigError::Unknown { .. }) => false,
                Err(e) => e.to_string().contains(&name),
            });
            assert!(read, "{name} is documented, but no value of it changes the configuration");
        }
    }
}
