//! Applies a plan's writes to a target with bounded concurrency. One failed write never stops the
//! others: every action ends with its own outcome, and the run reports them all.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::action::{Action, ActionKind, Outcome};
use crate::journal::Journal;
use crate::target::{Address, Created, Target};

/// After this many failures in a row that say the target as a whole is unavailable (no
/// connection, 5xx, 401/403), the remaining writes are not attempted: a target that went down
/// halfway costs seconds, not one timeout per account. The next run picks up where this one stopped.
pub const BREAKER_FAILURES: usize = 10;

/// Applies every action that is not withheld, `concurrency` at a time, each journaled before it is
/// sent and after it ends. Returns one outcome per action, in the plan's order.
pub fn apply(
    actions: &[Action],
    target: &dyn Target,
    concurrency: usize,
    journal: Option<&Journal>,
) -> Vec<Outcome> {
    let outcomes: Vec<Mutex<Option<Outcome>>> = actions.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let failures_in_a_row = AtomicUsize::new(0);
    let tripped = AtomicBool::new(false);
    let finished = AtomicUsize::new(0);
    let to_do = actions.iter().filter(|a| a.withheld.is_none()).count();
    let started = Instant::now();
    let workers = concurrency.clamp(1, 64).min(to_do.max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(action) = actions.get(i) else { break };
                let outcome = if action.withheld.is_some() {
                    Outcome::Withheld
                } else if let Some(reason) = &action.refused {
                    Outcome::Failed(reason.clone())
                } else if tripped.load(Ordering::SeqCst) {
                    Outcome::Failed(format!(
                        "not attempted: the target failed {BREAKER_FAILURES} writes in a row; the next run retries it"
                    ))
                } else {
                    let (outcome, unavailable) = apply_one(action, target, journal);
                    if unavailable {
                        let n = failures_in_a_row.fetch_add(1, Ordering::SeqCst) + 1;
                        if n >= BREAKER_FAILURES && !tripped.swap(true, Ordering::SeqCst) {
                            log::error!("the target failed {n} writes in a row: not attempting the rest");
                        }
                    } else {
                        failures_in_a_row.store(0, Ordering::SeqCst);
                    }
                    outcome
                };
                if outcome != Outcome::Withheld {
                    let n = finished.fetch_add(1, Ordering::SeqCst) + 1;
                    if n % 500 == 0 {
                        log::info!("applied {n} of {to_do} writes ({:.1}s)", started.elapsed().as_secs_f64());
                    }
                }
                *outcomes[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
            });
        }
    });
    outcomes
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or(Outcome::Failed("not attempted".into()))
        })
        .collect()
}

/// One write, journaled; the flag says whether its failure means the whole target is unavailable.
fn apply_one(action: &Action, target: &dyn Target, journal: Option<&Journal>) -> (Outcome, bool) {
    if let Some(journal) = journal {
        if let Err(e) = journal.sending(action) {
            let outcome = Outcome::Failed(format!("not sent: the journal cannot be written: {e}"));
            return (outcome, true);
        }
    }
    let (outcome, unavailable) = send_one(action, target);
    if let Some(journal) = journal {
        journal.outcome(action, &outcome);
    }
    (outcome, unavailable)
}

