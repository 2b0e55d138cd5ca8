//! Supervision of a follower thread. A follower that panics or whose store fails never stops
//! silently: `/health` says so (`down` with the reason; `degraded` for a full disk, which
//! RocksDB recovers from by itself once space is freed) and the follower is started again from
//! the store after a backoff (1 s, doubling to 60 s; back to 1 s after a run of a minute). The
//! store is the follower's whole state (every update is one atomic batch, and memory changes
//! only after it is written), so a restarted follower resumes exactly where the last write
//! left it. A fatal error (a deep reorg, another network…) ends the thread: an operator must act.

use crate::health::{Health, Kind, Status};
use crate::index::IndexError;
use crate::metrics::{ChainMetrics, SyncFailure};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A run at least this long was healthy: the next failure starts the backoff over.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// Runs `attempt` (make the follower, from the store after the first time, and run it) until
/// it returns: stopped, or stopped by a fatal error it reported. A panic or a store failure is
/// reported and `attempt` runs again once `pause` has waited the backoff (`pause` is false
/// when the follower was asked to stop meanwhile).
pub(crate) fn supervise(
    chain: &str,
    health: &Health,
    metrics: &ChainMetrics,
    mut attempt: impl FnMut() -> Result<(), IndexError>,
    mut pause: impl FnMut(Duration) -> bool,
) {
    let mut backoff = FIRST_BACKOFF;
    let mut restarts = 0u32;
    loop {
        let started = Instant::now();
        let (status, why, kind) = match catch_unwind(AssertUnwindSafe(&mut attempt)) {
            Ok(Ok(())) => return,
            Ok(Err(e)) if e.is_disk_full() => {
                (Status::Degraded, format!("store write failing: {e}"), SyncFailure::Store)
            }
            Ok(Err(e)) => (Status::Down, format!("store error: {e}"), SyncFailure::Store),
            Err(panic) => (Status::Down, format!("follower panicked: {}", panic_message(&*panic)), SyncFailure::Panic),
        };
        metrics.failed(kind);
        if started.elapsed() >= HEALTHY_RUN {
            backoff = FIRST_BACKOFF;
        }
        restarts += 1;
        tracing::error!(%chain, reason = %why, restart_in = ?backoff, restarts, "follower failed; restarting it from the store");
        health.set(Kind::Chain, chain, status, format!("{why}; restarting in {}s", backoff.as_secs()));
        if !pause(backoff) {
            return;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Waits `d` on a follower's trigger channel, dropping what arrives (the restarted follower
/// syncs anyway); false as soon as `is_stop` says a trigger asks to stop, or the channel is
/// gone.
pub(crate) fn pause<T>(triggers: &Receiver<T>, d: Duration, is_stop: impl Fn(&T) -> bool) -> bool {
    let until = Instant::now() + d;
    loop {
        match triggers.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(t) if is_stop(&t) => return false,
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => return true,
            Err(RecvTimeoutError::Disconnected) => return false,
        }
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(s), _) => s.to_string(),
        (_, Some(s)) => s.clone(),
        _ => "(no message)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::DbError;
    use std::sync::{Arc, Mutex};

    fn corrupt() -> IndexError {
        IndexError::Db(DbError::Corrupt { cf: "blocks", key: "00".into(), reason: "unreadable".into() })
    }

    /// A panic and a store error are each `down` with the reason while the follower waits to
    /// be started again; then it runs again, and its clean return ends the supervision.
    #[test]
    fn a_panic_or_a_store_error_is_down_with_the_reason_then_restarted_with_backoff() {
        let health = Health::new();
        let runs = Mutex::new(0);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let waits = Mutex::new(Vec::new());
        let metrics = ChainMetrics::detached();
        supervise(
            "btc",
            &health,
            &metrics,
            || {
                let n = {
                    let mut runs = runs.lock().unwrap();
                    *runs += 1;
                    *runs
                };
                match n {
                    1 => panic!("block 7 broke the follower"),
                    2 => Err(corrupt()),
                    _ => Ok(()),
                }
            },
            |d| {
                let c = health.report().chains["btc"].clone();
                seen.lock().unwrap().push((c.status, c.detail));
                waits.lock().unwrap().push(d);
                true
            },
        );
        assert_eq!(*runs.lock().unwrap(), 3);
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0], (Status::Down, "follower panicked: block 7 broke the follower; restarting in 1s".into()));
        assert_eq!(
            seen[1],
            (Status::Down, "store error: corrupt record in blocks at key 00: unreadable; restarting in 2s".into())
        );
        assert_eq!(*waits.lock().unwrap(), [Duration::from_secs(1), Duration::from_secs(2)]);
        assert_eq!((metrics.failures(SyncFailure::Panic), metrics.failures(SyncFailure::Store)), (1, 1));
    }

    #[test]
    fn a_stop_during_the_backoff_ends_the_supervision() {
        let health = Health::new();
        let runs = Mutex::new(0);
        supervise(
            "eth",
            &health,
            &ChainMetrics::detached(),
            || {
                *runs.lock().unwrap() += 1;
                Err(corrupt())
            },
            |_| false,
        );
        assert_eq!(*runs.lock().unwrap(), 1);
        assert_eq!(health.report().chains["eth"].status, Status::Down);
    }

    #[test]
    fn the_pause_ends_early_on_stop_and_drops_other_triggers() {
        let (tx, rx) = crossbeam_channel::unbounded();
        tx.send(1).unwrap();
        assert!(pause(&rx, Duration::from_millis(30), |t| *t == 0), "1 is not a stop");
        assert!(rx.is_empty());
        tx.send(0).unwrap();
        assert!(!pause(&rx, Duration::from_secs(30), |t| *t == 0), "false: it saw the stop (a timeout is true)");
        drop(tx);
        assert!(!pause(&rx, Duration::from_secs(30), |t| *t == 0), "no sender: nothing will ever ask again");
    }
}
