//! A faithful fake of the Slack Web API subset slack-im calls (reference §9): `users.list`
//! cursor paging with its quirks, auth and scope errors as HTTP 200 `ok:false`, 429 with
//! Retry-After, `conversations.members`, `usergroups.list`, `auth.test`, `chat.postMessage`, and
//! scripted faults.

use std::collections::{BTreeMap, HashMap};
use std::sync::MutexGuard;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::fake_server::{FakeServer, FakeState, Shared};
use crate::http::{self, Reply, Req};
use crate::members::{self, ACME_TEAM_ID, ACME_TEAM_NAME};
use crate::Recorded;

/// The sandbox bot token of the Acme fixture.
pub const SANDBOX_TOKEN: &str = "xoxb-sandbox-token";
/// The fixture bot's user id (`acme_sync_bot`).
pub const BOT_USER_ID: &str = "U0BOT00001";
/// The fixture bot's bot id.
pub const BOT_ID: &str = "B0BOT00001";

/// Lifecycle state of a token (reference §9.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenState {
    #[default]
    Active,
    /// `token_revoked`
    Revoked,
    /// `account_inactive`
    Inactive,
    /// `token_expired`
    Expired,
}

/// A token the fake accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub token: String,
    pub scopes: Vec<String>,
    pub state: TokenState,
    /// Enterprise Grid org-level token: `users.list` then needs `team_id`.
    pub org: bool,
    /// Workspaces an org token may act on (`team_access_not_granted` otherwise).
    pub granted_teams: Vec<String>,
}

impl Token {
    /// An active workspace bot token with these scopes.
    pub fn bot(token: &str, scopes: &[&str]) -> Token {
        Token {
            token: token.to_string(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            state: TokenState::Active,
            org: false,
            granted_teams: Vec::new(),
        }
    }

    /// An active org-level token granted these workspaces.
    pub fn org(token: &str, scopes: &[&str], granted_teams: &[&str]) -> Token {
        Token {
            org: true,
            granted_teams: granted_teams.iter().map(|s| s.to_string()).collect(),
            ..Token::bot(token, scopes)
        }
    }

    /// The same token in another state.
    pub fn with_state(mut self, state: TokenState) -> Token {
        self.state = state;
        self
    }

    fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// How the last page of a cursored list says "no more" (reference §2.2: all four are real).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EndMarker {
    /// `"response_metadata": {"next_cursor": ""}` (current Slack)
    #[default]
    EmptyString,
    /// `"response_metadata": {"next_cursor": null}`
    Null,
    /// `"response_metadata": {}`
    OmitNextCursor,
    /// no `response_metadata` at all
    OmitResponseMetadata,
}

/// A channel of the fake workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: String,
    pub name: String,
    pub is_private: bool,
    pub is_archived: bool,
    /// Whether the fixture bot has joined (posting without `chat:write.public` needs it).
    pub is_member: bool,
    /// Membership is every active, non-guest, non-bot, non-invited human (plus `members`).
    pub everyone: bool,
    /// Explicit member ids (deleted members are never listed).
    pub members: Vec<String>,
}

