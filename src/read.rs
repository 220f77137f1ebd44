//! The read step shared by `sync`, `plan` and `check`: load every system, read the user groups
//! (when needed), list the targets, read Slack once and match each eligible member for every
//! system as its page arrives, then plan and render the deactivations. Nothing here writes; what it
//! returns is what `sync` applies, `plan` prints and `check` counts, so their numbers agree.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::action::{ActionKind, Outcome};
use crate::approval::{Approval, SavedSystem};
use crate::config::{Config, ConfigError, RunConfig, SystemConfig};
use crate::connect::{connect, System};
use crate::eligibility::{Filter, SkipReason, Skipped};
use crate::error::{panicked, Error};
use crate::http::Budget;
use crate::matching::{matches_by_key_alone, normalised_key_of, Listing};
use crate::members::{Member, UserGroups};
use crate::plan::{self, Desired, Plan, Policy, RecentlyLeft};
use crate::source::Source;
use crate::target::normalize_key;

/// Everything read and decided for one system before its first write: what `sync` applies,
/// `plan` prints and `check` counts.
pub(crate) struct Reading {
    pub listing: Listing,
    /// Members left out by the filter, with reasons (the plan's own are in `plan.skipped`).
    pub skipped: Vec<Skipped>,
    /// Distinct members read from Slack.
    pub read: usize,
    pub eligible: usize,
    pub plan: Plan,
}

impl Reading {
    /// What a person should look at before letting this run write: nobody eligible, most of the
    /// people in the workspace skipped for one reason, a guard the plan would hit. `check`, `plan`
    /// and `sync` print the same.
    pub fn warnings(&self) -> Vec<String> {
        let reading = self;
        let mut out = Vec::new();
        if reading.eligible == 0 {
            out.push(format!(
                "nobody is eligible: none of the {} members read should have an account, so nothing will be created and nothing deactivated",
                reading.read
            ));
        }
        // Bots, Slackbot and deactivated members outnumber people in many workspaces: normal. What is
        // not is one reason leaving out most of the people.
        let skips: Vec<&SkipReason> =
            reading.skipped.iter().chain(&reading.plan.skipped).map(|s| &s.reason).collect();
        let people = reading.read - skips.iter().filter(|r| r.is_not_a_person()).count();
        let mut by_kind: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for reason in skips.iter().filter(|r| !r.is_not_a_person()) {
            *by_kind.entry(reason.kind()).or_insert(0) += 1;
        }
        for ((kind, hint), count) in by_kind {
            if count * 2 > people {
                let hint = if hint.is_empty() { String::new() } else { format!(": {hint}") };
                out.push(format!("{count} of the {people} people read are skipped as \"{kind}\"{hint}"));
            }
        }
        for (kind, name) in crate::action::GUARDED {
            let withheld: Vec<&str> = reading
                .plan
                .actions
                .iter()
                .filter(|a| a.kind == kind)
                .filter_map(|a| a.withheld.as_deref())
                .collect();
            if let Some(reason) = withheld.first() {
                out.push(format!(
                    "the plan hits a guard: {} {name} would be withheld: {reason}",
                    withheld.len()
                ));
            }
        }
        out
    }
}

/// What one system's command came to, the value `sync` and `check` return and the report is made
/// of: what was read and planned, how the writes ended (none in a dry run), and what `check` adds.
pub(crate) struct Ran {
    pub reading: Reading,
    /// After real writes: how each of the plan's actions ended, in the plan's order.
    pub outcomes: Option<Vec<Outcome>>,
    /// What was printed before any write ([`Reading::warnings`]).
    pub warnings: Vec<String>,
    /// Requests made to Slack (shared by every system) and to this system's target.
    pub slack_requests: usize,
    /// The workspace the members came from ([`Source::team_id`]), when named.
    pub slack_team_id: Option<String>,
    pub target_requests: usize,
    /// `check` only: the enabled user groups seen, by handle, with how many members each holds.
    pub usergroups: BTreeMap<String, usize>,
    /// `check` only: members left out, counted by the kind of reason.
    pub skipped_by_reason: BTreeMap<String, usize>,
    /// `plan --out`: this system's part of the plan to save.
    pub saved: Option<SavedSystem>,
    /// `sync --plan`: what applying the saved plan did to this run's plan.
    pub approval: Option<Approval>,
}

