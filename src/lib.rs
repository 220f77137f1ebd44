//! slack-im makes a system's agent accounts follow the company Slack workspace: it reads the
//! members with `users.list`, keeps the people who should have an account, renders each one through
//! the system's Jinja payload templates, lists the accounts the system has, and writes only the
//! difference (create, update, deactivate), with a dry run, guards and a report.
//!
//! The flow, one module per step: [`config`] → [`slack`] + [`eligibility`] → [`template`] →
//! [`target`] (listing) → [`plan`] (pure) → [`apply`] → [`report`].

pub mod apply;
pub mod config;
pub mod eligibility;
pub mod http;
pub mod journal;
pub mod plan;
pub mod report;
pub mod secret;
pub mod slack;
pub mod target;
pub mod template;

use std::collections::HashMap;
use std::fmt;
use std::time::Instant;

use crate::apply::Outcome;
use crate::config::{Config, ConfigError};
use crate::eligibility::Skipped;
use crate::http::Budget;
use crate::plan::{Change, Desired, Existing, Policy};
use crate::report::Summary;
use crate::secret::Redactor;
use crate::slack::{Member, SlackClient, SlackError};
use crate::target::{TargetClient, TargetError};
use crate::template::{SystemTemplates, TemplateError, UserView};

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Read, plan and write.
    Sync,
    /// Read and plan; write nothing.
    Plan,
    /// Validate configuration and templates, then call Slack `auth.test` and the target's listing.
    Check,
}

impl Command {
    pub fn name(self) -> &'static str {
        match self {
            Command::Sync => "sync",
            Command::Plan => "plan",
            Command::Check => "check",
        }
    }
}

/// Why a run stopped before completing.
#[derive(Debug)]
pub enum Error {
    Config(ConfigError),
    Template(TemplateError),
    Slack(SlackError),
    Target(TargetError),
    /// The write journal cannot be opened: no write is made unrecorded.
    Journal(String),
    /// A bug: a panic, caught so that the run still reports.
    Internal(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => write!(f, "configuration: {e}"),
            Error::Template(e) => write!(f, "template: {e}"),
            Error::Slack(e) => e.fmt(f),
            Error::Target(e) => e.fmt(f),
            Error::Journal(e) => write!(f, "the write journal cannot be written, so nothing was written: {e}"),
            Error::Internal(e) => write!(
                f,
                "internal error (a bug in slack-im, please report it): {e}; writes sent before it are listed in {}",
                journal::FILE_NAME
            ),
        }
    }
}

impl std::error::Error for Error {}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}
impl From<TemplateError> for Error {
    fn from(e: TemplateError) -> Self {
        Error::Template(e)
    }
}
impl From<SlackError> for Error {
    fn from(e: SlackError) -> Self {
        Error::Slack(e)
    }
}
impl From<TargetError> for Error {
    fn from(e: TargetError) -> Self {
        Error::Target(e)
    }
}

/// The exit codes of the contract.
pub mod exit {
    /// Done, or the dry run finished.
    pub const OK: u8 = 0;
    /// Failed before completing: Slack, the target listing, the network.
    pub const FAILED: u8 = 1;
    /// Bad configuration or template.
    pub const CONFIG: u8 = 2;
    /// Some actions failed; the rest were applied.
    pub const PARTIAL: u8 = 3;
    /// A guard withheld deactivations; everything else was applied.
    pub const WITHHELD: u8 = 4;
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::Template(_) => exit::CONFIG,
            Error::Slack(_) | Error::Target(_) | Error::Journal(_) | Error::Internal(_) => exit::FAILED,
        }
    }
}

