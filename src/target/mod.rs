//! The HTTP client of a target system: lists its accounts (paged by `{page}` or by `next`, checked
//! against the server's `total`) and writes creates, updates and deactivations as `system.json`
//! describes them, addressed by key or by the server's id.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use crate::action::ActionKind;
use crate::http::{self, Budget, Exhausted, GiveUp, Retries, RetryPolicy};

mod key;
mod spec;

pub use key::{encode_path_segment, key_at, normalize_key};
pub use spec::{Endpoint, KeyRule, ListSpec, SystemSpec};

/// How much one system's listing may read.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    /// Accounts (`SLACK_IM_READ_LIMIT`).
    pub accounts: usize,
    /// Megabytes of pages, all listings together (`SLACK_IM_READ_MAX_MB`).
    pub megabytes: u64,
}

/// An account the target already has.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// `None`: the listing gives it no key (unkeyed: never matched, never managed, reported).
    pub key: Option<String>,
    /// The server's id of the account (`list.id`), which `{id}` in write paths stands for.
    pub id: Option<String>,
    /// Which of `system.json`'s listings gave it (0 for the first).
    pub listing: usize,
    /// Shared: templates read it without copying.
    pub value: std::sync::Arc<serde_json::Value>,
}

/// Where a write goes: the key names the account (in reports, the journal, `{key}`); the id, when
/// the listing gave one, addresses it (`{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address<'a> {
    pub key: &'a str,
    pub id: Option<&'a str>,
}

/// One page as the `next` expression sees it.
pub struct PageRead<'a> {
    /// The page's answer, whole.
    pub response: &'a Arc<serde_json::Value>,
    /// Which page of this listing it was, from 0.
    pub page: usize,
    /// Accounts this listing has read so far, this page's included.
    pub count: usize,
    /// The path that was requested.
    pub path: &'a str,
}

/// What a listing needs from `system.json`'s expressions; the template layer evaluates them, so
/// this client never renders anything.
pub trait ListingRules {
    /// The key of an account of listing `listing` by its `key` expression: `None` when it has none.
    fn key(&self, listing: usize, account: &Arc<serde_json::Value>) -> Result<Option<String>, String>;
    /// The path after `page` by listing `listing`'s `next` expression: `None` to stop.
    fn next(&self, listing: usize, page: &PageRead<'_>) -> Result<Option<String>, String>;
}

/// The path a `next` expression gave, checked: it stays on the base URL and was not read before
/// (a `next` that comes back would go round in a loop).
fn following_path(next: String, requested: &mut HashSet<String>) -> Result<String, String> {
    if !next.starts_with('/') {
        return Err(format!(
            "the \"next\" expression gave {:?}, which does not start with /: a listing never leaves the base URL",
            http::clean(&next, 200)
        ));
    }
    if !requested.insert(next.clone()) {
        return Err(format!(
            "the \"next\" expression gave {:?}, a path already read: it goes round in a loop",
            http::clean(&next, 200)
        ));
    }
    Ok(next)
}

/// Most pages one listing may take: a `next` that never says stop is a bug, not a big server.
const MAX_PAGES: usize = 10_000;

/// What a target call does: list the accounts, or one of the plan's writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    List,
    Write(ActionKind),
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::List => f.write_str("list"),
            Op::Write(kind) => kind.fmt(f),
        }
    }
}

/// Which request failed: what it did, for which key, and where (the evidence every error keeps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub op: Op,
    pub key: Option<String>,
    pub method: String,
    pub url: String,
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "target {}: {} {}", subject(&self.op, &self.key), self.method, self.url)
    }
}

/// `create jo.doe`, `list`: the operation and its key, cleaned for printing.
fn subject(op: &Op, key: &Option<String>) -> String {
    match key {
        Some(k) => format!("{op} {}", http::clean(k, 200)),
        None => op.to_string(),
    }
}

