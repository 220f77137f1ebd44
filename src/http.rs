//! The one place that builds the HTTP agent (timeouts, TLS roots, no redirects) and decides how
//! long to wait before retrying, so the Slack and target clients share one retry discipline and one
//! allowance of time and retries for the whole run.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::Agent;

/// `SSL_CERT_FILE` (or `SLACK_IM_SLACK_CA_FILE`) names a file that is not a usable PEM bundle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable} names the file {path}, which cannot be read: {problem}")]
pub struct CaBundleError {
    pub variable: &'static str,
    pub path: String,
    pub problem: String,
}

/// Extra CAs one agent trusts besides Mozilla's roots: the file, and the variable that named it
/// (`SSL_CERT_FILE` for the targets, `SLACK_IM_SLACK_CA_FILE` for Slack).
#[derive(Debug, Clone, Copy)]
pub struct ExtraCas<'a> {
    pub variable: &'static str,
    pub file: &'a Path,
}

/// Largest response body slack-im reads; a `users.list` page of 999 members is about 1.5 MB.
pub const BODY_LIMIT: u64 = 64 * 1024 * 1024;

/// Builds the agent every client uses. HTTP error statuses are returned as responses, not errors,
/// so each client can read the status, `Retry-After` and body and decide itself.
///
/// No redirect is ever followed: a 3xx comes back as a response and each client reports it as an
/// error. Following one turns a write into a GET that "succeeds", and carries the request's headers
/// (tokens, API keys) to whatever host the `Location` names.
///
/// `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` are honoured (ureq reads them), except
/// for a `base_url` on loopback: a proxy would only relay, in clear text for plain http, the
/// tokens meant for a server on this very machine.
pub fn agent(timeout: Duration, extra: Option<ExtraCas<'_>>, base_url: &str) -> Result<Agent, CaBundleError> {
    let mut roots: Vec<Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|der| Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    if let Some(extra) = extra {
        roots.extend(read_ca_file(extra)?);
    }
    let tls = TlsConfig::builder().root_certs(RootCerts::new_with_certs(&roots)).build();
    let mut config = Agent::config_builder();
    if is_loopback(base_url) {
        config = config.proxy(None);
    }
    let config = config
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .user_agent(concat!("slack-im/", env!("CARGO_PKG_VERSION")))
        .max_redirects(0)
        .tls_config(tls)
        // Keep a connection per parallel writer (SLACK_IM_CONCURRENCY is at most 64): ureq's
        // default of 3 idle connections per host made every run with 4 writers reconnect
        // constantly, which cost more CPU than the requests themselves.
        .max_idle_connections(64)
        .max_idle_connections_per_host(64)
        .build();
    Ok(config.into())
}

/// Whether a URL's (or a bare authority's) host is this machine: `localhost`, `127.0.0.0/8` or
/// `[::1]`, with or without a port. The one loopback test: the configuration's plain-http rule
/// and the agent's no-proxy rule both ask it.
pub fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn read_ca_file(extra: ExtraCas<'_>) -> Result<Vec<Certificate<'static>>, CaBundleError> {
    let file_error = |problem: String| CaBundleError {
        variable: extra.variable,
        path: extra.file.display().to_string(),
        problem,
    };
    let pem = std::fs::read(extra.file).map_err(|e| file_error(e.to_string()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(cert)) => certs.push(cert),
            Ok(_) => {}
            Err(e) => return Err(file_error(format!("not a PEM bundle: {e}"))),
        }
    }
    if certs.is_empty() {
        return Err(file_error("it holds no PEM certificate".into()));
    }
    Ok(certs)
}

