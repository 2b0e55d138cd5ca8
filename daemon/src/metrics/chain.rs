//! A chain's metrics, as its follower, feed and node client update them: handles already
//! labelled with the chain, cheap to clone, and [`ChainMetrics::detached`] for tests.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

/// Why a sync round (or a follower run) failed: the `kind` label of
/// `paywatch_chain_sync_failures_total`, a fixed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SyncFailure {
    /// The node did not answer as asked (unreachable, refused, syncing, moving, lost a block).
    Rpc,
    /// A block failed verification (proof of work, merkle root, its hash, an unreadable header).
    Verify,
    /// A currency plugin failed to scan a block.
    Plugin,
    /// The store failed a read or a write (the follower is restarted from the store).
    Store,
    /// Following stopped until an operator acts (a deep reorg, another network…).
    Fatal,
    /// The follower panicked (restarted from the store).
    Panic,
}

impl SyncFailure {
    pub(crate) const ALL: [SyncFailure; 6] =
        [Self::Rpc, Self::Verify, Self::Plugin, Self::Store, Self::Fatal, Self::Panic];

    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Rpc => "rpc",
            Self::Verify => "verify",
            Self::Plugin => "plugin",
            Self::Store => "store",
            Self::Fatal => "fatal",
            Self::Panic => "panic",
        }
    }
}

/// What was verified: the `what` label of `paywatch_chain_verification_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verified {
    /// A block (proof of work, merkle root; an EVM block against its header's roots).
    Block,
    /// A transaction from the unauthenticated feed that the node did not confirm.
    Tx,
}

/// One chain's metrics. Cheap to clone: every handle shares its series.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChainMetrics {
    pub(super) local_tip: Gauge,
    pub(super) node_tip: Gauge,
    pub(super) connected: Counter,
    pub(super) disconnected: Counter,
    pub(super) reorg_depth: ReorgDepths,
    pub(super) deepest_reorg: Gauge,
    pub(super) last_block_time: Gauge,
    pub(super) failures: [Counter; 6],
    pub(super) stopped: Gauge,
    pub(super) feed_up: Gauge,
    pub(super) feed_messages: Counter,
    pub(super) feed_gaps: Counter,
    pub(super) verify_failures: [Counter; 2],
}

/// The reorg-depth histogram, with a default (its buckets) so that a detached handle is cheap.
#[derive(Debug, Clone)]
pub(super) struct ReorgDepths(pub(super) Histogram);

impl Default for ReorgDepths {
    fn default() -> Self {
        Self(reorg_histogram())
    }
}

/// Depths of 1, 2, 3, 5, 10, 20, 50, 100 blocks.
pub(super) fn reorg_histogram() -> Histogram {
    Histogram::new([1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0])
}

impl ChainMetrics {
    /// Handles registered nowhere (tests, `chain rewind`).
    pub(crate) fn detached() -> Self {
        Self::default()
    }

    /// The local tip moved to `height` (a block connected, disconnected, or the start).
    pub(crate) fn local_tip(&self, height: u64) {
        self.local_tip.set(height as i64);
    }

    /// The node's best block, as it last reported it.
    pub(crate) fn node_tip(&self, height: u64) {
        self.node_tip.set(height as i64);
    }

    /// A block connected at `height`, its header's time `time` (unix seconds).
    pub(crate) fn connected(&self, height: u64, time: u64) {
        self.connected.inc();
        self.local_tip(height);
        self.last_block_time.set(time as i64);
    }

    /// A block disconnected; the tip is now `height`.
    pub(crate) fn disconnected(&self, height: u64) {
        self.disconnected.inc();
        self.local_tip(height);
    }

    /// A reorg that disconnected `depth` blocks.
    pub(crate) fn reorg(&self, depth: u64) {
        if depth == 0 {
            return;
        }
        self.reorg_depth.0.observe(depth as f64);
        // Only this chain's follower thread writes it: no lost update.
        if self.deepest_reorg.get() < depth as i64 {
            self.deepest_reorg.set(depth as i64);
        }
    }

    pub(crate) fn failed(&self, kind: SyncFailure) {
        self.failures[kind as usize].inc();
    }

    /// Following stopped by a fatal error (true), or running (false).
    pub(crate) fn stopped(&self, stopped: bool) {
        self.stopped.set(i64::from(stopped));
    }

    /// Whether the feed (ZMQ, newHeads) is live.
    pub(crate) fn feed_up(&self, up: bool) {
        self.feed_up.set(i64::from(up));
    }

    pub(crate) fn feed_message(&self) {
        self.feed_messages.inc();
    }

    pub(crate) fn feed_gap(&self) {
        self.feed_gaps.inc();
    }

    pub(crate) fn verify_failed(&self, what: Verified) {
        self.verify_failures[what as usize].inc();
    }

    #[cfg(test)]
    pub(crate) fn snapshot(&self) -> (i64, u64, u64, i64) {
        (self.local_tip.get(), self.connected.get(), self.disconnected.get(), self.deepest_reorg.get())
    }

    #[cfg(test)]
    pub(crate) fn is_stopped(&self) -> i64 {
        self.stopped.get()
    }

    #[cfg(test)]
    pub(crate) fn failures(&self, kind: SyncFailure) -> u64 {
        self.failures[kind as usize].get()
    }
}
