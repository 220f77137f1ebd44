//! Where a run's members come from: Slack itself, or a file `slack-im export` wrote from Slack, for
//! agents that cannot reach Slack (network zones, Jenkins fan-out). A file is read under the same
//! rule as Slack: complete or failed, within the same limits; it must be a regular file, signed with
//! the run's `SLACK_IM_MEMBERS_KEY` (HMAC-SHA256 over everything before the signature), from the
//! configured workspace, and recent enough. Export keeps only the member fields slack-im reads
//! unless told otherwise. The user groups come from the same place as the members.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::config::RunConfig;
use crate::connect::slack_client;
use crate::error::Error;
use crate::files;
use crate::http::Budget;
use crate::members::{Member, UserGroup, UserGroups};
use crate::secret::Secret;
use crate::slack::{ReadStats, SlackClient, SlackError};

/// The format a members file declares; a file of another version is refused.
pub const FORMAT: &str = "slack-im-members/1";

/// A file of members with only the fields slack-im reads ([`PRODUCT_FIELDS`], [`PROFILE_FIELDS`]).
const FIELDS_PRODUCT: &str = "product";
/// A file of whole member objects, 2FA fields left out (`SLACK_IM_EXPORT_FIELDS=all`).
const FIELDS_ALL: &str = "all";

/// The member fields [`Member`] reads, the only ones a `product` export keeps; `profile` keeps
/// [`PROFILE_FIELDS`]. Kept beside the model: a field added to `Member` is added here.
const PRODUCT_FIELDS: &[&str] = &[
    "id",
    "team_id",
    "name",
    "deleted",
    "is_bot",
    "is_workflow_bot",
    "is_restricted",
    "is_ultra_restricted",
    "is_invited_user",
    "is_email_confirmed",
    "is_stranger",
    "is_admin",
    "is_owner",
    "real_name",
    "tz",
    "updated",
    "enterprise_user",
    "profile",
];
/// The profile fields [`crate::members::Profile`] reads but `phone` (personal, and read only by
/// templates that say `user.phone`).
const PROFILE_FIELDS: &[&str] =
    &["email", "real_name", "display_name", "first_name", "last_name", "title", "bot_id", "api_app_id"];
/// Never exported: the member's 2FA status says whose account is easier to take over.
const NEVER_EXPORTED: &[&str] = &["has_2fa", "two_factor_type"];

/// What export writes of one member: its [`PRODUCT_FIELDS`] (with `profile` cut to
/// [`PROFILE_FIELDS`]), or with `all` every field but [`NEVER_EXPORTED`]. Values are kept as Slack sent them, so a
/// member that does not read from Slack does not read from the file either.
fn exported_member(raw: &RawValue, all: bool) -> String {
    let Ok(serde_json::Value::Object(mut member)) = serde_json::from_str::<serde_json::Value>(raw.get())
    else {
        return raw.get().to_string();
    };
    if all {
        member.retain(|k, _| !NEVER_EXPORTED.contains(&k.as_str()));
    } else {
        member.retain(|k, _| PRODUCT_FIELDS.contains(&k.as_str()));
        if let Some(serde_json::Value::Object(profile)) = member.get_mut("profile") {
            profile.retain(|k, _| PROFILE_FIELDS.contains(&k.as_str()));
        }
        // Grid: the org-wide id matches an anchor; the rest of the object is not read.
        if let Some(serde_json::Value::Object(grid)) = member.get_mut("enterprise_user") {
            grid.retain(|k, _| k == "id");
        }
    }
    serde_json::Value::Object(member).to_string()
}

/// The members of a run: read from Slack page by page, or from a members file.
pub enum Source {
    Slack(SlackClient),
    /// The file, read and checked once when the run starts.
    File {
        path: PathBuf,
        file: MembersFile,
    },
}

impl Source {
    /// The file of `SLACK_IM_MEMBERS_FILE`, else Slack.
    pub fn open(config: &RunConfig) -> Result<Source, Error> {
        match &config.members_file {
            Some(path) => Ok(Source::File { path: path.clone(), file: read_file(path, config)? }),
            None => {
                Ok(Source::Slack(slack_client(config, Budget::new(config.deadline, config.retry_budget))?))
            }
        }
    }

    /// The Slack workspace the members come from: the file's `team_id` (checked against
    /// `SLACK_IM_SLACK_TEAM_ID` when that is set), or for Slack the configured one; `None` when
    /// nobody named it.
    pub fn team_id(&self) -> Option<String> {
        match self {
            Source::Slack(slack) => slack.team_id().map(str::to_string),
            Source::File { file, .. } => file.team_id.as_deref().map(|t| crate::http::clean(t, 40)),
        }
    }

