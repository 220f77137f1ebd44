//! The per-system overlay: `SLACK_IM_SYSTEM=a,b` names several systems, and a variable of
//! [`PER_SYSTEM`] (or a template variable or secret) written `<VARIABLE>__<SYSTEM>` gives that
//! system its own value over the shared one. A suffix for a system not being run is an error.

use std::collections::BTreeMap;

use super::values::host_and_port;
use super::variables::edit_distance;
use super::{invalid, missing, ConfigError, SystemConfig, SECRET_PREFIX, VAR_PREFIX};

/// The variables that may carry `__<SYSTEM>`, by name or by prefix: their values are fields of
/// [`super::SystemConfig`]; every other variable is one value for the whole run, in
/// [`super::RunConfig`].
pub(super) const PER_SYSTEM: &[&str] = &[
    "SLACK_IM_TARGET_URL",
    "SLACK_IM_EMAIL_DOMAINS",
    "SLACK_IM_USERGROUPS",
    "SLACK_IM_PROTECT",
    "SLACK_IM_MAX_DEACTIVATE",
    "SLACK_IM_MAX_REACTIVATE",
    "SLACK_IM_MAX_CREATE",
    "SLACK_IM_DEACTIVATE_AFTER",
];
const PER_SYSTEM_PREFIXES: &[&str] = &[VAR_PREFIX, SECRET_PREFIX];

/// The systems of `SLACK_IM_SYSTEM` (`a,b,c`), each a folder name, none twice.
pub(super) fn system_names(value: Option<&String>) -> Result<Vec<String>, ConfigError> {
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
        if let Some(other) = names.iter().find(|other| system_suffix(other) == system_suffix(&name)) {
            let suffix = system_suffix(&name);
            return Err(invalid(
                var,
                format!(
                    "{other:?} and {name:?} share the suffix {suffix}: every <VARIABLE>__{suffix}, a URL or a token, would serve both; rename one folder"
                ),
            ));
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
pub(super) fn split_suffixed(
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
    if systems.len() > 1 && shared.contains_key(SHARED_URL) {
        let suffixed: Vec<String> =
            systems.iter().map(|s| format!("{SHARED_URL}__{}", system_suffix(s))).collect();
        return Err(invalid(
            SHARED_URL,
            format!(
                "with several systems ({}) one URL would send every system's token to the same server: set {} (or each folder's \"url\") instead",
                systems.join(", "),
                suffixed.join(", ")
            ),
        ));
    }
    Ok((shared, per_system))
}

/// The one per-system variable that may not be shared: each system's server is its own.
const SHARED_URL: &str = "SLACK_IM_TARGET_URL";

/// The unsuffixed `SLACK_IM_TARGET_URL` is whatever the job or Jenkins global set, often for
/// another system than the one a run names: it may move a system only within the host (and port)
/// of its folder's `url`, or the system's token would go to another system's server. Its own
/// `SLACK_IM_TARGET_URL__<SYSTEM>` names the system and may point anywhere. Exempt: a folder
/// without `url` (the variable is then simply its URL), and a loopback host (the fakes, tests and
/// tunnels: a server on the run's own machine). `folder` says where the folder's `url` is written.
pub(crate) fn check_shared_url_host(
    config: &SystemConfig,
    folder_url: Option<&str>,
    folder: &str,
) -> Result<(), ConfigError> {
    let (Some(url), Some(folder_url)) = (config.target_url.as_deref(), folder_url) else {
        return Ok(());
    };
    if config.target_url_var != SHARED_URL || crate::http::is_loopback(url) {
        return Ok(());
    }
    let (given, own) = (host_and_port(url), host_and_port(folder_url));
    if given == own {
        return Ok(());
    }
    let system = &config.system;
    Err(invalid(
        SHARED_URL,
        format!(
            "it points at {given}, but {system}'s folder names {own} ({folder}): the unsuffixed variable, set for another system perhaps, would send {system}'s token to another server; set {SHARED_URL}__{} to send {system} there, or change the folder's \"url\" (only a loopback host may stand in for any folder's)",
            system_suffix(system)
        ),
    ))
}

fn is_per_system(base: &str) -> bool {
    PER_SYSTEM.contains(&base)
        || PER_SYSTEM_PREFIXES.iter().any(|p| base.starts_with(p) && base.len() > p.len())
}

/// A folder under the templates root, and nothing that could leave it.
pub(super) fn system_name((var, system): (&str, Option<String>)) -> Result<String, ConfigError> {
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