impl Channel {
    /// A public channel the bot has joined, with explicit members.
    pub fn public(id: &str, name: &str, members: &[&str]) -> Channel {
        Channel {
            id: id.into(),
            name: name.into(),
            is_private: false,
            is_archived: false,
            is_member: true,
            everyone: false,
            members: members.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The Acme channel fixture of reference §9.6.
    pub fn acme() -> Vec<Channel> {
        let all = ["U0ADMIN001", "U0KOR00001", "U0JPN00001"];
        vec![
            Channel {
                everyone: true,
                ..Channel::public("C0GENERAL1", "all-acme-test", &[BOT_USER_ID, "U0GUESTMC1"])
            },
            Channel::public("C0RANDOM01", "random", &all),
            Channel {
                is_archived: true,
                is_member: false,
                ..Channel::public("C0ARCHIVE1", "old-project", &all)
            },
            Channel {
                is_private: true,
                is_member: false,
                ..Channel::public("G0PRIVATE1", "secret-plans", &["U0ADMIN001"])
            },
            Channel { is_member: false, ..Channel::public("C0ANNOUNCE", "announcements", &all) },
            Channel { is_member: false, ..Channel::public("C0DECOYGEN", "general", &["U0ADMIN001"]) },
        ]
    }
}

/// A user group of the fake workspace (`usergroups.list`), as Slack describes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserGroup {
    /// `S…`
    pub id: String,
    /// What people type after `@` (`sales`).
    pub handle: String,
    pub name: String,
    /// A disabled group (`date_delete` set) is listed only with `include_disabled`.
    pub disabled: bool,
    /// Member ids, as Slack lists them with `include_users`.
    pub users: Vec<String>,
}

impl UserGroup {
    /// An enabled group with these members.
    pub fn new(id: &str, handle: &str, users: &[&str]) -> UserGroup {
        UserGroup {
            id: id.into(),
            handle: handle.into(),
            name: handle.replace('-', " "),
            disabled: false,
            users: users.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The Acme groups: `@sales`, `@solutions`, `@qa`, `@cs-agents`, an empty `@interns` and a
    /// disabled `@old-sales` (whose members must count for nothing).
    pub fn acme() -> Vec<UserGroup> {
        vec![
            UserGroup::new("S0SALES001", "sales", &["U0KOR00001", "U0JPN00001", "U0ACC00001"]),
            UserGroup::new("S0SOLUTN01", "solutions", &["U0KOR00002", "U0RTL00001"]),
            UserGroup::new("S0QA000001", "qa", &["U0QUOTE001", "U0EMPTY001", "U0KOR00001"]),
            UserGroup::new("S0CSAGENT1", "cs-agents", &["U0ADMIN001", "U0UNCONF01", "W0GRID0001"]),
            UserGroup::new("S0INTERNS1", "interns", &[]),
            UserGroup {
                disabled: true,
                ..UserGroup::new("S0OLDSALE1", "old-sales", &["U0ADMIN001", "U0QUOTE001"])
            },
        ]
    }

    /// The group as `usergroups.list` returns it (reference: Slack's usergroups.list example).
    fn to_json(&self, include_users: bool, include_count: bool) -> Value {
        let mut g = json!({
            "id": self.id, "team_id": ACME_TEAM_ID, "is_usergroup": true, "is_subteam": true,
            "name": self.name, "description": "", "handle": self.handle, "is_external": false,
            "date_create": 1_446_598_059, "date_update": 1_446_670_362,
            "date_delete": if self.disabled { 1_446_670_400 } else { 0 },
            "auto_type": null, "auto_provision": false, "enterprise_subteam_id": "",
            "created_by": "U0ADMIN001", "updated_by": "U0ADMIN001",
            "deleted_by": if self.disabled { json!("U0ADMIN001") } else { Value::Null },
            "prefs": {"channels": [], "groups": []},
        });
        if include_users {
            g["users"] = json!(self.users);
        }
        if include_count {
            g["user_count"] = json!(self.users.len());
        }
        g
    }
}

/// What a fault does to a request (shared by [`SlackFault`] and [`crate::TargetFault`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// HTTP 429, `Retry-After` header when `Some` (any text: "1", "1.5", an HTTP date…).
    RateLimited { retry_after: Option<String> },
    /// Any status with this body (HTML bodies get `text/html`, `{…}` JSON, else text/plain).
    Status { code: u16, body: String },
    /// HTTP 200 `{"ok":false,"error":"ratelimited"}` with a `Retry-After` header when `Some`: Slack's
    /// rate limit inside a 200, as `ratelimited` is listed among the HTTP-200 errors (reference §3).
    RateLimited200 { retry_after: Option<String> },
    /// HTTP 200 `{"ok":false,"error":…}` plus the fields of `extra` (an object).
    OkFalse { error: String, extra: Value },
    /// HTTP 200, JSON content type, body cut in the middle.
    TruncatedJson,
    /// HTTP 200 with Slack's HTML error page.
    Html200,
    /// HTTP 200 with an empty body.
    Empty200,
    /// Wait, then answer normally.
    Delay(Duration),
    /// Close the TCP connection without any response.
    Reset,
    /// A redirect: `code` (301, 302, 303, 307, 308) with `Location: location`.
    Redirect { code: u16, location: String },
    /// `code` with an error body that quotes the request back (its body, then its
    /// `Authorization` header) in `form`: what careless servers put into their error messages.
    Echo { code: u16, form: EchoForm },
    /// `users.list` only: a page of 999 members never seen before with a fresh cursor, on every
    /// call: a workspace that never ends.
    FreshPage,
    /// A cursor-paged method: `ok`, no members, and as `next_cursor` the cursor it was sent. Slack
    /// may return fewer members than asked, even none; asking again moves on.
    EmptyPageSameCursor,
}

/// How an [`Effect::Echo`] quotes the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EchoForm {
    /// As sent.
    Raw,
    /// Inside a JSON string: `"` as `\"`, `\` as `\\`.
    Json,
    /// Inside a JSON string with every character but letters and digits written `\uXXXX`.
    Unicode,
    /// Percent-encoded, every byte but letters and digits.
    Percent,
    /// White space runs collapsed to one space.
    Collapsed,
    /// Only the first `n` characters.
    Truncated(usize),
}

/// The text an echoing server sends back for `req`.
pub(crate) fn echo_reply(code: u16, form: &EchoForm, req: &Req) -> Reply {
    let quoted =
        format!("{} (authorization: {})", req.body_text(), req.header("authorization").unwrap_or(""));
    let text = match form {
        EchoForm::Raw => quoted,
        EchoForm::Json => return Reply::json(code, &json!({"error": "rejected", "request": quoted})),
        EchoForm::Unicode => {
            let mut out = String::new();
            for c in quoted.chars() {
                if c.is_ascii_alphanumeric() {
                    out.push(c);
                } else {
                    let mut buf = [0u16; 2];
                    for unit in c.encode_utf16(&mut buf) {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                }
            }
            return Reply::new(
                code,
                "application/json; charset=utf-8",
                format!(r#"{{"error":"rejected","request":"{out}"}}"#),
            );
        }
        EchoForm::Percent => quoted
            .bytes()
            .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect(),
        EchoForm::Collapsed => quoted.split_whitespace().collect::<Vec<_>>().join(" "),
        EchoForm::Truncated(n) => quoted.chars().take(*n).collect(),
    };
    Reply::new(code, "text/plain; charset=utf-8", format!("rejected: {text}"))
}

impl Effect {
    /// 429 with `Retry-After: <secs>`.
    pub fn rate_limited(secs: u64) -> Effect {
        Effect::RateLimited { retry_after: Some(secs.to_string()) }
    }

    /// `code` with Slack's HTML "Server Error | Slack" page.
    pub fn server_error(code: u16) -> Effect {
        Effect::Status { code, body: slack_html_error_page() }
    }

    /// HTTP 200 `{"ok":false,"error":error}`.
    pub fn ok_false(error: &str) -> Effect {
        Effect::OkFalse { error: error.into(), extra: json!({}) }
    }
}

/// A scripted fault: calls `call .. call+times` (1-based, counted per `method`, `"*"` = all
/// methods together) get `effect` instead of (or, for `Delay`, before) normal handling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackFault {
    pub method: String,
    pub call: usize,
    pub times: usize,
    pub effect: Effect,
}

impl SlackFault {
    /// One fault on call `call` of `method`.
    pub fn new(method: &str, call: usize, effect: Effect) -> SlackFault {
        SlackFault { method: method.into(), call, times: 1, effect }
    }

    /// The same fault for `times` consecutive calls.
    pub fn times(mut self, times: usize) -> SlackFault {
        self.times = times;
        self
    }

    fn matches(&self, method: &str, call: usize, total: usize) -> bool {
        let n = if self.method == "*" {
            total
        } else if self.method == method {
            call
        } else {
            return false;
        };
        n >= self.call && n < self.call + self.times.max(1)
    }
}

/// Configuration of a [`FakeSlack`]; `Default` is the Acme fixture without synthetic members.
#[derive(Debug, Clone)]
pub struct SlackOptions {
    pub members: Vec<Value>,
    pub channels: Vec<Channel>,
    /// The workspace's user groups (`usergroups.list`).
    pub usergroups: Vec<UserGroup>,
    pub tokens: Vec<Token>,
    pub end_marker: EndMarker,
    /// Deterministically return fewer than `limit` (sometimes 0) while more remain.
    pub short_pages: bool,
    /// 1-based page numbers answered with no items but a valid cursor.
    pub empty_page_at: Vec<usize>,
    /// Repeat the last item of page n as the first of page n+1.
    pub duplicate_across_pages: bool,
    /// Sleep before answering every request.
    pub latency: Duration,
    /// `limit` above this is silently clamped; also the page size of a no-limit call.
    pub default_limit_clamp: usize,
    /// A missing/0 `limit` on a workspace larger than this → `limit_required`.
    pub limit_required_above: usize,
    /// Worker threads serving requests in parallel.
    pub workers: usize,
    /// Port to bind on 127.0.0.1 (0 = any free port).
    pub port: u16,
}

impl Default for SlackOptions {
    fn default() -> Self {
        SlackOptions {
            members: members::acme_fixture(),
            channels: Channel::acme(),
            usergroups: UserGroup::acme(),
            tokens: vec![Token::bot(
                SANDBOX_TOKEN,
                &["users:read", "users:read.email", "channels:read", "chat:write", "usergroups:read"],
            )],
            end_marker: EndMarker::EmptyString,
            short_pages: false,
            empty_page_at: Vec::new(),
            duplicate_across_pages: false,
            latency: Duration::ZERO,
            default_limit_clamp: 1000,
            limit_required_above: 1000,
            workers: 8,
            port: 0,
        }
    }
}

impl SlackOptions {
    /// The 21-member Acme fixture plus `synthetic` generated humans (default seed).
    pub fn acme(synthetic: usize) -> SlackOptions {
        SlackOptions::acme_seeded(synthetic, members::DEFAULT_SEED)
    }

    /// The Acme fixture plus `synthetic` humans, as a single sign-on workspace reports them
    /// ([`members::as_sso`]: signed-in people with `is_email_confirmed: false`).
    pub fn acme_sso(synthetic: usize) -> SlackOptions {
        let mut o = SlackOptions::acme(synthetic);
        o.members = members::as_sso(o.members);
        o
    }

    /// As [`SlackOptions::acme`] with another generator seed.
    pub fn acme_seeded(synthetic: usize, seed: u64) -> SlackOptions {
        let mut o = SlackOptions::default();
        o.members.extend(members::synthetic(synthetic, seed));
        o
    }
}

/// Slack's HTML 5xx page (shape of python-slack-sdk's mock server).
pub fn slack_html_error_page() -> String {
    concat!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        "<title>Server Error | Slack</title>\n",
        "<meta name=\"author\" content=\"Slack\">\n",
        "<link href=\"https://a.slack-edge.com/4d5bb/marketing/img/meta/favicon-32.png\" rel=\"shortcut icon\">\n",
        "</head>\n<body>\n<nav class=\"top persistent\"><a href=\"https://status.slack.com/\" class=\"logo\"></a></nav>\n",
        "<div id=\"page\"><div id=\"page_contents\">\n<h1>\n<svg width=\"30px\" height=\"27px\" viewBox=\"0 0 60 54\"></svg>\n",
        "Server Error\n</h1>\n<div class=\"card\">\n",
        "<p>It seems like there\u{2019}s a problem connecting to our servers, and we\u{2019}re investigating the issue.</p>\n",
        "<p>Please <a href=\"https://status.slack.com/\">check our Status page for updates</a>.</p>\n",
        "</div>\n</div></div>\n</body>\n</html>\n"
    )
    .to_string()
}

struct State {
    opts: SlackOptions,
    /// Per-server secret of cursors and request ids: another server's cursor is invalid here.
    salt: u64,
    calls: BTreeMap<String, usize>,
    total: usize,
    faults: Vec<SlackFault>,
    posted: Vec<Value>,
    not_before: HashMap<String, Instant>,
    too_early: usize,
    epoch: u64,
    seq: u64,
    /// Each member as `users.list` answers it, already in Slack's JSON, per (email shown, locale
    /// included): pages are then joined text, not 999 members cloned and serialised per request
    /// (which was most of the fake's time in the 50,000-member benchmark). Presented again
    /// whenever the members or the options change.
    presented: HashMap<(bool, bool), Vec<String>>,
}

impl FakeState for State {
    fn latency(&self) -> Duration {
        self.opts.latency
    }
}

/// A running fake Slack on `127.0.0.1`; stops when dropped.
pub struct FakeSlack {
    server: FakeServer<State>,
}

impl std::fmt::Debug for FakeSlack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeSlack").field("base_url", &self.base_url()).finish()
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl FakeSlack {
    /// Starts the fake on `127.0.0.1:opts.port`. Panics if it cannot bind.
    pub fn start(opts: SlackOptions) -> FakeSlack {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
        let salt = http::splitmix64(nanos ^ u64::from(std::process::id()));
        let (port, workers) = (opts.port, opts.workers);
        let state = State {
            opts,
            salt,
            calls: BTreeMap::new(),
            total: 0,
            faults: Vec::new(),
            posted: Vec::new(),
            not_before: HashMap::new(),
            too_early: 0,
            epoch: salt % 1_000_000,
            seq: 0,
            presented: HashMap::new(),
        };
        FakeSlack { server: FakeServer::start("Slack", state, port, workers, handle) }
    }

    /// `http://127.0.0.1:PORT/api/` (trailing slash: append the method name).
    pub fn base_url(&self) -> String {
        format!("http://{}/api/", self.server.addr())
    }

    /// The bound address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.addr()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.server.shared().lock()
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.server.shared().requests()
    }

