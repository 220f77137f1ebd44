//! The HTTP client of a target system: lists its accounts (paged) and writes creates, updates and
//! deactivations as `system.json` describes them.

use std::fmt;

use crate::http::{self, Retries, RetryPolicy};
use crate::template::{key_at, Endpoint, SystemSpec};

/// Upper bound on listing pages, so a server that never returns an empty page cannot loop forever.
const MAX_PAGES: usize = 100_000;

/// An account the target already has.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub key: String,
    /// Shared: templates read it without copying.
    pub value: std::sync::Arc<serde_json::Value>,
}

/// The three writes, for logs and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    List,
    Create,
    Update,
    Deactivate,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::List => "list",
            Op::Create => "create",
            Op::Update => "update",
            Op::Deactivate => "deactivate",
        })
    }
}

/// A failed target call, with the evidence: status and body excerpt (secrets are redacted on output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetError {
    Http { op: Op, key: Option<String>, method: String, url: String, status: u16, excerpt: String },
    Transport { op: Op, key: Option<String>, method: String, url: String, detail: String },
    Listing { detail: String },
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subject = |op: &Op, key: &Option<String>| match key {
            Some(k) => format!("{op} {k}"),
            None => op.to_string(),
        };
        match self {
            TargetError::Http { op, key, method, url, status, excerpt } => {
                write!(f, "target {}: {method} {url} answered HTTP {status}", subject(op, key))?;
                if *status == 401 || *status == 403 {
                    write!(f, " (check the target token secret and system.json headers)")?;
                }
                if !excerpt.is_empty() {
                    write!(f, ": {excerpt}")?;
                }
                Ok(())
            }
            TargetError::Transport { op, key, method, url, detail } => {
                write!(f, "target {}: {method} {url}: {detail}", subject(op, key))
            }
            TargetError::Listing { detail } => write!(f, "target listing: {detail}"),
        }
    }
}

impl std::error::Error for TargetError {}

impl TargetError {
    /// The target as a whole is not answering or not letting us in (no connection, 5xx, 429,
    /// 401/403), as opposed to refusing this one request (400, 404, 422…).
    pub fn is_unavailable(&self) -> bool {
        match self {
            TargetError::Transport { .. } => true,
            TargetError::Http { status, .. } => matches!(status, 401 | 403 | 429 | 500..=599),
            TargetError::Listing { .. } => false,
        }
    }
}

/// What a create did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Created,
    /// HTTP 409: the account exists already (created by a concurrent run, or missed by the listing).
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
    requests: std::sync::atomic::AtomicUsize,
}