    /// For a system whose templates read `user.slack` or `user.phone`: a members file exported with
    /// only the product's fields lacks them, and would render them empty; a failed read naming
    /// the fix.
    pub fn require_all_fields(&self, system: &str) -> Result<(), Error> {
        match self {
            Source::File { path, file } if file.fields.as_deref() == Some(FIELDS_PRODUCT) => Err(file_error(
                path,
                &format!(
                    "it holds only the fields slack-im reads (no phone, no custom fields), and the templates of {system} read user.slack, user.phone or the whole user: export it again with SLACK_IM_EXPORT_FIELDS=all"
                ),
            )),
            _ => Ok(()),
        }
    }

    /// HTTP requests sent to Slack (none for a file).
    pub fn requests(&self) -> usize {
        match self {
            Source::Slack(slack) => slack.requests(),
            Source::File { .. } => 0,
        }
    }

    /// The members of `SLACK_IM_CHANNEL`: from Slack, or as the file recorded them.
    pub fn channel_members(&self, channel: &str) -> Result<HashSet<String>, Error> {
        match self {
            Source::Slack(slack) => Ok(slack.channel_members(channel)?),
            Source::File { path, file } => match &file.channel {
                Some(c) if c.id == channel => Ok(c.members.iter().cloned().collect()),
                _ => Err(file_error(
                    path,
                    &format!("it was exported without SLACK_IM_CHANNEL={channel}: export it again with that channel"),
                )),
            },
        }
    }

    /// The enabled user groups with their members: from Slack, or as the file recorded them (a
    /// file exported without them fails the run that needs them, naming the fix).
    pub fn usergroups(&self) -> Result<UserGroups, Error> {
        let groups = match self {
            Source::Slack(slack) => slack.usergroups()?,
            Source::File { path, file } => file.usergroups.clone().ok_or_else(|| {
                file_error(
                    path,
                    "it was exported without user groups (its token lacked usergroups:read), and this run needs them (SLACK_IM_USERGROUPS, or user.groups in a template): add usergroups:read to the Slack app and export it again",
                )
            })?,
        };
        Ok(UserGroups::new(groups))
    }

    /// Every member, deduplicated by id, in the order Slack listed them.
    pub fn for_each_member<E: From<Error> + From<crate::slack::SlackError>>(
        &self,
        keep_raw: bool,
        mut visit: impl FnMut(Member) -> Result<(), E>,
    ) -> Result<ReadStats, E> {
        let (path, file) = match self {
            Source::Slack(slack) => return slack.for_each_member(keep_raw, visit),
            Source::File { path, file } => (path, file),
        };
        let mut seen = HashSet::new();
        let mut stats = ReadStats { pages: 1, ..ReadStats::default() };
        for raw in &file.members {
            // Read as a users.list member is: one that does not parse is skipped as malformed.
            let member = crate::members::read_member(raw.clone(), keep_raw);
            if !member.id.is_empty() && !seen.insert(member.id.clone()) {
                stats.duplicates += 1;
                continue;
            }
            visit(member)?;
        }
        stats.members = seen.len();
        log::info!(
            "members file {}: {} members, read from the Slack workspace {} at {}",
            path.display(),
            stats.members,
            self.team_id().as_deref().unwrap_or("(not named)"),
            crate::http::clean(&file.read_at, 40)
        );
        Ok(stats)
    }
}

#[derive(Deserialize)]
pub struct MembersFile {
    format: String,
    read_at: String,
    /// The workspace export read (`SLACK_IM_SLACK_TEAM_ID`, else `auth.test`'s).
    #[serde(default)]
    team_id: Option<String>,
    /// What export kept of each member: [`FIELDS_PRODUCT`] or [`FIELDS_ALL`] (a file without it
    /// predates the choice and holds whole objects).
    #[serde(default)]
    fields: Option<String>,
    channel: Option<ChannelFile>,
    /// The enabled user groups; `None` when the exporting token could not read them.
    #[serde(default)]
    usergroups: Option<Vec<UserGroup>>,
    members: Vec<Box<RawValue>>,
}

#[derive(Deserialize, serde::Serialize)]
struct ChannelFile {
    id: String,
    members: Vec<String>,
}

fn file_error(path: &Path, problem: &str) -> Error {
    Error::MembersFile(format!("{} (SLACK_IM_MEMBERS_FILE): {problem}", path.display()))
}

