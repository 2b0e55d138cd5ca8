//! The EVM follower: keeps the chain's local best chain equal to the node's, by hash. Runs on
//! its own thread; newHeads, the poll timer and startup all lead to [`Follower::sync`]: compare
//! the local tip with the node's head, walk back by parent hash to the fork point, disconnect,
//! fetch the node's blocks with their receipts (several in flight), connect them in order,
//! each checked against its parent. Payments are seen at inclusion: there is no mempool here.

use super::node::{EvmNode, HeadRef};
use super::normalize::hash_str;
use super::Wake;
use crate::chain::{fork_point, scan_all, Fatal, FollowError, Fork, ForkProbe, NodeTip, Pacer, Scanner, Transient};
use crate::health::Health;
use crate::index::{IndexError, Indexer};
use crate::metrics::ChainMetrics;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use paywatch_plugin_api::abi::SCAN_BLOCK;
use paywatch_plugin_api::evm::Block;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Blocks fetched per round.
const FETCH_CHUNK: u64 = 32;

/// Where and how one chain is followed.
#[derive(Debug, Clone)]
pub(crate) struct FollowerConfig {
    pub(crate) chain: String,
    pub(crate) chain_id: u64,
    pub(crate) reorg_window: u32,
    pub(crate) start_height: Option<u64>,
    pub(crate) poll: Duration,
    /// Token assets whose configured decimals are checked against their contract at start.
    pub(crate) tokens: Vec<TokenAsset>,
}

/// A token asset as configured: its contract and the decimals amounts are formatted with.
#[derive(Debug, Clone)]
pub(crate) struct TokenAsset {
    pub(crate) asset: String,
    pub(crate) contract: String,
    pub(crate) decimals: u8,
}

pub(crate) struct Follower {
    cfg: FollowerConfig,
    node: Arc<dyn EvmNode>,
    indexer: Indexer,
    scanners: Vec<Arc<dyn Scanner>>,
    health: Arc<Health>,
    /// Whether the newHeads feed is live (for `/health`).
    feed_up: Arc<AtomicBool>,
    node_checked: bool,
    /// How far behind the local tip the node was at the last sync, on the local chain.
    behind: Option<u64>,
    metrics: ChainMetrics,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower").field("chain", &self.cfg.chain).field("tip", &self.indexer.tip()).finish()
    }
}

impl Follower {
    pub(crate) fn new(
        cfg: FollowerConfig,
        node: Arc<dyn EvmNode>,
        indexer: Indexer,
        scanners: Vec<Arc<dyn Scanner>>,
        health: Arc<Health>,
        feed_up: Arc<AtomicBool>,
    ) -> Self {
        let metrics = ChainMetrics::detached();
        Self { cfg, node, indexer, scanners, health, feed_up, node_checked: false, behind: None, metrics }
    }

    /// The follower, updating `metrics` (a new follower's are detached).
    pub(crate) fn with_metrics(mut self, metrics: ChainMetrics) -> Self {
        if let Some(tip) = self.indexer.tip() {
            metrics.local_tip(tip.height);
        }
        self.metrics = metrics;
        self
    }

    #[cfg(test)]
    pub(crate) fn metrics(&self) -> &ChainMetrics {
        &self.metrics
    }

