//! Turns the environment into validated configurations: every variable of the contract, checked
//! once, with errors that name the variable at fault and secrets wrapped before anything can print
//! them.
//!
//! - `variables`: the table of every variable (name, kind, default, range, help), the one source of
//!   `--help`, of each value's syntax check and default, and of the unknown-variable check;
//! - `overlay`: several systems, and the `<VARIABLE>__<SYSTEM>` values laid over the shared ones
//!   (what may be suffixed is what a [`SystemConfig`] holds);
//! - `env`: the variables read by name, with envy, into the run's [`RunConfig`] and each system's
//!   [`SystemConfig`] (together a [`Config`]);
//! - `values`: the parsers and checks of each kind of value.
//!
//! What depends on more than one variable (plain `http://` needs `SLACK_IM_ALLOW_HTTP`) or is not a
//! syntax (a Slack id, a folder name) is checked after the syntax, one small function per concern.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::secret::Secret;

mod env;
mod overlay;
mod values;
mod variables;

use overlay::{split_suffixed, system_names};
use values::{read_secret_file, template_name};
use variables::{is_read_by_name, unknown};

pub(crate) use overlay::check_shared_url_host;
pub use overlay::system_suffix;
pub(crate) use values::check_target_url;
pub use variables::{Kind, Variable, PREFIX, VARIABLES};

const VAR_PREFIX: &str = "SLACK_IM_VAR_";
const SECRET_PREFIX: &str = "SLACK_IM_SECRET_";

/// Everything a run needs, validated: the settings of the whole run, and one [`SystemConfig`] per
/// system of `SLACK_IM_SYSTEM`, in its order.
#[derive(Debug, Clone)]
pub struct Config {
    pub run: RunConfig,
    pub systems: Vec<SystemConfig>,
}

/// The settings of the whole run, one value for every system: the variables that take no
/// `__<SYSTEM>` suffix (Slack, the members, the limits, the reports).
#[derive(Debug, Clone)]
pub struct RunConfig {
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
    /// Lower-case e-mails and upper-case Slack ids, as written.
    pub exclude: Vec<String>,
    pub dry_run: bool,
    pub concurrency: usize,
    pub timeout: Duration,
    /// The whole run's deadline (`SLACK_IM_DEADLINE_SECS`).
    pub deadline: Duration,
    /// Retries the whole run may make (`SLACK_IM_RETRY_BUDGET`).
    pub retry_budget: u32,
    /// Most members or accounts one read may return (`SLACK_IM_READ_LIMIT`).
    pub read_limit: usize,
    /// Most megabytes of pages one system's listing may read (`SLACK_IM_READ_MAX_MB`).
    pub read_max_mb: u64,
    /// `SLACK_IM_REPORT_DIR` as given; each system's folder is [`Config::report_dir`].
    pub report_dir: Option<PathBuf>,
    pub notify_channel: Option<String>,
    /// `SLACK_IM_NOTIFY_ON`: which runs post to `notify_channel`.
    pub notify_on: NotifyOn,
    /// `BUILD_URL` (Jenkins sets it in every build), as given: the Slack post links to it when it is
    /// an http(s) URL.
    pub build_url: Option<String>,
    /// `SLACK_IM_RUN_ID`: the caller's id for this run, echoed in `summary.json` so the caller can
    /// tell this run's report from a stale one.
    pub run_id: Option<String>,
    /// `SLACK_IM_MEMBERS_FILE`: the members come from this file, not from Slack.
    pub members_file: Option<PathBuf>,
    /// `SLACK_IM_MEMBERS_MAX_AGE`: an older members file is refused.
    pub members_max_age: Duration,
    /// `SLACK_IM_PLAN_MAX_AGE`: an older saved plan is refused by `sync --plan`.
    pub plan_max_age: Duration,
    /// `plan --out FILE` (the command line): the plan is saved there.
    pub plan_out: Option<PathBuf>,
    /// `sync --plan FILE` (the command line): only the actions of that saved plan are applied.
    pub approved_plan: Option<PathBuf>,
    /// `SLACK_IM_MEMBERS_KEY`: signs a members file on export, checks it on read.
    pub members_key: Option<Secret<String>>,
    /// `SLACK_IM_MEMBERS_UNSIGNED=allow`: a file without a signature is written and read, with a
    /// warning.
    pub members_unsigned: bool,
    /// `SLACK_IM_EXPORT_FIELDS=all`: export keeps each member's whole Slack object (for templates
    /// that read `user.slack` or `user.phone`), 2FA fields still left out.
    pub export_all_fields: bool,
    /// `SSL_CERT_FILE`: extra CAs the target clients trust (never the Slack client).
    pub ca_file: Option<PathBuf>,
    /// `SLACK_IM_SLACK_CA_FILE`: extra CAs the Slack client trusts (a TLS-inspecting proxy's).
    pub slack_ca_file: Option<PathBuf>,
}

/// Which runs post their summary to `SLACK_IM_NOTIFY_CHANNEL` (`SLACK_IM_NOTIFY_ON`), so that a
/// channel fed by a daily job hears of the runs that matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyOn {
    /// Every run (`sync` and `plan`; `check` never posts).
    Always,
    /// A problem, or a run that wrote or would write (the default).
    Changes,
    /// A run whose exit code is not 0, with a failed or withheld action, or with a warning.
    Problems,
}

