//! Saved plans, so that what is applied is exactly what a person reviewed: `slack-im plan --out
//! FILE` writes each action with a fingerprint of its inputs, and `slack-im sync --plan FILE`
//! applies, after reading Slack and the target again, only the actions whose fingerprints it finds
//! again (withheld ones included: approving the plan approves them). An approved action the world
//! no longer gives is dropped and reported; an action the file does not hold is held back. Nothing
//! is ever altered.
//!
//! An action's fingerprint covers what decides it: its kind, key, member, server id and rename,
//! the body it sends (the passwords `new_password()` makes left out: they are new on every render)
//! and, for an existing account, the account as listed. The file also holds digests of the system
//! folder and of the configuration (secrets left out): a plan computed from other templates or
//! other settings is refused as a whole, before anything is read.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::action::{Action, ActionKind, FieldChange};
use crate::config::{RunConfig, SystemConfig};
use crate::files;
use crate::matching::Listing;
use crate::plan::Plan;
use crate::secret::{Redactor, Secret};

/// The file format's name and version; another one is refused.
pub const FORMAT: &str = "slack-im-plan/1";
/// The largest plan file read (50,000 actions take about 25 MB).
const MAX_BYTES: u64 = 256 * 1024 * 1024;
/// A plan made later than this past the run's clock is refused (clocks of two machines drift).
const CLOCK_SKEW_SECS: i64 = 300;
/// What a password `new_password()` made is replaced by in the fingerprinted body.
const NEW_PASSWORD: &str = "(new password)";
/// The reason a fresh action the saved plan does not hold is held back.
pub const NOT_APPROVED: &str = "not in the approved plan";

/// A saved plan: `plan --out` writes it, `sync --plan` reads it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedPlan {
    pub format: String,
    /// The slack-im that made it: fingerprints are its own, so another version refuses the file.
    pub slack_im_version: String,
    /// When it was made (RFC 3339, for people; the age is taken from `made_at_unix`).
    pub made_at: String,
    pub made_at_unix: i64,
    #[serde(default)]
    pub run_id: Option<String>,
    /// The workspace the members came from, when named.
    #[serde(default)]
    pub slack_team_id: Option<String>,
    pub systems: Vec<SavedSystem>,
}

/// One system's part of a saved plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedSystem {
    pub system: String,
    /// SHA-256 of the system folder's files (names and contents).
    pub folder_digest: String,
    /// SHA-256 of the settings that decide the plan ([`configuration_digest`]).
    pub configuration_digest: String,
    /// SHA-256 of the listing as read (every account, in order): what the plan started from.
    pub listing_digest: String,
    pub members_read: usize,
    pub eligible_members: usize,
    pub actions: Vec<SavedAction>,
}

/// One reviewed action.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedAction {
    pub kind: ActionKind,
    pub key: String,
    #[serde(default)]
    pub slack_id: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub renamed_from: Option<String>,
    /// SHA-256 of the body it sends (passwords left out), when it sends one.
    #[serde(default)]
    pub body_digest: Option<String>,
    #[serde(default)]
    pub diff: Vec<FieldChange>,
    #[serde(default)]
    pub adds: Vec<String>,
    /// Why a guard held it back when the plan was made: applying the plan approves it.
    #[serde(default)]
    pub withheld: Option<String>,
    /// Why the plan refuses it (never sent, whatever the approval).
    #[serde(default)]
    pub refused: Option<String>,
    /// SHA-256 of its inputs: the same action is found again only by this.
    pub fingerprint: String,
}

