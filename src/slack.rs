//! The Slack Web API client: reads the workspace members (paged, rate-limit aware), a channel's
//! members, the user groups, checks the token, and posts the run summary. Wire types stay private beside the calls.

use std::collections::HashSet;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::http::{self, Budget, Exhausted, GiveUp, Retries, RetryPolicy};
use crate::members::{read_member, Member, UserGroup};
use crate::secret::Secret;

mod surrogates;
pub use surrogates::repair_lone_surrogates;

/// Members asked for per `users.list` page. Slack's docs say "under 1000" (the node SDK: max 999)
/// and recommend 200; `users.list` is Tier 2 (about 20 calls a minute), so the largest allowed page
/// keeps a 50,000-member workspace at 51 calls instead of 250 and far from the rate limit.
pub const USERS_PAGE_SIZE: usize = 999;
/// `conversations.members` is Tier 4 and returns ids only; the same reasoning, same limit.
pub const CHANNEL_PAGE_SIZE: usize = 999;
/// How often a `users.list` page with no members that hands back the cursor it was sent is asked
/// again before the read fails: Slack may return fewer members than asked, even none.
const EMPTY_PAGE_RETRIES: usize = 3;

/// A restart from page one after `invalid_cursor` happens at most this often per read.
const CURSOR_RESTARTS: u32 = 1;
/// Upper bound on pages per read, so a server that hands out fresh cursors for empty pages cannot
/// keep a run going (a 200,000-member workspace is 201 pages).
pub const MAX_PAGES: usize = 10_000;

/// Why a Slack call failed, with Slack's own evidence and never the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackError {
    /// Slack answered `ok: false` with an error that retrying will not fix.
    #[error("Slack {method} failed: {code}{}{}", api_hint(code, needed, provided), says(messages))]
    Api {
        method: String,
        code: String,
        needed: Option<String>,
        provided: Option<String>,
        /// `response_metadata.messages`: Slack's detail (`[ERROR] missing required field: channel`).
        messages: Vec<String>,
    },
    /// A non-200 status, after the retries allowed.
    #[error("Slack {method} answered HTTP {status}{}: {excerpt}", if *status >= 500 { " after retries" } else { "" })]
    Http { method: String, status: u16, excerpt: String },
    /// No usable answer: connection, timeout or TLS, after the retries allowed.
    #[error("Slack {method}: {detail}")]
    Transport { method: String, detail: String },
    /// A 200 answer that is not the JSON Slack documents, after the retries allowed.
    #[error("Slack {method} sent an unreadable answer ({detail}): {excerpt}")]
    Malformed { method: String, detail: String, excerpt: String },
    /// Still rate-limited after the retries allowed.
    #[error("Slack {method} was still rate limited after {attempts} attempts")]
    RateLimited { method: String, attempts: u32 },
    /// The read did not finish (cursor loop bound, repeated `invalid_cursor`).
    #[error("Slack {method} read incomplete: {detail}")]
    Incomplete { method: String, detail: String },
    /// The run's deadline or retry budget ran out.
    #[error("Slack {method}: stopped: {reason}")]
    OutOfBudget { method: String, reason: Exhausted },
}

/// What an operator does about an `ok: false` code.
fn api_hint(code: &str, needed: &Option<String>, provided: &Option<String>) -> String {
    match code {
        "missing_scope" => format!(
            " (the token lacks the scope {}; it has {})",
            needed.as_deref().unwrap_or("?"),
            provided.as_deref().unwrap_or("?")
        ),
        "invalid_auth" | "not_authed" => " (check SLACK_BOT_TOKEN)".into(),
        "token_revoked" | "account_inactive" | "token_expired" => {
            " (the token no longer works: issue a new one for SLACK_BOT_TOKEN)".into()
        }
        "plan_upgrade_required" => {
            " (the workspace's plan has no user groups: unset SLACK_IM_USERGROUPS and take user.groups out of the templates)".into()
        }
        "missing_argument" | "team_access_not_granted" => {
            " (an org-level token needs SLACK_IM_SLACK_TEAM_ID set to a granted workspace)".into()
        }
        "channel_not_found" => {
            " (check SLACK_IM_CHANNEL / SLACK_IM_NOTIFY_CHANNEL; a private channel needs groups:read and the bot as a member)".into()
        }
        _ => String::new(),
    }
}

