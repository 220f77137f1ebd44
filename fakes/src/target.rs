//! A fake of the company workspace product's user API (`/api/users`), the system slack-im writes
//! to: bearer auth, paged listing, create/update/delete with conflicts, latency for the benchmark,
//! in-flight measurement for the concurrency bound, and scripted faults.

use std::collections::{BTreeMap, HashMap};
use std::sync::MutexGuard;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::fake_server::{FakeServer, FakeState, Shared};
use crate::http::{self, Reply, Req};
use crate::slack::{echo_reply, effect_reply, Effect};
use crate::Recorded;

/// The sandbox target token.
pub const SANDBOX_TOKEN: &str = "target-sandbox-token";

/// A kind of target API request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TargetOp {
    /// `GET /api/users`
    List,
    /// `POST /api/users`
    Create,
    /// `PUT /api/users/{userId}`
    Update,
    /// `DELETE /api/users/{userId}`
    Delete,
}

impl TargetOp {
    fn is_write(self) -> bool {
        self != TargetOp::List
    }
}

/// A scripted fault: calls `call .. call+times` (1-based, counted per `op`) get `effect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetFault {
    pub op: TargetOp,
    pub call: usize,
    pub times: usize,
    pub effect: Effect,
}

impl TargetFault {
    /// One fault on call `call` of `op`.
    pub fn new(op: TargetOp, call: usize, effect: Effect) -> TargetFault {
        TargetFault { op, call, times: 1, effect }
    }

    /// The same fault for `times` consecutive calls.
    pub fn times(mut self, times: usize) -> TargetFault {
        self.times = times;
        self
    }

    /// Every write (create/update/delete) for this `userId` (case-insensitive) answers `code`.
    pub fn fail_key(key: &str, code: u16) -> TargetRule {
        TargetRule::FailKey { key: key.to_string(), code }
    }

    /// After `n` successful writes every API request answers 503 until [`FakeTarget::heal`].
    pub fn down_after_writes(n: usize) -> TargetRule {
        TargetRule::DownAfterWrites(n)
    }
}

/// Anything [`FakeTarget::add_fault`] accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetRule {
    Fault(TargetFault),
    FailKey { key: String, code: u16 },
    DownAfterWrites(usize),
}

impl From<TargetFault> for TargetRule {
    fn from(f: TargetFault) -> TargetRule {
        TargetRule::Fault(f)
    }
}

/// Configuration of a [`FakeTarget`].
#[derive(Debug, Clone)]
pub struct TargetOptions {
    /// `(token, principal)`: the principal becomes `createdBy` of accounts that token creates.
    pub tokens: Vec<(String, String)>,
    /// Pre-existing accounts (e.g. init-data with `createdBy: "init-data"`).
    pub accounts: Vec<Value>,
    /// Sleep per API request (benchmark).
    pub latency: Duration,
    /// A listing page past the end starts again from the first page instead of being empty:
    /// a listing that wraps around and never ends.
    pub wrap_listing: bool,
    /// Worker threads serving requests in parallel.
    pub workers: usize,
    /// Port to bind on 127.0.0.1 (0 = any free port).
    pub port: u16,
}

impl Default for TargetOptions {
    fn default() -> Self {
        TargetOptions {
            tokens: vec![(SANDBOX_TOKEN.to_string(), "slack-im".to_string())],
            accounts: Vec::new(),
            latency: Duration::ZERO,
            wrap_listing: false,
            workers: 16,
            port: 0,
        }
    }
}

struct State {
    opts: TargetOptions,
    accounts: Vec<Value>,
    /// Lower-cased userId -> position in `accounts`: creates stay O(1) at 50,000 accounts.
    index: HashMap<String, usize>,
    counts: BTreeMap<TargetOp, usize>,
    faults: Vec<TargetFault>,
    fail_keys: Vec<(String, u16)>,
    down_after: Option<usize>,
    writes_ok: usize,
    down: bool,
}