/// The bytes of a members file that is a regular file of at most `max_mb` megabytes
/// (`SLACK_IM_READ_MAX_MB`, the cap of a listing), read with [`files::read_regular`].
fn read_regular(path: &Path, max_mb: u64) -> Result<Vec<u8>, Error> {
    // Megabytes as the listing counts them: 10^6 bytes.
    files::read_regular(path, max_mb.saturating_mul(1_000_000)).map_err(|refused| match refused {
        files::Refused::Io(e) => file_error(path, &format!("cannot be read: {e}")),
        files::Refused::NotRegular => file_error(
            path,
            "is not a regular file (a folder, a FIFO or a device): give the file slack-im export wrote",
        ),
        files::Refused::TooLarge => file_error(
            path,
            &format!("is larger than {max_mb} MB (SLACK_IM_READ_MAX_MB): raise it if the workspace really is that large"),
        ),
    })
}

fn check_read_limit(path: &Path, file: &MembersFile, limit: usize) -> Result<(), Error> {
    let channel = file.channel.as_ref().map_or(0, |c| c.members.len());
    if file.members.len() > limit || channel > limit {
        return Err(file_error(
            path,
            &format!("holds more than {limit} members (SLACK_IM_READ_LIMIT): raise it if the workspace really is that large"),
        ));
    }
    Ok(())
}

/// A file that cannot be trusted, whatever its age: exit 2.
fn untrusted(path: &Path, problem: &str) -> Error {
    Error::UntrustedMembersFile(format!("{} (SLACK_IM_MEMBERS_FILE): {problem}", path.display()))
}

fn foreign(path: &Path, format: Option<String>) -> Error {
    let found = format.unwrap_or_else(|| "none".into());
    file_error(path, &format!("is of format {found:?}; this slack-im reads {FORMAT:?}"))
}

/// Reads and checks a members file: whole, of this format, signed with the run's key, from the
/// configured workspace, and no older than `SLACK_IM_MEMBERS_MAX_AGE`.
fn read_file(path: &Path, config: &RunConfig) -> Result<MembersFile, Error> {
    let max_age = config.members_max_age;
    let bytes = read_regular(path, config.read_max_mb)?;
    let text = String::from_utf8_lossy(&bytes);
    // One parse on the way that works; the header alone only to say why one did not.
    let file = match serde_json::from_str::<MembersFile>(&text) {
        Ok(file) if file.format == FORMAT => file,
        Ok(file) => return Err(foreign(path, Some(file.format))),
        Err(e) => {
            #[derive(Deserialize)]
            struct Header {
                format: Option<String>,
            }
            return Err(match serde_json::from_str::<Header>(&text) {
                Ok(header) if header.format.as_deref() != Some(FORMAT) => foreign(path, header.format),
                _ => file_error(path, &format!("is truncated or corrupt ({e}): export it again")),
            });
        }
    };
    check_signature(path, &bytes, config.members_key.as_ref(), config.members_unsigned)?;
    check_read_limit(path, &file, config.read_limit)?;
    // After the signature: the team_id it names is the export's own.
    check_workspace(path, file.team_id.as_deref(), config.slack_team_id.as_deref())?;
    let read_at: jiff::Timestamp = file
        .read_at
        .parse()
        .map_err(|e| file_error(path, &format!("read_at {:?} is not a time ({e})", file.read_at)))?;
    let age = jiff::Timestamp::now().duration_since(read_at);
    let max = jiff::SignedDuration::try_from(max_age).unwrap_or(jiff::SignedDuration::MAX);
    if age > max {
        return Err(file_error(
            path,
            &format!(
                "was read from Slack at {read_at}, more than SLACK_IM_MEMBERS_MAX_AGE ({}s) ago: export it again",
                max_age.as_secs()
            ),
        ));
    }
    if age < -jiff::SignedDuration::from_mins(5) {
        return Err(file_error(path, &format!("was read at {read_at}, in the future: check the clocks")));
    }
    Ok(file)
}

/// The signature's field: the file's last, after every byte it covers.
const SIGNATURE_FIELD: &str = ",\"hmac_sha256\":\"";
/// How a signed file ends after the signature's hex digits.
const SIGNATURE_END: &str = "\"}\n";
/// Hex digits of an HMAC-SHA256.
const SIGNATURE_HEX_LEN: usize = 64;