/// How often and how long to retry. One policy for Slack, one for the target.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after transient failures (5xx, connection errors, timeouts, transient API errors).
    pub transient_retries: u32,
    /// First backoff; doubled on each retry, with up to 25% jitter.
    pub backoff: Duration,
    /// Retries after HTTP 429.
    pub rate_limit_retries: u32,
    /// Wait after a 429 whose `Retry-After` is missing or unreadable.
    pub default_retry_after: Duration,
    /// Longest wait slack-im accepts from a `Retry-After` header.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    pub const SLACK: RetryPolicy = RetryPolicy {
        transient_retries: 3,
        backoff: Duration::from_millis(500),
        rate_limit_retries: 5,
        default_retry_after: Duration::from_secs(3),
        max_retry_after: Duration::from_secs(120),
    };
    pub const TARGET: RetryPolicy = RetryPolicy {
        transient_retries: 2,
        backoff: Duration::from_millis(300),
        rate_limit_retries: 3,
        default_retry_after: Duration::from_secs(2),
        max_retry_after: Duration::from_secs(60),
    };

    /// The wait before transient retry number `attempt` (1-based).
    pub fn backoff_for(&self, attempt: u32) -> Duration {
        let base = self.backoff * 2u32.saturating_pow(attempt.saturating_sub(1));
        base + base.mul_f64(jitter_fraction() * 0.25)
    }

    /// The wait a 429 asks for: `Retry-After` seconds, else the default; capped. The number is
    /// clamped while it is still a float: `Duration::from_secs_f64(1e300)` would panic.
    pub fn retry_after(&self, header: Option<&str>) -> Duration {
        let cap = self.max_retry_after.as_secs_f64();
        header
            .and_then(|h| h.trim().parse::<f64>().ok())
            .filter(|s| !s.is_nan() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s.min(cap)))
            .unwrap_or(self.default_retry_after.min(self.max_retry_after))
    }
}

/// The whole run's allowance: one deadline and one number of retries, shared by every client and
/// every writer thread, so a server that keeps answering 429 or 503 page after page cannot stretch a
/// run without end (a per-request budget starts again with every page).
#[derive(Debug)]
pub struct Budget {
    started: Instant,
    deadline: Duration,
    retries: u32,
    retries_left: AtomicU32,
}

/// Why the run's allowance does not cover another request or wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exhausted {
    Deadline { secs: u64 },
    Retries { budget: u32 },
}

impl std::fmt::Display for Exhausted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exhausted::Deadline { secs } => {
                write!(f, "the run's deadline of {secs}s is reached (SLACK_IM_DEADLINE_SECS)")
            }
            Exhausted::Retries { budget } => {
                write!(f, "the run's {budget} retries are spent (SLACK_IM_RETRY_BUDGET)")
            }
        }
    }
}

impl Budget {
    pub fn new(deadline: Duration, retries: u32) -> Arc<Budget> {
        Arc::new(Budget { started: Instant::now(), deadline, retries, retries_left: AtomicU32::new(retries) })
    }

    /// Checked before every request: is there time left?
    pub fn check(&self) -> Result<(), Exhausted> {
        if self.started.elapsed() >= self.deadline {
            return Err(Exhausted::Deadline { secs: self.deadline.as_secs() });
        }
        Ok(())
    }

    /// Takes one retry that waits `wait` first: refused when none is left or the wait would end
    /// past the deadline (then failing now beats sleeping first).
    fn take_retry(&self, wait: Duration) -> Result<(), Exhausted> {
        if self.started.elapsed() + wait >= self.deadline {
            return Err(Exhausted::Deadline { secs: self.deadline.as_secs() });
        }
        self.retries_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .map(drop)
            .map_err(|_| Exhausted::Retries { budget: self.retries })
    }
}

/// Why a request is not tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GiveUp {
    /// The request's own retries under its [`RetryPolicy`] are spent.
    Attempts,
    /// The run's [`Budget`] is.
    Run(Exhausted),
}

/// The retries of one request under a [`RetryPolicy`] and the run's [`Budget`]: counts them, logs
/// them and sleeps between them, so the Slack and target clients keep one discipline and differ
/// only in what they retry.
pub struct Retries<'a> {
    policy: RetryPolicy,
    budget: &'a Budget,
    transient: u32,
    rate_limited: u32,
}