    /// How many requests reached `/api/<method>` (faulted ones included).
    pub fn calls(&self, method: &str) -> usize {
        self.state().calls.get(method).copied().unwrap_or(0)
    }

    /// Calls per method.
    pub fn call_counts(&self) -> BTreeMap<String, usize> {
        self.state().calls.clone()
    }

    /// Adds a scripted fault (first matching fault wins).
    pub fn add_fault(&self, fault: SlackFault) {
        self.state().faults.push(fault);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// Replaces the workspace's members.
    pub fn set_members(&self, members: Vec<Value>) {
        let mut st = self.state();
        st.opts.members = members;
        st.present_again();
    }

    /// The workspace's members as stored (emails included).
    pub fn members(&self) -> Vec<Value> {
        self.state().opts.members.clone()
    }

    /// Edits the member with this id in place (no-op if absent).
    pub fn update_member(&self, id: &str, f: impl FnOnce(&mut Value)) {
        let mut st = self.state();
        if let Some(m) = st.opts.members.iter_mut().find(|m| m.get("id").and_then(Value::as_str) == Some(id))
        {
            f(m);
        }
        st.present_again();
    }

    /// Sets the members of the user group with this handle (no-op if absent), as an admin editing
    /// `@handle` in Slack would.
    pub fn set_usergroup_users(&self, handle: &str, users: &[&str]) {
        let mut st = self.state();
        if let Some(g) = st.opts.usergroups.iter_mut().find(|g| g.handle == handle) {
            g.users = users.iter().map(|s| s.to_string()).collect();
        }
    }

    /// The workspace's user groups as stored, disabled ones included.
    pub fn usergroups(&self) -> Vec<UserGroup> {
        self.state().opts.usergroups.clone()
    }

    /// Changes any option of the running fake (tokens, end marker, page shaping, latency…).
    pub fn configure(&self, f: impl FnOnce(&mut SlackOptions)) {
        let mut st = self.state();
        f(&mut st.opts);
        st.present_again();
    }

    /// Invalidates every cursor handed out so far (they now get `invalid_cursor`).
    pub fn expire_cursors(&self) {
        self.state().epoch += 1;
    }

    /// Accepted `chat.postMessage` calls: their arguments as received, `blocks` parsed.
    pub fn posted_messages(&self) -> Vec<Value> {
        self.state().posted.clone()
    }

    /// Requests that arrived before an advertised `Retry-After` for their method elapsed.
    pub fn too_early_retries(&self) -> usize {
        self.state().too_early
    }

    /// Most requests ever handled at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.server.shared().max_in_flight()
    }
}