/// Slack's own detail of an error, after its code.
fn says(messages: &[String]) -> String {
    match messages.is_empty() {
        true => String::new(),
        false => format!("; Slack says: {}", messages.join("; ")),
    }
}

/// What an `ok: false` answer without an error code prints as.
pub const NO_ERROR_CODE: &str = "unknown_error (Slack sent no error code)";

/// `ok: false` errors that are Slack's own trouble and worth retrying.
const TRANSIENT_CODES: &[&str] = &["fatal_error", "internal_error", "request_timeout", "service_unavailable"];

/// `ok: false` codes that mean "slow down", inside an HTTP 200: honoured like a 429, `Retry-After`
/// included (`rate_limited` is `chat.postMessage`'s own spelling).
const RATE_LIMIT_CODES: &[&str] = &["ratelimited", "rate_limited"];

/// How one answer ends a call.
enum Verdict<T> {
    Done(T),
    /// Not worth retrying.
    Fatal(SlackError),
    /// Wait as `Retry-After` asks, then again.
    RateLimited,
    /// Worth retrying after a backoff.
    Transient(SlackError),
}

/// Statistics of a read, for progress lines and the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Distinct members read.
    pub members: usize,
    pub pages: usize,
    pub duplicates: usize,
}

pub struct SlackClient {
    agent: ureq::Agent,
    base_url: String,
    token: Secret<String>,
    team_id: Option<String>,
    retry: RetryPolicy,
    budget: std::sync::Arc<Budget>,
    /// Most members one read may return (`SLACK_IM_READ_LIMIT`).
    read_limit: usize,
    requests: std::sync::atomic::AtomicUsize,
    /// The token's scopes, as the last answer's `x-oauth-scopes` header named them.
    granted_scopes: std::sync::Mutex<Option<String>>,
}

#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    error: Option<String>,
    needed: Option<String>,
    provided: Option<String>,
    /// Any shape: only `messages`, when it is a list of strings, is read.
    response_metadata: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ResponseMetadata {
    next_cursor: Option<String>,
}

/// A `users.list` page. `members` is required: a page without it is not "no more members" but a
/// broken answer, and taking it for the end would turn a short read into deactivations.
#[derive(Deserialize)]
struct UsersListPage {
    members: Vec<Box<RawValue>>,
    response_metadata: Option<ResponseMetadata>,
}

#[derive(Deserialize)]
struct TypedUsersListPage {
    #[serde(default)]
    ok: bool,
    members: Vec<Member>,
    response_metadata: Option<ResponseMetadata>,
}

/// A `usergroups.list` answer (one, unpaged). `usergroups` is required, as `members` is for
/// `users.list`: an answer without it is broken, not "no groups".
#[derive(Deserialize)]
struct UserGroupsAnswer {
    usergroups: Vec<WireUserGroup>,
}

#[derive(Deserialize)]
struct WireUserGroup {
    #[serde(default)]
    id: String,
    handle: Option<String>,
    /// Asked for with `include_users`; a group without members may leave it out.
    #[serde(default)]
    users: Vec<String>,
    /// Set (not 0) on a disabled group.
    #[serde(default)]
    date_delete: serde_json::Value,
}

#[derive(Deserialize)]
struct ChannelMembersPage {
    #[serde(default)]
    members: Vec<String>,
    response_metadata: Option<ResponseMetadata>,
}

/// What `auth.test` says about the token.
#[derive(Debug, Clone, Deserialize)]
pub struct Identity {
    pub team: Option<String>,
    pub team_id: Option<String>,
    /// An org-level (Enterprise Grid) token: `users.list` then needs a `team_id`.
    pub is_enterprise_install: Option<bool>,
    pub enterprise_id: Option<String>,
}

/// The pages of one cursor-paged read: counts them and refuses a cursor Slack sent before (a
/// server that repeats its cursor would otherwise be read for ever) and more than [`MAX_PAGES`].
struct CursorChain {
    method: &'static str,
    pages: usize,
    seen: HashSet<String>,
}

impl CursorChain {
    fn new(method: &'static str) -> CursorChain {
        CursorChain { method, pages: 0, seen: HashSet::new() }
    }