impl FakeState for State {
    fn latency(&self) -> Duration {
        self.opts.latency
    }
}

/// A running fake target on `127.0.0.1`; stops when dropped.
pub struct FakeTarget {
    server: FakeServer<State>,
}

impl std::fmt::Debug for FakeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTarget").field("base_url", &self.base_url()).finish()
    }
}

impl FakeTarget {
    /// Starts the fake on `127.0.0.1:opts.port`. Panics if it cannot bind.
    pub fn start(opts: TargetOptions) -> FakeTarget {
        let (port, workers) = (opts.port, opts.workers);
        let state = State {
            accounts: opts.accounts.clone(),
            index: index_of(&opts.accounts),
            opts,
            counts: BTreeMap::new(),
            faults: Vec::new(),
            fail_keys: Vec::new(),
            down_after: None,
            writes_ok: 0,
            down: false,
        };
        FakeTarget { server: FakeServer::start("target", state, port, workers, handle) }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The bound address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.addr()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.server.shared().lock()
    }

    /// Accounts as stored (passwords included), in insertion order.
    pub fn accounts(&self) -> Vec<Value> {
        self.state().accounts.clone()
    }

    /// Replaces every account.
    pub fn set_accounts(&self, accounts: Vec<Value>) {
        let mut st = self.state();
        st.index = index_of(&accounts);
        st.accounts = accounts;
    }

    /// Every request so far, in arrival order (control endpoints excluded).
    pub fn requests(&self) -> Vec<Recorded> {
        self.server.shared().requests()
    }

    /// Requests of this kind so far (failed and faulted ones included).
    pub fn count(&self, op: TargetOp) -> usize {
        self.state().counts.get(&op).copied().unwrap_or(0)
    }

    /// Most API requests ever handled at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.server.shared().max_in_flight()
    }

    /// Adds a fault: a [`TargetFault`], [`TargetFault::fail_key`] or
    /// [`TargetFault::down_after_writes`].
    pub fn add_fault(&self, rule: impl Into<TargetRule>) {
        let mut st = self.state();
        match rule.into() {
            TargetRule::Fault(f) => st.faults.push(f),
            TargetRule::FailKey { key, code } => st.fail_keys.push((key.to_lowercase(), code)),
            TargetRule::DownAfterWrites(n) => {
                st.down_after = Some(st.writes_ok + n);
                st.down = n == 0;
            }
        }
    }

    /// Ends a `down_after_writes` outage and removes every fault.
    pub fn heal(&self) {
        let mut st = self.state();
        st.down = false;
        st.down_after = None;
        st.faults.clear();
        st.fail_keys.clear();
    }

    /// Changes the per-request latency of the running fake.
    pub fn set_latency(&self, latency: Duration) {
        self.state().opts.latency = latency;
    }
}

fn error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(status, &json!({"error": code, "message": message}))
}

fn public(account: &Value) -> Value {
    let mut a = account.clone();
    if let Some(o) = a.as_object_mut() {
        o.remove("password");
    }
    a
}

fn user_id(a: &Value) -> Option<&str> {
    a.get("userId").and_then(Value::as_str)
}

fn stats(st: &State, fake: &Shared<State>) -> Value {
    let c = |op| st.counts.get(&op).copied().unwrap_or(0);
    json!({
        "list": c(TargetOp::List),
        "create": c(TargetOp::Create),
        "update": c(TargetOp::Update),
        "delete": c(TargetOp::Delete),
        "max_in_flight": fake.max_in_flight(),
        "accounts": st.accounts.len(),
    })
}