fn handle(fake: &Shared<State>, req: &Req) -> Reply {
    let _in_flight = fake.admit();
    if let Some(rest) = req.path.strip_prefix("/__fake/") {
        return control(fake, rest, req);
    }
    let Some(method) = req.path.strip_prefix("/api/").map(str::to_string) else {
        return Reply::new(404, "text/plain; charset=utf-8", "Not Found\n");
    };
    let parsed = parse_call(req, &method);
    let record = |reply: &Reply| fake.record(req, parsed.args.clone(), reply);
    if req.method != "GET" && req.method != "POST" {
        let reply = Reply::json(405, &json!({"ok": false, "error": "method_not_allowed"}));
        record(&reply);
        return reply;
    }

    let (fault, call_number) = {
        let mut st = fake.lock();
        st.total += 1;
        let total = st.total;
        let call = {
            let c = st.calls.entry(method.clone()).or_insert(0);
            *c += 1;
            *c
        };
        if let Some(nb) = st.not_before.get(&method) {
            if Instant::now() < *nb {
                st.too_early += 1;
            }
        }
        (st.faults.iter().find(|f| f.matches(&method, call, total)).map(|f| f.effect.clone()), call)
    };
    if let Some(effect) = fault {
        if let Effect::Delay(d) = effect {
            std::thread::sleep(d);
        } else {
            if let Effect::RateLimited { retry_after: Some(ra) }
            | Effect::RateLimited200 { retry_after: Some(ra) } = &effect
            {
                if let Ok(secs) = ra.trim().parse::<f64>() {
                    if secs.is_finite() && secs >= 0.0 {
                        // Capped at a day (longer than any test): Duration::from_secs_f64(1e300)
                        // would panic the worker, and the client would see a 500, not the 429.
                        let wait = Duration::from_secs_f64(secs.min(86_400.0));
                        fake.lock().not_before.insert(method.clone(), Instant::now() + wait);
                    }
                }
            }
            let reply = match &effect {
                Effect::Echo { code, form } => echo_reply(*code, form, req),
                Effect::FreshPage => fresh_page(call_number),
                Effect::EmptyPageSameCursor => {
                    let cursor = parsed.args.get("cursor").cloned().unwrap_or_default();
                    Reply::json(
                        200,
                        &json!({"ok": true, "members": [], "response_metadata": {"next_cursor": cursor}}),
                    )
                }
                other => effect_reply(other),
            };
            // Slack names the token's scopes on every answer, faults included.
            let token = known_token(&fake.lock(), req.header("authorization"));
            let reply = with_slack_headers(fake, reply, token.as_ref(), &method);
            record(&reply);
            return reply;
        }
    }

    let reply = api(fake, &method, &parsed);
    record(&reply);
    reply
}

/// The reply a fault effect produces (not for `Delay`, which answers normally).
pub(crate) fn effect_reply(effect: &Effect) -> Reply {
    match effect {
        Effect::RateLimited { retry_after } => {
            let r = Reply::json(429, &json!({"ok": false, "error": "ratelimited"}));
            match retry_after {
                Some(v) => r.with_header("Retry-After", v),
                None => r,
            }
        }
        Effect::RateLimited200 { retry_after } => {
            let r = Reply::json(200, &json!({"ok": false, "error": "ratelimited"}));
            match retry_after {
                Some(v) => r.with_header("Retry-After", v),
                None => r,
            }
        }
        Effect::Status { code, body } => {
            let t = body.trim_start();
            let ct = if t.starts_with('<') {
                "text/html; charset=utf-8"
            } else if t.starts_with('{') || t.starts_with('[') {
                "application/json; charset=utf-8"
            } else {
                "text/plain; charset=utf-8"
            };
            Reply::new(*code, ct, body.clone())
        }
        Effect::OkFalse { error, extra } => {
            let mut body = json!({"ok": false, "error": error});
            if let Some(extra) = extra.as_object() {
                for (k, v) in extra {
                    body[k] = v.clone();
                }
            }
            Reply::json(200, &body)
        }
        Effect::TruncatedJson => Reply::new(
            200,
            "application/json; charset=utf-8",
            r#"{"ok":true,"members":[{"id":"U0ADMIN001","name":"alice","profile":{"real_na"#,
        ),
        Effect::Html200 => Reply::new(200, "text/html; charset=utf-8", slack_html_error_page()),
        Effect::Empty200 => Reply::new(200, "application/json; charset=utf-8", ""),
        Effect::Delay(_) | Effect::Echo { .. } | Effect::FreshPage | Effect::EmptyPageSameCursor => {
            Reply::empty(500)
        }
        Effect::Reset => Reply::Reset,
        Effect::Redirect { code, location } => {
            Reply::new(*code, "text/html; charset=utf-8", "<html>Moved</html>")
                .with_header("Location", location)
        }
    }
}