impl NotifyOn {
    /// Its value of `SLACK_IM_NOTIFY_ON`.
    pub fn name(self) -> &'static str {
        match self {
            NotifyOn::Always => "always",
            NotifyOn::Changes => "changes",
            NotifyOn::Problems => "problems",
        }
    }

    /// Whether a run with (or without) a problem and a change posts.
    pub fn wants(self, problem: bool, change: bool) -> bool {
        match self {
            NotifyOn::Always => true,
            NotifyOn::Changes => problem || change,
            NotifyOn::Problems => problem,
        }
    }
}

/// One system's settings: its folder, and the variables that may be given for it alone as
/// `<VARIABLE>__<SYSTEM>` (the overlay's `PER_SYSTEM`, template variables and secrets).
#[derive(Debug, Clone)]
pub struct SystemConfig {
    pub system: String,
    /// Without a trailing slash; template paths start with one. `None`: `system.json`'s `url`.
    pub target_url: Option<String>,
    /// The variable `target_url` came from: the unsuffixed `SLACK_IM_TARGET_URL`, which must keep
    /// to the host of the folder's `url` ([`check_shared_url_host`]), or this system's own
    /// `SLACK_IM_TARGET_URL__<SYSTEM>`, which may point anywhere.
    pub target_url_var: String,
    /// Lower-case.
    pub email_domains: Vec<String>,
    /// `SLACK_IM_USERGROUPS`: user group handles, lower-case, without `@`; empty: no scope.
    pub usergroups: Vec<String>,
    /// The variable `usergroups` came from (`SLACK_IM_USERGROUPS__SALES_DEMO`), for its errors.
    pub usergroups_var: String,
    /// Lower-case target keys.
    pub protect: Vec<String>,
    pub max_deactivate: Option<usize>,
    pub max_reactivate: Option<usize>,
    /// `SLACK_IM_MAX_CREATE`: the most creates one run may make; `None`, no limit.
    pub max_create: Option<usize>,
    /// `SLACK_IM_DEACTIVATE_AFTER`: a member deactivated in Slack more recently than this (by
    /// Slack's `updated`) is a pending deactivation, not a write. Zero: at once.
    pub deactivate_after: Duration,
    /// `SLACK_IM_VAR_ROLE_GROUP=x` becomes `role_group -> x`.
    pub vars: BTreeMap<String, String>,
    /// `SLACK_IM_SECRET_TARGET_TOKEN=x` becomes `target_token -> x`.
    pub secrets: BTreeMap<String, Secret<String>>,
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

    /// Reads the given variables as if they were the environment: the run's settings, and one
    /// [`SystemConfig`] per system of `SLACK_IM_SYSTEM` (`a,b,c`), each read from the unsuffixed
    /// variables with its own `__<SYSTEM>` values laid over them.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Config, ConfigError> {
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
        let mut run = None;
        let systems = systems
            .iter()
            .map(|system| {
                let mut own = shared.clone();
                own.insert("SLACK_IM_SYSTEM".into(), system.clone());
                let overlaid = per_system.get(system).cloned().unwrap_or_default();
                for (base, (_, value)) in &overlaid {
                    own.insert(base.clone(), value.clone());
                }
                // The run-wide variables take no suffix: every system reads the same settings.
                let (settings, mut config) = Config::parse_one(own).map_err(|e| e.named_as(&overlaid))?;
                run.get_or_insert(settings);
                if let Some((name, _)) = overlaid.get("SLACK_IM_USERGROUPS") {
                    config.usergroups_var = name.clone();
                }
                if let Some((name, _)) = overlaid.get("SLACK_IM_TARGET_URL") {
                    config.target_url_var = name.clone();
                }
                Ok(config)
            })
            .collect::<Result<Vec<SystemConfig>, ConfigError>>()?;
        let run = run.unwrap_or_else(|| unreachable!("SLACK_IM_SYSTEM names at least one system"));
        Ok(Config { run, systems })
    }

    fn parse_one(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(RunConfig, SystemConfig), ConfigError> {
        let sorted = Sorted::from_vars(vars)?;
        env::read(sorted.plain, sorted.vars, sorted.secrets)
    }

    /// Every secret of the run, for the [`crate::secret::Redactor`].
    pub fn all_secrets(&self) -> Vec<&Secret<String>> {
        let systems = self.systems.iter().flat_map(|s| s.secrets.values());
        self.run.slack_token.iter().chain(&self.run.members_key).chain(systems).collect()
    }

    /// Where one system's reports go: `SLACK_IM_REPORT_DIR`, or with several systems
    /// `SLACK_IM_REPORT_DIR/<system>/`.
    pub fn report_dir(&self, system: &SystemConfig) -> Option<PathBuf> {
        let dir = self.run.report_dir.as_ref()?;
        Some(if self.systems.len() > 1 { dir.join(&system.system) } else { dir.clone() })
    }
}

/// The environment sorted by reader: the variables read by name (for envy), and the two template
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
            } else if is_read_by_name(&name) {
                sorted.plain.insert(name, value);
            } else if name.starts_with(PREFIX) {
                return Err(unknown(name));
            }
        }
        Ok(sorted)
    }
}

fn invalid(var: &str, problem: String) -> ConfigError {
    ConfigError::Invalid { var: var.to_string(), problem }
}

fn missing(var: &str, hint: &'static str) -> ConfigError {
    ConfigError::Missing { var: var.to_string(), hint }
}

#[cfg(test)]
mod tests;