/// A plan file that cannot be applied, and why; nothing is read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanFileError {
    #[error("{file} (--plan) cannot be read: {problem}")]
    Unreadable { file: String, problem: String },
    #[error("{file} (--plan) is not a saved plan ({problem}): give the file `slack-im plan --out` wrote")]
    NotAPlan { file: String, problem: String },
    #[error("{file} (--plan) was made by slack-im {made_by}, this is {this}: make the plan again with this version")]
    OtherVersion { file: String, made_by: String, this: String },
    #[error("{file} (--plan) was made at {made_at}, {age} ago, longer than SLACK_IM_PLAN_MAX_AGE ({max}): review a new plan")]
    TooOld { file: String, made_at: String, age: String, max: String },
    #[error(
        "{file} (--plan) was made at {made_at}, in the future of this machine's clock: check both clocks"
    )]
    FromTheFuture { file: String, made_at: String },
    #[error("{file} (--plan) is a plan of {planned}, and this run is of {running} (SLACK_IM_SYSTEM): apply it to the systems it was made for")]
    OtherSystems { file: String, planned: String, running: String },
    #[error(
        "{file} (--plan) was computed from another {what} of system {system} ({detail}): review a new plan"
    )]
    Changed { file: String, system: String, what: &'static str, detail: String },
    #[error("the plan cannot be saved to {file} (--out): {problem}")]
    Unwritable { file: String, problem: String },
}

/// What applying a saved plan did to one system's fresh plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// When the applied plan was made.
    pub made_at: String,
    /// Actions of the saved plan found again and let through (withheld ones included).
    pub approved: usize,
    /// Actions of the saved plan the run no longer gives: not applied.
    pub dropped: Vec<Dropped>,
    /// Actions of this run the saved plan does not hold: held back.
    pub held_back: usize,
}

/// An approved action that was not applied, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub kind: ActionKind,
    pub key: String,
    pub reason: String,
}

impl SavedPlan {
    /// The plan to save, made now by this slack-im: `systems` are the parts [`SavedSystem::new`]
    /// made of each system's reading, in the run's order.
    pub fn new(run: &RunConfig, team: Option<String>, systems: Vec<SavedSystem>) -> SavedPlan {
        SavedPlan {
            format: FORMAT.into(),
            slack_im_version: env!("CARGO_PKG_VERSION").into(),
            made_at: crate::clock::now_rfc3339(),
            made_at_unix: crate::clock::now_unix(),
            run_id: run.run_id.clone(),
            slack_team_id: team,
            systems,
        }
    }

    /// Writes it (redacted, like every output; the owner's only: it names people), replacing
    /// the file whole.
    pub fn write(&self, path: &Path, redactor: &Redactor) -> Result<(), PlanFileError> {
        let text = serde_json::to_string_pretty(self).expect("a plan serialises");
        files::replace(path, &(redactor.redact(&text) + "\n"), files::PRIVATE).map_err(|e| {
            PlanFileError::Unwritable { file: path.display().to_string(), problem: e.to_string() }
        })
    }

    /// Reads a saved plan and checks everything that needs no read: format, version, age,
    /// systems, folders and configuration.
    pub fn read(path: &Path, run: &RunConfig, configs: &[SystemConfig]) -> Result<SavedPlan, PlanFileError> {
        let file = path.display().to_string();
        let unreadable = |problem: String| PlanFileError::Unreadable { file: file.clone(), problem };
        let bytes = files::read_regular(path, MAX_BYTES).map_err(|refused| match refused {
            files::Refused::Io(e) => unreadable(e.to_string()),
            files::Refused::NotRegular => unreadable("it is not a regular file".into()),
            files::Refused::TooLarge => unreadable(format!("it is larger than {} MB", MAX_BYTES >> 20)),
        })?;
        let not_a_plan = |problem: String| PlanFileError::NotAPlan { file: file.clone(), problem };
        let format = serde_json::from_slice::<Value>(&bytes).map_err(|e| not_a_plan(e.to_string()))?;
        if format.get("format").and_then(Value::as_str) != Some(FORMAT) {
            return Err(not_a_plan(format!("its format is not {FORMAT}")));
        }
        let plan: SavedPlan = serde_json::from_value(format).map_err(|e| not_a_plan(e.to_string()))?;
        if plan.slack_im_version != env!("CARGO_PKG_VERSION") {
            return Err(PlanFileError::OtherVersion {
                file,
                made_by: plan.slack_im_version,
                this: env!("CARGO_PKG_VERSION").into(),
            });
        }
        plan.check_age(&file, crate::clock::now_unix(), run.plan_max_age)?;
        plan.check_systems(&file, run, configs)?;
        Ok(plan)
    }