fn control(fake: &Shared<State>, what: &str, req: &Req) -> Reply {
    let st = fake.lock();
    match (req.method.as_str(), what) {
        ("GET", "stats") => Reply::json(200, &json!(st.calls)),
        ("GET", "requests") => Reply::json(200, &json!(fake.requests())),
        ("GET", "posted") => Reply::json(200, &json!(st.posted)),
        ("GET", "members") => Reply::json(200, &json!(st.opts.members)),
        _ => Reply::json(404, &json!({"error": "unknown control endpoint"})),
    }
}

/// A `users.list` page of 999 members no earlier page had, with a cursor to yet another one.
fn fresh_page(call: usize) -> Reply {
    let members: Vec<Value> =
        (0..999).map(|i| members::synthetic_member(call * 1000 + i, members::DEFAULT_SEED)).collect();
    let body = json!({"ok": true, "members": members, "response_metadata": {"next_cursor": format!("fresh-{call}")}});
    Reply::json(200, &body)
}

/// Arguments and transport facts of one API call.
struct Call {
    args: BTreeMap<String, String>,
    /// `token` from a form/multipart body (never from the query or a JSON body).
    form_token: Option<String>,
    /// Parsed JSON body of a write method.
    json: Option<Map<String, Value>>,
    warnings: Vec<&'static str>,
    /// A transport-level error (`invalid_json`, `missing_post_type`, …).
    error: Option<&'static str>,
    authorization: Option<String>,
}

const WRITE_METHODS: &[&str] = &["chat.postMessage"];

fn parse_call(req: &Req, method: &str) -> Call {
    let mut pairs = http::parse_form(&req.query);
    let mut call = Call {
        args: BTreeMap::new(),
        form_token: None,
        json: None,
        warnings: Vec::new(),
        error: None,
        authorization: req.header("authorization").map(str::to_string),
    };
    if req.method == "POST" && !req.body.is_empty() {
        match req.content_type() {
            None => call.error = Some("missing_post_type"),
            Some((media, charset)) => match media.as_str() {
                "application/x-www-form-urlencoded" => match std::str::from_utf8(&req.body) {
                    Ok(text) => {
                        let form = http::parse_form(text);
                        call.form_token =
                            form.iter().rev().find(|(k, _)| k == "token").map(|(_, v)| v.clone());
                        pairs.extend(form);
                    }
                    Err(_) => call.error = Some("invalid_form_data"),
                },
                "multipart/form-data" => {
                    let ct = req.header("content-type").unwrap_or("");
                    match http::multipart_boundary(ct).and_then(|b| http::parse_multipart(&req.body, &b)) {
                        Some(form) => {
                            call.form_token =
                                form.iter().rev().find(|(k, _)| k == "token").map(|(_, v)| v.clone());
                            pairs.extend(form);
                        }
                        None => call.error = Some("invalid_form_data"),
                    }
                }
                "application/json" => {
                    if charset.is_none() {
                        call.warnings.push("missing_charset");
                    }
                    if WRITE_METHODS.contains(&method) {
                        match serde_json::from_slice::<Value>(&req.body) {
                            Ok(Value::Object(obj)) => {
                                for (k, v) in &obj {
                                    if k == "token" {
                                        continue; // not honoured in JSON bodies
                                    }
                                    let s = match v {
                                        Value::String(s) => s.clone(),
                                        other => other.to_string(),
                                    };
                                    pairs.push((k.clone(), s));
                                }
                                call.json = Some(obj);
                            }
                            Ok(_) => call.error = Some("json_not_object"),
                            Err(_) => call.error = Some("invalid_json"),
                        }
                    }
                }
                _ => call.error = Some("invalid_post_type"),
            },
        }
    }
    call.args = http::merge_args(&pairs);
    call
}

/// The registered token a `Bearer` header presents, if any.
fn known_token(st: &State, authorization: Option<&str>) -> Option<Token> {
    let presented = authorization?.strip_prefix("Bearer ")?.trim();
    st.opts.tokens.iter().find(|t| t.token == presented).cloned()
}

/// Scopes a method needs (`None`: unknown method).
fn method_scopes(method: &str) -> Option<&'static [&'static str]> {
    Some(match method {
        "users.list" => &["users:read"],
        "conversations.members" => &["channels:read"],
        "usergroups.list" => &["usergroups:read"],
        "chat.postMessage" => &["chat:write"],
        "auth.test" => &[],
        _ => return None,
    })
}

fn err(error: &str) -> Value {
    json!({"ok": false, "error": error})
}