/// Runs one command and writes the reports (also when the run fails). The summary carries the exit
/// code; an error is returned for runs that stopped before completing, after it was reported.
pub fn run(command: Command, config: &Config) -> Result<Summary, Error> {
    let started = Instant::now();
    let redactor = Redactor::new(config.all_secrets());
    secret::install_log_redactor(redactor.clone());
    let budget = Budget::new(config.deadline, config.retry_budget);
    let mut summary = Summary {
        run_id: config.run_id.clone(),
        system: config.system.clone(),
        command: command.name().into(),
        dry_run: command == Command::Plan || (command == Command::Sync && config.dry_run),
        started_at: report::now_rfc3339(),
        ..Summary::default()
    };
    // A panic anywhere (a bug) still ends in a report and an exit code; the journal holds the
    // writes already sent.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match command {
        Command::Check => check(config, &budget, &mut summary),
        Command::Sync | Command::Plan => sync(config, &budget, &redactor, &mut summary),
    }))
    .unwrap_or_else(|panic| Err(Error::Internal(panic_message(&*panic))));
    summary.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    summary.exit_code = match &result {
        Ok(()) => exit_code_of(&summary),
        Err(e) => {
            summary.error = Some(e.to_string());
            e.exit_code()
        }
    };
    if let Some(dir) = &config.report_dir {
        match summary.write(dir, &redactor) {
            Ok(()) => log::info!("report written to {}", dir.display()),
            Err(e) => log::error!("cannot write the report to {} (SLACK_IM_REPORT_DIR): {e}", dir.display()),
        }
    }
    if let (Some(channel), false) = (&config.notify_channel, command == Command::Check) {
        notify(config, channel, &summary, &redactor);
    }
    result.map(|()| summary)
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(text), _) => format!("panic: {text}"),
        (_, Some(text)) => format!("panic: {text}"),
        _ => "panic".into(),
    }
}

fn exit_code_of(summary: &Summary) -> u8 {
    if summary.dry_run {
        exit::OK
    } else if summary.counts.failed > 0 {
        exit::PARTIAL
    } else if summary.counts.withheld > 0 {
        exit::WITHHELD
    } else {
        exit::OK
    }
}

struct Clients {
    templates: SystemTemplates,
    slack: SlackClient,
    target: TargetClient,
}

fn connect(config: &Config, budget: &std::sync::Arc<Budget>) -> Result<Clients, Error> {
    let templates = SystemTemplates::load(
        &config.templates_root,
        &config.system,
        &config.target_url,
        &config.vars,
        &config.secrets,
    )?;
    let agent = http::agent(config.timeout, config.ca_file.as_deref())?;
    let slack = SlackClient::new(
        agent.clone(),
        &config.slack_url,
        config.slack_token.clone(),
        config.slack_team_id.clone(),
        budget.clone(),
        config.read_limit,
    );
    let target = TargetClient::new(
        agent,
        &config.target_url,
        templates.spec.clone(),
        budget.clone(),
        config.read_limit,
    );
    Ok(Clients { templates, slack, target })
}

/// The listed accounts: what the plan needs, and each account's JSON kept as compact text, parsed
/// again only when a member matches it or it is deactivated (50,000 accounts cost megabytes, not
/// tens of them).
#[derive(Default)]
struct Listing {
    accounts: Vec<Existing>,
    json: Vec<Box<str>>,
}

impl Listing {
    fn value(&self, i: usize) -> std::sync::Arc<serde_json::Value> {
        let value =
            serde_json::from_str(&self.json[i]).expect("the listing's own JSON, serialised by us, parses");
        std::sync::Arc::new(value)
    }
}