/// The bytes a signature covers and its hex digits, when the file ends with one.
fn split_signature(bytes: &[u8]) -> Option<(&[u8], &str)> {
    let tail = SIGNATURE_FIELD.len() + SIGNATURE_HEX_LEN + SIGNATURE_END.len();
    let start = bytes.len().checked_sub(tail)?;
    let (covered, trailer) = bytes.split_at(start);
    let trailer = std::str::from_utf8(trailer).ok()?;
    let hex = trailer.strip_prefix(SIGNATURE_FIELD)?.strip_suffix(SIGNATURE_END)?;
    Some((covered, hex))
}

fn hmac_key(key: &Secret<String>) -> ring::hmac::Key {
    ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.expose().as_bytes())
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

/// A file is read only when its signature is that of the run's key, or, with
/// `SLACK_IM_MEMBERS_UNSIGNED=allow`, when it has none (or the run has no key), with a warning.
/// A signature that does not match is refused whatever the setting: the file was changed.
fn check_signature(
    path: &Path,
    bytes: &[u8],
    key: Option<&Secret<String>>,
    unsigned_allowed: bool,
) -> Result<(), Error> {
    match (split_signature(bytes), key) {
        (Some((covered, hex)), Some(key)) => {
            let tag = from_hex(hex).unwrap_or_default();
            ring::hmac::verify(&hmac_key(key), covered, &tag).map_err(|_| {
                untrusted(
                    path,
                    "its signature does not match SLACK_IM_MEMBERS_KEY: it was changed after the export, or exported with another key; export it again",
                )
            })
        }
        (Some(_), None) => {
            log::warn!(
                "members file {}: its signature is not checked (no SLACK_IM_MEMBERS_KEY, SLACK_IM_MEMBERS_UNSIGNED=allow): its members are read unauthenticated",
                path.display()
            );
            Ok(())
        }
        (None, _) if unsigned_allowed => {
            log::warn!(
                "members file {}: it is not signed and is read unauthenticated (SLACK_IM_MEMBERS_UNSIGNED=allow): anyone who can write it decides who gets an account",
                path.display()
            );
            Ok(())
        }
        (None, _) => Err(untrusted(
            path,
            "is not signed: export it with SLACK_IM_MEMBERS_KEY set (the key this run has), or set SLACK_IM_MEMBERS_UNSIGNED=allow to read it unauthenticated",
        )),
    }
}

/// A file is bound to the workspace it was exported from: with `SLACK_IM_SLACK_TEAM_ID` set, a file
/// from another workspace (or one that names none) is refused, exit 2: its members are other people.
fn check_workspace(path: &Path, exported: Option<&str>, configured: Option<&str>) -> Result<(), Error> {
    let Some(want) = configured else { return Ok(()) };
    match exported {
        Some(team) if team == want => Ok(()),
        Some(team) => Err(untrusted(
            path,
            &format!(
                "was exported from the Slack workspace {}, and this run reads SLACK_IM_SLACK_TEAM_ID={want}: export it from that workspace, or correct SLACK_IM_SLACK_TEAM_ID",
                crate::http::clean(team, 40)
            ),
        )),
        None => Err(untrusted(
            path,
            &format!(
                "was exported from an unknown Slack workspace (no team_id), and this run reads SLACK_IM_SLACK_TEAM_ID={want}: export it again"
            ),
        )),
    }
}

/// What `slack-im export` wrote.
#[derive(Debug)]
pub struct Exported {
    pub members: usize,
    pub pages: usize,
    pub team_id: Option<String>,
    /// The user groups stored; `None` when the token could not read them.
    pub usergroups: Option<usize>,
}

