//! Chain followers: one per configured chain, each keeping the chain's local best chain equal
//! to its node's (by hash) and handing the indexer what changed. Feeds (ZMQ, newHeads) wake the
//! follower and, for Bitcoin, carry `rawtx`/`rawblock` for the fast paths; the node, by hash,
//! stays the truth.

pub(crate) mod bitcoin;
mod evm;
mod rewind;
mod supervise;

pub(crate) use bitcoin::verify_block as verify_bitcoin_block;
pub(crate) use evm::Fetched as EvmFetched;
pub(crate) use rewind::rewind;
pub use rewind::{RewindError, RewindReport};

use crate::config::{ChainNode, Config};
use crate::db::{Db, DbError};
use crate::health::{Health, Kind, Status};
use crate::index::{ChainSet, Decimals, IndexError, Indexer, PaymentHook, WatchSet};
use crate::metrics::{ChainMetrics, Metrics, SyncFailure};
use crate::plugins::{CallError, PluginInstance};
use crate::startup::Currencies;
use paywatch_plugin_api::messages::ScanReply;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a sync round failed, classified: [`Transient`] (the follower retries with backoff and
/// `/health` says `degraded`), [`Fatal`] (the chain stops and says `down` until an operator
/// steps in) or `Store` (the store failed a read or write: the follower is restarted from the
/// store with backoff, `degraded` for a full disk, `down` otherwise; see `supervise`). The
/// display is the cause's own.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FollowError {
    #[error(transparent)]
    Transient(#[from] Transient),
    #[error(transparent)]
    Fatal(#[from] Fatal),
    #[error(transparent)]
    Store(IndexError),
}

/// Worth trying again later: the node is away or moved meanwhile, a plugin failed a scan.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Transient {
    /// The Bitcoin node's RPC failed (unreachable, warming up, a refused call).
    #[error(transparent)]
    Rpc(#[from] bitcoin::RpcError),
    /// The EVM node did not answer as asked.
    #[error(transparent)]
    Node(#[from] evm::NodeError),
    /// A currency plugin failed to scan a block.
    #[error("block {height} {hash}: {source}")]
    Scan { height: u64, hash: String, source: Box<CallError> },
    /// A raw block whose 80-byte header does not decode.
    #[error("block {height}: unreadable header: {source}")]
    Header { height: u64, source: bitcoin::HeaderError },
    /// A block failed verification (proof of work, merkle root): altered on the way, or forged.
    #[error("block {height} {hash} refused: {source}")]
    Invalid { height: u64, hash: String, source: bitcoin::Invalid },
    /// The node sent another block than the one asked for.
    #[error("block {height}: node sent {got} for {hash}")]
    WrongBlock { height: u64, hash: String, got: String },
    /// A block the node served a moment ago is gone (it moved to a shorter chain).
    #[error("the node lost block {height}")]
    LostBlock { height: u64 },
    /// The configured `start_height` is not mined yet.
    #[error("start_height {start} is above the node's {tip_name} {tip}")]
    StartAboveTip { start: u64, tip: u64, tip_name: &'static str },
    /// The node's best block changed during every reconcile round of one sync.
    #[error("the node's {tip_name} kept moving during {rounds} reconcile rounds")]
    Unsettled { rounds: u32, tip_name: &'static str },
    /// The node is behind our tip where its chain cannot be compared with ours, or says it is
    /// still syncing: wait for it, never take it for a reorg.
    #[error("node syncing, {behind} blocks behind our tip {tip} ({why})")]
    NodeSyncing { behind: u64, tip: u64, why: String },
}

/// Following cannot go on without an operator: a deep reorg, a pruned node, another chain, a
/// database failure.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Fatal {
    /// The indexer could not record a change (database failure, a block not on the tip).
    #[error(transparent)]
    Index(#[from] IndexError),
    /// No common block with the node within the recorded window.
    #[error(
        "reorg deeper than the reorg window ({window} blocks): no common block with the node at or above height {lowest} (local tip {local_tip}); refusing to guess. If the node really reorganized this deep, stop paywatch and run `paywatch chain rewind --chain {chain}` (a dry run that finds the highest block known to be common and lists the payments it would reverse; add --yes to apply), then start it again"
    )]
    DeepReorg { chain: String, window: u32, lowest: u64, local_tip: u64 },
    /// Not even height 0 agrees: the node follows another chain.
    #[error("the node's genesis block differs from ours")]
    OtherGenesis,
    /// The node is on another network (or coin) than the config says, checked at start.
    #[error(
        "the node's genesis block is {node}, but {expected_from} means {expected}: the node is on another network; fix the chain's network (or, for another Bitcoin-family coin, set genesis_hash = \"{node}\")"
    )]
    OtherNetwork { node: String, expected: String, expected_from: String },
    /// The node refuses a block of its best chain that we have not connected yet.
    #[error(
        "the node cannot serve block {height} ({hash}): {source}; is it pruned below the cursor? paywatch never skips a block"
    )]
    BlockUnavailable { height: u64, hash: String, source: bitcoin::RpcError },
    /// The EVM node serves another chain id than the configured one.
    #[error("the node serves chain id {node}, the config says {config}: refusing to follow another chain")]
    ChainId { node: u64, config: u64 },
    /// A token contract's `decimals()` disagrees with the asset's configured decimals.
    #[error(
        "asset {asset:?}: contract {contract} says decimals() = {contract_decimals}, the config says {config}; fix the asset's decimals"
    )]
    TokenDecimals { asset: String, contract: String, contract_decimals: u8, config: u8 },
}

