//! The HTTP client of a target system: lists its accounts (paged) and writes creates, updates and
//! deactivations as `system.json` describes them.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use crate::action::ActionKind;
use crate::http::{self, Budget, Exhausted, GiveUp, Retries, RetryPolicy};

mod key;
mod spec;

pub use key::{encode_path_segment, key_at, normalize_key};
pub use spec::{Endpoint, ListSpec, SystemSpec};

/// An account the target already has.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub key: String,
    /// Shared: templates read it without copying.
    pub value: std::sync::Arc<serde_json::Value>,
}

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
            TargetError::Listing { .. } | TargetError::Key { .. } | TargetError::NoEndpoint { .. } => false,
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
pub trait Target: Sync {
    fn create(&self, key: &str, body: &serde_json::Value) -> Result<Created, TargetError>;
    fn update(&self, key: &str, body: &serde_json::Value) -> Result<(), TargetError>;
    fn deactivate(&self, key: &str, body: Option<&serde_json::Value>) -> Result<(), TargetError>;
}

pub struct TargetClient {
    agent: ureq::Agent,
    base_url: String,
    spec: SystemSpec,
    retry: RetryPolicy,
    budget: Arc<Budget>,
    /// Most accounts one listing may return (`SLACK_IM_READ_LIMIT`).
    read_limit: usize,
    requests: std::sync::atomic::AtomicUsize,
}

impl TargetClient {
    pub fn new(
        agent: ureq::Agent,
        base_url: &str,
        spec: SystemSpec,
        budget: Arc<Budget>,
        read_limit: usize,
    ) -> Self {
        TargetClient {
            agent,
            base_url: base_url.trim_end_matches('/').to_string(),
            spec,
            retry: RetryPolicy::TARGET,
            budget,
            read_limit,
            requests: Default::default(),
        }
    }

    /// HTTP requests sent so far, retries included.
    pub fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Hands every account the target lists to `visit`, page by page: pages `{page}` = 0, 1, 2 …
    /// until one has no items; a path without `{page}` is one request. Returns how many there were.
    ///
    /// The read is complete or failed: a key listed twice (a listing that wraps around, or
    /// duplicate entries that would each get a DELETE) or more accounts than the read limit fail it.
    pub fn for_each_account<E: From<TargetError>>(
        &self,
        mut visit: impl FnMut(Account) -> Result<(), E>,
    ) -> Result<usize, E> {
        let list = &self.spec.list;
        let paged = list.path.contains("{page}");
        let mut seen: HashSet<String> = HashSet::new();
        for page in 0.. {
            let path = list.path.replace("{page}", &page.to_string());
            let endpoint = Endpoint { method: list.method.clone(), path };
            let body = self.send(Op::List, None, &endpoint, None)?.1;
            let accounts = parse_listing_page(&body, list).map_err(|detail| TargetError::Listing {
                detail: format!("{} {} (page {page}): {detail}", endpoint.method, endpoint.path),
            })?;
            if accounts.is_empty() {
                break;
            }
            for account in accounts {
                if !seen.insert(normalize_key(&account.key)) {
                    let detail = format!(
                        "page {page} lists the key {:?} again (keys compare case-insensitively): a listing that repeats itself or holds duplicates cannot be trusted{}",
                        http::clean(&account.key, 100),
                        if paged { "; does the list path's {page} parameter work?" } else { "" }
                    );
                    return Err(TargetError::Listing { detail }.into());
                }
                if seen.len() > self.read_limit {
                    let detail = format!("more than {} accounts (SLACK_IM_READ_LIMIT)", self.read_limit);
                    return Err(TargetError::Listing { detail }.into());
                }
                visit(account)?;
            }
            if !paged {
                break;
            }
            if page > 0 && page % 20 == 0 {
                log::info!("target listing: page {page}: {} accounts so far", seen.len());
            }
        }
        Ok(seen.len())
    }