impl Ran {
    /// A system read, planned and (when `outcomes` is given) written, without `check`'s extras.
    pub fn new(
        reading: Reading,
        outcomes: Option<Vec<Outcome>>,
        warnings: Vec<String>,
        (slack_requests, slack_team_id): (usize, Option<String>),
        system: &System,
    ) -> Ran {
        Ran {
            reading,
            outcomes,
            warnings,
            slack_requests,
            slack_team_id,
            target_requests: system.target.requests(),
            usergroups: BTreeMap::new(),
            skipped_by_reason: BTreeMap::new(),
            saved: None,
            approval: None,
        }
    }
}

/// Why one system stopped, with the warnings it had printed before it stopped.
pub(crate) struct Stopped {
    /// Boxed: an `Error` is large, and keeps every result it is not in small.
    pub error: Box<Error>,
    pub warnings: Vec<String>,
}

impl From<Error> for Stopped {
    fn from(error: Error) -> Stopped {
        Stopped { error: Box::new(error), warnings: Vec::new() }
    }
}

/// One system's result: it ran, or it stopped.
pub(crate) type SystemResult = Result<Ran, Stopped>;

/// Every system read and planned, with the members' source: what `sync` and `check` start from.
pub(crate) struct Prepared {
    pub systems: Vec<System>,
    pub readings: Vec<Result<Reading, Error>>,
    pub source: Source,
    /// The user groups, when the run needed them.
    pub groups: Option<UserGroups>,
}

/// One system between the reads: its listing, and what Slack's members became for it.
struct Read {
    listing: Listing,
    filter: Filter,
    desired: Vec<Desired>,
    skipped: Vec<Skipped>,
    /// With `SLACK_IM_DEACTIVATE_AFTER`: members deactivated in Slack at or after this Unix time
    /// are in their grace period, and the grace in seconds.
    grace: Option<Grace>,
    recently_left: Vec<RecentlyLeft>,
}

/// The grace period of one system's run: who counts as recently left, and when their grace ends.
#[derive(Clone, Copy)]
struct Grace {
    since: i64,
    seconds: i64,
}

impl Grace {
    fn of(config: &SystemConfig) -> Option<Grace> {
        let seconds = i64::try_from(config.deactivate_after.as_secs()).unwrap_or(i64::MAX);
        (seconds > 0).then(|| Grace { since: crate::clock::now_unix().saturating_sub(seconds), seconds })
    }
}

/// Steps 1 to 3 for every system: load, read the user groups (when needed), list, read the
/// members once, plan. Writes nothing. A configuration error or a failed read of the groups or the
/// members is every system's error.
pub(crate) fn prepare(config: &Config) -> Result<Prepared, Vec<Error>> {
    let (run, configs) = (&config.run, &config.systems[..]);
    let every = |e: Error| configs.iter().map(|_| e.clone()).collect::<Vec<_>>();
    // Each system spends its own budget of the run's deadline and retries.
    let budgets: Vec<Arc<Budget>> =
        configs.iter().map(|_| Budget::new(run.deadline, run.retry_budget)).collect();
    let systems = load_systems(run, configs, &budgets)?;
    let source = Source::open(run).map_err(every)?;
    for system in &systems {
        let templates = &system.templates;
        if templates.uses_slack_object || templates.uses_phone {
            source.require_all_fields(templates.name()).map_err(every)?;
        }
    }
    let groups = read_groups(configs, &systems, &source)?;
    let (reads, members) = list_and_read_members(run, &source, &systems, configs, groups.as_ref());
    let members = members.map_err(every)?;
    let readings = reads
        .into_iter()
        .zip(&systems)
        .zip(configs)
        .map(|((read, system), config)| plan_system(config, system, read?, members))
        .collect();
    Ok(Prepared { systems, readings, source, groups })
}

