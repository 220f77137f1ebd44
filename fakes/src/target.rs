//! A fake of the company workspace product's user API (`/api/users`), the system slack-im writes
//! to: bearer auth, paged listing, create/update/delete with conflicts, latency for the benchmark,
//! in-flight measurement for the concurrency bound, and scripted faults.
//!
//! By default it is the dev API the shipped folders describe. [`TargetOptions`] make it behave
//! like real account APIs instead (issue 18): other paging styles ([`Paging`], a server cap on the
//! page size, a short listing), accounts addressed by a server id ([`Ids`]), wrapped bodies, a
//! listing that filters by a field instead of showing it, accounts the listing hides, and a
//! create-or-modify `PUT /api/users/{key}`. `GET /api/users/{key or id}` answers one account
//! (200) or 404 in every mode.

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
    /// `GET /api/users/{userId}` (or `{id}` with [`Ids`]): one account, 200 or 404.
    Get,
}

impl TargetOp {
    fn is_write(self) -> bool {
        !matches!(self, TargetOp::List | TargetOp::Get)
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

/// How the listing at `GET /api/users` pages. Every style answers at most
/// [`TargetOptions::max_results`] accounts a page, whatever was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Paging {
    /// `?page=0,1,…&size=N` (0-based, size default 100): `{"data", "page", "size", "total"}`; the
    /// dev API.
    #[default]
    Page0,
    /// `?offset=N&limit=N` (limit default 25): `{"users", "total_count", "offset", "limit"}`, as
    /// Redmine answers.
    Offset,
    /// SCIM 2.0: `?startIndex=N&count=N` (startIndex 1-based, default 1; below 1 counts as 1):
    /// `{"schemas", "totalResults", "startIndex", "itemsPerPage", "Resources"}`, itemsPerPage
    /// being the number of resources this page holds.
    StartIndex,
    /// `?limit=N&cursor=T` (limit default 100): `{"data", "next_cursor"}`, the cursor an opaque
    /// token, `null` on the last page; an unknown cursor is a 400.
    Cursor,
    /// `?page=1,2,…&per_page=N` (1-based, per_page default 25; page 0 is a 400):
    /// `{"users", "page", "per_page", "total_count"}`.
    Page1,
}

/// How write paths (`PUT`/`PATCH`/`DELETE /api/users/{x}`) and `GET /api/users/{x}` address an
/// account. With an id, every account gets an `id` field (pre-existing ones when the fake starts,
/// new ones on create) and a key in those paths is a 404.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ids {
    /// By `userId` (the dev API).
    #[default]
    Key,
    /// By a numeric id, `101, 102, …` (Redmine).
    Numeric,
    /// By a uuid text id (SCIM).
    Uuid,
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
    /// The listing's paging style.
    pub paging: Paging,
    /// Most accounts one listing page answers, whatever was asked (default 500). A SCIM server's
    /// `maxResults`: asked for 200, it answers 100 and says `itemsPerPage: 100`.
    pub max_results: Option<usize>,
    /// The listing silently shows only its first `n` accounts, while its totals (`total`,
    /// `total_count`, `totalResults`) still count all of them: a capped or short listing.
    pub short_listing: Option<usize>,
    /// How write paths and single GETs address an account.
    pub ids: Ids,
    /// Create and update bodies must be wrapped in an object under this field (`"user"`:
    /// `{"user": {...}}`, else 422); the stored account is the inner object, the listing shows it
    /// unwrapped, a single GET and a write answer it wrapped.
    pub wrap: Option<String>,
    /// The listing filters by this field instead of showing it (Redmine's `status`): `?status=3`
    /// lists the accounts whose `status` is 3 (text or number), without `?status=` those whose
    /// status is 1, and no item carries the field. Stored accounts (and writes) keep it; a create
    /// without it gets 1.
    pub filter: Option<String>,
    /// `userId`s (case-insensitive) the listing never shows nor counts; single GETs and writes
    /// still find them (accounts of another realm, hand-made ones a listing filter hides).
    pub hidden: Vec<String>,
    /// `PUT /api/users/{key}` creates the account when no account has that key (the key taken from
    /// the path, `userId` optional in the body; 201), and modifies an existing one, overwriting
    /// every field sent: a create-or-modify endpoint.
    pub upsert: bool,
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
            paging: Paging::Page0,
            max_results: None,
            short_listing: None,
            ids: Ids::Key,
            wrap: None,
            filter: None,
            hidden: Vec::new(),
            upsert: false,
        }
    }
}