/// Serialises like Slack's PHP encoder: `/` as `\/`, astral characters as surrogate pairs.
fn to_slack_json(v: &Value) -> String {
    let s = v.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 16);
    for c in s.chars() {
        match c {
            '/' => out.push_str("\\/"),
            c if (c as u32) > 0xFFFF => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn with_slack_headers(fake: &Shared<State>, reply: Reply, token: Option<&Token>, method: &str) -> Reply {
    let (seq, salt) = {
        let mut st = fake.lock();
        st.seq += 1;
        (st.seq, st.salt)
    };
    let mut r = reply
        .with_header("x-slack-req-id", &http::req_id(seq, salt))
        .with_header("access-control-expose-headers", "x-slack-req-id, retry-after")
        .with_header("cache-control", "private, no-cache, no-store, must-revalidate");
    if let Some(scopes) = method_scopes(method) {
        r = r.with_header("x-accepted-oauth-scopes", &scopes.join(","));
    }
    if let Some(t) = token {
        r = r.with_header("x-oauth-scopes", &t.scopes.join(","));
    }
    r
}

fn api(fake: &Shared<State>, method: &str, call: &Call) -> Reply {
    let (body, token, members) = api_body(fake, method, call);
    let mut body = body;
    if !call.warnings.is_empty() {
        body["warning"] = json!(call.warnings.join(","));
        if !body.get("response_metadata").is_some_and(serde_json::Value::is_object) {
            body["response_metadata"] = json!({});
        }
        body["response_metadata"]["warnings"] = json!(call.warnings);
    }
    let mut text = to_slack_json(&body);
    if let Some(members) = members {
        // The page's members, already in Slack's JSON, go where the body holds an empty list.
        let at = text.find(MEMBERS_SLOT).expect("a users.list page has its members slot");
        text.replace_range(at..at + MEMBERS_SLOT.len(), &format!("\"members\":[{members}]"));
    }
    let reply = Reply::new(200, "application/json; charset=utf-8", text);
    with_slack_headers(fake, reply, token.as_ref(), method)
}

/// Where a `users.list` page's body holds its members until they are spliced in as text.
const MEMBERS_SLOT: &str = "\"members\":[]";

/// The answer's body, the token it was asked with, and for a `users.list` page its members as
/// Slack's JSON text (the body holds an empty `members` list for them).
fn api_body(fake: &Shared<State>, method: &str, call: &Call) -> (Value, Option<Token>, Option<String>) {
    let Some(scopes) = method_scopes(method) else {
        return (err("unknown_method"), None, None);
    };
    if let Some(e) = call.error {
        return (err(e), None, None);
    }
    let mut st = fake.lock();
    // Authentication: header first, then a form `token`; never the query or a JSON body.
    let presented = match &call.authorization {
        Some(h) => match h.strip_prefix("Bearer ") {
            Some(t) => Some(t.trim().to_string()),
            None => return (err("invalid_auth"), None, None),
        },
        None => call.form_token.clone(),
    };
    let Some(presented) = presented.filter(|t| !t.is_empty()) else {
        return (err("not_authed"), None, None);
    };
    let Some(token) = st.opts.tokens.iter().find(|t| t.token == presented).cloned() else {
        return (err("invalid_auth"), None, None);
    };
    let state_error = match token.state {
        TokenState::Active => None,
        TokenState::Revoked => Some("token_revoked"),
        TokenState::Inactive => Some("account_inactive"),
        TokenState::Expired => Some("token_expired"),
    };
    if let Some(e) = state_error {
        return (err(e), Some(token), None);
    }
    if let Some(missing) = scopes.iter().find(|s| !token.has(s)) {
        return (
            json!({"ok": false, "error": "missing_scope", "needed": missing,
                   "provided": token.scopes.join(",")}),
            Some(token),
            None,
        );
    }
    if token.org && (method == "users.list" || method == "usergroups.list") {
        match call.args.get("team_id").filter(|t| !t.is_empty()) {
            None => return (err("missing_argument"), Some(token), None),
            Some(team) if !token.granted_teams.contains(team) => {
                return (err("team_access_not_granted"), Some(token), None)
            }
            Some(_) => {}
        }
    }
    if method == "users.list" {
        let (body, members) = users_list(&mut st, call, &token);
        return (body, Some(token), members);
    }
    let body = match method {
        "conversations.members" => conversations_members(&st, call, &token),
        "usergroups.list" => usergroups_list(&st, call),
        "chat.postMessage" => post_message(&mut st, call, &token),
        "auth.test" => auth_test(&token),
        _ => err("unknown_method"),
    };
    (body, Some(token), None)
}

fn truthy(v: Option<&String>) -> bool {
    matches!(v.map(String::as_str), Some("true" | "1"))
}

/// `limit` argument: `Ok(None)` when absent/empty, `Err` when not a non-negative integer.
fn limit_arg(call: &Call) -> Result<Option<usize>, ()> {
    match call.args.get("limit").map(|s| s.trim()) {
        None | Some("") => Ok(None),
        Some(s) => s.parse::<usize>().map(Some).map_err(|_| ()),
    }
}

struct Page {
    items: Vec<usize>,
    next: Option<(usize, usize)>,
}

/// Cuts page `page` (1-based) of `len` items starting at `pos`, applying the shaping knobs.
fn shape(opts: &SlackOptions, len: usize, pos: usize, page: usize, limit: usize) -> Page {
    if opts.empty_page_at.contains(&page) && pos < len {
        return Page { items: Vec::new(), next: Some((pos, page + 1)) };
    }
    let mut take = limit.max(1);
    if opts.short_pages {
        if page % 5 == 4 {
            take = 0;
        } else if page % 3 == 2 {
            take = (limit / 2).max(1);
        } else if page % 4 == 3 {
            take = (limit * 2 / 3).max(1);
        }
    }
    let end = len.min(pos + take);
    let mut items: Vec<usize> = (pos..end).collect();
    if opts.duplicate_across_pages && pos > 0 && page > 1 && pos <= len {
        items.insert(0, pos - 1);
    }
    Page { items, next: (end < len).then_some((end, page + 1)) }
}

/// Cursor: base64 of `kind:pos:page:epoch:checksum`, padded so the text always carries `+`,
/// `/` and `=` (clients must URL-encode it and pass it back verbatim).
fn encode_cursor(salt: u64, epoch: u64, kind: &str, pos: usize, page: usize) -> String {
    let payload = format!("{kind}:{pos}:{page}:{epoch}");
    let mut raw = format!("{payload}:{:08x}", checksum(salt, &payload)).into_bytes();
    while raw.len() % 3 != 0 {
        raw.push(b'~');
    }
    raw.extend_from_slice(&[0xFB, 0xEF, 0xFF, b'!']);
    http::base64_encode(&raw)
}

fn decode_cursor(salt: u64, epoch: u64, kind: &str, cursor: &str) -> Option<(usize, usize)> {
    let raw = http::base64_decode(cursor)?;
    let text = raw.strip_suffix(&[0xFB, 0xEF, 0xFF, b'!'])?;
    let text = std::str::from_utf8(text).ok()?.trim_end_matches('~');
    let (payload, sum) = text.rsplit_once(':')?;
    if sum != format!("{:08x}", checksum(salt, payload)) {
        return None;
    }
    let mut parts = payload.rsplitn(4, ':');
    let e: u64 = parts.next()?.parse().ok()?;
    let page: usize = parts.next()?.parse().ok()?;
    let pos: usize = parts.next()?.parse().ok()?;
    let k = parts.next()?;
    (k == kind && e == epoch && page >= 1).then_some((pos, page))
}

fn checksum(salt: u64, payload: &str) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ salt;
    for b in payload.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    (http::splitmix64(h) >> 32) as u32
}

/// Position and page from the `cursor` argument (first page when absent/empty).
fn cursor_arg(st: &State, call: &Call, kind: &str) -> Result<(usize, usize), Value> {
    match call.args.get("cursor").filter(|c| !c.is_empty()) {
        None => Ok((0, 1)),
        Some(c) => decode_cursor(st.salt, st.epoch, kind, c).ok_or_else(|| err("invalid_cursor")),
    }
}

fn finish_page(st: &State, kind: &str, mut body: Value, next: Option<(usize, usize)>) -> Value {
    match next {
        Some((pos, page)) => {
            body["response_metadata"] =
                json!({"next_cursor": encode_cursor(st.salt, st.epoch, kind, pos, page)});
        }
        None => match st.opts.end_marker {
            EndMarker::EmptyString => body["response_metadata"] = json!({"next_cursor": ""}),
            EndMarker::Null => body["response_metadata"] = json!({"next_cursor": null}),
            EndMarker::OmitNextCursor => body["response_metadata"] = json!({}),
            EndMarker::OmitResponseMetadata => {}
        },
    }
    body
}

/// Every member in Slack's JSON, as `users.list` shows them for `(email shown, locale included)`.
fn present_all(members: &[Value], (show_email, include_locale): (bool, bool)) -> Vec<String> {
    members.iter().map(|m| to_slack_json(&present_member(m, show_email, include_locale))).collect()
}

impl State {
    /// The members changed (or the options did): present them again, now, in every variant asked
    /// for so far, so the next `users.list` call (a measured one in the benchmark) does not pay it.
    fn present_again(&mut self) {
        let variants: Vec<(bool, bool)> = self.presented.keys().copied().collect();
        self.presented = variants.into_iter().map(|v| (v, present_all(&self.opts.members, v))).collect();
    }
}

/// The member as this token sees it.
fn present_member(m: &Value, show_email: bool, include_locale: bool) -> Value {
    let mut m = m.clone();
    if !show_email {
        if let Some(p) = m.get_mut("profile").and_then(Value::as_object_mut) {
            p.remove("email");
        }
    }
    if !include_locale {
        if let Some(o) = m.as_object_mut() {
            o.remove("locale");
        }
    }
    m
}

fn users_list(st: &mut State, call: &Call, token: &Token) -> (Value, Option<String>) {
    let all = &st.opts.members;
    let limit = match limit_arg(call) {
        Err(()) => return (err("invalid_arguments"), None),
        Ok(None | Some(0)) => {
            if all.len() > st.opts.limit_required_above {
                return (err("limit_required"), None);
            }
            st.opts.default_limit_clamp
        }
        Ok(Some(n)) => n.min(st.opts.default_limit_clamp),
    };
    let (pos, page) = match cursor_arg(st, call, "user") {
        Ok(p) => p,
        Err(e) => return (e, None),
    };
    let include_locale = truthy(call.args.get("include_locale"));
    let shaped = shape(&st.opts, all.len(), pos.min(all.len()), page, limit);
    let variant = (token.has("users:read.email"), include_locale);
    if !st.presented.contains_key(&variant) {
        let presented = present_all(&st.opts.members, variant);
        st.presented.insert(variant, presented);
    }
    let presented = &st.presented[&variant];
    let members = shaped.items.iter().map(|&i| presented[i].as_str()).collect::<Vec<_>>().join(",");
    let body = json!({"ok": true, "members": [], "cache_ts": now_secs()});
    (finish_page(st, "user", body, shaped.next), Some(members))
}

/// Member ids of a channel, active members only, in roster order then explicit extras.
fn channel_member_ids(st: &State, ch: &Channel) -> Vec<String> {
    let active: HashMap<&str, &Value> = st
        .opts
        .members
        .iter()
        .filter(|m| members::is_active(m))
        .filter_map(|m| Some((m.get("id")?.as_str()?, m)))
        .collect();
    let mut ids: Vec<String> = Vec::new();
    if ch.everyone {
        for m in &st.opts.members {
            let flag = |k: &str| m.get(k).and_then(Value::as_bool).unwrap_or(false);
            let id = m.get("id").and_then(Value::as_str).unwrap_or("");
            if members::is_active(m)
                && !flag("is_bot")
                && !flag("is_restricted")
                && !flag("is_invited_user")
                && id != "USLACKBOT"
                && !id.is_empty()
            {
                ids.push(id.to_string());
            }
        }
    }
    for id in &ch.members {
        if active.contains_key(id.as_str()) && !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    ids
}

/// The app's DM with the member whose user id (`U…`/`W…`) is `key`, as a channel the bot is in;
/// `None` for anything else (a channel id or name, an id no member has).
fn dm_channel(st: &State, key: &str) -> Option<Channel> {
    if !key.starts_with(['U', 'W']) {
        return None;
    }
    st.opts.members.iter().find(|m| m["id"].as_str() == Some(key))?;
    Some(Channel::public(&format!("D{}", &key[1..]), key, &[BOT_USER_ID]))
}

fn find_channel<'a>(st: &'a State, key: &str) -> Option<&'a Channel> {
    let name = key.strip_prefix('#').unwrap_or(key);
    st.opts
        .channels
        .iter()
        .find(|c| c.id == key)
        .or_else(|| st.opts.channels.iter().find(|c| c.name == name))
        .filter(|c| !c.is_private || c.is_member)
}