    /// The thread body: sync, then on every wake and poll until `Stop`. A fatal error stops
    /// this chain (loudly, in the log and `/health`); the daemon keeps running. A store failure
    /// is returned: the supervisor restarts the follower from the store.
    pub(crate) fn run(&mut self, wakes: &Receiver<Wake>) -> Result<(), IndexError> {
        let mut pace = Pacer::new(&self.cfg.chain, self.cfg.poll, self.health.clone(), self.metrics.clone());
        loop {
            if !pace.sync_if_due(|| self.sync().map(|()| self.ok_detail()))? {
                return Ok(());
            }
            match wakes.recv_timeout(pace.wait()) {
                Ok(Wake::Stop) | Err(RecvTimeoutError::Disconnected) => return Ok(()),
                Ok(Wake::Sync(why)) => {
                    tracing::trace!(chain = %self.cfg.chain, why, "sync requested");
                    // One sync answers every wake queued meanwhile (heads announced during a
                    // catch-up): drain them instead of asking the node once per head.
                    loop {
                        match wakes.try_recv() {
                            Ok(Wake::Stop) => return Ok(()),
                            Ok(Wake::Sync(_)) => {}
                            Err(_) => break,
                        }
                    }
                    pace.now();
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// What `/health` says of the synced chain.
    pub(super) fn ok_detail(&self) -> Option<String> {
        let tip = self.indexer.tip()?;
        let feed = match self.feed_up.load(Ordering::Relaxed) {
            true => "newHeads live".to_string(),
            false => format!("newHeads down, polling every {}s", self.cfg.poll.as_secs()),
        };
        let waiting = match self.behind {
            Some(n) => format!(", waiting for the node ({n} blocks behind, on this chain)"),
            None => String::new(),
        };
        Some(format!("at height {} ({}){waiting}, {feed}", tip.height, tip.hash))
    }

    /// Brings the local chain to the node's head.
    pub(crate) fn sync(&mut self) -> Result<(), FollowError> {
        if !self.node_checked {
            self.check_node()?;
            self.node_checked = true;
        }
        // The node may move while we fetch: a few rounds, each checked by hash.
        for _ in 0..10 {
            if self.reconcile()? {
                return Ok(());
            }
        }
        Err(Transient::Unsettled { rounds: 10, tip_name: "head" }.into())
    }

    /// Before the first block: the node serves the configured chain, and every token's contract
    /// agrees with the configured decimals (a wrong value would misstate every amount by powers
    /// of ten, so it stops the chain).
    fn check_node(&self) -> Result<(), FollowError> {
        let id = self.node.chain_id()?;
        if id != self.cfg.chain_id {
            return Err(Fatal::ChainId { node: id, config: self.cfg.chain_id }.into());
        }
        for t in &self.cfg.tokens {
            match self.node.token_decimals(&t.contract)? {
                Some(d) if d != t.decimals => {
                    return Err(Fatal::TokenDecimals {
                        asset: t.asset.clone(),
                        contract: t.contract.clone(),
                        contract_decimals: d,
                        config: t.decimals,
                    }
                    .into())
                }
                Some(_) => {}
                None => tracing::warn!(chain = %self.cfg.chain, asset = %t.asset, contract = %t.contract,
                    "the contract has no decimals(): the configured decimals cannot be checked"),
            }
        }
        Ok(())
    }

    /// One reconcile round; true when the local tip is the node's head, or the node is behind
    /// it on the local chain (waited for: `behind`).
    fn reconcile(&mut self) -> Result<bool, FollowError> {
        let head = self.node.head()?;
        self.metrics.node_tip(head.number);
        let Some(tip) = self.indexer.tip() else {
            self.first_start(&head)?;
            return Ok(false);
        };
        self.behind = None;
        if tip.hash == head.hash {
            return Ok(true);
        }
        // The usual case, a head on our tip, needs no walk (and no round trip) to find the fork.
        let fork = if head.parent == tip.hash {
            tip.height
        } else {
            let node_tip = NodeTip { height: head.number, hash: head.hash.clone() };
            match fork_point(&self.indexer, self.cfg.reorg_window, &node_tip, &Probe(&*self.node))? {
                Fork::At(h) => h,
                Fork::Behind(n) => {
                    tracing::debug!(chain = %self.cfg.chain, behind = n, "the node is behind on our chain: waiting for it");
                    self.behind = Some(n);
                    return Ok(true);
                }
            }
        };
        let mut depth = 0;
        while self.indexer.tip().is_some_and(|t| t.height > fork) {
            let gone = self.indexer.disconnect_tip()?;
            tracing::info!(chain = %self.cfg.chain, height = gone.height + 1, "block disconnected");
            self.metrics.disconnected(gone.height);
            depth += 1;
        }
        self.metrics.reorg(depth);
        let mut height = fork + 1;
        while height <= head.number {
            let end = (height + FETCH_CHUNK - 1).min(head.number);
            // A block missing now is transient: the node may have moved to a shorter chain.
            for block in self.node.blocks(height, end)? {
                if !self.connect(&block)? {
                    return Ok(false); // the node reorganized meanwhile: start over
                }
            }
            height = end + 1;
        }
        Ok(self.indexer.tip().is_some_and(|t| t.hash == head.hash))
    }

    /// First start: follow from the node's head, or from `start_height` (scanned).
    fn first_start(&mut self, head: &HeadRef) -> Result<(), FollowError> {
        let from = match self.cfg.start_height {
            Some(h) if h > head.number => {
                return Err(Transient::StartAboveTip { start: h, tip: head.number, tip_name: "head" }.into())
            }
            Some(h) => h.saturating_sub(1),
            None => head.number,
        };
        let b = self.node.header(from)?.ok_or(Transient::LostBlock { height: from })?;
        self.indexer.start_at(from, &b.hash, &b.parent)?;
        self.metrics.local_tip(from);
        tracing::info!(chain = %self.cfg.chain, height = from, hash = %b.hash, "first start: following from here");
        Ok(())
    }

    /// Connects a fetched block if it extends the tip by hash; false when it does not (the
    /// node's chain changed under us).
    fn connect(&mut self, block: &Block) -> Result<bool, FollowError> {
        let (hash, parent) = (hash_str(&block.hash.into()), hash_str(&block.parent.into()));
        if self.indexer.tip().is_some_and(|t| t.hash != parent) {
            return Ok(false);
        }
        let raw = block.encode();
        let reply = scan_all(&self.scanners, SCAN_BLOCK, &raw).map_err(|source| Transient::Scan {
            height: block.number,
            hash: hash.clone(),
            source: Box::new(source),
        })?;
        let matches = reply.matches.len();
        self.indexer.connect(block.number, &hash, &parent, reply)?;
        self.metrics.connected(block.number, block.timestamp);
        tracing::debug!(chain = %self.cfg.chain, height = block.number, %hash, matches, "block connected");
        Ok(true)
    }
}

/// The node as [`fork_point`] asks it.
struct Probe<'a>(&'a dyn EvmNode);

impl ForkProbe for Probe<'_> {
    fn syncing(&self) -> Result<Option<String>, FollowError> {
        Ok(self.0.syncing()?)
    }

    fn hash_at(&self, height: u64) -> Result<Option<String>, FollowError> {
        Ok(self.0.header(height)?.map(|b| b.hash))
    }

    /// Known by hash but not the block of its best chain at that height.
    fn abandoned(&self, hash: &str) -> Result<bool, FollowError> {
        let Some(b) = self.0.block_by_hash(hash)? else { return Ok(false) };
        Ok(self.0.header(b.number)?.is_none_or(|canonical| canonical.hash != hash))
    }

    /// Served by hash at that height (there is no proof of work to check).
    fn vouch(&self, height: u64, hash: &str) -> Result<(), FollowError> {
        match self.0.block_by_hash(hash)? {
            Some(b) if b.number == height && b.hash == hash => Ok(()),
            _ => Err(Transient::LostBlock { height }.into()),
        }
    }
}