fn send_one(action: &Action, target: &dyn Target) -> (Outcome, bool) {
    let null = serde_json::Value::Null;
    let body = action.body.as_ref().unwrap_or(&null);
    let address = Address { key: action.current_key(), id: action.id.as_deref() };
    let result = match action.kind {
        ActionKind::Create => target.create(&action.key, body).map(|c| match c {
            Created::Created => Outcome::Done,
            Created::AlreadyExists => Outcome::AlreadyExisted,
        }),
        ActionKind::Update => target.update(address, body).map(|_| Outcome::Done),
        ActionKind::Deactivate => target.deactivate(address, action.body.as_ref()).map(|_| Outcome::Done),
        ActionKind::Reactivate => target.reactivate(address, action.body.as_ref()).map(|_| Outcome::Done),
    };
    match result {
        Ok(outcome) => {
            let verb = match (&outcome, action.kind) {
                (Outcome::AlreadyExisted, _) => "exists already",
                (_, ActionKind::Create) => "created",
                (_, ActionKind::Update) => "updated",
                (_, ActionKind::Deactivate) => "deactivated",
                (_, ActionKind::Reactivate) => "reactivated",
            };
            log::debug!("{verb}: {}", action.key);
            (outcome, false)
        }
        Err(e) => {
            // A server may quote the body back: the passwords this write made are never shown.
            let text = match action.hidden.is_empty() {
                true => e.to_string(),
                false => crate::secret::Redactor::new(&action.hidden).redact(&e.to_string()),
            };
            log::error!("{text}");
            (Outcome::Failed(text), e.is_unavailable())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::TargetError;
    use std::collections::HashSet;
    use std::sync::atomic::AtomicUsize;

    /// An in-memory target that fails the keys it is told to and counts concurrent calls.
    #[derive(Default)]
    struct MemoryTarget {
        fail: HashSet<String>,
        exists: HashSet<String>,
        calls: Mutex<Vec<(ActionKind, String)>>,
        in_flight: AtomicUsize,
        max_in_flight: AtomicUsize,
        /// With `Some(n)`: each call waits (up to 10 s) until `n` calls have been in flight at
        /// once, so the test knows `n` writers really ran together, not by the luck of a sleep.
        hold_until: Option<usize>,
        gathered: (Mutex<bool>, std::sync::Condvar),
    }

    impl MemoryTarget {
        fn record(&self, kind: ActionKind, key: &str) -> Result<(), TargetError> {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            if let Some(n) = self.hold_until {
                let (lock, signal) = &self.gathered;
                let mut gathered = lock.lock().unwrap();
                *gathered |= now >= n;
                signal.notify_all();
                let wait = std::time::Duration::from_secs(10);
                drop(signal.wait_timeout_while(gathered, wait, |g| !*g).unwrap());
            }
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.calls.lock().unwrap().push((kind, key.to_string()));
            if self.fail.contains(key) {
                let call = crate::target::Call {
                    op: crate::target::Op::Write(ActionKind::Create),
                    key: Some(key.into()),
                    method: "POST".into(),
                    url: "http://target/api/users".into(),
                };
                return Err(TargetError::Http { call, status: 500, excerpt: "boom".into() });
            }
            Ok(())
        }
    }

    impl Target for MemoryTarget {
        fn create(&self, key: &str, _: &serde_json::Value) -> Result<Created, TargetError> {
            self.record(ActionKind::Create, key)?;
            Ok(if self.exists.contains(key) { Created::AlreadyExists } else { Created::Created })
        }
        fn update(&self, address: Address<'_>, _: &serde_json::Value) -> Result<(), TargetError> {
            self.record(ActionKind::Update, address.key)
        }
        fn deactivate(&self, address: Address<'_>, _: Option<&serde_json::Value>) -> Result<(), TargetError> {
            self.record(ActionKind::Deactivate, address.key)
        }
        fn reactivate(&self, address: Address<'_>, _: Option<&serde_json::Value>) -> Result<(), TargetError> {
            self.record(ActionKind::Reactivate, address.key)
        }
    }

    fn action(kind: ActionKind, key: &str) -> Action {
        Action {
            kind,
            key: key.into(),
            slack_id: None,
            body: None,
            changed: vec![],
            added: vec![],
            diff: vec![],
            withheld: None,
            account: None,
            id: None,
            renamed_from: None,
            refused: None,
            hidden: vec![],
            welcome: None,
        }
    }

    #[test]
    fn one_failure_does_not_stop_the_others() {
        let target = MemoryTarget { fail: ["b".to_string()].into(), ..Default::default() };
        let actions: Vec<Action> = ["a", "b", "c"].iter().map(|k| action(ActionKind::Create, k)).collect();
        let outcomes = apply(&actions, &target, 2, None);
        assert_eq!(outcomes[0], Outcome::Done);
        assert!(matches!(&outcomes[1], Outcome::Failed(e) if e.contains("HTTP 500")));
        assert_eq!(outcomes[2], Outcome::Done);
        assert_eq!(target.calls.lock().unwrap().len(), 3);
    }

    #[test]
    fn withheld_actions_are_never_sent() {
        let target = MemoryTarget::default();
        let mut gone = action(ActionKind::Deactivate, "gone");
        gone.withheld = Some("guard".into());
        let outcomes = apply(&[gone, action(ActionKind::Update, "x")], &target, 4, None);
        assert_eq!(outcomes, [Outcome::Withheld, Outcome::Done]);
        assert_eq!(*target.calls.lock().unwrap(), [(ActionKind::Update, "x".to_string())]);
    }

    #[test]
    fn a_409_counts_as_existing() {
        let target = MemoryTarget { exists: ["a".to_string()].into(), ..Default::default() };
        assert_eq!(apply(&[action(ActionKind::Create, "a")], &target, 1, None), [Outcome::AlreadyExisted]);
    }

    #[test]
    fn a_target_that_goes_down_is_not_hammered_to_the_end() {
        let keys: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        let target = MemoryTarget { fail: keys[20..].iter().cloned().collect(), ..Default::default() };
        let actions: Vec<Action> = keys.iter().map(|k| action(ActionKind::Create, k)).collect();
        let outcomes = apply(&actions, &target, 1, None);
        assert!(outcomes[..20].iter().all(|o| *o == Outcome::Done));
        assert!(outcomes[20..].iter().all(|o| matches!(o, Outcome::Failed(_))));
        assert_eq!(target.calls.lock().unwrap().len(), 20 + BREAKER_FAILURES);
    }

    #[test]
    fn exactly_the_configured_number_of_writers_run_together() {
        let target = MemoryTarget { hold_until: Some(3), ..Default::default() };
        let actions: Vec<Action> = (0..40).map(|i| action(ActionKind::Create, &i.to_string())).collect();
        apply(&actions, &target, 3, None);
        assert!(*target.gathered.0.lock().unwrap(), "three writes were in flight at once");
        assert_eq!(target.max_in_flight.load(Ordering::SeqCst), 3, "and never more");
        assert_eq!(target.calls.lock().unwrap().len(), 40);
    }
}