impl From<bitcoin::RpcError> for FollowError {
    fn from(e: bitcoin::RpcError) -> Self {
        FollowError::Transient(e.into())
    }
}

impl From<evm::NodeError> for FollowError {
    fn from(e: evm::NodeError) -> Self {
        FollowError::Transient(e.into())
    }
}

/// A store failure restarts the follower from the store; a disconnect the recorded window
/// cannot make is fatal (only a deep reorg leads there, and `fork_point` refuses those first).
impl From<IndexError> for FollowError {
    fn from(e: IndexError) -> Self {
        match e {
            e @ IndexError::WindowExhausted { .. } => FollowError::Fatal(e.into()),
            e => FollowError::Store(e),
        }
    }
}

/// Why following could not start: `paywatch run` exits with it.
#[derive(Debug, thiserror::Error)]
pub enum ChainStartError {
    /// The chain's recorded blocks and live payments could not be read.
    #[error("chain {chain:?}: cannot load its state: {source}")]
    Load { chain: String, source: DbError },
    /// A ZMQ endpoint could not be subscribed to.
    #[error("chain {chain:?}: cannot subscribe to zmq endpoint {endpoint}: {source}")]
    Zmq { chain: String, endpoint: String, source: zmq::Error },
    /// A thread or runtime of the chain could not be started.
    #[error("chain {chain:?}: cannot start its {what}: {source}")]
    Spawn { chain: String, what: &'static str, source: std::io::Error },
}

/// Scans raw chain data for watched keys: a chain's currency plugin instances.
pub(crate) trait Scanner: Send + Sync {
    fn scan(&self, what: u32, raw: &[u8]) -> Result<ScanReply, CallError>;
}

/// Every scanner of a chain (one per asset) over the same bytes: their matches, and each
/// watched spend once. The first scanner to fail fails the whole scan.
///
/// The merkle root is the one every scanner that reported a root agrees on. Scanners that walked
/// the same bytes to different roots cannot all be right, so the reply's root then names both,
/// which no header states: the block is refused (loudly) rather than trusted on either.
pub(crate) fn scan_all(scanners: &[Arc<dyn Scanner>], what: u32, raw: &[u8]) -> Result<ScanReply, CallError> {
    let mut out = ScanReply::default();
    for s in scanners {
        let r = s.scan(what, raw)?;
        out.matches.extend(r.matches);
        for w in r.watched_spends {
            if !out.watched_spends.contains(&w) {
                out.watched_spends.push(w);
            }
        }
        out.merkle_root = match (out.merkle_root, r.merkle_root) {
            (Some(a), Some(b)) if a != b => Some(format!("{a} (another plugin: {b})")),
            (a, b) => a.or(b),
        };
    }
    Ok(out)
}

impl Scanner for PluginInstance {
    fn scan(&self, what: u32, raw: &[u8]) -> Result<ScanReply, CallError> {
        PluginInstance::scan(self, what, raw)
    }
}

/// What a follower is built from besides its config.
pub(crate) struct Parts {
    pub(crate) db: Arc<Db>,
    pub(crate) set: Arc<ChainSet>,
    pub(crate) scanners: Vec<Arc<dyn Scanner>>,
    pub(crate) decimals: Decimals,
    pub(crate) hook: Arc<dyn PaymentHook>,
    pub(crate) health: Arc<Health>,
    pub(crate) metrics: ChainMetrics,
}

/// The node's best block, as a follower read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeTip {
    pub(crate) height: u64,
    pub(crate) hash: String,
}