/// Whether a run of these systems reads the user groups: a system is scoped by
/// `SLACK_IM_USERGROUPS`, or a template uses `user.groups`.
pub(crate) fn needs_groups(configs: &[SystemConfig], uses_groups: impl Fn(&SystemConfig) -> bool) -> bool {
    configs.iter().any(|c| !c.usergroups.is_empty() || uses_groups(c))
}

/// Step 1b: the user groups, read once for every system when the run needs them. A handle of
/// `SLACK_IM_USERGROUPS` that no enabled group has is that system's configuration error and stops
/// every system before anything is listed: a scope that selects nobody must never look like a
/// workspace that everyone left.
fn read_groups(
    configs: &[SystemConfig],
    systems: &[System],
    source: &Source,
) -> Result<Option<UserGroups>, Vec<Error>> {
    let uses = |config: &SystemConfig| {
        systems.iter().any(|s| s.templates.name() == config.system && s.templates.uses_groups)
    };
    if !needs_groups(configs, uses) {
        return Ok(None);
    }
    let started = Instant::now();
    let groups = source.usergroups().map_err(|e| configs.iter().map(|_| e.clone()).collect::<Vec<_>>())?;
    log::info!("Slack: {} enabled user groups ({:.2}s)", groups.all().len(), started.elapsed().as_secs_f64());
    let unknown: Vec<Option<Error>> = configs.iter().map(|c| unknown_handles(c, &groups)).collect();
    let Some(culprit) = unknown.iter().position(Option::is_some) else { return Ok(Some(groups)) };
    let culprit = configs[culprit].system.clone();
    let not_run = || Error::NotRun(format!("system {culprit} is misconfigured, so no system ran"));
    Err(unknown.into_iter().map(|e| e.unwrap_or_else(not_run)).collect())
}

/// The handles of `SLACK_IM_USERGROUPS` no enabled group has, as a configuration error.
fn unknown_handles(config: &SystemConfig, groups: &UserGroups) -> Option<Error> {
    let unknown: Vec<String> =
        config.usergroups.iter().filter(|h| groups.get(h).is_none()).map(|h| format!("@{h}")).collect();
    if unknown.is_empty() {
        return None;
    }
    let known: Vec<&str> = groups.all().iter().take(30).map(|g| g.handle.as_str()).collect();
    let more = groups.all().len().saturating_sub(known.len());
    let problem = format!(
        "no enabled user group has the handle{} {} (the workspace's enabled groups: {}{})",
        if unknown.len() > 1 { "s" } else { "" },
        unknown.join(", "),
        if known.is_empty() { "none".to_string() } else { known.join(", ") },
        if more > 0 { format!(" and {more} more") } else { String::new() },
    );
    Some(ConfigError::Invalid { var: config.usergroups_var.clone(), problem }.into())
}

/// The members of the groups a system is scoped to, or `None` when it is not scoped.
fn scope_of(config: &SystemConfig, groups: Option<&UserGroups>) -> Option<HashSet<String>> {
    let groups = groups.filter(|_| !config.usergroups.is_empty())?;
    let scoped = config.usergroups.iter().filter_map(|h| groups.get(h));
    Some(scoped.flat_map(|g| g.users.iter().cloned()).collect())
}

/// Who gets an account in one system, as configured; `channel_members` are the members of
/// `SLACK_IM_CHANNEL` when it is set, `usergroup_members` those of the groups of
/// `SLACK_IM_USERGROUPS` when it is set.
fn filter(
    run: &RunConfig,
    config: &SystemConfig,
    channel_members: Option<HashSet<String>>,
    usergroup_members: Option<HashSet<String>>,
) -> Filter {
    Filter {
        include_guests: run.include_guests,
        email_domains: config.email_domains.clone(),
        exclude: run.exclude.clone(),
        channel_members,
        usergroup_members,
        require_confirmed_email: run.require_confirmed_email,
    }
}