    /// One request, retried on 429 (after `Retry-After`), 502/503/504 and transport errors, within
    /// the run's budget. Returns the status and body of a 2xx answer, or of a 409 to a retried
    /// create (see [`Created::AlreadyExists`]). A key is checked before anything is sent.
    // One retry loop over every way a write can end; its branches read best side by side, so it
    // stays one function a little over 60 lines.
    fn send(
        &self,
        op: Op,
        key: Option<&str>,
        endpoint: &Endpoint,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, String), TargetError> {
        let path = match key {
            Some(k) => endpoint.path.replace("{key}", &encode_path_segment(op, k)?),
            None => endpoint.path.clone(),
        };
        let url = format!("{}{}", self.base_url, path);
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
                Ok(reply) if reply.status == 409 && op == create && retries.attempts() > 1 => {
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
    /// One request as `system.json` describes it: its headers, JSON in, JSON out.
    fn request(
        &self,
        endpoint: &Endpoint,
        url: &str,
        has_body: bool,
        payload: Vec<u8>,
    ) -> Result<ureq::http::Request<Vec<u8>>, ureq::http::Error> {
        let mut request = ureq::http::Request::builder()
            .method(endpoint.method.as_str())
            .uri(url)
            .header("Accept", "application/json");
        if has_body {
            request = request.header("Content-Type", "application/json; charset=utf-8");
        }
        for (name, value) in &self.spec.headers {
            request = request.header(name.as_str(), value.expose().as_str());
        }
        request.body(payload)
    }
}

/// Parses one listing answer into its accounts, by the `items` and `key` pointers of
/// `system.json`. Pure, so it is unit-tested and fuzzed on its own; the error says what is wrong,
/// with an excerpt of the evidence.
pub fn parse_listing_page(body: &str, list: &ListSpec) -> Result<Vec<Account>, String> {
    let mut json: serde_json::Value = serde_json::from_str(body)
        .map_err(|e| format!("the answer is not JSON ({e}): {}", http::excerpt(body, 200)))?;
    let items = json.pointer_mut(&list.items).and_then(|v| v.as_array_mut()).map(std::mem::take);
    let items = items.ok_or_else(|| {
        format!("no array at {:?} (system.json list.items): {}", list.items, http::excerpt(body, 200))
    })?;
    items
        .into_iter()
        .map(|item| match key_at(&item, &list.key) {
            Some(key) => Ok(Account { key, value: Arc::new(item) }),
            None => Err(format!(
                "an account has no key at {:?} (system.json list.key): {}",
                list.key,
                http::excerpt(&item.to_string(), 200)
            )),
        })
        .collect()
}

impl Target for TargetClient {
    fn create(&self, key: &str, body: &serde_json::Value) -> Result<Created, TargetError> {
        match self.send(Op::Write(ActionKind::Create), Some(key), &self.spec.create, Some(body))? {
            (409, _) => Ok(Created::AlreadyExists),
            _ => Ok(Created::Created),
        }
    }

    fn update(&self, key: &str, body: &serde_json::Value) -> Result<(), TargetError> {
        let op = Op::Write(ActionKind::Update);
        let endpoint = self.spec.update.as_ref().ok_or(TargetError::NoEndpoint { op })?;
        self.send(op, Some(key), endpoint, Some(body)).map(drop)
    }

    fn deactivate(&self, key: &str, body: Option<&serde_json::Value>) -> Result<(), TargetError> {
        let op = Op::Write(ActionKind::Deactivate);
        let endpoint = self.spec.deactivate.as_ref().ok_or(TargetError::NoEndpoint { op })?;
        self.send(op, Some(key), endpoint, body).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_page_is_parsed_by_its_pointers() {
        let list =
            ListSpec { method: "GET".into(), path: "/x".into(), items: "/data".into(), key: "/id".into() };
        let page = parse_listing_page(r#"{"data":[{"id":"a"},{"id":7}]}"#, &list).unwrap();
        assert_eq!(page.iter().map(|a| a.key.as_str()).collect::<Vec<_>>(), ["a", "7"]);
        assert!(parse_listing_page(r#"{"data":{}}"#, &list).unwrap_err().contains("no array at \"/data\""));
        assert!(parse_listing_page(r#"{"data":[{"name":"x"}]}"#, &list).unwrap_err().contains("no key at"));
        assert!(parse_listing_page("<html>", &list).unwrap_err().contains("not JSON"));
    }
}
