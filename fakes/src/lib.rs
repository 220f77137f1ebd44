//! Local, faithful fakes of the Slack Web API and of a target system's user API, so slack-im's
//! tests, sandbox and benchmark run offline against real HTTP on 127.0.0.1.
//!
//! * [`FakeSlack`]: `users.list` paging quirks, HTTP-200 errors, 429 + Retry-After, scopes,
//!   heterogeneous members ([`members`]), scripted faults ([`SlackFault`]).
//! * [`FakeTarget`]: a small account store (`/api/users`) with bearer auth, paging, conflicts,
//!   latency, concurrency measurement and scripted faults ([`TargetFault`]).
//!
//! ```
//! use slack_im_fakes::{Effect, FakeSlack, FakeTarget, SlackFault, SlackOptions, TargetOptions};
//!
//! let slack = FakeSlack::start(SlackOptions::acme(2416)); // 21 fixture + 2416 = 2,437 members
//! slack.add_fault(SlackFault::new("users.list", 2, Effect::rate_limited(1)));
//! let target = FakeTarget::start(TargetOptions::default());
//! assert!(slack.base_url().ends_with("/api/"));
//! assert!(target.base_url().starts_with("http://127.0.0.1:"));
//! // … run slack-im with SLACK_IM_SLACK_URL=slack.base_url(), SLACK_IM_TARGET_URL=target.base_url()
//! assert_eq!(slack.calls("users.list"), 0);
//! ```

mod fake_server;
mod http;
pub mod members;
pub mod slack;
pub mod target;

pub use slack::{
    slack_html_error_page, Channel, EchoForm, Effect, EndMarker, FakeSlack, SlackFault, SlackOptions, Token,
    TokenState, UserGroup,
};
pub use target::{FakeTarget, Ids, Paging, TargetFault, TargetOp, TargetOptions, TargetRule};

use std::collections::BTreeMap;

/// One request as a fake received it, with the HTTP status it was answered with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Recorded {
    /// HTTP verb, upper case (`GET`, `POST`, …).
    pub method: String,
    /// Percent-decoded path without the query (`/api/users.list`, `/api/users/bob`).
    pub path: String,
    /// Raw query string, without `?`.
    pub query: String,
    /// Query and form (or JSON-object) arguments merged; body values win.
    pub args: BTreeMap<String, String>,
    /// The `Authorization` header as received.
    pub authorization: Option<String>,
    /// Every header as received: names lower-cased, in arrival order, a repeated header once per
    /// line (so a test can tell one `Content-Type` from two).
    pub headers: Vec<(String, String)>,
    /// Request body, lossily decoded as UTF-8.
    pub body: String,
    /// HTTP status answered; 0 when the connection was reset without a response.
    pub status: u16,
}

impl Recorded {
    /// The values of every header line named `name` (case-insensitive), in arrival order.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }
}

/// Percent-encodes a string for use in a query or path (unreserved characters kept).
pub fn url_encode(s: &str) -> String {
    http::percent_encode(s)
}