struct State {
    opts: TargetOptions,
    accounts: Vec<Value>,
    /// Lower-cased userId -> position in `accounts`: creates stay O(1) at 50,000 accounts.
    index: HashMap<String, usize>,
    /// Server id (as text) -> position in `accounts`, with [`Ids`] other than `Key`.
    id_index: HashMap<String, usize>,
    /// The last id handed out.
    last_id: u64,
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
        let mut state = State {
            accounts: opts.accounts.clone(),
            index: HashMap::new(),
            id_index: HashMap::new(),
            last_id: 100,
            opts,
            counts: BTreeMap::new(),
            faults: Vec::new(),
            fail_keys: Vec::new(),
            down_after: None,
            writes_ok: 0,
            down: false,
        };
        state.assign_ids();
        state.reindex();
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
        st.accounts = accounts;
        st.assign_ids();
        st.reindex();
    }

    /// The stored account with this `userId` (case-insensitive), passwords and hidden ones
    /// included.
    pub fn account(&self, key: &str) -> Option<Value> {
        let st = self.state();
        position(&st, key).map(|i| st.accounts[i].clone())
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

/// An account's server id as text (a number in decimal).
fn id_text(a: &Value) -> Option<String> {
    match a.get("id")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A field's value as a query would spell it.
fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl State {
    /// Gives every account without an `id` the next one, when accounts are addressed by id.
    fn assign_ids(&mut self) {
        if self.opts.ids == Ids::Key {
            return;
        }
        let mut accounts = std::mem::take(&mut self.accounts);
        for a in &mut accounts {
            if let Some(o) = a.as_object_mut() {
                if !o.contains_key("id") {
                    o.insert("id".into(), self.next_id());
                }
            }
        }
        self.accounts = accounts;
    }

    fn next_id(&mut self) -> Value {
        self.last_id += 1;
        let n = self.last_id;
        match self.opts.ids {
            Ids::Numeric | Ids::Key => json!(n),
            Ids::Uuid => {
                let mixed = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
                json!(format!(
                    "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                    mixed >> 32,
                    (mixed >> 16) & 0xffff,
                    mixed & 0xfff,
                    (mixed >> 20) & 0xfff,
                    n
                ))
            }
        }
    }

    fn reindex(&mut self) {
        self.index = index_of(&self.accounts);
        self.id_index =
            self.accounts.iter().enumerate().filter_map(|(i, a)| Some((id_text(a)?, i))).collect();
    }

    /// The account a path segment addresses: by key, or by id.
    fn locate(&self, segment: &str) -> Option<usize> {
        match self.opts.ids {
            Ids::Key => position(self, segment),
            Ids::Numeric | Ids::Uuid => self.id_index.get(segment).copied(),
        }
    }

    /// The listing shows this account (not hidden; of the filtered value).
    fn shows(&self, a: &Value, filter: Option<(&str, &str)>) -> bool {
        if !self.opts.hidden.is_empty() {
            let key = user_id(a).unwrap_or("").to_lowercase();
            if self.opts.hidden.iter().any(|h| h.to_lowercase() == key) {
                return false;
            }
        }
        match filter {
            Some((field, value)) => a.get(field).is_some_and(|v| as_text(v) == value),
            None => true,
        }
    }

    /// An account as a single GET or a write answers it: no password, wrapped when bodies are.
    fn answer(&self, account: &Value) -> Value {
        let a = public(account);
        match &self.opts.wrap {
            Some(field) => json!({ field.as_str(): a }),
            None => a,
        }
    }
}

fn stats(st: &State, fake: &Shared<State>) -> Value {
    let c = |op| st.counts.get(&op).copied().unwrap_or(0);
    json!({
        "list": c(TargetOp::List),
        "create": c(TargetOp::Create),
        "update": c(TargetOp::Update),
        "delete": c(TargetOp::Delete),
        "get": c(TargetOp::Get),
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
        "PUT" | "PATCH" => Some((TargetOp::Update, Some(key))),
        "DELETE" => Some((TargetOp::Delete, Some(key))),
        "GET" => Some((TargetOp::Get, Some(key))),
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
        let wrap = fake.lock().opts.wrap.clone();
        match (serde_json::from_slice::<Value>(&req.body), wrap) {
            (Ok(Value::Object(mut o)), Some(field)) => match o.remove(&field) {
                Some(Value::Object(inner)) if o.is_empty() => Some(inner),
                _ => {
                    let message = format!("the body must be one object under \"{field}\"");
                    return Reply::json(422, &json!({"errors": [message]}));
                }
            },
            (Ok(Value::Object(o)), None) => Some(o),
            (Ok(_), _) => return error(400, "bad_request", "body must be a JSON object"),
            (Err(e), _) => return error(400, "bad_request", &format!("invalid JSON: {e}")),
        }
    } else {
        None
    };

    let mut st = fake.lock();
    // fail_key applies to writes for that userId.
    if op.is_write() {
        let k = match (&key, &body) {
            (Some(k), _) => Some(match st.locate(k) {
                Some(i) => user_id(&st.accounts[i]).unwrap_or(k).to_lowercase(),
                None => k.to_lowercase(),
            }),
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
        TargetOp::Update => {
            let (key, body) = (key.as_deref().unwrap_or(""), body.unwrap_or_default());
            if st.opts.upsert && req.method == "PUT" && st.locate(key).is_none() {
                upsert_create(&mut st, key, body, &principal)
            } else {
                update(&mut st, key, body)
            }
        }
        TargetOp::Delete => delete(&mut st, key.as_deref().unwrap_or("")),
        TargetOp::Get => match st.locate(key.as_deref().unwrap_or("")) {
            Some(i) => Reply::json(200, &st.answer(&st.accounts[i])),
            None => error(404, "not_found", "no such user"),
        },
    };
    if op.is_write() && (200..300).contains(&reply.status()) {
        st.writes_ok += 1;
        if st.down_after.is_some_and(|n| st.writes_ok >= n) {
            st.down = true;
        }
    }
    reply
}

/// A query argument as a number: absent = `default`, unreadable = a 400 naming it.
fn number(q: &BTreeMap<String, String>, name: &str, default: usize) -> Result<usize, Reply> {
    match q.get(name).map(|s| s.parse::<usize>()) {
        None => Ok(default),
        Some(Ok(n)) => Ok(n),
        Some(Err(_)) => Err(error(400, "bad_request", &format!("{name} must be a non-negative integer"))),
    }
}

/// The opaque cursor of the page starting at `offset`.
fn cursor_of(offset: usize) -> String {
    format!("{:016x}", (offset as u64) ^ 0x5eed_c0de_5eed_c0de)
}

fn offset_of(cursor: &str) -> Option<usize> {
    let raw = u64::from_str_radix(cursor, 16).ok().filter(|_| cursor.len() == 16)?;
    usize::try_from(raw ^ 0x5eed_c0de_5eed_c0de).ok()
}

fn list(st: &State, req: &Req) -> Reply {
    let q: BTreeMap<String, String> = http::parse_form(&req.query).into_iter().collect();
    let cap = st.opts.max_results.unwrap_or(500).max(1);
    let asked = |name: &str, default: usize| -> Result<usize, Reply> {
        match number(&q, name, default)? {
            0 => Err(error(400, "bad_request", &format!("{name} must be a positive integer"))),
            n => Ok(n.min(cap)),
        }
    };
    // (offset of the first item, page size), per style.
    let window = match st.opts.paging {
        Paging::Page0 => asked("size", 100).and_then(|size| Ok((number(&q, "page", 0)?, size))),
        Paging::Offset => asked("limit", 25).and_then(|limit| Ok((number(&q, "offset", 0)?, limit))),
        Paging::StartIndex => {
            let count = match number(&q, "count", cap) {
                Ok(n) => Ok(n.min(cap)),
                Err(e) => Err(e),
            };
            count.and_then(|count| Ok((number(&q, "startIndex", 1)?.max(1) - 1, count)))
        }
        Paging::Cursor => asked("limit", 100).and_then(|limit| match q.get("cursor") {
            None => Ok((0, limit)),
            Some(c) => match offset_of(c) {
                Some(offset) => Ok((offset, limit)),
                None => Err(error(400, "bad_request", "unknown cursor")),
            },
        }),
        Paging::Page1 => asked("per_page", 25).and_then(|per_page| match number(&q, "page", 1)? {
            0 => Err(error(400, "bad_request", "page starts at 1")),
            page => Ok((page, per_page)),
        }),
    };
    let (first, size) = match window {
        Ok(w) => w,
        Err(reply) => return reply,
    };
    let filter_value = st.opts.filter.as_ref().map(|f| (f.as_str(), q.get(f).map_or("1", String::as_str)));
    let plain = st.opts.hidden.is_empty() && filter_value.is_none();
    let total = if plain {
        st.accounts.len()
    } else {
        st.accounts.iter().filter(|a| st.shows(a, filter_value)).count()
    };
    let shown = st.opts.short_listing.map_or(total, |n| n.min(total));
    let (offset, page) = match st.opts.paging {
        Paging::Page0 => {
            let pages = total.div_ceil(size).max(1);
            let page = if st.opts.wrap_listing { first % pages } else { first };
            (page.saturating_mul(size), page)
        }
        Paging::Page1 => ((first - 1).saturating_mul(size), first),
        _ => (first, 0),
    };
    let take = size.min(shown.saturating_sub(offset));
    let hide = filter_value.map(|(field, _)| field);
    let data: Vec<Listed> = if plain {
        st.accounts.iter().skip(offset).take(take).map(|account| Listed { account, hide }).collect()
    } else {
        st.accounts
            .iter()
            .filter(|a| st.shows(a, filter_value))
            .skip(offset)
            .take(take)
            .map(|account| Listed { account, hide })
            .collect()
    };
    let items = serde_json::to_string(&data).expect("a JSON value serialises");
    let (field, rest) = match st.opts.paging {
        Paging::Page0 => ("data", json!({"page": page, "size": size, "total": total})),
        Paging::Offset => ("users", json!({"total_count": total, "offset": offset, "limit": size})),
        Paging::StartIndex => (
            "Resources",
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                "totalResults": total,
                "startIndex": offset + 1,
                "itemsPerPage": data.len(),
            }),
        ),
        Paging::Cursor => {
            let next = offset + data.len();
            let cursor = if data.is_empty() || next >= shown { Value::Null } else { json!(cursor_of(next)) };
            ("data", json!({"next_cursor": cursor}))
        }
        Paging::Page1 => ("users", json!({"page": page, "per_page": size, "total_count": total})),
    };
    let rest = rest.to_string();
    let body = format!("{{\"{field}\":{items},{}", &rest[1..]);
    Reply::new(200, "application/json; charset=utf-8", body)
}

/// An account as a listing shows it: without its password, nor the field a filtering listing
/// filters by. Serialised straight from the stored account: at 50,000 accounts a copy of each
/// page's accounts was most of the fake's time per page, which the benchmark would measure.
struct Listed<'a> {
    account: &'a Value,
    hide: Option<&'a str>,
}

impl serde::Serialize for Listed<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.account.as_object() {
            Some(fields) => serializer.collect_map(
                fields
                    .iter()
                    .filter(|(name, _)| name.as_str() != "password" && Some(name.as_str()) != self.hide),
            ),
            None => self.account.serialize(serializer),
        }
    }
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
    if let Some(field) = &st.opts.filter {
        body.entry(field.clone()).or_insert(json!(1));
    }
    if st.opts.ids != Ids::Key {
        let id = st.next_id();
        body.insert("id".into(), id);
    }
    let account = Value::Object(body);
    st.index.insert(key.to_lowercase(), st.accounts.len());
    if let Some(id) = id_text(&account) {
        st.id_index.insert(id, st.accounts.len());
    }
    st.accounts.push(account.clone());
    Reply::json(201, &st.answer(&account))
}