/// After the status: a hint for the statuses that mean "not let in", and the body's excerpt.
fn http_tail(status: u16, excerpt: &str) -> String {
    let hint = match status {
        401 | 403 => " (check the target token secret and system.json headers)",
        _ => "",
    };
    let evidence = if excerpt.is_empty() { String::new() } else { format!(": {excerpt}") };
    format!("{hint}{evidence}")
}

/// A failed target call, with the evidence: status and body excerpt (secrets are redacted on output).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("{call} answered HTTP {status}{}", http_tail(*status, excerpt))]
    Http { call: Call, status: u16, excerpt: String },
    #[error("{call}: {detail}")]
    Transport { call: Call, detail: String },
    /// The listing cannot be trusted or read (not JSON, repeats itself, too large).
    #[error("target listing: {detail}")]
    Listing { detail: String },
    /// `system.json` has no endpoint for this write.
    #[error("target {op}: system.json has no \"{op}\" endpoint")]
    NoEndpoint { op: Op },
    /// A key that cannot stand in a URL path as one segment; nothing was sent.
    #[error("target {op} {key:?}: not sent: the key {problem}, so it cannot be a URL path segment")]
    Key { op: Op, key: String, problem: &'static str },
    /// The path of this write needs `{id}` and the listing gave the account none; nothing was sent.
    #[error("target {op} {key:?}: not sent: the listing gave this account no id (system.json list.id), and the {op} path needs {{id}}")]
    NoId { op: Op, key: String },
    /// A create-or-modify create (`PUT …/{key}`) whose account the server has although the listing
    /// did not show it: sending it would overwrite that account, so it is not sent.
    #[error("{call}: not sent: the account exists but the listing did not show it; nothing was overwritten")]
    Exists { call: Call },
    /// The run's deadline or retry budget ran out before or during this request.
    #[error("target {}: not sent: {reason}", subject(op, key))]
    OutOfBudget { op: Op, key: Option<String>, reason: Exhausted },
}

impl TargetError {
    /// The target as a whole is not answering or not letting us in (no connection, 5xx, 429,
    /// 401/403), as opposed to refusing this one request (400, 404, 422…).
    pub fn is_unavailable(&self) -> bool {
        match self {
            TargetError::Transport { .. } => true,
            TargetError::Http { status, .. } => matches!(status, 401 | 403 | 429 | 500..=599),
            TargetError::Listing { .. }
            | TargetError::Key { .. }
            | TargetError::NoEndpoint { .. }
            | TargetError::NoId { .. }
            | TargetError::Exists { .. } => false,
            // The remaining writes would all fail the same way: stop at once.
            TargetError::OutOfBudget { .. } => true,
        }
    }
}

/// What a create did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Created,
    /// HTTP 409 to a retry of this create, after an attempt that may have landed (a timeout, a
    /// 5xx): the first attempt created it. A 409 to a first attempt is a failure: the listing did not
    /// have the key, so the conflict is about something else, and the server says what.
    AlreadyExists,
}