/// Reads everything, renders everything, plans, and (unless dry) applies.
///
/// The target is listed first; then Slack is read page by page and each eligible member rendered
/// and compared at once, so neither the workspace nor the rendered bodies of unchanged accounts
/// are held in memory. Nothing is written before every read and every render has succeeded.
fn sync(
    config: &Config,
    budget: &std::sync::Arc<Budget>,
    redactor: &Redactor,
    summary: &mut Summary,
) -> Result<(), Error> {
    let Clients { templates, slack, target } = connect(config, budget)?;

    // 1. The target's accounts, and whether slack-im manages each.
    let phase = Instant::now();
    let mut listing = Listing::default();
    target.for_each_account(|account| -> Result<(), Error> {
        let managed = templates.is_managed(&account.key, &account.value)?;
        let adoptable = !managed && templates.is_adoptable(&account.key, &account.value)?;
        listing.json.push(account.value.to_string().into());
        listing.accounts.push(Existing { key: account.key, managed, adoptable });
        Ok(())
    })?;
    let mut index: HashMap<String, usize> = HashMap::with_capacity(listing.accounts.len());
    for (i, account) in listing.accounts.iter().enumerate() {
        index.entry(plan::normalize_key(&account.key)).or_insert(i);
    }
    summary.sources.target_accounts = listing.accounts.len();
    summary.sources.managed_accounts = listing.accounts.iter().filter(|a| a.managed).count();
    log::info!(
        "target: {} accounts, {} managed by slack-im ({:.2}s)",
        listing.accounts.len(),
        summary.sources.managed_accounts,
        phase.elapsed().as_secs_f64()
    );
    let phase = Instant::now();

    // 2. Slack, page by page: who should have an account, each one rendered and compared at once.
    let channel_members = match &config.channel {
        Some(channel) => Some(slack.channel_members(channel)?),
        None => None,
    };
    let filter = config.filter(channel_members);
    let mut skipped = Vec::new();
    let mut desired = Vec::new();
    let stats = slack.for_each_member(templates.uses_slack_object, |member| -> Result<(), Error> {
        match filter.reason_to_skip(&member) {
            Some(reason) => skipped.push(Skipped { slack_id: member.id, reason }),
            None => desired.push(render_member(&templates, &member, &listing, &index)?),
        }
        Ok(())
    })?;
    summary.sources.slack_members = stats.members;
    summary.sources.eligible_members = desired.len();
    summary.sources.slack_requests = slack.requests();
    log::info!(
        "Slack: {} members in {} pages ({} requests, {} duplicates dropped); {} should have an account, {} skipped; rendered and compared in {:.2}s",
        stats.members,
        stats.pages,
        slack.requests(),
        stats.duplicates,
        desired.len(),
        skipped.len(),
        phase.elapsed().as_secs_f64()
    );

    drop(index);

    // 3. The plan, with its guards; then the bodies of the deactivations it asks for.
    let policy = Policy {
        protect: config.protect.clone(),
        max_deactivate: config.max_deactivate,
        can_deactivate: templates.spec.deactivate.is_some(),
        deactivation_blocked: desired
            .is_empty()
            .then(|| "Slack returned no eligible member: deactivating everyone is never right".to_string()),
    };
    let mut plan = plan::plan(desired, &listing.accounts, &policy);
    if templates.has_deactivate_body {
        let leavers: HashMap<&str, usize> = plan
            .actions
            .iter()
            .enumerate()
            .filter(|(_, a)| a.kind == plan::ActionKind::Deactivate && a.withheld.is_none())
            .map(|(n, a)| (a.key.as_str(), n))
            .collect();
        let mut bodies = Vec::new();
        for (i, account) in listing.accounts.iter().enumerate() {
            if let Some(&n) = leavers.get(account.key.as_str()) {
                bodies.push((n, templates.render_deactivate(&account.key, &listing.value(i))?));
            }
        }
        for (n, body) in bodies {
            plan.actions[n].body = body;
        }
    }
    drop(listing);

    // 4. Apply, unless this is a dry run; every write journaled as it happens.
    if summary.dry_run {
        summary.record(&plan, None, &skipped);
    } else {
        let journal = match &config.report_dir {
            Some(dir) if !plan.actions.is_empty() => {
                let run = serde_json::json!({
                    "system": config.system, "run_id": config.run_id, "started_at": summary.started_at,
                });
                let journal = journal::Journal::open(dir, redactor.clone(), run).map_err(|e| {
                    Error::Journal(format!("{}: {e}", dir.join(journal::FILE_NAME).display()))
                })?;
                Some(journal)
            }
            _ => None,
        };
        let outcomes: Vec<Outcome> =
            apply::apply(&plan.actions, &target, config.concurrency, journal.as_ref());
        summary.record(&plan, Some(&outcomes), &skipped);
    }
    summary.sources.target_requests = target.requests();
    Ok(())
}