/// A create-or-modify `PUT /api/users/{key}` for a key no account has: the key comes from the path.
fn upsert_create(st: &mut State, key: &str, mut body: Map<String, Value>, principal: &str) -> Reply {
    match body.get("userId") {
        None => {
            body.insert("userId".into(), json!(key));
        }
        Some(v) if v.as_str().is_some_and(|b| b.eq_ignore_ascii_case(key)) => {}
        Some(_) => return error(400, "bad_request", "userId differs from the path"),
    }
    create(st, body, principal)
}

fn update(st: &mut State, key: &str, body: Map<String, Value>) -> Reply {
    let Some(i) = st.locate(key) else {
        return error(404, "not_found", "no such user");
    };
    // Addressed by id, an account can be renamed (SCIM's userName, Redmine's login); addressed by
    // its userId, it cannot (the dev API ignores a new one).
    let renamed = match body.get("userId").and_then(Value::as_str) {
        Some(new) if st.opts.ids != Ids::Key && user_id(&st.accounts[i]) != Some(new) => {
            if position(st, new).is_some_and(|other| other != i) {
                return error(409, "conflict", "another user has this userId");
            }
            Some(new.to_string())
        }
        _ => None,
    };
    let Some(account) = st.accounts[i].as_object_mut() else {
        return error(500, "internal", "stored account is not an object");
    };
    for (k, v) in body {
        if k == "createdBy" || k == "userId" || k == "id" {
            continue;
        }
        account.insert(k, v);
    }
    if let Some(new) = renamed {
        account.insert("userId".into(), Value::String(new));
        st.reindex();
    }
    Reply::json(200, &st.answer(&st.accounts[i]))
}

fn delete(st: &mut State, key: &str) -> Reply {
    match st.locate(key) {
        Some(i) => {
            // Shift the indexes instead of rebuilding them: a rebuild (50,000 lower-cased keys
            // per delete) was most of the fakes' time in the benchmark's churn case. Rebuilt
            // when keys or ids repeat or are missing, where a rebuild decides which one wins.
            let unique = st.index.len() == st.accounts.len()
                && (st.id_index.is_empty() || st.id_index.len() == st.accounts.len());
            let removed = st.accounts.remove(i);
            if !unique {
                st.reindex();
                return Reply::empty(204);
            }
            if let Some(key) = user_id(&removed) {
                st.index.remove(&key.to_lowercase());
            }
            if let Some(id) = id_text(&removed) {
                st.id_index.remove(&id);
            }
            for position in st.index.values_mut().chain(st.id_index.values_mut()) {
                if *position > i {
                    *position -= 1;
                }
            }
            Reply::empty(204)
        }
        None => error(404, "not_found", "no such user"),
    }
}
