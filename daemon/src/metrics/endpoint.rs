//! An endpoint's delivery metrics, as its dispatcher worker updates them. The backlog is kept
//! in memory (counted once when the worker starts, then moved by every take-in and verdict), so
//! a scrape reads numbers and never the pending index.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// The verdicts an attempt can have: the `verdict` label, a fixed set.
pub(crate) const VERDICTS: [&str; 4] = ["ack", "retry", "fail", "disable"];

/// One endpoint's metrics. Cheap to clone: every handle shares its series.
#[derive(Debug, Clone)]
pub(crate) struct EndpointMetrics {
    pub(super) pending: Gauge,
    /// When the oldest pending delivery's event was made (unix seconds), 0 when none is: the
    /// age is computed at scrape time.
    pub(super) oldest_pending: Arc<AtomicI64>,
    pub(super) attempts: [Counter; 4],
    pub(super) latency: Histogram,
}

/// Attempt latencies from 5 ms to about 80 s.
pub(super) fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

impl Default for EndpointMetrics {
    fn default() -> Self {
        Self {
            pending: Gauge::default(),
            oldest_pending: Arc::default(),
            attempts: Default::default(),
            latency: latency_histogram(),
        }
    }
}

impl EndpointMetrics {
    /// The pending deliveries counted from the store (when the worker starts).
    pub(crate) fn set_pending(&self, n: u64) {
        self.pending.set(n as i64);
    }

    /// `n` deliveries became pending (taken in, redelivered).
    pub(crate) fn taken_in(&self, n: u64) {
        self.pending.inc_by(n as i64);
    }

    /// One delivery ended (delivered or given up).
    pub(crate) fn ended(&self) {
        if self.pending.dec() <= 0 {
            self.pending.set(0); // a delivery that ended twice (redelivered meanwhile)
        }
    }

    /// The oldest pending delivery's event was made at `unix` seconds; `None`: nothing pending.
    pub(crate) fn oldest_pending(&self, unix: Option<i64>) {
        self.oldest_pending.store(unix.unwrap_or(0), Ordering::Relaxed);
    }

    /// An attempt with this verdict (one of [`VERDICTS`]), sent in `secs`.
    pub(crate) fn attempt(&self, verdict: &str, secs: f64) {
        if let Some(i) = VERDICTS.iter().position(|v| *v == verdict) {
            self.attempts[i].inc();
        }
        self.latency.observe(secs);
    }

    /// The oldest pending delivery's age at `now` (unix seconds); 0 when none is pending.
    pub(super) fn age(&self, now: i64) -> f64 {
        match self.oldest_pending.load(Ordering::Relaxed) {
            0 => 0.0,
            t => (now - t).max(0) as f64,
        }
    }

    #[cfg(test)]
    pub(crate) fn pending(&self) -> i64 {
        self.pending.get()
    }
}

#[cfg(test)]
mod tests {
    use super::EndpointMetrics;

    #[test]
    fn the_backlog_moves_with_take_ins_and_ends_and_never_goes_negative() {
        let m = EndpointMetrics::default();
        m.set_pending(2);
        m.taken_in(3);
        m.ended();
        assert_eq!(m.pending(), 4);
        for _ in 0..6 {
            m.ended();
        }
        assert_eq!(m.pending(), 0, "a delivery ended twice (redelivered meanwhile) is not a negative backlog");
        assert_eq!(m.age(1_000), 0.0, "nothing pending: no age");
        m.oldest_pending(Some(900));
        assert_eq!(m.age(1_000), 100.0);
        m.oldest_pending(None);
        assert_eq!(m.age(1_000), 0.0);
    }
}