    /// After a page: the cursor of the next one, `None` at the end, or why the read cannot go on.
    fn next(&mut self, cursor: Option<String>) -> Result<Option<String>, SlackError> {
        self.pages += 1;
        let Some(cursor) = cursor else { return Ok(None) };
        let incomplete = |detail: String| SlackError::Incomplete { method: self.method.into(), detail };
        if self.pages >= MAX_PAGES {
            return Err(incomplete(format!("more than {MAX_PAGES} pages")));
        }
        if !self.seen.insert(cursor.clone()) {
            return Err(incomplete(format!(
                "Slack sent the cursor {} a second time after {} pages: the read would never end",
                http::clean(&cursor, 60),
                self.pages
            )));
        }
        Ok(Some(cursor))
    }

    /// After `invalid_cursor`: the read starts again from the first page.
    fn restart(&mut self) {
        self.seen.clear();
    }
}

impl SlackClient {
    pub fn new(
        agent: ureq::Agent,
        base_url: &str,
        token: Secret<String>,
        team_id: Option<String>,
        budget: std::sync::Arc<Budget>,
        read_limit: usize,
    ) -> Self {
        SlackClient {
            agent,
            base_url: base_url.to_string(),
            token,
            team_id,
            retry: RetryPolicy::SLACK,
            budget,
            read_limit,
            requests: Default::default(),
            granted_scopes: Default::default(),
        }
    }

    /// The token's scopes as Slack names them on every answer (`x-oauth-scopes`); `None` when no
    /// answer carried the header (a proxy that drops it, a fake that does not send it).
    pub fn granted_scopes(&self) -> Option<Vec<String>> {
        let header = self.granted_scopes.lock().unwrap_or_else(|p| p.into_inner());
        let scopes = header.as_deref()?.split(',').map(str::trim).filter(|s| !s.is_empty());
        Some(scopes.map(str::to_string).collect())
    }

    /// The workspace the reads name (`SLACK_IM_SLACK_TEAM_ID`), when configured.
    pub fn team_id(&self) -> Option<&str> {
        self.team_id.as_deref()
    }

    /// HTTP requests sent so far, retries included.
    pub fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Reads every member of the workspace and hands each to `visit`, page by page, deduplicated
    /// by id, in Slack's order; no page is kept once visited, so memory does not grow with the
    /// workspace. `keep_raw` keeps each member's whole object (for templates that use `user.slack`).
    /// An error from `visit` stops the read and is returned.
    // The page loop with its restart, limit and progress line in one place: a little over 60 lines.
    pub fn for_each_member<E: From<SlackError>>(
        &self,
        keep_raw: bool,
        mut visit: impl FnMut(Member) -> Result<(), E>,
    ) -> Result<ReadStats, E> {
        let method = "users.list";
        let mut restarts = 0;
        // Kept across an `invalid_cursor` restart: members already visited are not visited twice.
        let mut seen: HashSet<String> = HashSet::new();
        let mut stats = ReadStats::default();
        // Members without an id cannot be deduplicated: each is visited (and skipped, listed).
        let mut without_id = 0;
        let mut chain = CursorChain::new(method);
        let mut cursor: Option<String> = None;
        let mut empty_answers = 0;
        loop {
            let limit = USERS_PAGE_SIZE.to_string();
            let mut args = vec![("limit", limit.as_str())];
            if let Some(c) = &cursor {
                args.push(("cursor", c));
            }
            if let Some(t) = &self.team_id {
                args.push(("team_id", t));
            }
            let page = match self.call_with(method, &args, |body| parse_users_list(body, keep_raw)) {
                Err(SlackError::Api { code, .. })
                    if code == "invalid_cursor" && restarts < CURSOR_RESTARTS =>
                {
                    restarts += 1;
                    log::warn!(
                        "Slack {method}: invalid_cursor after {} pages; reading again from the first page",
                        stats.pages
                    );
                    chain.restart();
                    cursor = None;
                    continue;
                }
                other => other?,
            };
            if page.members.is_empty() && cursor.is_some() && page.next_cursor == cursor {
                empty_answers += 1;
                if empty_answers > EMPTY_PAGE_RETRIES {
                    let detail = format!(
                        "Slack answered {empty_answers} times with no members and the same cursor after {} pages",
                        stats.pages
                    );
                    return Err(SlackError::Incomplete { method: method.into(), detail }.into());
                }
                log::warn!("Slack {method}: a page with no members and the same cursor; asking again");
                std::thread::sleep(std::time::Duration::from_millis(200 * empty_answers as u64));
                continue;
            }
            empty_answers = 0;
            stats.pages += 1;
            for member in page.members {
                if member.id.is_empty() {
                    without_id += 1;
                    visit(member)?;
                } else if seen.insert(member.id.clone()) {
                    if seen.len() > self.read_limit {
                        let detail = format!(
                            "more than {} members (SLACK_IM_READ_LIMIT): raise it if the workspace really is that large",
                            self.read_limit
                        );
                        return Err(SlackError::Incomplete { method: method.into(), detail }.into());
                    }
                    visit(member)?;
                } else {
                    stats.duplicates += 1;
                }
            }
            if stats.pages % 5 == 0 {
                log::info!("Slack {method}: page {}: {} members so far", stats.pages, seen.len());
            }
            match chain.next(page.next_cursor)? {
                Some(next) => cursor = Some(next),
                None => {
                    stats.members = seen.len() + without_id;
                    return Ok(stats);
                }
            }
        }
    }