/// What a follower does about a node whose best block is not its local tip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fork {
    /// The local chain and the node's agree at this height: disconnect the local blocks above
    /// it, then connect the node's.
    At(u64),
    /// The node is this many blocks behind, on the local chain (its best block is ours, and it
    /// does not know our next one): wait for it, undo nothing.
    Behind(u64),
}

/// What [`fork_point`] asks the node.
pub(crate) trait ForkProbe {
    /// Why the node says it is still syncing (initial block download, `eth_syncing`), or
    /// `None`.
    fn syncing(&self) -> Result<Option<String>, FollowError>;
    /// The hash of the node's block at `height`; `None` above its tip.
    fn hash_at(&self, height: u64) -> Result<Option<String>, FollowError>;
    /// Whether the node knows this block but has it off its best chain (it invalidated it, or
    /// moved away from it); false when it does not know it (it has not seen it yet).
    fn abandoned(&self, hash: &str) -> Result<bool, FollowError>;
    /// The node serves the block `hash` at `height`, and its header checks out (its hash; its
    /// proof of work where the chain has one). Asked before a reorg is declared deeper than the
    /// window: made-up hashes (a man in the middle, a broken proxy) must not stop a chain for
    /// good.
    fn vouch(&self, height: u64, hash: &str) -> Result<(), FollowError>;
}

/// Where the local chain and the node's part, by hash. A node behind the local tip is not a
/// reorg: when its best block is ours and it does not know our next block, it is
/// [`Fork::Behind`]; blocks are disconnected only when the node's best chain holds another
/// block at a height the local chain holds, or the node has our blocks off its best chain
/// (`invalidateblock`). Before anything is undone the node is asked whether it is still
/// syncing: then it is waited for, as is a node more than the recorded window behind (its chain
/// cannot be compared with ours): [`Transient::NodeSyncing`], never fatal. Below the recorded
/// window, a fork is a fatal error: the reorg is deeper than `reorg_window`, and guessing would
/// corrupt payments (the message names `paywatch chain rewind`, for an operator who knows the
/// node's chain is right).
pub(crate) fn fork_point(
    indexer: &Indexer,
    reorg_window: u32,
    node: &NodeTip,
    probe: &dyn ForkProbe,
) -> Result<Fork, FollowError> {
    let tip = indexer.tip().expect("a follower reconciles from a recorded tip");
    // The usual case: the node extends the local chain.
    let mut at_tip = if node.height >= tip.height { Some(probe.hash_at(tip.height)?) } else { None };
    if at_tip.as_ref().is_some_and(|h| h.as_deref() == Some(tip.hash.as_str())) {
        return Ok(Fork::At(tip.height));
    }
    let behind = tip.height.saturating_sub(node.height);
    let waiting = |why: String| Err(Transient::NodeSyncing { behind, tip: tip.height, why }.into());
    if let Some(why) = probe.syncing()? {
        return waiting(why);
    }
    if behind > 0 {
        match indexer.hash_at(node.height) {
            Some(ours) if ours == node.hash => {
                let next = indexer.hash_at(node.height + 1).expect("recorded: between the node's height and the tip");
                return match probe.abandoned(next)? {
                    true => Ok(Fork::At(node.height)),
                    false => Ok(Fork::Behind(behind)),
                };
            }
            Some(_) => {} // another block at a height we hold: a reorg to a shorter chain
            None => {
                return waiting(format!(
                    "more than reorg_window = {reorg_window} behind: its chain cannot be compared with ours yet"
                ))
            }
        }
    }
    let mut h = tip.height.min(node.height);
    let mut lowest_theirs: Option<(u64, String)> = None;
    loop {
        let Some(local) = indexer.hash_at(h) else {
            // The node's chain must be real where it parts from ours before following stops.
            if let Some((height, hash)) = &lowest_theirs {
                probe.vouch(*height, hash)?;
            }
            let lowest = indexer.lowest().unwrap_or(h);
            let chain = indexer.chain().to_string();
            return Err(Fatal::DeepReorg { chain, window: reorg_window, lowest, local_tip: tip.height }.into());
        };
        let theirs = match at_tip.take() {
            Some(known) if h == tip.height => known,
            _ if h == node.height => Some(node.hash.clone()),
            _ => probe.hash_at(h)?,
        };
        // At or below the node's own best height: no block there is the node contradicting
        // itself (a load balancer's lagging backend, a chain that just got shorter), never a
        // fork. Asked again later; nothing is undone on it.
        let Some(theirs) = theirs else { return Err(Transient::LostBlock { height: h }.into()) };
        if theirs == local {
            return Ok(Fork::At(h));
        }
        lowest_theirs = Some((h, theirs));
        if h == 0 {
            return Err(Fatal::OtherGenesis.into());
        }
        h -= 1;
    }
}