/// Every system's folder and client: a configuration error in any of them stops the run before
/// anything is read (each system reports its own error, or that another's stopped it).
fn load_systems(
    run: &RunConfig,
    configs: &[SystemConfig],
    budgets: &[Arc<Budget>],
) -> Result<Vec<System>, Vec<Error>> {
    let loaded: Vec<Result<System, Error>> =
        configs.iter().zip(budgets).map(|(config, budget)| connect(run, config, budget)).collect();
    let Some(failed) = loaded.iter().position(Result::is_err) else {
        return Ok(loaded.into_iter().flatten().collect());
    };
    let culprit = configs[failed].system.clone();
    Err(loaded
        .into_iter()
        .map(|system| match system {
            Ok(_) => Error::NotRun(format!("system {culprit} is misconfigured, so no system ran")),
            Err(e) => e,
        })
        .collect())
}

/// One system's listing, on a thread of its own: its accounts, and whether slack-im manages (or
/// may adopt) each. With `early`, each listed account is matched at once with the members already
/// keyed for it, while the next page travels ([`Early`]).
fn list_one(
    system: &System,
    early: Option<&Mutex<Early>>,
    groups: Option<&UserGroups>,
) -> Result<Read, Error> {
    let started = Instant::now();
    let tests = system.templates.account_tests()?;
    let mut listing = Listing::default();
    system.target.for_each_account(&tests, |account| {
        // Keyed only for early matching: the listing keeps its own index.
        let key = early.and(account.key.as_deref()).map(normalize_key);
        listing.push(account, &tests).map_err(Error::from)?;
        if let (Some(early), Some(key)) = (early, key) {
            Early::match_listed(early, key, &listing, system, groups);
        }
        Ok::<(), Error>(())
    })?;
    log::info!(
        "{}: target: {} accounts, {} managed by slack-im ({:.2}s)",
        system.templates.name(),
        listing.accounts().len(),
        listing.managed(),
        started.elapsed().as_secs_f64()
    );
    Ok(Read {
        listing,
        filter: Filter::default(),
        desired: Vec::new(),
        skipped: Vec::new(),
        grace: None,
        recently_left: Vec::new(),
    })
}

/// A member of a batch: the batch's number in the read, and the member's place in it.
type MemberAt = (usize, usize);

/// Members matched while their system is still being listed, for a folder whose members match by
/// key alone ([`crate::matching::matches_by_key_alone`]): a member's account is then the one
/// listed under its key, so the match made when both are in is the match the whole listing gives.
/// The Slack side keys each eligible member as it arrives; the listing side matches the members
/// waiting for each account it lists (the work hides in the next page's round trip). Members
/// not matched here (no account, or keyed after the listing ended) are matched the usual way.
#[derive(Default)]
struct Early {
    /// Every batch read so far, by number.
    batches: Vec<Arc<Vec<Member>>>,
    /// Keyed members whose key no account listed so far has: normalised key -> members.
    waiting: HashMap<String, Vec<MemberAt>>,
    /// Keyed members whose account was listed before they were keyed: matched at the next account.
    late: Vec<MemberAt>,
    /// The normalised keys listed so far.
    listed: HashSet<String>,
    /// What each early match gave.
    matched: HashMap<MemberAt, Result<Desired, Error>>,
}

impl Early {
    /// The Slack side: the eligible members of `batch`, keyed, the batch kept under the next number.
    fn key_batch(
        early: &Mutex<Early>,
        batch: &Arc<Vec<Member>>,
        filter: &Filter,
        system: &System,
        groups: Option<&UserGroups>,
    ) {
        let keyed: Vec<(usize, String)> = batch
            .iter()
            .enumerate()
            .filter(|(_, member)| filter.reason_to_skip(member).is_none())
            .filter_map(|(i, member)| Some((i, normalised_key_of(&system.templates, member, groups)?)))
            .collect();
        let mut early = early.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let at = early.batches.len();
        early.batches.push(Arc::clone(batch));
        for (i, key) in keyed {
            if early.listed.contains(&key) {
                early.late.push((at, i));
            } else {
                early.waiting.entry(key).or_default().push((at, i));
            }
        }
    }