    /// The ids of a channel's members (`conversations.members`, paged).
    pub fn channel_members(&self, channel: &str) -> Result<HashSet<String>, SlackError> {
        let method = "conversations.members";
        let mut ids = HashSet::new();
        let mut chain = CursorChain::new(method);
        let mut cursor: Option<String> = None;
        loop {
            let limit = CHANNEL_PAGE_SIZE.to_string();
            let mut args = vec![("channel", channel), ("limit", limit.as_str())];
            if let Some(c) = &cursor {
                args.push(("cursor", c));
            }
            let page: ChannelMembersPage = self.call(method, &args)?;
            ids.extend(page.members);
            if ids.len() > self.read_limit {
                let detail = format!("more than {} members (SLACK_IM_READ_LIMIT)", self.read_limit);
                return Err(SlackError::Incomplete { method: method.into(), detail });
            }
            match chain.next(next_cursor(page.response_metadata))? {
                Some(next) => cursor = Some(next),
                None => return Ok(ids),
            }
        }
    }

    /// The enabled user groups with their members (`usergroups.list`, `include_users`; `team_id`
    /// for an org-level token). Disabled groups are not asked for, and ignored should Slack send
    /// them anyway; a group without a handle cannot be named, so it is left out.
    pub fn usergroups(&self) -> Result<Vec<UserGroup>, SlackError> {
        let mut args = vec![("include_users", "true"), ("include_disabled", "false")];
        if let Some(t) = &self.team_id {
            args.push(("team_id", t));
        }
        let answer: UserGroupsAnswer = self.call("usergroups.list", &args)?;
        let disabled = |g: &WireUserGroup| g.date_delete.as_f64().is_some_and(|d| d != 0.0);
        Ok(answer
            .usergroups
            .into_iter()
            .filter(|g| !disabled(g))
            .filter_map(|g| {
                let handle = http::clean(g.handle.as_deref()?, 100);
                (!handle.is_empty()).then(|| UserGroup { id: http::clean(&g.id, 40), handle, users: g.users })
            })
            .collect())
    }

    /// `auth.test`: is the token valid, and for which workspace.
    pub fn auth_test(&self) -> Result<Identity, SlackError> {
        self.call("auth.test", &[])
    }

    /// `chat.postMessage` with text (the notification fallback) and blocks.
    pub fn post_message(
        &self,
        channel: &str,
        text: &str,
        blocks: &serde_json::Value,
    ) -> Result<(), SlackError> {
        let blocks = blocks.to_string();
        let _: serde_json::Value =
            self.call("chat.postMessage", &[("channel", channel), ("text", text), ("blocks", &blocks)])?;
        Ok(())
    }

