//! The scaffold both fakes run on, so each fake is only its state and its handler: a started
//! [`HttpServer`], the state behind one lock, the log of requests, and the count of requests in
//! flight (which measures the concurrency bound).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::http::{HttpServer, Reply, Req};
use crate::Recorded;

/// The state of one fake, as the scaffold needs to see it.
pub(crate) trait FakeState: Send + 'static {
    /// How long to wait before answering each request that is [`Shared::admit`]ted.
    fn latency(&self) -> Duration;
}

/// What every worker thread of a fake shares.
pub(crate) struct Shared<S> {
    state: Mutex<S>,
    requests: Mutex<Vec<Recorded>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl<S: FakeState> Shared<S> {
    /// The fake's state; a handler that panicked while holding it does not poison it for the rest.
    pub fn lock(&self) -> MutexGuard<'_, S> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts this request as in flight until the guard drops, then waits the state's latency
    /// (so the wait is part of the time in flight).
    pub fn admit(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let guard = InFlight(&self.in_flight);
        let latency = self.lock().latency();
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        guard
    }

    /// Adds `req`, with the arguments the fake read from it and the status it answered, to the log.
    pub fn record(&self, req: &Req, args: BTreeMap<String, String>, reply: &Reply) {
        let recorded = Recorded {
            method: req.method.clone(),
            path: req.path.clone(),
            query: req.query.clone(),
            args,
            authorization: req.header("authorization").map(str::to_string),
            headers: req.headers.clone(),
            body: req.body_text(),
            status: reply.status(),
        };
        self.requests.lock().unwrap_or_else(|e| e.into_inner()).push(recorded);
    }

    /// Every recorded request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Most requests ever admitted at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }
}

/// Keeps a request counted as in flight; decrements the count when dropped.
pub(crate) struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running fake: its shared state and the server calling its handler; stops when dropped.
pub(crate) struct FakeServer<S> {
    shared: Arc<Shared<S>>,
    http: HttpServer,
}

impl<S: FakeState> FakeServer<S> {
    /// Serves `handler` on `127.0.0.1:port` (0 = any free port) with `workers` threads. Panics if
    /// it cannot bind: a fake that cannot start leaves nothing to test.
    pub fn start(
        name: &str,
        state: S,
        port: u16,
        workers: usize,
        handler: fn(&Shared<S>, &Req) -> Reply,
    ) -> FakeServer<S> {
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            requests: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let for_workers = Arc::clone(&shared);
        let http = HttpServer::start(port, workers, Arc::new(move |req: &Req| handler(&for_workers, req)))
            .unwrap_or_else(|e| panic!("bind fake {name} on 127.0.0.1: {e}"));
        FakeServer { shared, http }
    }

    /// The bound address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.http.addr()
    }

    /// What the handler sees.
    pub fn shared(&self) -> &Shared<S> {
        &self.shared
    }
}