    /// The listing side: `key` was just listed; the members waiting for it, and those keyed late,
    /// are matched now.
    fn match_listed(
        early: &Mutex<Early>,
        key: String,
        listing: &Listing,
        system: &System,
        groups: Option<&UserGroups>,
    ) {
        let lock = || early.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let todo: Vec<(MemberAt, Arc<Vec<Member>>)> = {
            let mut early = lock();
            let mut todo = early.waiting.remove(&key).unwrap_or_default();
            todo.append(&mut early.late);
            early.listed.insert(key);
            todo.into_iter().map(|at| (at, Arc::clone(&early.batches[at.0]))).collect()
        };
        for (at, batch) in todo {
            let desired = listing.desired_for(&system.templates, &batch[at.1], groups).map_err(Error::from);
            lock().matched.insert(at, desired);
        }
    }
}

/// Steps 1 and 2 side by side: while the targets are listed (each on a thread of its own), Slack
/// (or the members file) is read on another, and its members wait in batches; a system whose
/// members match by key alone keys them as they arrive and matches each with its account as soon
/// as it is listed ([`Early`]). Once a system's listing is in, it takes the batches in Slack's
/// order: who should have an account, each one matched and rendered (or its early match taken).
/// A template that fails for a member stops that system (before any of its writes); a failed Slack
/// read stops every system. Returns each system's read and how many members Slack listed.
fn list_and_read_members(
    run: &RunConfig,
    source: &Source,
    systems: &[System],
    configs: &[SystemConfig],
    groups: Option<&UserGroups>,
) -> (Vec<Result<Read, Error>>, Result<usize, Error>) {
    let started = Instant::now();
    let keep_raw = systems.iter().any(|s| s.templates.uses_slack_object);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let early: Vec<Option<Mutex<Early>>> =
        systems.iter().map(|s| matches_by_key_alone(&s.templates).then(Mutex::default)).collect();
    std::thread::scope(|scope| {
        let (sender, received) = std::sync::mpsc::channel();
        for (n, (system, early)) in systems.iter().zip(&early).enumerate() {
            let sender = sender.clone();
            scope.spawn(move || {
                let listed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    list_one(system, early.as_ref(), groups)
                }))
                .unwrap_or_else(|panic| Err(panicked(&*panic)));
                let _ = sender.send(FromSlack::Listed(n, Box::new(listed)));
            });
        }
        let slack = scope.spawn(move || read_slack(run, source, keep_raw, sender));
        // Each system's read once its listing is in; the filters before (Slack sends the channel first).
        let mut reads: Vec<Option<Result<Read, Error>>> = systems.iter().map(|_| None).collect();
        let mut filters: Vec<Filter> =
            configs.iter().map(|c| filter(run, c, None, scope_of(c, groups))).collect();
        // The batches read while some listing is still going, for it to take when it is in.
        let mut held: Vec<Arc<Vec<Member>>> = Vec::new();
        for message in received {
            match message {
                FromSlack::Channel(channel_members) => {
                    for ((filter, config), read) in filters.iter_mut().zip(configs).zip(&mut reads) {
                        *filter =
                            self::filter(run, config, channel_members.clone(), scope_of(config, groups));
                        if let Some(Ok(read)) = read {
                            read.filter = filter.clone();
                        }
                    }
                }
                FromSlack::Members(batch) => {
                    let batch = Arc::new(batch);
                    for (n, system) in systems.iter().enumerate() {
                        if let (None, Some(early)) = (&reads[n], &early[n]) {
                            Early::key_batch(early, &batch, &filters[n], system, groups);
                        }
                    }
                    let mut listed: Vec<(&mut Result<Read, Error>, &System)> =
                        reads.iter_mut().zip(systems).filter_map(|(r, s)| Some((r.as_mut()?, s))).collect();
                    feed(&batch, &mut listed, groups, cores);
                    if reads.iter().any(Option::is_none) {
                        held.push(batch);
                    }
                }
                FromSlack::Listed(n, listed) => {
                    let mut listed = (*listed).map(|read| Read {
                        filter: filters[n].clone(),
                        grace: Grace::of(&configs[n]),
                        ..read
                    });
                    let early = early[n]
                        .as_ref()
                        .map(|e| std::mem::take(&mut *e.lock().unwrap_or_else(|p| p.into_inner())));
                    catch_up(&mut listed, &systems[n], &held, early, groups, cores);
                    reads[n] = Some(listed);
                    if reads.iter().all(Option::is_some) {
                        held.clear();
                    }
                }
            }
        }
        let reads: Vec<Result<Read, Error>> = reads
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::Internal("a listing ended without a result".into()))))
            .collect();
        let members = slack.join().unwrap_or_else(|panic| Err(panicked(&*panic)));
        if let Ok(members) = members {
            log_read(&reads, systems, members, started);
        }
        (reads, members)
    })
}

