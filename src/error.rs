//! Why a run stops (`Error`), and the exit codes of the contract that each reason maps to. Its own
//! module, below every step, so that the steps can return it without importing the top (`lib`).

use crate::approval::PlanFileError;
use crate::config::ConfigError;
use crate::http;
use crate::journal;
use crate::slack::SlackError;
use crate::target::TargetError;
use crate::template::TemplateError;

/// Why a run stopped before completing.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("configuration: {0}")]
    CaBundle(#[from] http::CaBundleError),
    #[error("template: {0}")]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Slack(#[from] SlackError),
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The write journal cannot be opened: no write is made unrecorded.
    #[error("the write journal cannot be written, so nothing was written: {0}")]
    Journal(String),
    /// `check` found the token unfit for this configuration (missing scopes, an org-level token
    /// without a workspace): a configuration problem, exit 2.
    #[error("not ready: {0}")]
    NotReady(String),
    /// The members file is missing, stale, of another format, truncated or corrupt.
    #[error("members file {0}")]
    MembersFile(String),
    /// The members file cannot be trusted: unsigned (without `SLACK_IM_MEMBERS_UNSIGNED=allow`),
    /// its signature does not match the run's key, or it is from another workspace. Exporting it
    /// again does not help until the configuration agrees: exit 2.
    #[error("members file {0}")]
    UntrustedMembersFile(String),
    /// The saved plan of `sync --plan` cannot be applied (unreadable, too old, of other systems,
    /// folders or settings): nothing is read or written, exit 2.
    #[error("saved plan: {0}")]
    SavedPlan(#[from] PlanFileError),
    /// This system did not run because another one is misconfigured (nothing ran).
    #[error("{0}")]
    NotRun(String),
    /// A bug: a panic, caught so that the run still reports.
    #[error("internal error (a bug in slack-im, please report it): {0}; writes sent before it are listed in {file}", file = journal::FILE_NAME)]
    Internal(String),
}
use crate::exit;

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_)
            | Error::CaBundle(_)
            | Error::Template(_)
            | Error::NotRun(_)
            | Error::NotReady(_)
            | Error::UntrustedMembersFile(_)
            | Error::SavedPlan(_) => exit::CONFIG,
            Error::Slack(_)
            | Error::Target(_)
            | Error::Journal(_)
            | Error::MembersFile(_)
            | Error::Internal(_) => exit::FAILED,
        }
    }
}

pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(text), _) => format!("panic: {text}"),
        (_, Some(text)) => format!("panic: {text}"),
        _ => "panic".into(),
    }
}

/// A panic on one of the run's threads, as the error of the system it hit.
pub(crate) fn panicked(panic: &(dyn std::any::Any + Send)) -> Error {
    Error::Internal(panic_message(panic))
}