/// The writes `apply` needs. The HTTP client implements it; tests use an in-memory double.
/// Bodies are the rendered documents; the client wraps them as `system.json` says.
pub trait Target: Sync {
    fn create(&self, key: &str, body: &serde_json::Value) -> Result<Created, TargetError>;
    fn update(&self, address: Address<'_>, body: &serde_json::Value) -> Result<(), TargetError>;
    fn deactivate(&self, address: Address<'_>, body: Option<&serde_json::Value>) -> Result<(), TargetError>;
    /// To the `reactivate` endpoint, else to `update`.
    fn reactivate(&self, address: Address<'_>, body: Option<&serde_json::Value>) -> Result<(), TargetError>;
}

/// Which answers a request takes as its result besides a 2xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// 2xx only (a 409 to a retried create too: see [`Created::AlreadyExists`]).
    Success,
    /// 2xx or 404: a GET asking whether an account exists.
    SuccessOrMissing,
}

pub struct TargetClient {
    agent: ureq::Agent,
    base_url: String,
    spec: SystemSpec,
    retry: RetryPolicy,
    budget: Arc<Budget>,
    /// Most accounts one listing may return (`SLACK_IM_READ_LIMIT`) and most megabytes of pages
    /// all of a system's listings may read (`SLACK_IM_READ_MAX_MB`).
    limits: ReadLimits,
    /// Bytes of listing pages read so far.
    listed_bytes: std::sync::atomic::AtomicU64,
    requests: std::sync::atomic::AtomicUsize,
}

impl TargetClient {
    pub fn new(
        agent: ureq::Agent,
        base_url: &str,
        spec: SystemSpec,
        budget: Arc<Budget>,
        limits: ReadLimits,
    ) -> Self {
        TargetClient {
            agent,
            base_url: base_url.trim_end_matches('/').to_string(),
            spec,
            retry: RetryPolicy::TARGET,
            budget,
            limits,
            listed_bytes: Default::default(),
            requests: Default::default(),
        }
    }

    /// HTTP requests sent so far, retries included.
    pub fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Hands every account the target lists to `visit`, listing by listing, page by page, and
    /// returns how many there were. A listing pages by `{page}` = 0, 1, 2 … until a page has no
    /// items, or by its `next` expression until it gives nothing; a path with neither is one
    /// request. Reaching the server's `total` stops a listing too.
    ///
    /// The read is complete or failed: a key listed twice (a listing that wraps around, or
    /// duplicate entries that would each get a DELETE), fewer or more accounts than the server's
    /// `total`, a `next` path that leaves the base URL or comes back, or more accounts than the
    /// read limit fail it.
    pub fn for_each_account<E: From<TargetError>>(
        &self,
        rules: &dyn ListingRules,
        mut visit: impl FnMut(Account) -> Result<(), E>,
    ) -> Result<usize, E> {
        let mut seen: HashSet<String> = HashSet::new();
        let mut unkeyed = 0;
        self.listed_bytes.store(0, std::sync::atomic::Ordering::Relaxed);
        for (n, list) in self.spec.list.iter().enumerate() {
            unkeyed += self.read_listing(n, list, rules, &mut seen, &mut visit)?;
        }
        Ok(seen.len() + unkeyed)
    }

    /// One listing of `system.json`; returns how many of its accounts had no key.
    ///
    /// While a page's accounts are keyed and visited, the next page is already being fetched on
    /// a thread of its own, so a listing costs about its pages' round trips rather than round
    /// trips plus parsing. The requests are the same ones a sequential read sends, with one
    /// exception: when a page fails the read (a repeated key, the read limit), the page after it
    /// may already have been asked for.
    fn read_listing<E: From<TargetError>>(
        &self,
        n: usize,
        list: &ListSpec,
        rules: &dyn ListingRules,
        seen: &mut HashSet<String>,
        visit: &mut impl FnMut(Account) -> Result<(), E>,
    ) -> Result<usize, E> {
        let paged = list.paged();
        let mut path = list.path.replace("{page}", "0");
        let mut requested: HashSet<String> = HashSet::from([path.clone()]);
        let (mut count, mut unkeyed, mut total) = (0usize, 0usize, None);
        std::thread::scope(|scope| -> Result<(), E> {
            // One fetching thread for the whole listing, woken with the next path: a thread made
            // anew for every page waited about a millisecond for a core on a busy machine.
            let (ask, asked) = std::sync::mpsc::channel::<String>();
            let (answer, answers) = std::sync::mpsc::channel();
            scope.spawn(move || {
                for path in asked {
                    if answer.send(self.fetch_page(list, &path)).is_err() {
                        break;
                    }
                }
            });
            let fetch_now = |path: &str| self.fetch_page(list, path);
            let mut prefetched = false;
            for page in 0..MAX_PAGES {
                let failed = |detail: String| TargetError::Listing {
                    detail: format!("{} {path} (page {page}): {detail}", list.method),
                };
                let body = match std::mem::take(&mut prefetched) {
                    true => answers.recv().unwrap_or_else(|_| {
                        Err(TargetError::Listing {
                            detail: "the thread reading the next page stopped".into(),
                        })
                    })?,
                    false => fetch_now(&path)?,
                };
                self.count_listed_bytes(body.len())?;
                let (page_json, items_len, page_total) = parse_page(&body, list).map_err(failed)?;
                total = page_total.or(total);
                if items_len == 0 {
                    break;
                }
                let next = match &list.next {
                    Some(_) => {
                        let read =
                            PageRead { response: &page_json, page, count: count + items_len, path: &path };
                        rules
                            .next(n, &read)
                            .map_err(|e| failed(format!("the \"next\" expression failed: {e}")))?
                    }
                    None => None,
                };
                let done = total.is_some_and(|t| (count + items_len) as u64 >= t);
                let following = match (done, paged, next) {
                    (true, _, _) | (false, false, None) => None,
                    (false, true, _) => Some(list.path.replace("{page}", &(page + 1).to_string())),
                    (false, false, Some(next)) => Some(following_path(next, &mut requested).map_err(failed)?),
                };
                if following.is_some() && page + 1 == MAX_PAGES {
                    return Err(failed(format!(
                        "more than {MAX_PAGES} pages: does the \"next\" expression ever stop?"
                    ))
                    .into());
                }
                prefetched = following.clone().is_some_and(|path| ask.send(path).is_ok());
                let accounts = take_accounts(page_json, list, n, rules).map_err(failed)?;
                for account in accounts {
                    count += 1;
                    let Some(key) = &account.key else {
                        unkeyed += 1;
                        visit(account)?;
                        continue;
                    };
                    if !seen.insert(normalize_key(key)) {
                        let detail = format!(
                            "page {page} lists the key {:?} again (keys compare case-insensitively): a listing that repeats itself or holds duplicates cannot be trusted{}",
                            http::clean(key, 100),
                            if paged { "; does the list path's {page} parameter work?" } else { "" }
                        );
                        return Err(TargetError::Listing { detail }.into());
                    }
                    if seen.len() + unkeyed > self.limits.accounts {
                        let detail =
                            format!("more than {} accounts (SLACK_IM_READ_LIMIT)", self.limits.accounts);
                        return Err(TargetError::Listing { detail }.into());
                    }
                    visit(account)?;
                }
                if page > 0 && page % 20 == 0 {
                    log::info!("target listing: page {page}: {count} accounts so far");
                }
                match following {
                    Some(following) => path = following,
                    None => break,
                }
            }
            Ok(())
        })?;
        if let (Some(total), Some(pointer)) = (total, &list.total) {
            if count as u64 != total {
                let detail = format!(
                    "{} {}: the server counts {total} accounts at {pointer} but the listing gave {count} (system.json list.total): a capped or short listing cannot be trusted",
                    list.method, list.path
                );
                return Err(TargetError::Listing { detail }.into());
            }
        }
        Ok(unkeyed)
    }

    /// Adds a page to the bytes listed; past `SLACK_IM_READ_MAX_MB` the read fails before the
    /// page is parsed or the next one asked for.
    fn count_listed_bytes(&self, bytes: usize) -> Result<(), TargetError> {
        let ordering = std::sync::atomic::Ordering::Relaxed;
        let listed = self.listed_bytes.fetch_add(bytes as u64, ordering) + bytes as u64;
        let limit = self.limits.megabytes.saturating_mul(1_000_000);
        if listed > limit {
            let detail = format!(
                "the listing pages passed {} MB (SLACK_IM_READ_MAX_MB): a listing that large cannot be held; raise the limit if the accounts really are that big",
                self.limits.megabytes
            );
            return Err(TargetError::Listing { detail });
        }
        Ok(())
    }

    /// One page of a listing, as text.
    fn fetch_page(&self, list: &ListSpec, path: &str) -> Result<String, TargetError> {
        let endpoint = Endpoint { method: list.method.clone(), path: path.to_string(), wrap: None };
        Ok(self.send(Op::List, None, &endpoint, None, Expect::Success)?.1)
    }

    /// Whether the account at `address` answers a GET of the update address (else the
    /// deactivate address): `check` proves with it that writes would reach real accounts. Returns
    /// the method and URL asked and the status (2xx or 404); any other answer is an error.
    pub fn probe_write_address(&self, address: Address<'_>) -> Result<Option<(String, u16)>, TargetError> {
        let Some((kind, endpoint)) = self.spec.update.as_ref().map(|e| (ActionKind::Update, e)).or(self
            .spec
            .deactivate
            .as_ref()
            .map(|e| (ActionKind::Deactivate, e)))
        else {
            return Ok(None);
        };
        let probe = Endpoint { method: "GET".into(), path: endpoint.path.clone(), wrap: None };
        let url = format!("{}{}", self.base_url, fill_path(&probe.path, Op::Write(kind), Some(address))?);
        let (status, _) =
            self.send(Op::Write(kind), Some(address), &probe, None, Expect::SuccessOrMissing)?;
        Ok(Some((format!("GET {url}"), status)))
    }

    /// One request, retried on 429 (after `Retry-After`), 502/503/504 and transport errors, within
    /// the run's budget. Returns the status and body of a 2xx answer, of a 409 to a retried
    /// create (see [`Created::AlreadyExists`]), or of a 404 when `expect` allows it. The key and
    /// id are checked before anything is sent.
    // One retry loop over every way a write can end; its branches read best side by side, so it
    // stays one function a little over 60 lines.
    fn send(
        &self,
        op: Op,
        address: Option<Address<'_>>,
        endpoint: &Endpoint,
        body: Option<&serde_json::Value>,
        expect: Expect,
    ) -> Result<(u16, String), TargetError> {
        let key = address.map(|a| a.key);
        let url = format!("{}{}", self.base_url, fill_path(&endpoint.path, op, address)?);
        let call =
            || Call { op, key: key.map(str::to_string), method: endpoint.method.clone(), url: url.clone() };
        let payload = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let mut retries = Retries::new(self.retry, &self.budget);
        let out_of_budget = |reason| TargetError::OutOfBudget { op, key: key.map(str::to_string), reason };
        loop {
            retries.check().map_err(out_of_budget)?;
            self.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let request = self.request(endpoint, &url, body.is_some(), payload.clone()).map_err(|e| {
                TargetError::Transport {
                    call: call(),
                    detail: format!("cannot build the request (check system.json headers): {e}"),
                }
            })?;
            let create = Op::Write(ActionKind::Create);
            let failure = match self.agent.run(request).and_then(http::read_reply) {
                Ok(reply) if (200..300).contains(&reply.status) => return Ok((reply.status, reply.body)),
                Ok(reply)
                    if reply.status == 409 && op == create && body.is_some() && retries.attempts() > 1 =>
                {
                    return Ok((reply.status, reply.body))
                }
                Ok(reply) if reply.status == 404 && expect == Expect::SuccessOrMissing => {
                    return Ok((reply.status, reply.body))
                }
                Ok(reply) if reply.status == 429 => {
                    match retries.wait_rate_limited(&format!("target {op}"), reply.retry_after.as_deref()) {
                        Ok(()) => continue,
                        Err(GiveUp::Run(reason)) => return Err(out_of_budget(reason)),
                        Err(GiveUp::Attempts) => {}
                    }
                    let excerpt = http::excerpt(&reply.body, 300);
                    return Err(TargetError::Http { call: call(), status: 429, excerpt });
                }
                Ok(reply) => {
                    let excerpt = reply.redirect().unwrap_or_else(|| http::excerpt(&reply.body, 300));
                    let error = TargetError::Http { call: call(), status: reply.status, excerpt };
                    if ![502, 503, 504].contains(&reply.status) {
                        return Err(error);
                    }
                    error
                }
                Err(e) => {
                    let error = TargetError::Transport { call: call(), detail: http::describe(&e) };
                    if !http::is_transient(&e) {
                        return Err(error);
                    }
                    error
                }
            };
            retries.retry_or(failure, out_of_budget)?;
        }
    }
}

impl TargetClient {
    /// One request as `system.json` describes it: its headers (each replacing the built-in one of
    /// its name), JSON in, JSON out; a `Content-Type` only with a body.
    fn request(
        &self,
        endpoint: &Endpoint,
        url: &str,
        has_body: bool,
        payload: Vec<u8>,
    ) -> Result<ureq::http::Request<Vec<u8>>, ureq::http::Error> {
        let named = |name: &str| self.spec.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        let mut request = ureq::http::Request::builder().method(endpoint.method.as_str()).uri(url);
        if !named("Accept") {
            request = request.header("Accept", "application/json");
        }
        if has_body && !named("Content-Type") {
            request = request.header("Content-Type", "application/json; charset=utf-8");
        }
        for (name, value) in &self.spec.headers {
            if !has_body && name.eq_ignore_ascii_case("Content-Type") {
                continue;
            }
            request = request.header(name.as_str(), value.expose().as_str());
        }
        request.body(payload)
    }
}

/// Parses one listing answer: the whole answer (shared, for the `next` expression), how many
/// items it has at `items`, and the server's count at `total`. Pure; the error says what is
/// wrong, with an excerpt of the evidence.
fn parse_page(body: &str, list: &ListSpec) -> Result<(Arc<serde_json::Value>, usize, Option<u64>), String> {
    let json: serde_json::Value = serde_json::from_str(body)
        .map_err(|e| format!("the answer is not JSON ({e}): {}", http::excerpt(body, 200)))?;
    let items = json.pointer(&list.items).and_then(|v| v.as_array()).map(Vec::len).ok_or_else(|| {
        format!("no array at {:?} (system.json list.items): {}", list.items, http::excerpt(body, 200))
    })?;
    let total = match &list.total {
        Some(pointer) => {
            Some(json.pointer(pointer).and_then(serde_json::Value::as_u64).ok_or_else(|| {
                format!("no count at {pointer:?} (system.json list.total): {}", http::excerpt(body, 200))
            })?)
        }
        None => None,
    };
    Ok((Arc::new(json), items, total))
}

/// The accounts of a parsed page: each with the listing's `with` fields set, its key (by pointer,
/// or by the `key` expression through `rules`) and its id.
fn take_accounts(
    page: Arc<serde_json::Value>,
    list: &ListSpec,
    listing: usize,
    rules: &dyn ListingRules,
) -> Result<Vec<Account>, String> {
    let mut json = Arc::try_unwrap(page).unwrap_or_else(|shared| (*shared).clone());
    let items = json.pointer_mut(&list.items).and_then(|v| v.as_array_mut()).map(std::mem::take);
    let mut accounts = Vec::with_capacity(items.as_ref().map_or(0, Vec::len));
    for mut item in items.unwrap_or_default() {
        if let Some(fields) = item.as_object_mut() {
            fields.extend(list.with.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let id = list.id.as_deref().and_then(|pointer| key_at(&item, pointer));
        let value = Arc::new(item);
        let key = match &list.key {
            KeyRule::Pointer(pointer) => key_at(&value, pointer),
            KeyRule::Expression(_) => rules.key(listing, &value)?,
        };
        accounts.push(Account { key, id, listing, value });
    }
    Ok(accounts)
}

/// Parses one listing answer into its accounts by pointers alone (a `key` expression gives every
/// account no key), for the fuzz target: never a panic, whatever the bytes.
pub fn parse_listing_page(body: &str, list: &ListSpec) -> Result<Vec<Account>, String> {
    struct PointersOnly;
    impl ListingRules for PointersOnly {
        fn key(&self, _: usize, _: &Arc<serde_json::Value>) -> Result<Option<String>, String> {
            Ok(None)
        }
        fn next(&self, _: usize, _: &PageRead<'_>) -> Result<Option<String>, String> {
            Ok(None)
        }
    }
    let (page, _, _) = parse_page(body, list)?;
    take_accounts(page, list, 0, &PointersOnly)
}

impl Target for TargetClient {
    fn create(&self, key: &str, body: &serde_json::Value) -> Result<Created, TargetError> {
        let op = Op::Write(ActionKind::Create);
        let address = Address { key, id: None };
        let endpoint = &self.spec.create;
        if self.spec.create_is_upsert() {
            let probe = Endpoint { method: "GET".into(), path: endpoint.path.clone(), wrap: None };
            if let (200..=299, _) = self.send(op, Some(address), &probe, None, Expect::SuccessOrMissing)? {
                let url = format!("{}{}", self.base_url, fill_path(&endpoint.path, op, Some(address))?);
                let call = Call { op, key: Some(key.to_string()), method: endpoint.method.clone(), url };
                return Err(TargetError::Exists { call });
            }
        }
        let wrapped = endpoint.body_for(body);
        match self.send(op, Some(address), endpoint, Some(&wrapped), Expect::Success)? {
            (409, _) => Ok(Created::AlreadyExists),
            _ => Ok(Created::Created),
        }
    }

    fn update(&self, address: Address<'_>, body: &serde_json::Value) -> Result<(), TargetError> {
        let op = Op::Write(ActionKind::Update);
        let endpoint = self.spec.update.as_ref().ok_or(TargetError::NoEndpoint { op })?;
        let wrapped = endpoint.body_for(body);
        self.send(op, Some(address), endpoint, Some(&wrapped), Expect::Success).map(drop)
    }

    fn deactivate(&self, address: Address<'_>, body: Option<&serde_json::Value>) -> Result<(), TargetError> {
        let op = Op::Write(ActionKind::Deactivate);
        let endpoint = self.spec.deactivate.as_ref().ok_or(TargetError::NoEndpoint { op })?;
        let wrapped = body.map(|b| endpoint.body_for(b));
        self.send(op, Some(address), endpoint, wrapped.as_ref(), Expect::Success).map(drop)
    }

    fn reactivate(&self, address: Address<'_>, body: Option<&serde_json::Value>) -> Result<(), TargetError> {
        let op = Op::Write(ActionKind::Reactivate);
        let endpoint = self
            .spec
            .reactivate
            .as_ref()
            .or(self.spec.update.as_ref())
            .ok_or(TargetError::NoEndpoint { op })?;
        let wrapped = body.map(|b| endpoint.body_for(b));
        self.send(op, Some(address), endpoint, wrapped.as_ref(), Expect::Success).map(drop)
    }
}

/// An endpoint's path with `{key}` and `{id}` filled in, each encoded as one path segment after
/// [`check_key`]; a path that needs an id the account does not have is refused.
fn fill_path(path: &str, op: Op, address: Option<Address<'_>>) -> Result<String, TargetError> {
    let Some(address) = address else { return Ok(path.to_string()) };
    let mut filled = path.to_string();
    if filled.contains("{key}") {
        filled = filled.replace("{key}", &encode_path_segment(op, address.key)?);
    }
    if filled.contains("{id}") {
        let id = address.id.ok_or_else(|| TargetError::NoId { op, key: http::clean(address.key, 200) })?;
        filled = filled.replace("{id}", &encode_path_segment(op, id)?);
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_page_is_parsed_by_its_pointers() {
        let list = ListSpec::simple("/x", "/data", "/id");
        let page = parse_listing_page(r#"{"data":[{"id":"a"},{"id":7},{"name":"x"}]}"#, &list).unwrap();
        let keys: Vec<_> = page.iter().map(|a| a.key.as_deref()).collect();
        assert_eq!(keys, [Some("a"), Some("7"), None], "an account without a key is unkeyed, not an error");
        assert!(parse_listing_page(r#"{"data":{}}"#, &list).unwrap_err().contains("no array at \"/data\""));
        assert!(parse_listing_page("<html>", &list).unwrap_err().contains("not JSON"));
    }
}