fn conversations_members(st: &State, call: &Call, token: &Token) -> Value {
    // A private channel is visible only to a member holding `groups:read` (reference §9.2).
    let Some(ch) = call
        .args
        .get("channel")
        .and_then(|id| st.opts.channels.iter().find(|c| &c.id == id))
        .filter(|c| !c.is_private || (c.is_member && token.has("groups:read")))
    else {
        return err("channel_not_found");
    };
    let limit = match limit_arg(call) {
        Ok(None) => 100,
        Ok(Some(n)) if (1..=1000).contains(&n) => n,
        _ => return err("invalid_limit"),
    };
    let kind = format!("members.{}", ch.id);
    let (pos, page) = match cursor_arg(st, call, &kind) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let ids = channel_member_ids(st, ch);
    let shaped = shape(&st.opts, ids.len(), pos.min(ids.len()), page, limit);
    let members: Vec<&String> = shaped.items.iter().map(|&i| &ids[i]).collect();
    let body = json!({"ok": true, "members": members});
    finish_page(st, &kind, body, shaped.next)
}

/// `usergroups.list`: every group of the workspace in one answer (the method has no paging), in no
/// particular order; disabled groups only with `include_disabled`, member ids only with
/// `include_users`, `user_count` only with `include_count`.
fn usergroups_list(st: &State, call: &Call) -> Value {
    let (users, count) = (truthy(call.args.get("include_users")), truthy(call.args.get("include_count")));
    let disabled = truthy(call.args.get("include_disabled"));
    let groups: Vec<Value> = st
        .opts
        .usergroups
        .iter()
        .rev()
        .filter(|g| disabled || !g.disabled)
        .map(|g| g.to_json(users, count))
        .collect();
    json!({"ok": true, "usergroups": groups})
}