/// The pace of a follower's loop: when the next sync is due, and what a sync's outcome means
/// (poll again later; back off 1 s → 30 s and say `degraded`; stop and say `down`; hand a
/// store failure to the supervisor, which restarts the follower).
#[derive(Debug)]
pub(crate) struct Pacer {
    chain: String,
    poll: Duration,
    backoff: Duration,
    next_sync: Instant,
    health: Arc<Health>,
    metrics: ChainMetrics,
}

const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl Pacer {
    pub(crate) fn new(chain: &str, poll: Duration, health: Arc<Health>, metrics: ChainMetrics) -> Self {
        metrics.stopped(false);
        let (backoff, next_sync) = (Duration::from_secs(1), Instant::now());
        Self { chain: chain.to_string(), poll, backoff, next_sync, health, metrics }
    }

    /// Runs `sync` when it is due. `sync` returns what `/health` says of a synced chain.
    /// `Ok(false)` when the chain must stop (fatal, reported); a store failure is returned for
    /// the supervisor.
    pub(crate) fn sync_if_due(
        &mut self,
        sync: impl FnOnce() -> Result<Option<String>, FollowError>,
    ) -> Result<bool, IndexError> {
        if Instant::now() < self.next_sync {
            return Ok(true);
        }
        let outcome = sync();
        if let Ok(Some(detail)) = &outcome {
            self.health.set(Kind::Chain, &self.chain, Status::Ok, detail.clone());
        }
        self.after(outcome.map(|_| ()))
    }

    /// How long to wait for a trigger before the next sync is due.
    pub(crate) fn wait(&self) -> Duration {
        self.next_sync.saturating_duration_since(Instant::now())
    }

    /// Sync as soon as possible (a trigger asked for it).
    pub(crate) fn now(&mut self) {
        self.next_sync = Instant::now();
    }

    /// Takes a sync's outcome; `Ok(false)` when the chain must stop (fatal, reported).
    fn after(&mut self, outcome: Result<(), FollowError>) -> Result<bool, IndexError> {
        match outcome {
            Ok(()) => {
                self.backoff = Duration::from_secs(1);
                self.next_sync = Instant::now() + self.poll;
                Ok(true)
            }
            Err(FollowError::Transient(e)) => {
                self.metrics.failed(e.kind());
                let chain = &self.chain;
                tracing::warn!(%chain, error = %e, retry_in = ?self.backoff, "chain sync failed; retrying");
                let detail = format!("{e}; retrying in {}s", self.backoff.as_secs());
                self.health.set(Kind::Chain, chain, Status::Degraded, detail);
                self.next_sync = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                Ok(true)
            }
            Err(FollowError::Fatal(e)) => {
                self.metrics.failed(SyncFailure::Fatal);
                self.metrics.stopped(true);
                tracing::error!(chain = %self.chain, error = %e, "chain stopped");
                self.health.set(Kind::Chain, &self.chain, Status::Down, format!("stopped: {e}"));
                Ok(false)
            }
            // Counted by the supervisor, which also sees the store failing a restart.
            Err(FollowError::Store(e)) => Err(e),
        }
    }
}

impl Transient {
    /// The `kind` label of `paywatch_chain_sync_failures_total`.
    fn kind(&self) -> SyncFailure {
        match self {
            Transient::Scan { .. } => SyncFailure::Plugin,
            Transient::Header { .. } | Transient::Invalid { .. } | Transient::WrongBlock { .. } => SyncFailure::Verify,
            Transient::Rpc(_)
            | Transient::Node(_)
            | Transient::LostBlock { .. }
            | Transient::StartAboveTip { .. }
            | Transient::Unsettled { .. }
            | Transient::NodeSyncing { .. } => SyncFailure::Rpc,
        }
    }
}

#[derive(Debug)]
enum Running {
    Bitcoin(bitcoin::Running),
    Evm(evm::Running),
}

/// The running followers; [`Followers::stop`] ends them.
#[derive(Debug, Default)]
pub(crate) struct Followers {
    running: Vec<Running>,
}

