//! One endpoint's worker: takes in new outbox events (its filter, its store), then sends what is
//! due, at most one delivery per subject at a time, several subjects at once.

use super::{policy, Dispatcher};
use crate::db::{DeliveryRecord, EndpointRecord};
use crate::metrics::EndpointMetrics;
use std::collections::HashSet;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::watch;
use uuid::Uuid;

/// Deliveries sent at once per endpoint (each of another subject).
const IN_FLIGHT: usize = 16;
/// Outbox events taken in per step, and pending deliveries looked at.
const BATCH: usize = 500;
/// How often the pending index is read from its start (a redelivered older event is pending
/// again below the low-water mark the worker otherwise starts from).
const FULL_SCAN: Duration = Duration::from_secs(5);

/// Runs the worker of endpoint `id` of `store` until it is deleted or disabled, or `stop`. It
/// wakes on its store's new events (never another store's), when a retry is due, and at least
/// every second.
pub(super) async fn run(d: Dispatcher, id: Uuid, store: String, mut stop: watch::Receiver<bool>) {
    let mut seqs = d.db().subscribe_store(&store);
    let metrics = d.metrics_of(&store, id);
    // The backlog is counted once, then kept by take-ins and verdicts.
    let counted = {
        let d = d.clone();
        tokio::task::spawn_blocking(move || d.db().count_pending(id)).await
    };
    match counted {
        Ok(Ok(n)) => metrics.set_pending(n),
        Ok(Err(e)) => tracing::error!(endpoint = %id, error = %e, "cannot count pending deliveries"),
        Err(e) => tracing::error!(endpoint = %id, error = %e, "counting pending deliveries panicked"),
    }
    // The lowest seq that may still be pending: scans start there, past delivered ones.
    let mut low = 0u64;
    let mut last_full = std::time::Instant::now();
    loop {
        if *stop.borrow() {
            return;
        }
        if last_full.elapsed() > FULL_SCAN {
            (low, last_full) = (0, std::time::Instant::now());
        }
        let step = {
            let (d, metrics) = (d.clone(), metrics.clone());
            tokio::task::spawn_blocking(move || d.prepare(id, low, &metrics)).await
        };
        let (ep, due, wake) = match step {
            Ok(Ok(Some((ep, due, wake, first_pending)))) => {
                low = first_pending;
                (ep, due, wake)
            }
            Ok(Ok(None)) => {
                // Deleted or disabled: its series go with it.
                d.inner.metrics.drop_endpoint(&store, &id.to_string());
                return;
            }
            Ok(Err(e)) => {
                tracing::error!(endpoint = %id, error = %e, "dispatch step failed; retrying");
                (None, Vec::new(), Duration::from_secs(1))
            }
            Err(e) => {
                tracing::error!(endpoint = %id, error = %e, "dispatch step panicked; retrying");
                (None, Vec::new(), Duration::from_secs(1))
            }
        };
        if let (Some(ep), false) = (ep, due.is_empty()) {
            futures::future::join_all(due.into_iter().map(|del| d.attempt(&ep, del, &metrics))).await;
            continue;
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = seqs.changed() => {}
            _ = tokio::time::sleep(wake) => {}
        }
    }
}

/// The endpoint, what is due, how long to sleep otherwise, and the new low-water seq.
type Step = (Option<EndpointRecord>, Vec<DeliveryRecord>, Duration, u64);

impl Dispatcher {
    /// Takes in new events and picks the deliveries due now; `None` when the endpoint is gone or
    /// disabled. Also says how long to sleep when nothing is due, and updates the endpoint's
    /// backlog metrics (what was taken in; the oldest pending delivery's event time).
    fn prepare(&self, id: Uuid, low: u64, metrics: &EndpointMetrics) -> Result<Option<Step>, crate::db::DbError> {
        let Some(ep) = self.db().endpoint(id)?.filter(|e| e.enabled) else { return Ok(None) };
        metrics.taken_in(self.take_in(&ep)?);
        let now = OffsetDateTime::now_utc();
        let mut busy = HashSet::new();
        let mut due = Vec::new();
        let mut wake = Duration::from_secs(1);
        let pending = self.db().pending_deliveries(id, low, BATCH)?;
        let first_pending = match pending.first() {
            Some(d) => d.seq,
            None => self.db().cursor(id)?.unwrap_or(0) + 1,
        };
        let oldest = match pending.first() {
            Some(d) => self.db().event(&ep.store, d.seq)?.map(|e| e.created_at.unix_timestamp()),
            None => None,
        };
        metrics.oldest_pending(oldest);
        for del in pending {
            if !busy.insert(del.subject.clone()) {
                continue; // an earlier event of this subject goes first
            }
            match del.next_attempt_at {
                Some(t) if t > now => {
                    let left = Duration::try_from(t - now).unwrap_or_default();
                    wake = wake.min(left);
                }
                _ if due.len() < super::worker::IN_FLIGHT => due.push(del),
                _ => {}
            }
        }
        Ok(Some((Some(ep), due, wake, first_pending)))
    }

    /// New outbox events of the endpoint's store after its cursor: a pending delivery for each
    /// that matches its filter, and the cursor, in one batch. How many deliveries it made.
    fn take_in(&self, ep: &EndpointRecord) -> Result<u64, crate::db::DbError> {
        let db = self.db();
        let cursor = db.cursor(ep.id)?.unwrap_or(0);
        let events = db.store_events(&ep.store, cursor, BATCH)?;
        let Some(last) = events.last().map(|e| e.seq) else { return Ok(0) };
        let mut batch = db.batch();
        let taken = events
            .iter()
            .filter(|e| policy::matches(&ep.events, e.kind.as_str()) && policy::takes(&ep.plugin, &e.data));
        let mut n = 0;
        for e in taken {
            batch.put_delivery(&DeliveryRecord::pending(ep.id, e))?;
            n += 1;
        }
        batch.put_cursor(ep.id, last);
        db.write(batch)?;
        Ok(n)
    }
}