fn parse_json_arg(v: &str) -> Option<Value> {
    serde_json::from_str(v).ok()
}

/// What Slack refuses in `blocks` (as `invalid_blocks`, naming it): more than 50 blocks, a section
/// text over 3000 characters.
fn blocks_problem(blocks: &[Value]) -> Option<String> {
    if blocks.len() > 50 {
        return Some("[ERROR] no more than 50 items allowed [json-pointer:/blocks]".into());
    }
    blocks.iter().enumerate().find_map(|(i, block)| {
        let text = block.pointer("/text/text").and_then(Value::as_str)?;
        (block["type"] == "section" && text.chars().count() > 3000).then(|| {
            format!("[ERROR] must be less than 3001 characters [json-pointer:/blocks/{i}/text/text]")
        })
    })
}

fn post_message(st: &mut State, call: &Call, token: &Token) -> Value {
    let Some(channel_arg) = call.args.get("channel").filter(|c| !c.is_empty()) else {
        return json!({"ok": false, "error": "invalid_arguments",
                      "response_metadata": {"messages": ["[ERROR] missing required field: channel"]}});
    };
    // A member's user id as the channel: Slack posts to the app's DM with that person (opened
    // on first use); an id no member of the workspace has is `channel_not_found`.
    let dm = dm_channel(st, channel_arg);
    let Some(ch) = dm.clone().or_else(|| find_channel(st, channel_arg).cloned()) else {
        return err("channel_not_found");
    };
    let blocks = match call.args.get("blocks").filter(|b| !b.is_empty()) {
        None => None,
        Some(b) => match parse_json_arg(b) {
            Some(Value::Array(a)) if a.iter().all(Value::is_object) => match blocks_problem(&a) {
                Some(problem) => {
                    return json!({"ok": false, "error": "invalid_blocks",
                                  "response_metadata": {"messages": [problem]}})
                }
                None => Some(Value::Array(a)),
            },
            Some(Value::Array(_)) => return err("invalid_blocks"),
            _ => return err("invalid_blocks_format"),
        },
    };
    let has = |k: &str| call.args.get(k).is_some_and(|v| !v.is_empty());
    if !has("text") && blocks.is_none() && !has("attachments") && !has("markdown_text") {
        return err("no_text");
    }
    if ch.is_archived {
        return err("is_archived");
    }
    if !ch.is_member && !token.has("chat:write.public") {
        return err("not_in_channel");
    }
    let mut posted: Map<String, Value> = match &call.json {
        Some(obj) => obj.clone(),
        None => call
            .args
            .iter()
            .filter(|(k, _)| k.as_str() != "token")
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect(),
    };
    posted.remove("token");
    if let Some(b) = &blocks {
        posted.insert("blocks".into(), b.clone());
    }
    if let Some(a) = posted.get("attachments").and_then(Value::as_str) {
        if let Some(parsed) = parse_json_arg(a) {
            posted.insert("attachments".into(), parsed);
        }
    }
    st.posted.push(Value::Object(posted));
    let ts = format!("{}.{:06}", now_secs(), st.posted.len());
    let text = call.args.get("text").cloned().unwrap_or_default();
    let mut message = json!({
        "type": "message", "subtype": "bot_message", "text": text, "user": BOT_USER_ID,
        "bot_id": BOT_ID, "app_id": "A0APP00001", "team": ACME_TEAM_ID, "ts": ts,
    });
    if let Some(b) = blocks {
        message["blocks"] = b;
    }
    json!({"ok": true, "channel": ch.id, "ts": ts, "message": message})
}

fn auth_test(token: &Token) -> Value {
    let mut body = json!({
        "ok": true,
        "url": "https://acme-test.slack.com/",
        "team": ACME_TEAM_NAME,
        "user": "acme_sync_bot",
        "team_id": ACME_TEAM_ID,
        "user_id": BOT_USER_ID,
        "bot_id": BOT_ID,
        "is_enterprise_install": token.org,
    });
    if token.org {
        // An org-wide install belongs to no one workspace (real-slack/derived/auth.test.org-install.json).
        body["enterprise_id"] = json!("E0ACMEORG1");
        body["team"] = Value::Null;
        body["team_id"] = Value::Null;
        body["url"] = json!("https://acme-org.enterprise.slack.com/");
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_tamper() {
        let c = encode_cursor(42, 7, "user", 200, 2);
        assert!(c.contains('+') && c.contains('/') && c.ends_with('='), "{c}");
        assert_eq!(decode_cursor(42, 7, "user", &c), Some((200, 2)));
        assert_eq!(decode_cursor(42, 8, "user", &c), None, "other epoch");
        assert_eq!(decode_cursor(43, 7, "user", &c), None, "other server");
        assert_eq!(decode_cursor(42, 7, "channel", &c), None, "other list");
        assert_eq!(decode_cursor(42, 7, "user", &c.replace('+', " ")), None);
        assert_eq!(decode_cursor(42, 7, "user", "dXNlcjpVMDYxTkZUVDI="), None);
        let forged = http::base64_encode(b"user:0:1:7:00000000~~~");
        assert_eq!(decode_cursor(42, 7, "user", &forged), None);
    }

    #[test]
    fn slack_json_escapes_slash_and_astral() {
        let s = to_slack_json(&json!({"u": "https://x/y", "n": "𝓞'"}));
        assert!(s.contains("https:\\/\\/x\\/y"), "{s}");
        assert!(s.contains("\\ud835\\udcde"), "{s}");
        let back: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back["n"], "𝓞'");
    }

    #[test]
    fn shaping_never_loses_items() {
        let opts = SlackOptions { short_pages: true, empty_page_at: vec![1, 3], ..SlackOptions::default() };
        let (mut pos, mut page, mut seen) = (0, 1, Vec::new());
        loop {
            let p = shape(&opts, 1003, pos, page, 200);
            assert!(p.items.len() <= 200);
            seen.extend(p.items);
            match p.next {
                Some((np, ng)) => (pos, page) = (np, ng),
                None => break,
            }
        }
        assert_eq!(seen, (0..1003).collect::<Vec<_>>());
    }
}
