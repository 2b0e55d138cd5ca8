//! The Bitcoin follower: keeps the chain's local best chain equal to the node's, by hash.
//! Runs on its own thread. A ZMQ `rawtx` is scanned at once and a `rawblock` on the tip is
//! connected at once (the fast paths); anything else (a gap, a timer, startup, a block not on
//! the tip) leads to [`Follower::sync`]: compare tips, walk back to the fork point, disconnect,
//! fetch the node's blocks (a few requests in flight), connect them in order, then diff the
//! mempool.

use super::rpc::BitcoinNode;
use super::verify::{self, Parent, Rules};
use super::Trigger;
use crate::chain::{fork_point, scan_all, Fatal, FollowError, Fork, ForkProbe, NodeTip, Pacer, Scanner, Transient};
use crate::health::{Health, Kind, Status};
use crate::index::{IndexError, Indexer};
use crate::metrics::{ChainMetrics, Verified};
use bitcoincore_rpc::bitcoin::block::Header;
use bitcoincore_rpc::bitcoin::consensus::Decodable;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use paywatch_plugin_api::abi::{SCAN_BLOCK, SCAN_TX};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// Blocks fetched per round, and requests in flight.
const FETCH_CHUNK: usize = 32;
const FETCH_THREADS: usize = 4;

/// Where and how one chain is followed.
#[derive(Debug, Clone)]
pub(crate) struct FollowerConfig {
    pub(crate) chain: String,
    pub(crate) reorg_window: u32,
    pub(crate) start_height: Option<u64>,
    pub(crate) poll: Duration,
    /// The genesis hash the node must have, and where that expectation comes from (for the
    /// message when it does not).
    pub(crate) genesis: String,
    pub(crate) genesis_from: String,
    /// How block headers are checked (proof of work).
    pub(crate) rules: Rules,
}