impl<'a> Retries<'a> {
    pub fn new(policy: RetryPolicy, budget: &'a Budget) -> Retries<'a> {
        Retries { policy, budget, transient: 0, rate_limited: 0 }
    }

    /// Before each attempt: is the run still within its deadline?
    pub fn check(&self) -> Result<(), Exhausted> {
        self.budget.check()
    }

    /// Attempts made so far, this one included.
    pub fn attempts(&self) -> u32 {
        1 + self.transient + self.rate_limited
    }

    /// After a 429: waits as `Retry-After` asks, or gives up.
    pub fn wait_rate_limited(&mut self, who: &str, retry_after: Option<&str>) -> Result<(), GiveUp> {
        if self.rate_limited >= self.policy.rate_limit_retries {
            self.rate_limited += 1;
            return Err(GiveUp::Attempts);
        }
        let wait = self.policy.retry_after(retry_after);
        self.budget.take_retry(wait).map_err(GiveUp::Run)?;
        self.rate_limited += 1;
        log::warn!(
            "{who}: rate limited; retry {} of {} in {:.1}s as Retry-After asks",
            self.rate_limited,
            self.policy.rate_limit_retries,
            wait.as_secs_f64()
        );
        std::thread::sleep(wait);
        Ok(())
    }

    /// After a transient failure: waits the backoff, or gives up.
    pub fn wait_transient(&mut self, failure: &dyn std::fmt::Display) -> Result<(), GiveUp> {
        if self.transient >= self.policy.transient_retries {
            return Err(GiveUp::Attempts);
        }
        let wait = self.policy.backoff_for(self.transient + 1);
        self.budget.take_retry(wait).map_err(GiveUp::Run)?;
        self.transient += 1;
        log::warn!(
            "{failure}; retry {} of {} in {:.1}s",
            self.transient,
            self.policy.transient_retries,
            wait.as_secs_f64()
        );
        std::thread::sleep(wait);
        Ok(())
    }

    /// After a transient failure: `Ok` to try again (after the backoff), else the error to return:
    /// the failure itself once this request's retries are spent, or the run's budget once that is.
    pub fn retry_or<E: std::fmt::Display>(
        &mut self,
        failure: E,
        out_of_budget: impl FnOnce(Exhausted) -> E,
    ) -> Result<(), E> {
        match self.wait_transient(&failure) {
            Ok(()) => Ok(()),
            Err(GiveUp::Attempts) => Err(failure),
            Err(GiveUp::Run(reason)) => {
                log::error!("{failure}");
                Err(out_of_budget(reason))
            }
        }
    }

    /// 429 answers seen so far.
    pub fn rate_limited(&self) -> u32 {
        self.rate_limited
    }
}

/// A number in [0, 1) that differs between calls and processes, so parallel runs do not retry in
/// lock-step. Not random enough for anything but jitter.
fn jitter_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos(),
    );
    (h.finish() % 10_000) as f64 / 10_000.0
}

/// A response read whole: what the clients inspect.
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<String>,
    /// The `Location` of a redirect, cleaned for printing.
    pub location: Option<String>,
    pub body: String,
    /// Every response header, for what a client reads beyond the above (Slack's `x-oauth-scopes`).
    pub headers: ureq::http::HeaderMap,
}

impl Reply {
    /// A header's value, when it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A 3xx: slack-im follows no redirect, so this is the evidence for an error.
    pub fn redirect(&self) -> Option<String> {
        (300..400).contains(&self.status).then(|| {
            format!(
                "redirect to {} not followed (slack-im follows no redirect: point the URL at the final address)",
                self.location.as_deref().unwrap_or("(no Location)")
            )
        })
    }
}

/// Reads status, `Retry-After` and body (bounded) from a response.
pub fn read_reply(mut response: ureq::http::Response<ureq::Body>) -> Result<Reply, ureq::Error> {
    let status = response.status().as_u16();
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let retry_after = header("retry-after");
    let location = header("location").map(|l| clean(&l, 300));
    let body = response.body_mut().with_config().limit(BODY_LIMIT).read_to_string()?;
    let headers = response.headers().clone();
    Ok(Reply { status, retry_after, location, body, headers })
}

/// A TLS failure that ureq reports as an I/O error (rustls errors, such as an unknown issuer,
/// arrive wrapped as `InvalidData`).
fn is_tls_io(error: &ureq::Error) -> bool {
    matches!(error, ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::InvalidData)
}

/// Whether a transport error is worth retrying: TLS and URL problems are not, they will not heal.
pub fn is_transient(error: &ureq::Error) -> bool {
    !is_tls_io(error)
        && !matches!(
            error,
            ureq::Error::Tls(_)
                | ureq::Error::Rustls(_)
                | ureq::Error::Pem(_)
                | ureq::Error::BadUri(_)
                | ureq::Error::BodyExceedsLimit(_)
                | ureq::Error::Http(_)
        )
}

/// What a certificate error tells the operator to do.
const PRIVATE_CA_HINT: &str =
    "for a private CA, set SSL_CERT_FILE to its PEM bundle for the targets, SLACK_IM_SLACK_CA_FILE for Slack";