impl TargetClient {
    pub fn new(agent: ureq::Agent, base_url: &str, spec: SystemSpec) -> Self {
        TargetClient {
            agent,
            base_url: base_url.trim_end_matches('/').to_string(),
            spec,
            retry: RetryPolicy::TARGET,
            requests: Default::default(),
        }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// HTTP requests sent so far, retries included.
    pub fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Hands every account the target lists to `visit`, page by page: pages `{page}` = 0, 1, 2 …
    /// until one has no items; a path without `{page}` is one request. Returns how many there were.
    pub fn for_each_account<E: From<TargetError>>(
        &self,
        mut visit: impl FnMut(Account) -> Result<(), E>,
    ) -> Result<usize, E> {
        let list = &self.spec.list;
        let paged = list.path.contains("{page}");
        let mut count = 0;
        let mut previous_first: Option<String> = None;
        for page in 0..MAX_PAGES {
            let path = list.path.replace("{page}", &page.to_string());
            let endpoint = Endpoint { method: list.method.clone(), path };
            let body = self.send(Op::List, None, &endpoint, None)?;
            let mut json: serde_json::Value =
                serde_json::from_str(&body).map_err(|e| TargetError::Listing {
                    detail: format!(
                        "{} {} is not JSON ({e}): {}",
                        endpoint.method,
                        endpoint.path,
                        http::excerpt(&body, 200)
                    ),
                })?;
            let items = json.pointer_mut(&list.items).and_then(|v| v.as_array_mut()).map(std::mem::take);
            let items = items.ok_or_else(|| TargetError::Listing {
                detail: format!(
                    "{} {}: no array at {:?} (system.json list.items): {}",
                    endpoint.method,
                    endpoint.path,
                    list.items,
                    http::excerpt(&body, 200)
                ),
            })?;
            if items.is_empty() {
                return Ok(count);
            }
            let first_key = items.first().and_then(|a| key_at(a, &list.key));
            if page > 0 && first_key.is_some() && first_key == previous_first {
                return Err(TargetError::Listing {
                    detail: format!(
                        "page {page} repeats page {} (does the list path's {{page}} parameter work?)",
                        page - 1
                    ),
                }
                .into());
            }
            previous_first = first_key;
            for item in items {
                let Some(key) = key_at(&item, &list.key) else {
                    return Err(TargetError::Listing {
                        detail: format!(
                            "an account on page {page} has no key at {:?}: {}",
                            list.key,
                            http::excerpt(&item.to_string(), 200)
                        ),
                    }
                    .into());
                };
                count += 1;
                visit(Account { key, value: std::sync::Arc::new(item) })?;
            }
            if !paged {
                return Ok(count);
            }
            if page > 0 && page % 20 == 0 {
                log::info!("target listing: page {page}: {count} accounts so far");
            }
        }
        Err(TargetError::Listing { detail: format!("more than {MAX_PAGES} pages") }.into())
    }

    /// One request, retried on 429 (after `Retry-After`), 502/503/504 and transport errors. Writes are
    /// safe to retry: a create that did land answers 409 the second time, which counts as existing.
    fn send(
        &self,
        op: Op,
        key: Option<&str>,
        endpoint: &Endpoint,
        body: Option<&serde_json::Value>,
    ) -> Result<String, TargetError> {
        let path = match key {
            Some(k) => endpoint.path.replace("{key}", &encode_path_segment(k)),
            None => endpoint.path.clone(),
        };
        let url = format!("{}{}", self.base_url, path);
        let payload = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let mut retries = Retries::new(self.retry);
        loop {
            self.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut request = ureq::http::Request::builder()
                .method(endpoint.method.as_str())
                .uri(&url)
                .header("Accept", "application/json");
            if body.is_some() {
                request = request.header("Content-Type", "application/json; charset=utf-8");
            }
            for (name, value) in &self.spec.headers {
                request = request.header(name.as_str(), value.expose().as_str());
            }
            let request = request.body(payload.clone()).map_err(|e| TargetError::Transport {
                op,
                key: key.map(str::to_string),
                method: endpoint.method.clone(),
                url: url.clone(),
                detail: format!("cannot build the request (check system.json headers): {e}"),
            })?;
            let failure = match self.agent.run(request).and_then(http::read_reply) {
                Ok(reply) if (200..300).contains(&reply.status) => return Ok(reply.body),
                Ok(reply)
                    if reply.status == 429
                        && retries
                            .wait_rate_limited(&format!("target {op}"), reply.retry_after.as_deref()) =>
                {
                    continue;
                }
                Ok(reply) => {
                    let error = TargetError::Http {
                        op,
                        key: key.map(str::to_string),
                        method: endpoint.method.clone(),
                        url: url.clone(),
                        status: reply.status,
                        excerpt: http::excerpt(&reply.body, 300),
                    };
                    if ![502, 503, 504].contains(&reply.status) {
                        return Err(error);
                    }
                    error
                }
                Err(e) => {
                    let error = TargetError::Transport {
                        op,
                        key: key.map(str::to_string),
                        method: endpoint.method.clone(),
                        url: url.clone(),
                        detail: http::describe(&e),
                    };
                    if !http::is_transient(&e) {
                        return Err(error);
                    }
                    error
                }
            };
            if !retries.wait_transient(&failure) {
                return Err(failure);
            }
        }
    }
}

impl Target for TargetClient {
    fn create(&self, key: &str, body: &serde_json::Value) -> Result<Created, TargetError> {
        match self.send(Op::Create, None, &self.spec.create, Some(body)) {
            Ok(_) => Ok(Created::Created),
            Err(TargetError::Http { status: 409, .. }) => Ok(Created::AlreadyExists),
            Err(TargetError::Http { op, method, url, status, excerpt, .. }) => {
                Err(TargetError::Http { op, key: Some(key.to_string()), method, url, status, excerpt })
            }
            Err(TargetError::Transport { op, method, url, detail, .. }) => {
                Err(TargetError::Transport { op, key: Some(key.to_string()), method, url, detail })
            }
            Err(e) => Err(e),
        }
    }

    fn update(&self, key: &str, body: &serde_json::Value) -> Result<(), TargetError> {
        let endpoint =
            self.spec.update.as_ref().ok_or_else(|| TargetError::Listing {
                detail: "system.json has no update endpoint".into(),
            })?;
        self.send(Op::Update, Some(key), endpoint, Some(body)).map(drop)
    }

    fn deactivate(&self, key: &str, body: Option<&serde_json::Value>) -> Result<(), TargetError> {
        let endpoint = self.spec.deactivate.as_ref().ok_or_else(|| TargetError::Listing {
            detail: "system.json has no deactivate endpoint".into(),
        })?;
        self.send(Op::Deactivate, Some(key), endpoint, body).map(drop)
    }
}

/// Percent-encodes a key for use as one path segment: everything but unreserved characters.
pub fn encode_path_segment(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_as_one_path_segment() {
        assert_eq!(encode_path_segment("jo.doe"), "jo.doe");
        assert_eq!(encode_path_segment("a/b c@d"), "a%2Fb%20c%40d");
        assert_eq!(encode_path_segment("김"), "%EA%B9%80");
    }
}