    /// A welcome DM: `chat.postMessage` with `channel` = the member's user id (Slack posts it in the
    /// app's DM with that person; `chat:write`). Sent at most once: a 429 or `rate_limited` (Slack
    /// posted nothing) waits and asks again, but a 5xx, a timeout or a broken connection is not
    /// retried, since Slack may have posted it already and a second post would tell them twice.
    pub fn post_direct_message(&self, user_id: &str, text: &Secret<String>) -> Result<(), SlackError> {
        let method = "chat.postMessage";
        let args = [("channel", user_id), ("text", text.expose().as_str())];
        let sent: Result<serde_json::Value, SlackError> =
            self.send(method, &args, false, |body| parse(method, body));
        sent.map(|_| ()).map_err(|e| match e {
            // Neither names "after retries": none was made, and the reason says why.
            SlackError::Http { status, excerpt, .. } if status >= 500 => SlackError::Transport {
                method: method.into(),
                detail: format!(
                    "answered HTTP {status}, not asked again (Slack may have posted it): {excerpt}"
                ),
            },
            SlackError::Transport { detail, .. } | SlackError::Malformed { detail, .. } => {
                SlackError::Transport {
                    method: method.into(),
                    detail: format!("{detail}; not asked again (Slack may have posted it)"),
                }
            }
            // Not the notification channel's hint: the member is who Slack does not know.
            SlackError::Api { code, .. } if code == "channel_not_found" => SlackError::Transport {
                method: method.into(),
                detail: format!(
                    "failed: channel_not_found (Slack knows no member {user_id} to DM: gone from the workspace?)"
                ),
            },
            other => other,
        })
    }

    /// One Web API call: form POST with the Bearer token, retried on 429 (after `Retry-After`),
    /// 5xx, transport errors, unreadable bodies and transient `ok:false` codes; any other `ok:false`
    /// fails at once with Slack's error code.
    fn call<T: DeserializeOwned>(&self, method: &str, args: &[(&str, &str)]) -> Result<T, SlackError> {
        self.call_with(method, args, |body| parse::<T>(method, body))
    }

    /// [`Self::call`] with the method's own parser: an unreadable answer is retried like a 5xx.
    fn call_with<T>(
        &self,
        method: &str,
        args: &[(&str, &str)],
        parse_body: impl Fn(&str) -> Result<T, SlackError>,
    ) -> Result<T, SlackError> {
        self.send(method, args, true, parse_body)
    }

    /// One call and its retries. `resend: false` (a post that must not land twice): only a rate
    /// limit, which says Slack did nothing, is asked again; any other failure is final.
    // One retry loop over every way a call can end; its branches read best side by side, so it
    // stays one function a little over 60 lines.
    fn send<T>(
        &self,
        method: &str,
        args: &[(&str, &str)],
        resend: bool,
        parse_body: impl Fn(&str) -> Result<T, SlackError>,
    ) -> Result<T, SlackError> {
        let url = format!("{}{}", self.base_url, method);
        let mut retries = Retries::new(self.retry, &self.budget);
        let out_of_budget = |reason| SlackError::OutOfBudget { method: method.into(), reason };
        loop {
            retries.check().map_err(out_of_budget)?;
            self.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let sent = self
                .agent
                .post(&url)
                .header("Authorization", format!("Bearer {}", self.token.expose()))
                .send_form(args.iter().copied());
            let failure = match sent.and_then(http::read_reply) {
                Err(e) if !resend || !http::is_transient(&e) => {
                    return Err(SlackError::Transport { method: method.into(), detail: http::describe(&e) })
                }
                Err(e) => SlackError::Transport { method: method.into(), detail: http::describe(&e) },
                Ok(reply) => {
                    if let Some(scopes) = reply.header("x-oauth-scopes") {
                        *self.granted_scopes.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some(http::clean(scopes, 2000));
                    }
                    match judge(method, &reply, &parse_body) {
                        Verdict::Done(value) => return Ok(value),
                        Verdict::Fatal(e) => return Err(e),
                        Verdict::Transient(e) if !resend => return Err(e),
                        Verdict::Transient(e) => e,
                        Verdict::RateLimited => {
                            let who = format!("Slack {method}");
                            match retries.wait_rate_limited(&who, reply.retry_after.as_deref()) {
                                Ok(()) => continue,
                                Err(GiveUp::Run(reason)) => return Err(out_of_budget(reason)),
                                Err(GiveUp::Attempts) => {
                                    let attempts = retries.rate_limited();
                                    return Err(SlackError::RateLimited { method: method.into(), attempts });
                                }
                            }
                        }
                    }
                }
            };
            retries.retry_or(failure, out_of_budget)?;
        }
    }
}