/// A transport error in words an operator can act on.
pub fn describe(error: &ureq::Error) -> String {
    match error {
        ureq::Error::Timeout(t) => format!("timed out ({t}); see SLACK_IM_TIMEOUT_SECS"),
        ureq::Error::Rustls(e) => {
            format!("TLS error: {e} ({PRIVATE_CA_HINT})")
        }
        ureq::Error::Tls(e) => format!("TLS error: {e}"),
        ureq::Error::HostNotFound => "host not found (DNS)".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::Io(e) if is_tls_io(error) => {
            format!("TLS error: {e} ({PRIVATE_CA_HINT})")
        }
        ureq::Error::Io(e) => format!("connection error: {e}"),
        ureq::Error::BodyExceedsLimit(n) => format!("response larger than {n} bytes"),
        other => other.to_string(),
    }
}

/// The first `max` characters of a body, on one line: evidence for an error message. Secrets are
/// redacted from the whole body before it is cut, so no excerpt ends inside one.
pub fn excerpt(body: &str, max: usize) -> String {
    clean(&crate::secret::redact_log_line(body), max)
}

/// Server or Slack text made safe to print: control characters (ANSI escapes, carriage returns,
/// line breaks that would forge log lines) become spaces, white space runs one space, and the
/// length is bounded.
pub fn clean(text: &str, max: usize) -> String {
    let flat: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let flat = flat.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > max {
        format!("{}…", flat.chars().take(max).collect::<String>())
    } else {
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_are_told_apart_from_every_other_host() {
        for url in ["http://127.0.0.1:8080/api", "http://localhost", "https://[::1]:9/", "http://127.1.2.3"] {
            assert!(is_loopback(url), "{url}");
        }
        for url in
            ["http://10.0.0.1", "https://dev.example.com", "http://127.0.0.1.example.com", "http://[::2]/"]
        {
            assert!(!is_loopback(url), "{url}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_falls_back_for_odd_values() {
        let p = RetryPolicy::SLACK;
        assert_eq!(p.retry_after(Some("1")), Duration::from_secs(1));
        assert_eq!(p.retry_after(Some("1.5")), Duration::from_millis(1500));
        assert_eq!(p.retry_after(None), p.default_retry_after);
        assert_eq!(p.retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), p.default_retry_after);
        assert_eq!(p.retry_after(Some("-3")), p.default_retry_after);
        assert_eq!(p.retry_after(Some("100000")), p.max_retry_after);
        for absurd in ["1e300", "inf", "18446744073709551616", "1.8e19"] {
            assert_eq!(p.retry_after(Some(absurd)), p.max_retry_after, "{absurd}");
        }
        assert_eq!(p.retry_after(Some("NaN")), p.default_retry_after);
    }

    #[test]
    fn the_run_budget_is_shared_and_refuses_waits_past_the_deadline() {
        let budget = Budget::new(Duration::from_secs(60), 2);
        let policy = RetryPolicy { backoff: Duration::ZERO, ..RetryPolicy::SLACK };
        let mut first = Retries::new(policy, &budget);
        assert_eq!(first.wait_transient(&"x"), Ok(()));
        let mut second = Retries::new(policy, &budget);
        assert_eq!(second.wait_transient(&"x"), Ok(()));
        assert_eq!(second.wait_transient(&"x"), Err(GiveUp::Run(Exhausted::Retries { budget: 2 })));
        let mut third = Retries::new(RetryPolicy::SLACK, &budget);
        assert_eq!(
            third.wait_rate_limited("x", Some("120")),
            Err(GiveUp::Run(Exhausted::Deadline { secs: 60 })),
            "a wait past the deadline fails at once"
        );
        assert_eq!(Budget::new(Duration::ZERO, 5).check(), Err(Exhausted::Deadline { secs: 0 }));
    }

    #[test]
    fn backoff_doubles_with_bounded_jitter() {
        let p = RetryPolicy::SLACK;
        for attempt in 1..=3 {
            let base = p.backoff * 2u32.pow(attempt - 1);
            let d = p.backoff_for(attempt);
            assert!(d >= base && d <= base.mul_f64(1.25), "{attempt}: {d:?}");
        }
    }

    #[test]
    fn excerpt_is_one_bounded_line() {
        assert_eq!(excerpt("<html>\n  <b>x</b>\n</html>", 100), "<html> <b>x</b> </html>");
        assert_eq!(excerpt("abcdef", 3), "abc…");
        assert_eq!(clean("code\u{1b}[2K\r[INFO] forged\nline", 100), "code [2K [INFO] forged line");
    }
}