/// A system whose listing just came in takes the batches read meanwhile, in Slack's order: its
/// early matches where it has them, the usual match for every other member.
fn catch_up(
    slot: &mut Result<Read, Error>,
    system: &System,
    held: &[Arc<Vec<Member>>],
    early: Option<Early>,
    groups: Option<&UserGroups>,
    cores: usize,
) {
    let Some(mut early) = early else {
        for batch in held {
            feed(batch, &mut [(&mut *slot, system)], groups, cores);
        }
        return;
    };
    for (at, batch) in held.iter().enumerate() {
        let Ok(read) = slot else { return };
        // Each member once through the filter; the eligible ones without an early match are
        // matched the usual way, on every core, and put back in their places.
        let reasons: Vec<Option<SkipReason>> = batch.iter().map(|m| read.filter.reason_to_skip(m)).collect();
        let mut found: Vec<Option<Result<Desired, Error>>> =
            (0..batch.len()).map(|i| early.matched.remove(&(at, i))).collect();
        let todo: Vec<&Member> = batch
            .iter()
            .zip(reasons.iter().zip(&found))
            .filter(|(_, (reason, found))| reason.is_none() && found.is_none())
            .map(|(member, _)| member)
            .collect();
        let mut rest = match match_in_parts(read, system, &todo, groups, cores) {
            Ok(matched) => matched.into_iter().flat_map(|m| m.desired),
            Err(e) => return *slot = Err(e),
        };
        let mut matched = Matched::with_capacity(batch.len());
        for ((member, reason), found) in batch.iter().zip(reasons).zip(&mut found) {
            match (reason, found.take()) {
                (Some(reason), _) => matched.skip(system, member, reason, read.grace),
                (None, Some(Ok(desired))) => matched.desired.push(desired),
                (None, Some(Err(e))) => return *slot = Err(e),
                (None, None) => matched.desired.extend(rest.next()),
            }
        }
        read.skipped.extend(matched.skipped);
        read.desired.extend(matched.desired);
        read.recently_left.extend(matched.recently_left);
    }
}

/// What the thread reading Slack hands over: first the members of `SLACK_IM_CHANNEL` (when
/// set), then the members in batches; and what each listing thread hands over when it ends.
enum FromSlack {
    Channel(Option<HashSet<String>>),
    Members(Vec<Member>),
    /// Not from Slack: system `n`'s listing is in (or failed).
    Listed(usize, Box<Result<Read, Error>>),
}