fn handle(fake: &Shared<State>, req: &Req) -> Reply {
    if let Some(what) = req.path.strip_prefix("/__fake/") {
        let st = fake.lock();
        return match (req.method.as_str(), what) {
            ("GET", "accounts") => Reply::json(200, &json!(st.accounts)),
            ("GET", "stats") => Reply::json(200, &stats(&st, fake)),
            ("GET", "requests") => Reply::json(200, &json!(fake.requests())),
            _ => error(404, "not_found", "unknown control endpoint"),
        };
    }
    let _in_flight = fake.admit();
    let reply = respond(fake, req);
    let mut args: Vec<(String, String)> = http::parse_form(&req.query);
    if let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(&req.body) {
        for (k, v) in o {
            let s = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            args.push((k, s));
        }
    }
    fake.record(req, http::merge_args(&args), &reply);
    reply
}

/// Which operation a request is, and the `userId` in its path for update/delete.
fn classify(req: &Req) -> Option<(TargetOp, Option<String>)> {
    if req.raw_path == "/api/users" || req.raw_path == "/api/users/" {
        return match req.method.as_str() {
            "GET" => Some((TargetOp::List, None)),
            "POST" => Some((TargetOp::Create, None)),
            _ => None,
        };
    }
    let raw_key = req.raw_path.strip_prefix("/api/users/")?;
    if raw_key.is_empty() || raw_key.contains('/') {
        return None;
    }
    let key = http::percent_decode(raw_key, false);
    match req.method.as_str() {
        "PUT" => Some((TargetOp::Update, Some(key))),
        "DELETE" => Some((TargetOp::Delete, Some(key))),
        _ => None,
    }
}

fn respond(fake: &Shared<State>, req: &Req) -> Reply {
    let classified = classify(req);
    let fault = {
        let mut st = fake.lock();
        if st.down {
            return error(503, "unavailable", "service unavailable");
        }
        match &classified {
            Some((op, _)) => {
                let n = {
                    let c = st.counts.entry(*op).or_insert(0);
                    *c += 1;
                    *c
                };
                st.faults
                    .iter()
                    .find(|f| f.op == *op && n >= f.call && n < f.call + f.times.max(1))
                    .map(|f| f.effect.clone())
            }
            None => None,
        }
    };
    if let Some(effect) = fault {
        match effect {
            Effect::Delay(d) => std::thread::sleep(d),
            Effect::RateLimited { retry_after } => {
                let r = error(429, "rate_limited", "too many requests");
                return match retry_after {
                    Some(v) => r.with_header("Retry-After", &v),
                    None => r,
                };
            }
            Effect::OkFalse { error: e, extra } => {
                let mut body = json!({"error": e});
                if let Some(o) = extra.as_object() {
                    for (k, v) in o {
                        body[k] = v.clone();
                    }
                }
                return Reply::json(200, &body);
            }
            Effect::Echo { code, form } => return echo_reply(code, &form, req),
            other => return effect_reply(&other),
        }
    }

    // Authentication.
    let principal = {
        let st = fake.lock();
        let presented = req.header("authorization").and_then(|h| h.strip_prefix("Bearer ")).map(str::trim);
        presented.and_then(|t| st.opts.tokens.iter().find(|(tok, _)| tok == t).map(|(_, p)| p.clone()))
    };
    let Some(principal) = principal else {
        if req.path.starts_with("/api/") {
            return Reply::json(401, &json!({"error": "unauthorized"}))
                .with_header("WWW-Authenticate", "Bearer");
        }
        return error(404, "not_found", "no such route");
    };
    let Some((op, key)) = classified else {
        return if req.path.starts_with("/api/users") {
            error(405, "method_not_allowed", "method not allowed")
        } else {
            error(404, "not_found", "no such route")
        };
    };

    let body = if op == TargetOp::Create || op == TargetOp::Update {
        let json_type = req.content_type().is_some_and(|(media, _)| {
            media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
        });
        if !json_type {
            return error(415, "unsupported_media_type", "Content-Type must be application/json");
        }
        match serde_json::from_slice::<Value>(&req.body) {
            Ok(Value::Object(o)) => Some(o),
            Ok(_) => return error(400, "bad_request", "body must be a JSON object"),
            Err(e) => return error(400, "bad_request", &format!("invalid JSON: {e}")),
        }
    } else {
        None
    };

    let mut st = fake.lock();
    // fail_key applies to writes for that userId.
    if op.is_write() {
        let k = match (&key, &body) {
            (Some(k), _) => Some(k.to_lowercase()),
            (None, Some(b)) => b.get("userId").and_then(Value::as_str).map(str::to_lowercase),
            _ => None,
        };
        if let Some(k) = k {
            if let Some((_, code)) = st.fail_keys.iter().find(|(fk, _)| *fk == k) {
                let code = *code;
                return error(code, "injected", &format!("injected failure for {k}"));
            }
        }
    }
    let reply = match op {
        TargetOp::List => list(&st, req),
        TargetOp::Create => create(&mut st, body.unwrap_or_default(), &principal),
        TargetOp::Update => update(&mut st, key.as_deref().unwrap_or(""), body.unwrap_or_default()),
        TargetOp::Delete => delete(&mut st, key.as_deref().unwrap_or("")),
    };
    if op.is_write() && (200..300).contains(&reply.status()) {
        st.writes_ok += 1;
        if st.down_after.is_some_and(|n| st.writes_ok >= n) {
            st.down = true;
        }
    }
    reply
}