    fn check_age(&self, file: &str, now: i64, max: Duration) -> Result<(), PlanFileError> {
        let age = now.saturating_sub(self.made_at_unix);
        let made_at = crate::clock::rfc3339_of(self.made_at_unix);
        if age < -CLOCK_SKEW_SECS {
            return Err(PlanFileError::FromTheFuture { file: file.into(), made_at });
        }
        if age > i64::try_from(max.as_secs()).unwrap_or(i64::MAX) {
            let age = age_text(age.unsigned_abs());
            let max = age_text(max.as_secs());
            return Err(PlanFileError::TooOld { file: file.into(), made_at, age, max });
        }
        Ok(())
    }

    fn check_systems(
        &self,
        file: &str,
        run: &RunConfig,
        configs: &[SystemConfig],
    ) -> Result<(), PlanFileError> {
        let mut planned: Vec<&str> = self.systems.iter().map(|s| s.system.as_str()).collect();
        let mut running: Vec<&str> = configs.iter().map(|c| c.system.as_str()).collect();
        planned.sort_unstable();
        running.sort_unstable();
        if planned != running {
            return Err(PlanFileError::OtherSystems {
                file: file.into(),
                planned: planned.join(", "),
                running: running.join(", "),
            });
        }
        for config in configs {
            let saved = self.system(&config.system).expect("the same systems");
            let changed = |what, detail: String| PlanFileError::Changed {
                file: file.into(),
                system: config.system.clone(),
                what,
                detail,
            };
            let folder = run.templates_root.join(&config.system);
            let digest = folder_digest(&folder).map_err(|e| changed("templates folder", e))?;
            if digest != saved.folder_digest {
                return Err(changed("templates folder", format!("{} changed since", folder.display())));
            }
            if configuration_digest(run, config) != saved.configuration_digest {
                let detail = "a SLACK_IM_ variable that decides the plan differs".to_string();
                return Err(changed("configuration", detail));
            }
        }
        Ok(())
    }

    /// The saved part of one system.
    pub fn system(&self, name: &str) -> Option<&SavedSystem> {
        self.systems.iter().find(|s| s.system == name)
    }
}

impl SavedSystem {
    /// One system's part of the plan to save.
    pub fn new(
        run: &RunConfig,
        config: &SystemConfig,
        plan: &Plan,
        listing: &Listing,
        (members_read, eligible_members): (usize, usize),
    ) -> Result<SavedSystem, PlanFileError> {
        let folder = run.templates_root.join(&config.system);
        let unwritable = |problem: String| PlanFileError::Unwritable {
            file: run.plan_out.as_deref().map(|p| p.display().to_string()).unwrap_or_default(),
            problem,
        };
        let actions = plan.actions.iter().map(|a| saved_action(a, listing)).collect();
        Ok(SavedSystem {
            system: config.system.clone(),
            folder_digest: folder_digest(&folder).map_err(unwritable)?,
            configuration_digest: configuration_digest(run, config),
            listing_digest: listing_digest(listing),
            members_read,
            eligible_members,
            actions,
        })
    }

    /// Lets through the actions of `plan` this saved plan holds (clearing a guard's hold on them),
    /// holds back the others, and says which saved actions the run no longer gives.
    pub fn approve(&self, made_at: &str, plan: &mut Plan, listing: &Listing) -> Approval {
        let mut saved: HashMap<&str, (usize, bool)> =
            self.actions.iter().enumerate().map(|(i, a)| (a.fingerprint.as_str(), (i, false))).collect();
        let mut approval =
            Approval { made_at: made_at.into(), approved: 0, dropped: Vec::new(), held_back: 0 };
        let mut fresh_keys = HashSet::new();
        for action in &mut plan.actions {
            fresh_keys.insert((action.kind, crate::target::normalize_key(&action.key)));
            match saved.get_mut(fingerprint(action, listing).as_str()) {
                Some((_, found)) if !*found => {
                    *found = true;
                    action.withheld = None;
                    approval.approved += 1;
                }
                _ if action.refused.is_some() => {}
                _ => {
                    action.withheld = Some(format!("{NOT_APPROVED} (made at {made_at}): review a new plan"));
                    approval.held_back += 1;
                }
            }
        }
        let mut missing: Vec<usize> = saved.values().filter(|(_, found)| !found).map(|(i, _)| *i).collect();
        missing.sort_unstable();
        approval.dropped = missing
            .into_iter()
            .map(|i| &self.actions[i])
            .map(|a| {
                let again = fresh_keys.contains(&(a.kind, crate::target::normalize_key(&a.key)));
                let reason = match again {
                    true => "its member or account changed since the plan: what it would send now was not reviewed",
                    false => "the run no longer plans it: its member or account changed since the plan",
                };
                Dropped { kind: a.kind, key: a.key.clone(), reason: reason.into() }
            })
            .collect();
        approval
    }
}