/// `slack-im export FILE`: reads Slack (same retries and completeness rules as a sync) and writes
/// the members, with the enabled user groups when the token may read them, mode 0600 (personal
/// data), signed with `SLACK_IM_MEMBERS_KEY`, through a temporary file renamed at the end: a failed
/// read leaves any earlier file as it was.
pub fn export(config: &RunConfig, path: &Path) -> Result<Exported, Error> {
    let key = match (&config.members_key, config.members_unsigned) {
        (Some(key), _) => Some(hmac_key(key)),
        (None, true) => {
            log::warn!("export: the file is not signed (SLACK_IM_MEMBERS_UNSIGNED=allow): runs from it cannot tell it from a forged one");
            None
        }
        (None, false) => {
            return Err(crate::config::ConfigError::Missing {
                var: "SLACK_IM_MEMBERS_KEY".into(),
                hint: "the file is signed with it, and every run that reads the file needs the same key: set it (or SLACK_IM_MEMBERS_KEY_FILE), or SLACK_IM_MEMBERS_UNSIGNED=allow to write an unsigned file",
            }
            .into())
        }
    };
    let slack = slack_client(config, Budget::new(config.deadline, config.retry_budget))?;
    let team_id = config.slack_team_id.clone().or(slack.auth_test()?.team_id);
    let channel = match &config.channel {
        Some(id) => {
            let mut members: Vec<String> = slack.channel_members(id)?.into_iter().collect();
            members.sort();
            Some(ChannelFile { id: id.clone(), members })
        }
        None => None,
    };
    let usergroups = export_usergroups(&slack)?;
    let (tmp, file) = create_temporary(path)?;
    let header = serde_json::json!({
        "format": FORMAT,
        "read_at": crate::clock::now_rfc3339(),
        "team_id": team_id,
        "fields": if config.export_all_fields { FIELDS_ALL } else { FIELDS_PRODUCT },
        "channel": channel,
        "usergroups": usergroups,
    });
    match write_export(&slack, file, &tmp, &header, key.as_ref(), config.export_all_fields) {
        Ok(stats) => {
            std::fs::rename(&tmp, path).map_err(|e| file_error(path, &format!("cannot be written: {e}")))?;
            let usergroups = usergroups.map(|g| g.len());
            Ok(Exported { members: stats.members, pages: stats.pages, team_id, usergroups })
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// The enabled user groups for the file, or `None` (with a note) when the token may not read them
/// or the workspace's plan has none; any other failure fails the export.
fn export_usergroups(slack: &SlackClient) -> Result<Option<Vec<UserGroup>>, Error> {
    const NOTE: &str = "export: the user groups are not stored (the token lacks usergroups:read): runs from this file cannot use SLACK_IM_USERGROUPS or user.groups";
    let lacks = |scopes: Vec<String>| !scopes.iter().any(|s| s == "usergroups:read");
    if slack.granted_scopes().is_some_and(lacks) {
        log::warn!("{NOTE}");
        return Ok(None);
    }
    match slack.usergroups() {
        Ok(groups) => Ok(Some(groups)),
        Err(SlackError::Api { code, .. }) if code == "missing_scope" => {
            log::warn!("{NOTE}");
            Ok(None)
        }
        Err(SlackError::Api { code, .. }) if code == "plan_upgrade_required" => {
            log::warn!("export: the workspace's plan has no user groups: none are stored");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// A writer that signs what passes through it.
struct Signing<W: Write> {
    out: W,
    mac: Option<ring::hmac::Context>,
}

impl<W: Write> Write for Signing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        if let Some(mac) = &mut self.mac {
            mac.update(&buf[..n]);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// A new private file beside `path`, for export to write before it renames it into place (see
/// [`files::temporary_beside`]: a random name, created new, never a planted file or link).
fn create_temporary(path: &Path) -> Result<(PathBuf, std::fs::File), Error> {
    files::temporary_beside(path, files::PRIVATE)
        .map_err(|e| file_error(path, &format!("cannot be written: {e}")))
}

fn write_export(
    slack: &SlackClient,
    file: std::fs::File,
    tmp: &Path,
    header: &serde_json::Value,
    key: Option<&ring::hmac::Key>,
    all_fields: bool,
) -> Result<ReadStats, Error> {
    let write_error = |e: std::io::Error| file_error(tmp, &format!("cannot be written: {e}"));
    let file = std::io::BufWriter::new(file);
    let mut out = Signing { out: file, mac: key.map(ring::hmac::Context::with_key) };
    let header = header.to_string();
    // The header object, left open for the members array.
    write!(out, "{},\"members\":[", &header[..header.len() - 1]).map_err(write_error)?;
    let mut first = true;
    let stats = slack.for_each_member(true, |member| -> Result<(), Error> {
        let raw = member.raw.as_deref().map_or_else(|| "{}".to_string(), |r| exported_member(r, all_fields));
        let separator = if first { "" } else { "," };
        first = false;
        write!(out, "{separator}\n{raw}").map_err(write_error)
    })?;
    write!(out, "\n]").map_err(write_error)?;
    // The signature covers every byte before it, and is the last field.
    let Signing { out: mut file, mac } = out;
    match mac {
        Some(mac) => {
            let tag = to_hex(mac.sign().as_ref());
            write!(file, "{SIGNATURE_FIELD}{tag}{SIGNATURE_END}").map_err(write_error)?
        }
        None => writeln!(file, "}}").map_err(write_error)?,
    }
    file.into_inner().map_err(|e| write_error(e.into_error()))?.sync_all().map_err(write_error)?;
    Ok(stats)
}