fn list(st: &State, req: &Req) -> Reply {
    let q: BTreeMap<String, String> = http::parse_form(&req.query).into_iter().collect();
    let page = match q.get("page").map(|s| s.parse::<usize>()) {
        None => 0,
        Some(Ok(p)) => p,
        Some(Err(_)) => return error(400, "bad_request", "page must be a non-negative integer"),
    };
    let size = match q.get("size").map(|s| s.parse::<usize>()) {
        None => 100,
        Some(Ok(s)) if s >= 1 => s.min(500),
        Some(_) => return error(400, "bad_request", "size must be a positive integer"),
    };
    let pages = st.accounts.len().div_ceil(size).max(1);
    let page = if st.opts.wrap_listing { page % pages } else { page };
    let data: Vec<Value> =
        st.accounts.iter().skip(page.saturating_mul(size)).take(size).map(public).collect();
    Reply::json(200, &json!({"data": data, "page": page, "size": size, "total": st.accounts.len()}))
}

fn position(st: &State, key: &str) -> Option<usize> {
    st.index.get(&key.to_lowercase()).copied()
}

fn index_of(accounts: &[Value]) -> HashMap<String, usize> {
    accounts.iter().enumerate().filter_map(|(i, a)| Some((user_id(a)?.to_lowercase(), i))).collect()
}

fn create(st: &mut State, mut body: Map<String, Value>, principal: &str) -> Reply {
    let Some(key) = body.get("userId").and_then(Value::as_str).map(str::to_string) else {
        return error(400, "bad_request", "userId (string) is required");
    };
    if key.is_empty() {
        return error(400, "bad_request", "userId must not be empty");
    }
    if position(st, &key).is_some() {
        return error(409, "conflict", "userId exists");
    }
    body.insert("createdBy".into(), json!(principal));
    body.insert("active".into(), json!(true));
    let account = Value::Object(body);
    st.index.insert(key.to_lowercase(), st.accounts.len());
    st.accounts.push(account.clone());
    Reply::json(201, &public(&account))
}

fn update(st: &mut State, key: &str, body: Map<String, Value>) -> Reply {
    let Some(i) = position(st, key) else {
        return error(404, "not_found", "no such user");
    };
    let Some(account) = st.accounts[i].as_object_mut() else {
        return error(500, "internal", "stored account is not an object");
    };
    for (k, v) in body {
        if k == "createdBy" || k == "userId" {
            continue;
        }
        account.insert(k, v);
    }
    Reply::json(200, &public(&st.accounts[i]))
}

fn delete(st: &mut State, key: &str) -> Reply {
    match position(st, key) {
        Some(i) => {
            st.accounts.remove(i);
            st.index = index_of(&st.accounts);
            Reply::empty(204)
        }
        None => error(404, "not_found", "no such user"),
    }
}