fn saved_action(action: &Action, listing: &Listing) -> SavedAction {
    SavedAction {
        kind: action.kind,
        key: action.key.clone(),
        slack_id: action.slack_id.clone(),
        id: action.id.clone(),
        renamed_from: action.renamed_from.clone(),
        body_digest: action.body.as_ref().map(|body| sha256(masked(body, &action.hidden).to_string())),
        diff: action.diff.clone(),
        adds: action.added.clone(),
        withheld: action.withheld.clone(),
        refused: action.refused.clone(),
        fingerprint: fingerprint(action, listing),
    }
}

/// What decides an action, hashed: kind, key, member, server id, rename, the body (passwords
/// masked) and the listed account it writes to.
fn fingerprint(action: &Action, listing: &Listing) -> String {
    let inputs = serde_json::json!({
        "kind": action.kind,
        "key": action.key,
        "slack_id": action.slack_id,
        "id": action.id,
        "renamed_from": action.renamed_from,
        "refused": action.refused.is_some(),
        "body": action.body.as_ref().map(|body| masked(body, &action.hidden)),
        "account": action.account.map(|i| listing.json(i)),
    });
    sha256(inputs.to_string())
}

/// `body` with every password `new_password()` made replaced by the same placeholder.
fn masked(body: &Value, hidden: &[Secret<String>]) -> Value {
    match body {
        Value::String(text) if !hidden.is_empty() => Value::String(
            hidden
                .iter()
                .fold(text.clone(), |text, password| text.replace(password.expose().as_str(), NEW_PASSWORD)),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| masked(v, hidden)).collect()),
        Value::Object(fields) => {
            Value::Object(fields.iter().map(|(k, v)| (k.clone(), masked(v, hidden))).collect())
        }
        other => other.clone(),
    }
}

/// SHA-256 of every regular file of the system folder, by name.
fn folder_digest(folder: &Path) -> Result<String, String> {
    let cannot = |e: std::io::Error| format!("{} cannot be read: {e}", folder.display());
    let mut names: Vec<_> = std::fs::read_dir(folder)
        .map_err(cannot)?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .map(|entry| entry.file_name())
        .collect();
    names.sort();
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for name in names {
        let bytes = std::fs::read(folder.join(&name)).map_err(cannot)?;
        for part in [name.as_encoded_bytes(), &bytes] {
            context.update(&(part.len() as u64).to_be_bytes());
            context.update(part);
        }
    }
    Ok(hex(context.finish().as_ref()))
}

/// SHA-256 of the settings that decide which actions the plan makes, secrets left out (their
/// names stay: a secret added or removed changes what the templates can render). The guards are
/// not among them: approving a plan approves what they withheld.
pub fn configuration_digest(run: &RunConfig, config: &SystemConfig) -> String {
    let settings = serde_json::json!({
        "target_url": config.target_url,
        "email_domains": config.email_domains,
        "usergroups": config.usergroups,
        "protect": config.protect,
        "deactivate_after_secs": config.deactivate_after.as_secs(),
        "vars": config.vars,
        "secrets": config.secrets.keys().collect::<Vec<_>>(),
        "include_guests": run.include_guests,
        "require_confirmed_email": run.require_confirmed_email,
        "exclude": run.exclude,
        "channel": run.channel,
        "slack_team_id": run.slack_team_id,
    });
    sha256(settings.to_string())
}