/// One eligible member through the templates: the create body when no account has its key, else
/// the update body when (and only when) the account differs from it.
fn render_member(
    templates: &SystemTemplates,
    member: &Member,
    listing: &Listing,
    index: &HashMap<String, usize>,
) -> Result<Desired, Error> {
    let user = std::sync::Arc::new(UserView::from_member(member));
    let (key, create) = templates.render_create(&user)?;
    let Some(&i) = index.get(&plan::normalize_key(&key)) else {
        return Ok(Desired {
            slack_id: user.id.clone(),
            key,
            change: Some(Box::new(Change::Create(create))),
        });
    };
    if !listing.accounts[i].writable() {
        // An account slack-im may not touch: the plan reports it, nothing is rendered for it.
        return Ok(Desired { slack_id: user.id.clone(), key, change: None });
    }
    let account = listing.value(i);
    let change = match templates.render_update(&user, &account)? {
        Some(body) => {
            let changed = plan::update_diff(&body, &account, &listing.accounts[i].key);
            (!changed.is_empty()).then(|| Box::new(Change::Update { body, changed }))
        }
        None => None,
    };
    Ok(Desired { slack_id: user.id.clone(), key, change })
}

/// Validates everything without writing: config (already done), templates rendered for a sample
/// member and a listed account, Slack `auth.test`, and the target's listing.
fn check(config: &Config, budget: &std::sync::Arc<Budget>, summary: &mut Summary) -> Result<(), Error> {
    let Clients { templates, slack, target } = connect(config, budget)?;
    let source = include_str!("check_member.json");
    let mut sample: Member = serde_json::from_str(source).expect("the built-in sample member is valid");
    if templates.uses_slack_object {
        sample.raw = serde_json::value::RawValue::from_string(source.to_string()).ok();
    }
    let user = std::sync::Arc::new(UserView::from_member(&sample));
    let (key, _) = templates.render_create(&user)?;
    log::info!("templates in {}: create.json renders (sample key {key})", templates.folder().display());
    let identity = slack.auth_test()?;
    log::info!(
        "Slack: token works for workspace {} ({})",
        identity.team.as_deref().unwrap_or("?"),
        identity.team_id.as_deref().unwrap_or("?")
    );
    let mut managed = 0;
    let mut first = None;
    let accounts = target.for_each_account(|account| -> Result<(), Error> {
        managed += usize::from(templates.is_managed(&account.key, &account.value)?);
        first.get_or_insert(account);
        Ok(())
    })?;
    if let Some(first) = first {
        templates.render_update(&user, &first.value)?;
        templates.render_deactivate(&first.key, &first.value)?;
    }
    log::info!("target: listing works, {accounts} accounts, {managed} managed by slack-im");
    if templates.spec.managed.is_some() && managed == 0 && accounts > 0 {
        log::warn!("no listed account matches the \"managed\" expression of system.json: nothing will ever be deactivated");
    }
    summary.sources.target_accounts = accounts;
    summary.sources.managed_accounts = managed;
    Ok(())
}

/// Posts the summary to Slack. It has its own small allowance of time and retries: a run that
/// spent its budget still reports.
fn notify(config: &Config, channel: &str, summary: &Summary, redactor: &Redactor) {
    let agent = match http::agent(config.timeout, config.ca_file.as_deref()) {
        Ok(a) => a,
        Err(e) => return log::warn!("no Slack notification: {e}"),
    };
    let budget = Budget::new(config.timeout * 3, 3);
    let slack = SlackClient::new(
        agent,
        &config.slack_url,
        config.slack_token.clone(),
        config.slack_team_id.clone(),
        budget,
        config.read_limit,
    );
    let (text, blocks) = summary.slack_message(redactor);
    match slack.post_message(channel, &text, &blocks) {
        Ok(()) => log::info!("summary posted to Slack channel {channel}"),
        Err(e) => {
            log::warn!("the summary could not be posted to Slack (the sync result stands): {e}")
        }
    }
}