pub(crate) struct Follower {
    cfg: FollowerConfig,
    node: Arc<dyn BitcoinNode>,
    indexer: Indexer,
    scanners: Vec<Arc<dyn Scanner>>,
    health: Arc<Health>,
    /// Mempool txids already scanned.
    known: HashSet<String>,
    /// The node's genesis block was found to be the expected one.
    genesis_checked: bool,
    /// The local tip's hash and what its child's `bits` are checked against.
    tip_bits: Option<(String, Parent)>,
    /// How far behind the local tip the node was at the last sync, on the local chain.
    behind: Option<u64>,
    /// When a refused feed message was last logged, and how many were not logged since.
    refusals: (Option<std::time::Instant>, u64),
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
        node: Arc<dyn BitcoinNode>,
        indexer: Indexer,
        scanners: Vec<Arc<dyn Scanner>>,
        health: Arc<Health>,
    ) -> Self {
        Self {
            cfg,
            node,
            indexer,
            scanners,
            health,
            known: HashSet::new(),
            genesis_checked: false,
            tip_bits: None,
            behind: None,
            refusals: (None, 0),
            metrics: ChainMetrics::detached(),
        }
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

    /// The thread body: sync, then react to triggers until `Stop`. A fatal error stops this
    /// chain (loudly, in the log and `/health`); the daemon keeps running. A store failure is
    /// returned: the supervisor restarts the follower from the store.
    pub(crate) fn run(&mut self, triggers: &Receiver<Trigger>) -> Result<(), IndexError> {
        let mut pace = Pacer::new(&self.cfg.chain, self.cfg.poll, self.health.clone(), self.metrics.clone());
        loop {
            if !pace.sync_if_due(|| self.sync().map(|()| self.ok_detail()))? {
                return Ok(());
            }
            match triggers.recv_timeout(pace.wait()) {
                Ok(Trigger::Stop) | Err(RecvTimeoutError::Disconnected) => return Ok(()),
                Ok(Trigger::RawTx(raw)) => self.on_raw_tx(&raw),
                Ok(Trigger::RawBlock(raw)) if self.on_raw_block(&raw) => {}
                Ok(Trigger::Reconcile(why)) => {
                    tracing::debug!(chain = %self.cfg.chain, why, "reconcile requested");
                    pace.now();
                }
                Ok(Trigger::RawBlock(_)) => pace.now(),
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn cfg_mut(&mut self) -> &mut FollowerConfig {
        &mut self.cfg
    }

    /// What `/health` says of the synced chain.
    pub(super) fn ok_detail(&self) -> Option<String> {
        let tip = self.indexer.tip()?;
        let waiting = match self.behind {
            Some(n) => format!(", waiting for the node ({n} blocks behind, on this chain)"),
            None => String::new(),
        };
        Some(format!("at height {} ({}){waiting}, {} mempool txs seen", tip.height, tip.hash, self.known.len()))
    }

    fn report_ok(&self) {
        if let Some(detail) = self.ok_detail() {
            self.health.set(Kind::Chain, &self.cfg.chain, Status::Ok, detail);
        }
    }

    /// Brings the local chain to the node's tip, then diffs the mempool. The first sync checks
    /// the node's network by its genesis block.
    pub(crate) fn sync(&mut self) -> Result<(), FollowError> {
        if !self.genesis_checked {
            let node = self.node.block_hash(0)?;
            if node != self.cfg.genesis {
                let (expected, expected_from) = (self.cfg.genesis.clone(), self.cfg.genesis_from.clone());
                return Err(Fatal::OtherNetwork { node, expected, expected_from }.into());
            }
            self.genesis_checked = true;
        }
        // The node may move while we fetch: a few rounds, each checked by hash.
        for _ in 0..10 {
            if self.reconcile()? {
                return self.sync_mempool();
            }
        }
        Err(Transient::Unsettled { rounds: 10, tip_name: "tip" }.into())
    }

    /// One reconcile round; true when the local tip equals the node's best hash, or the node
    /// is behind it on the local chain (waited for: `behind`).
    fn reconcile(&mut self) -> Result<bool, FollowError> {
        let best = self.node.best_block_hash()?;
        let Some(tip) = self.indexer.tip() else {
            self.first_start()?;
            return Ok(false);
        };
        self.behind = None;
        if tip.hash == best {
            self.metrics.node_tip(tip.height);
            return Ok(true);
        }
        // Height and hash of one block: the node may move between two calls.
        let node_height = self.node.block_count()?;
        self.metrics.node_tip(node_height);
        let node_tip = NodeTip { height: node_height, hash: self.node.block_hash(node_height)? };
        let fork = match fork_point(
            &self.indexer,
            self.cfg.reorg_window,
            &node_tip,
            &Probe(&*self.node, &self.cfg.rules),
        )? {
            Fork::At(h) => h,
            Fork::Behind(n) => {
                tracing::debug!(chain = %self.cfg.chain, behind = n, "the node is behind on our chain: waiting for it");
                self.behind = Some(n);
                return Ok(true);
            }
        };
        let mut depth = 0;
        while self.indexer.tip().is_some_and(|t| t.height > fork) {
            let gone = self.indexer.tip().expect("checked");
            self.indexer.disconnect_tip()?;
            tracing::info!(chain = %self.cfg.chain, height = gone.height, hash = %gone.hash, "block disconnected");
            self.metrics.disconnected(gone.height - 1);
            depth += 1;
            // Its transactions may be back in the mempool: look at all of it again.
            self.known.clear();
        }
        self.metrics.reorg(depth);
        let mut height = fork + 1;
        while height <= node_height {
            let end = (height + FETCH_CHUNK as u64 - 1).min(node_height);
            let blocks = self.fetch(height, end)?;
            for (h, hash, raw) in blocks {
                if !self.connect(h, &hash, &raw)? {
                    return Ok(false); // the node reorganized meanwhile: start over
                }
            }
            height = end + 1;
        }
        Ok(self.indexer.tip().is_some_and(|t| t.hash == best))
    }

    /// First start: follow from the node's tip, or from `start_height` (scanned).
    fn first_start(&mut self) -> Result<(), FollowError> {
        let tip = self.node.block_count()?;
        let from = match self.cfg.start_height {
            Some(h) if h > tip => return Err(Transient::StartAboveTip { start: h, tip, tip_name: "tip" }.into()),
            Some(h) => h.saturating_sub(1),
            None => tip,
        };
        let hash = self.node.block_hash(from)?;
        let raw = self.fetch_block(from, &hash)?;
        let header = self.checked_header(&raw, from, &hash)?;
        self.indexer.start_at(from, &hash, &header.prev_blockhash.to_string())?;
        self.metrics.local_tip(from);
        if self.cfg.rules.follows_bits() {
            self.tip_bits = Some((hash.clone(), self.cfg.rules.after(None, header.bits.to_consensus())));
        }
        tracing::info!(chain = %self.cfg.chain, height = from, %hash, "first start: following from here");
        Ok(())
    }

    /// Heights `from..=to` fetched by a few threads: (height, hash, raw), in order.
    fn fetch(&self, from: u64, to: u64) -> Result<Vec<(u64, String, Vec<u8>)>, FollowError> {
        let heights: Vec<u64> = (from..=to).collect();
        let per = heights.len().div_ceil(FETCH_THREADS).max(1);
        let results: Vec<Result<Vec<_>, FollowError>> = std::thread::scope(|s| {
            let handles: Vec<_> = heights
                .chunks(per)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|&h| {
                                let hash = self.node.block_hash(h)?;
                                let raw = self.fetch_block(h, &hash)?;
                                Ok((h, hash, raw))
                            })
                            .collect::<Result<Vec<_>, FollowError>>()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("fetch threads do not panic")).collect()
        });
        let mut out = Vec::with_capacity(heights.len());
        for r in results {
            out.extend(r?);
        }
        Ok(out)
    }

    /// A block the node must have: a refusal (pruned) is fatal, naming the height.
    fn fetch_block(&self, height: u64, hash: &str) -> Result<Vec<u8>, FollowError> {
        self.node.block(hash).map_err(|e| match e {
            e if e.is_transient() => e.into(),
            source => Fatal::BlockUnavailable { height, hash: hash.to_string(), source }.into(),
        })
    }

    /// Connects a fetched block if it extends the tip by hash; false when it does not (the
    /// node's chain changed under us). The block is verified first (its hash, proof of work and
    /// merkle root): a block that fails is refused, nothing of it recorded.
    fn connect(&mut self, height: u64, hash: &str, raw: &[u8]) -> Result<bool, FollowError> {
        let header = self.checked_header(raw, height, hash)?;
        let prev = header.prev_blockhash.to_string();
        if self.indexer.tip().is_some_and(|t| t.hash != prev) {
            return Ok(false);
        }
        let parent = self.parent_bits(height, &prev)?;
        if let Some(p) = &parent {
            let bits = header.bits.to_consensus();
            self.cfg.rules.check_bits(height, bits, p).map_err(|source| self.refused(height, hash, source))?;
        }
        let reply = scan_all(&self.scanners, SCAN_BLOCK, raw).map_err(|source| Transient::Scan {
            height,
            hash: hash.to_string(),
            source: Box::new(source),
        })?;
        verify::check_merkle(&header, raw, reply.merkle_root.as_deref())
            .map_err(|source| self.refused(height, hash, source))?;
        let matches = reply.matches.len();
        self.indexer.connect(height, hash, &prev, reply)?;
        self.metrics.connected(height, u64::from(header.time));
        if self.cfg.rules.follows_bits() {
            self.tip_bits = Some((hash.to_string(), self.cfg.rules.after(parent.as_ref(), header.bits.to_consensus())));
        }
        tracing::debug!(chain = %self.cfg.chain, height, %hash, matches, "block connected");
        Ok(true)
    }

    /// The header of the raw block asked for as `hash`, with its proof of work.
    fn checked_header(&self, raw: &[u8], height: u64, hash: &str) -> Result<Header, FollowError> {
        let header = header_of(raw, height, hash)?;
        self.cfg.rules.check_work(&header).map_err(|source| self.refused(height, hash, source))?;
        Ok(header)
    }

    /// What the child of block `prev` (our tip) is checked against: known from connecting it,
    /// else (after a restart or a reorg) read from the node's copy of it, checked by its hash.
    /// None when the chain's rules do not follow `bits`.
    fn parent_bits(&self, height: u64, prev: &str) -> Result<Option<Parent>, FollowError> {
        if !self.cfg.rules.follows_bits() {
            return Ok(None);
        }
        if let Some((hash, parent)) = &self.tip_bits {
            if hash == prev {
                return Ok(Some(*parent));
            }
        }
        let parent_height = height.saturating_sub(1);
        let raw = self.fetch_block(parent_height, prev)?;
        let header = self.checked_header(&raw, parent_height, prev)?;
        Ok(Some(self.cfg.rules.after(None, header.bits.to_consensus())))
    }

    /// A block that failed verification: said loudly, retried (the next copy may be sound).
    fn refused(&self, height: u64, hash: &str, source: verify::Invalid) -> FollowError {
        self.metrics.verify_failed(Verified::Block);
        tracing::error!(chain = %self.cfg.chain, height, %hash, error = %source, "block refused");
        Transient::Invalid { height, hash: hash.to_string(), source }.into()
    }

    /// Scans new mempool transactions; marks pending payments gone from it as dropped, but only
    /// while the tip is still the node's (a mined transaction also leaves the mempool).
    fn sync_mempool(&mut self) -> Result<(), FollowError> {
        let txids: HashSet<String> = self.node.mempool()?.into_iter().collect();
        let new: Vec<&String> = txids.iter().filter(|t| !self.known.contains(*t)).collect();
        for txid in new {
            if let Some(raw) = self.node.transaction(txid)? {
                self.scan_tx(&raw, false)?;
            }
        }
        self.known = txids;
        let best = self.node.best_block_hash()?;
        if self.indexer.tip().is_some_and(|t| t.hash == best) {
            let dropped = self.indexer.drop_missing(&self.known)?;
            if dropped > 0 {
                tracing::info!(chain = %self.cfg.chain, dropped, "pending payments left the mempool unmined");
            }
        }
        Ok(())
    }

    /// The `rawtx` fast path. ZMQ is unauthenticated, so a transaction from it is a hint: one
    /// that would change anything (it pays or spends something watched) is recorded only once
    /// the node says it holds exactly this transaction.
    pub(crate) fn on_raw_tx(&mut self, raw: &[u8]) {
        if let Err(e) = self.scan_tx(raw, true) {
            tracing::error!(chain = %self.cfg.chain, error = %e, "cannot record a mempool payment; the next sync retries");
        }
    }

    /// Scans one transaction and records what it pays or spends. A transaction is known (not
    /// scanned again by the mempool diff) only once recorded: a failed write is retried.
    fn scan_tx(&mut self, raw: &[u8], from_feed: bool) -> Result<(), IndexError> {
        match scan_all(&self.scanners, SCAN_TX, raw) {
            Ok(reply) => {
                let txid = reply.matches.first().map(|m| &m.txid).or(reply.watched_spends.first().map(|s| &s.txid));
                let Some(txid) = txid.cloned() else { return Ok(()) };
                if from_feed && !self.node_holds(&txid, raw) {
                    return Ok(());
                }
                let paid = reply.matches.first().map(|m| m.txid.clone());
                self.indexer.mempool_tx(reply)?;
                self.known.extend(paid);
            }
            Err(e) => tracing::warn!(chain = %self.cfg.chain, error = %e, "mempool transaction not scanned"),
        }
        Ok(())
    }

    /// Whether the node's mempool holds this transaction with these bytes (`getrawtransaction`,
    /// then `getmempoolentry`: with `txindex` a node also serves transactions of blocks, even
    /// reorganized-out ones, which a publisher could replay). A transaction of a block is
    /// recorded when the block connects. Not holding it, or not answering, means no; refusals
    /// are logged at most every 10 s, with a count (a publisher can send many).
    fn node_holds(&mut self, txid: &str, raw: &[u8]) -> bool {
        let refused = match self.node.transaction(txid) {
            Ok(Some(held)) if held == raw => match self.node.in_mempool(txid) {
                Ok(true) => return true,
                Ok(false) => {
                    "zmq rawtx is not in the node's mempool (a block's, or replayed): left to the block".to_string()
                }
                Err(e) => format!("zmq rawtx not confirmed by the node ({e}): ignored until the next sync"),
            },
            Ok(Some(_)) => {
                self.metrics.verify_failed(Verified::Tx);
                "zmq rawtx differs from the node's transaction: ignored".to_string()
            }
            Ok(None) => {
                self.metrics.verify_failed(Verified::Tx);
                "zmq rawtx the node does not hold: ignored".to_string()
            }
            Err(e) => format!("zmq rawtx not confirmed by the node ({e}): ignored until the next sync"),
        };
        self.feed_refused(txid, &refused);
        false
    }

    /// Logs a refused feed message, at most one line every 10 s (with how many were not logged).
    fn feed_refused(&mut self, txid: &str, why: &str) {
        const EVERY: Duration = Duration::from_secs(10);
        if self.refusals.0.is_some_and(|at| at.elapsed() < EVERY) {
            self.refusals.1 += 1;
            return;
        }
        let unlogged = std::mem::take(&mut self.refusals.1);
        tracing::warn!(chain = %self.cfg.chain, %txid, unlogged, "{why}");
        self.refusals.0 = Some(std::time::Instant::now());
    }

    /// The `rawblock` fast path: when the block extends the tip and the node says it is its
    /// block at that height, connect the node's copy of it (fetched by hash: ZMQ is
    /// unauthenticated, so its bytes are only a hint). False when a full sync is needed instead.
    pub(crate) fn on_raw_block(&mut self, raw: &[u8]) -> bool {
        let Some(tip) = self.indexer.tip() else { return false };
        let Ok(header) = header(raw, tip.height + 1) else { return false };
        let (hash, prev) = (header.block_hash().to_string(), header.prev_blockhash.to_string());
        if prev != tip.hash {
            return hash == tip.hash; // already have it; anything else: reconcile
        }
        let height = tip.height + 1;
        match self.node.block_hash(height) {
            Ok(h) if h == hash => self.metrics.node_tip(height),
            Ok(other) => {
                tracing::warn!(chain = %self.cfg.chain, height, zmq = %hash, node = %other, "zmq rawblock is not the node's block at its height: ignored");
                return false;
            }
            Err(e) => {
                tracing::warn!(chain = %self.cfg.chain, height, %hash, error = %e, "zmq rawblock not confirmed by the node: reconciling");
                return false;
            }
        }
        let connected = self.fetch_block(height, &hash).and_then(|raw| self.connect(height, &hash, &raw));
        match connected {
            Ok(true) => {
                self.report_ok();
                true
            }
            Ok(false) => false,
            Err(e) => {
                tracing::warn!(chain = %self.cfg.chain, error = %e, "rawblock not connected; reconciling");
                false
            }
        }
    }
}

/// The node as [`fork_point`] asks it, and the chain's header rules.
struct Probe<'a>(&'a dyn BitcoinNode, &'a Rules);

impl ForkProbe for Probe<'_> {
    fn syncing(&self) -> Result<Option<String>, FollowError> {
        Ok(self.0.syncing()?)
    }

    fn hash_at(&self, height: u64) -> Result<Option<String>, FollowError> {
        Ok(Some(self.0.block_hash(height)?))
    }

    fn abandoned(&self, hash: &str) -> Result<bool, FollowError> {
        Ok(self.0.in_best_chain(hash)? == Some(false))
    }

    fn vouch(&self, height: u64, hash: &str) -> Result<(), FollowError> {
        let header = header_of(&self.0.block(hash)?, height, hash)?;
        self.1
            .check_work(&header)
            .map_err(|source| Transient::Invalid { height, hash: hash.to_string(), source }.into())
    }
}

/// The 80-byte header of a raw block.
pub(super) fn header(raw: &[u8], height: u64) -> Result<Header, FollowError> {
    Header::consensus_decode(&mut raw.get(..80).unwrap_or(raw))
        .map_err(|source| Transient::Header { height, source }.into())
}

/// The header of the raw block asked for as `hash`: another block is an error.
pub(super) fn header_of(raw: &[u8], height: u64, hash: &str) -> Result<Header, FollowError> {
    let header = header(raw, height)?;
    let own = header.block_hash().to_string();
    if own != hash {
        return Err(Transient::WrongBlock { height, hash: hash.to_string(), got: own }.into());
    }
    Ok(header)
}