fn listing_digest(listing: &Listing) -> String {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for i in 0..listing.accounts().len() {
        let json = listing.json(i);
        context.update(&(json.len() as u64).to_be_bytes());
        context.update(json.as_bytes());
    }
    hex(context.finish().as_ref())
}

fn sha256(text: String) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `3d 4h`, `2h 5m`, `40s`: an age for people.
fn age_text(secs: u64) -> String {
    match secs {
        s if s >= 86_400 => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(kind: ActionKind, key: &str, body: Option<Value>) -> Action {
        Action::new(kind, key.into(), Some("U1".into()), body)
    }

    #[test]
    fn a_password_made_anew_does_not_change_the_fingerprint_and_anything_else_does() {
        let listing = Listing::default();
        let mut first =
            action(ActionKind::Create, "ann", Some(serde_json::json!({"name": "Ann", "pw": "Xq7pLm2Rt9"})));
        first.hidden = vec![Secret::new("Xq7pLm2Rt9".to_string())];
        let mut again =
            action(ActionKind::Create, "ann", Some(serde_json::json!({"name": "Ann", "pw": "Bz4kWn8Yc3"})));
        again.hidden = vec![Secret::new("Bz4kWn8Yc3".to_string())];
        assert_eq!(fingerprint(&first, &listing), fingerprint(&again, &listing));
        let renamed =
            action(ActionKind::Create, "ann", Some(serde_json::json!({"name": "Ann K", "pw": "x"})));
        assert_ne!(fingerprint(&first, &listing), fingerprint(&renamed, &listing));
        let other = action(ActionKind::Create, "bo", first.body.clone());
        assert_ne!(fingerprint(&first, &listing), fingerprint(&other, &listing));
    }

    #[test]
    fn approval_lets_through_what_it_holds_holds_back_the_rest_and_names_what_is_gone() {
        let listing = Listing::default();
        let mut kept = action(ActionKind::Deactivate, "left", None);
        kept.withheld = Some("guard".into());
        let gone = action(ActionKind::Create, "gone", Some(serde_json::json!({"name": "G"})));
        let saved = SavedSystem {
            system: "dev".into(),
            folder_digest: String::new(),
            configuration_digest: String::new(),
            listing_digest: String::new(),
            members_read: 0,
            eligible_members: 0,
            actions: vec![saved_action(&kept, &listing), saved_action(&gone, &listing)],
        };
        let new = action(ActionKind::Create, "new", Some(serde_json::json!({"name": "N"})));
        let mut plan = Plan { actions: vec![kept.clone(), new], ..Plan::default() };
        let approval = saved.approve("then", &mut plan, &listing);
        assert_eq!(plan.actions[0].withheld, None, "approved, guard and all");
        assert!(plan.actions[1].withheld.as_deref().unwrap().starts_with(NOT_APPROVED));
        assert_eq!((approval.approved, approval.held_back), (1, 1));
        assert_eq!(approval.dropped.len(), 1);
        assert_eq!(
            (approval.dropped[0].kind, approval.dropped[0].key.as_str()),
            (ActionKind::Create, "gone")
        );
    }

    #[test]
    fn a_plan_older_than_the_limit_or_from_the_future_is_refused() {
        let plan = SavedPlan {
            format: FORMAT.into(),
            slack_im_version: env!("CARGO_PKG_VERSION").into(),
            made_at: String::new(),
            made_at_unix: 1_000_000,
            run_id: None,
            slack_team_id: None,
            systems: vec![],
        };
        let day = Duration::from_secs(86_400);
        assert!(plan.check_age("f", 1_000_000 + 86_400, day).is_ok());
        let old = plan.check_age("f", 1_000_000 + 86_401, day).unwrap_err();
        assert!(
            old.to_string().contains("1d 0h ago") && old.to_string().contains("SLACK_IM_PLAN_MAX_AGE"),
            "{old}"
        );
        assert!(matches!(
            plan.check_age("f", 1_000_000 - 301, day),
            Err(PlanFileError::FromTheFuture { .. })
        ));
    }
}