impl Followers {
    /// Starts a follower for every chain that has a currency plugin to scan with, each with its
    /// chain's metrics.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start(
        config: &Config,
        db: &Arc<Db>,
        set: &Arc<WatchSet>,
        currencies: &Currencies,
        decimals: &Decimals,
        hook: &Arc<dyn PaymentHook>,
        health: &Arc<Health>,
        metrics: &Metrics,
    ) -> Result<Self, ChainStartError> {
        let mut out = Self::default();
        for chain in &config.chains {
            let assets: Vec<_> = config.assets.iter().filter(|a| a.chain == chain.name).collect();
            let scanners: Vec<Arc<dyn Scanner>> =
                assets.iter().filter_map(|a| currencies.get(&a.id)).map(|p| p.clone() as Arc<dyn Scanner>).collect();
            if scanners.is_empty() {
                health.set(Kind::Chain, &chain.name, Status::Idle, "no asset uses this chain: not followed");
                continue;
            }
            let chain_set = set.chain(&chain.name).expect("the set has every configured chain").clone();
            let feed = match &chain.node {
                ChainNode::Bitcoin(_) => "zmq",
                ChainNode::Evm(_) => "websocket",
            };
            let parts = Parts {
                metrics: metrics.chain(&chain.name, feed),
                db: db.clone(),
                set: chain_set,
                scanners,
                decimals: decimals.clone(),
                hook: hook.clone(),
                health: health.clone(),
            };
            out.running.push(match &chain.node {
                ChainNode::Bitcoin(node) => Running::Bitcoin(bitcoin::start(chain, node, parts)?),
                ChainNode::Evm(node) => {
                    let tokens = assets
                        .iter()
                        .filter_map(|a| {
                            let contract = a.contract.clone()?;
                            let decimals = *decimals.get(&a.id)?;
                            Some(evm::TokenAsset { asset: a.id.clone(), contract, decimals })
                        })
                        .collect();
                    Running::Evm(evm::start(chain, node, tokens, parts)?)
                }
            });
        }
        Ok(out)
    }

    /// Stops every follower and waits for it (a block in progress is finished first).
    pub(crate) fn stop(self) {
        for r in self.running {
            match r {
                Running::Bitcoin(r) => r.stop(),
                Running::Evm(r) => r.stop(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paywatch_plugin_api::PluginError;

    /// What logs, `/health` and `paywatch run` say: the wording each cause had as a string.
    #[test]
    fn errors_read_as_before_and_name_the_offending_value() {
        let scan = CallError::Plugin {
            plugin: "bitcoin@BTC".into(),
            method: "scan_block".into(),
            error: PluginError::invalid_input("truncated: need 4 bytes at offset 80, have 0"),
        };
        let e = FollowError::from(Transient::Scan { height: 7, hash: "00ab".into(), source: Box::new(scan) });
        assert_eq!(
            e.to_string(),
            "block 7 00ab: plugin bitcoin@BTC: scan_block failed: invalid_input: truncated: need 4 bytes at offset 80, have 0"
        );
        let e = FollowError::from(Transient::StartAboveTip { start: 9, tip: 5, tip_name: "tip" });
        assert_eq!(e.to_string(), "start_height 9 is above the node's tip 5");
        let e = FollowError::from(Transient::Unsettled { rounds: 10, tip_name: "head" });
        assert_eq!(e.to_string(), "the node's head kept moving during 10 reconcile rounds");
        let e = FollowError::from(IndexError::WindowExhausted { height: 12 });
        assert!(matches!(e, FollowError::Fatal(Fatal::Index(_))), "{e:?}");
        assert_eq!(e.to_string(), "cannot disconnect block 12: the block below it is out of the recorded window");
        let e = ChainStartError::Spawn {
            chain: "btc".into(),
            what: "follower thread",
            source: std::io::Error::other("no more threads"),
        };
        assert_eq!(e.to_string(), "chain \"btc\": cannot start its follower thread: no more threads");
    }

    /// Each failed sync counts under its kind; a fatal one also says the chain stopped.
    #[test]
    fn the_pacer_counts_failures_by_kind_and_a_stop() {
        let m = ChainMetrics::detached();
        let mut pace = Pacer::new("btc", Duration::from_secs(1), Arc::new(Health::new()), m.clone());
        let rpc = bitcoin::RpcError::Transport("connection refused".into());
        assert!(pace.after(Err(FollowError::from(rpc))).unwrap());
        assert!(pace
            .after(Err(Transient::WrongBlock { height: 1, hash: "a".into(), got: "b".into() }.into()))
            .unwrap());
        assert!(pace.after(Err(Transient::LostBlock { height: 3 }.into())).unwrap());
        assert_eq!((m.failures(SyncFailure::Rpc), m.failures(SyncFailure::Verify)), (2, 1));
        assert_eq!(m.is_stopped(), 0);
        assert!(!pace.after(Err(Fatal::OtherGenesis.into())).unwrap());
        assert_eq!((m.failures(SyncFailure::Fatal), m.is_stopped()), (1, 1));
    }
}