/// The thread reading Slack: the channel's members, then every member in batches of [`BATCH`].
/// Returns how many distinct members Slack listed.
fn read_slack(
    run: &RunConfig,
    source: &Source,
    keep_raw: bool,
    sender: std::sync::mpsc::Sender<FromSlack>,
) -> Result<usize, Error> {
    let started = Instant::now();
    let channel_members = match &run.channel {
        Some(channel) => Some(source.channel_members(channel)?),
        None => None,
    };
    // A send fails only when the listing side is gone, and then nobody waits for this read.
    let _ = sender.send(FromSlack::Channel(channel_members));
    let mut batch: Vec<Member> = Vec::with_capacity(BATCH);
    let stats = source.for_each_member(keep_raw, |member| -> Result<(), Error> {
        batch.push(member);
        if batch.len() == BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            let _ = sender.send(FromSlack::Members(full));
        }
        Ok(())
    })?;
    let _ = sender.send(FromSlack::Members(batch));
    log::info!(
        "Slack: {} members in {} pages ({} requests, {} duplicates dropped), read in {:.2}s",
        stats.members,
        stats.pages,
        source.requests(),
        stats.duplicates,
        started.elapsed().as_secs_f64()
    );
    Ok(stats.members)
}

fn log_read(reads: &[Result<Read, Error>], systems: &[System], members: usize, started: Instant) {
    for (read, system) in reads.iter().zip(systems) {
        if let Ok(read) = read {
            log::info!(
                "{}: {} of {members} Slack members should have an account, {} skipped; listed, matched, rendered and compared in {:.2}s",
                system.templates.name(),
                read.desired.len(),
                read.skipped.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
}

/// Members handed to the systems at a time: about a `users.list` page, so memory stays flat.
const BATCH: usize = 1000;

/// Each system whose reads have gone well so far filters, matches and renders a batch of members;
/// with several systems each does so on its own thread, so three systems cost about one's time,
/// and a lone system splits the batch over the machine's cores (the results keep Slack's order).
/// A template that fails for a member stops that system only.
fn feed(
    members: &[Member],
    reads: &mut [(&mut Result<Read, Error>, &System)],
    groups: Option<&UserGroups>,
    cores: usize,
) {
    let running = reads.iter().filter(|(r, _)| r.is_ok()).count();
    let parts = (cores / running.max(1)).max(1);
    let members: Vec<&Member> = members.iter().collect();
    let members = &members[..];
    let work = |slot: &mut Result<Read, Error>, system: &System| {
        let Ok(read) = slot else { return };
        match match_in_parts(read, system, members, groups, parts) {
            Ok(matched) => {
                for Matched { skipped, desired, recently_left } in matched {
                    read.skipped.extend(skipped);
                    read.desired.extend(desired);
                    read.recently_left.extend(recently_left);
                }
            }
            Err(e) => *slot = Err(e),
        }
    };
    if running <= 1 {
        reads.iter_mut().for_each(|(slot, system)| work(slot, system));
        return;
    }
    let work = &work;
    std::thread::scope(|scope| {
        for (slot, system) in reads.iter_mut() {
            let system: &System = system;
            scope.spawn(move || work(slot, system));
        }
    });
}

/// What one system made of some members: who is left out and why, and the others matched and
/// rendered, both in Slack's order.
struct Matched {
    skipped: Vec<Skipped>,
    desired: Vec<Desired>,
    /// Members deactivated in Slack within the grace period.
    recently_left: Vec<RecentlyLeft>,
}

impl Matched {
    fn with_capacity(members: usize) -> Matched {
        Matched { skipped: Vec::new(), desired: Vec::with_capacity(members), recently_left: Vec::new() }
    }

    /// A member the filter leaves out, with the reason; one deactivated in Slack within the grace
    /// period is also recently left.
    fn skip(&mut self, system: &System, member: &Member, reason: SkipReason, grace: Option<Grace>) {
        if let (SkipReason::Deleted, Some(grace)) = (&reason, grace) {
            self.recently_left.extend(recently_left(system, member, grace));
        }
        self.skipped.push(Skipped { slack_id: member.id.clone(), reason })
    }
}

/// `members` cut into `parts` runs of members, each matched on a thread of its own (the first on
/// this one); the runs in order, or the error of the first member that failed.
fn match_in_parts(
    read: &Read,
    system: &System,
    members: &[&Member],
    groups: Option<&UserGroups>,
    parts: usize,
) -> Result<Vec<Matched>, Error> {
    let size = members.len().div_ceil(parts).max(1);
    let mut runs = members.chunks(size);
    let Some(first) = runs.next() else { return Ok(Vec::new()) };
    std::thread::scope(|scope| {
        let others: Vec<_> =
            runs.map(|run| scope.spawn(move || match_members(read, system, run, groups))).collect();
        let mut matched = vec![match_members(read, system, first, groups)?];
        for other in others {
            matched.push(other.join().unwrap_or_else(|p| Err(panicked(&*p)))?);
        }
        Ok(matched)
    })
}

fn match_members(
    read: &Read,
    system: &System,
    members: &[&Member],
    groups: Option<&UserGroups>,
) -> Result<Matched, Error> {
    let mut matched = Matched::with_capacity(members.len());
    for member in members {
        match read.filter.reason_to_skip(member) {
            Some(reason) => matched.skip(system, member, reason, read.grace),
            None => matched.desired.push(read.listing.desired_for(&system.templates, member, groups)?),
        }
    }
    Ok(matched)
}

/// A member deactivated in Slack, when Slack's `updated` puts it within the grace period, with
/// the key the templates give them (none when they cannot: a deactivated member's profile may lack
/// what the templates read; the anchor still finds the account).
fn recently_left(system: &System, member: &Member, grace: Grace) -> Option<RecentlyLeft> {
    let updated = member.updated.filter(|&at| at >= grace.since)?;
    let key = system.templates.key_of_member(member);
    Some(RecentlyLeft {
        slack_id: member.id.clone(),
        ids: member.ids().map(str::to_string).collect(),
        key,
        due_at: updated.saturating_add(grace.seconds),
    })
}

/// Step 3 for one system: the plan and its deactivations' bodies.
fn plan_system(config: &SystemConfig, system: &System, read: Read, members: usize) -> Result<Reading, Error> {
    let Read { listing, desired, skipped, recently_left, .. } = read;
    let eligible = desired.len();
    let policy = Policy { recently_left, ..policy(config, system, eligible) };
    let mut plan = plan::plan(desired, listing.accounts(), &policy);
    render_deactivations(system, &listing, &mut plan)?;
    Ok(Reading { listing, skipped, read: members, eligible, plan })
}

/// What the plan may do: the configuration's protections and guard, the system's capabilities,
/// and no deactivation at all when Slack gave nobody eligible.
fn policy(config: &SystemConfig, system: &System, eligible: usize) -> Policy {
    Policy {
        protect: config.protect.clone(),
        max_deactivate: config.max_deactivate,
        max_reactivate: config.max_reactivate,
        max_create: config.max_create,
        can_deactivate: system.templates.spec.deactivate.is_some(),
        deactivation_blocked: (eligible == 0)
            .then(|| "Slack returned no eligible member: deactivating everyone is never right".to_string()),
        recently_left: Vec::new(),
    }
}

/// Step 3b: the bodies of the deactivations the plan makes (`deactivate.json`), rendered before
/// any write like every other template.
fn render_deactivations(system: &System, listing: &Listing, plan: &mut Plan) -> Result<(), Error> {
    if !system.templates.has_deactivate_body {
        return Ok(());
    }
    // Withheld ones too: a saved plan that approves them is applied with these bodies.
    let leavers = plan.actions.iter_mut().filter(|a| a.kind == ActionKind::Deactivate);
    for action in leavers {
        if let Some(i) = action.account {
            action.body = system.templates.render_deactivate(&action.key, &listing.value(i))?;
        }
    }
    Ok(())
}