/// How an answer ends a call: a 429, or `ratelimited` inside a 200, waits as `Retry-After` asks;
/// 5xx, unreadable bodies and Slack's own trouble are retried; any other failure is final.
fn judge<T>(
    method: &str,
    reply: &http::Reply,
    parse_body: impl Fn(&str) -> Result<T, SlackError>,
) -> Verdict<T> {
    if reply.status == 429 {
        return Verdict::RateLimited;
    }
    if reply.status != 200 {
        let error = SlackError::Http {
            method: method.into(),
            status: reply.status,
            excerpt: reply.redirect().unwrap_or_else(|| http::excerpt(&reply.body, 200)),
        };
        return if reply.status < 500 { Verdict::Fatal(error) } else { Verdict::Transient(error) };
    }
    match parse_body(&reply.body) {
        Ok(value) => Verdict::Done(value),
        Err(SlackError::Api { code, .. }) if RATE_LIMIT_CODES.contains(&code.as_str()) => {
            Verdict::RateLimited
        }
        Err(e @ SlackError::Api { .. }) => match &e {
            SlackError::Api { code, .. } if TRANSIENT_CODES.contains(&code.as_str()) => Verdict::Transient(e),
            _ => Verdict::Fatal(e),
        },
        Err(e) => Verdict::Transient(e),
    }
}

/// One `users.list` page, parsed: its members and the cursor of the next page (`None`: the end).
#[derive(Debug)]
pub struct UsersPage {
    pub members: Vec<Member>,
    pub next_cursor: Option<String>,
}

/// Parses a `users.list` answer. Pure, so it is unit-tested and fuzzed on its own; `keep_raw`
/// keeps each member's whole object.
pub fn parse_users_list(body: &str, keep_raw: bool) -> Result<UsersPage, SlackError> {
    let method = "users.list";
    if !keep_raw {
        // One pass straight into the fields slack-im uses, envelope included (a 1.5 MB page is not
        // scanned twice); anything unusual takes the careful path below for its error.
        let repaired = repair_lone_surrogates(body);
        if let Ok(page) = serde_json::from_str::<TypedUsersListPage>(&repaired) {
            if page.ok {
                return Ok(UsersPage {
                    members: page.members,
                    next_cursor: next_cursor(page.response_metadata),
                });
            }
        }
    }
    // The careful path: the envelope must be right (or the read fails); each member is read on its
    // own, so one object Slack got wrong is skipped and reported, not the whole workspace.
    let page: UsersListPage = parse(method, body)?;
    let members = page.members.into_iter().map(|raw| read_member(raw, keep_raw)).collect();
    Ok(UsersPage { members, next_cursor: next_cursor(page.response_metadata) })
}

/// Parses a 200 body: the envelope first (`ok`, `error`), then the method's own shape.
fn parse<T: DeserializeOwned>(method: &str, body: &str) -> Result<T, SlackError> {
    let body = &*repair_lone_surrogates(body);
    let malformed = |detail: String| SlackError::Malformed {
        method: method.into(),
        detail,
        excerpt: http::excerpt(body, 200),
    };
    let envelope: Envelope = serde_json::from_str(body).map_err(|e| malformed(e.to_string()))?;
    if !envelope.ok {
        // Slack's own words, printed later: no control characters, bounded.
        let messages = envelope
            .response_metadata
            .as_ref()
            .and_then(|m| m.get("messages")?.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|m| m.as_str().map(|m| http::clean(m, 300)))
            .filter(|m| !m.is_empty())
            .take(5)
            .collect();
        return Err(SlackError::Api {
            method: method.into(),
            code: envelope
                .error
                .map(|e| http::clean(&e, 100))
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| NO_ERROR_CODE.into()),
            needed: envelope.needed.map(|n| http::clean(&n, 200)),
            provided: envelope.provided.map(|p| http::clean(&p, 500)),
            messages,
        });
    }
    serde_json::from_str(body).map_err(|e| malformed(e.to_string()))
}

/// The cursor of the next page, or `None` at the end: an empty, null or missing `next_cursor`, or
/// no `response_metadata` at all, all mean "no more pages".
fn next_cursor(metadata: Option<ResponseMetadata>) -> Option<String> {
    metadata.and_then(|m| m.next_cursor).filter(|c| !c.is_empty())
}

#[cfg(test)]
mod tests;
