//! The follower against canned chains: catch-up, reorgs by parent hash, the reorg window, a
//! node that is away or serves another chain.

use super::follower::{Follower, FollowerConfig, TokenAsset};
use super::node::{EvmNode, HeadRef, NodeError};
use crate::chain::{Fatal, FollowError, Scanner, Transient};
use crate::db::{Db, PaymentStatus, WatchRecord};
use crate::health::Health;
use crate::index::{ChainSet, Indexer, WatchSet};
use crate::plugins::CallError;
use paywatch_plugin_api::evm::{Block, BlockView, Tx};
use paywatch_plugin_api::messages::{Hex, Match, ScanReply};
use paywatch_plugin_api::PluginError;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WATCHED: [u8; 20] = [0xaa; 20];
const TOKEN: &str = "0xdAC17F958D2ee523a2206206994597C13D831ec7";

#[derive(Default)]
struct FakeNode {
    chain: Mutex<Vec<Block>>,
    down: AtomicBool,
    chain_id: u64,
    /// What `eth_syncing` says.
    syncing: Mutex<Option<String>>,
    /// Blocks the node knows off its best chain.
    stale: Mutex<Vec<Block>>,
    /// When set, `header(n)` answers from a lagging backend behind a load balancer that only
    /// has blocks up to this height (`head()` and `blocks()` still reach the synced one).
    lagging_headers: Mutex<Option<u64>>,
}

impl FakeNode {
    fn new() -> Self {
        let node = Self { chain_id: 31337, ..Self::default() };
        for i in 0..5 {
            node.mine(&[], i);
        }
        node
    }

    /// Appends a block paying `wei` to the watched address for each entry (a distinct `tag`
    /// makes a distinct block).
    fn mine(&self, pays: &[(u8, u64)], tag: u32) {
        let mut chain = self.chain.lock().unwrap();
        let number = chain.len() as u64;
        let parent = chain.last().map_or([0; 32], |b| b.hash);
        let hash: [u8; 32] = Sha256::digest([&number.to_be_bytes()[..], &tag.to_be_bytes(), &parent].concat()).into();
        let txs = pays
            .iter()
            .map(|&(id, wei)| {
                let mut value = [0u8; 32];
                value[24..].copy_from_slice(&wei.to_be_bytes());
                Tx { hash: [id; 32], from: [1; 20], to: Some(WATCHED), value, success: true }
            })
            .collect();
        chain.push(Block {
            number,
            timestamp: 1_700_000_000 + number,
            hash,
            parent,
            txs,
            logs: Vec::new(),
            internal: Vec::new(),
        });
    }

    /// Drops the blocks above `height` from the best chain (the node still knows them).
    fn truncate(&self, height: u64) {
        let gone = self.chain.lock().unwrap().split_off(height as usize + 1);
        self.stale.lock().unwrap().extend(gone);
    }

    /// The node as restarted from an older copy of its data: its top `n` blocks are gone
    /// (returned, to give back as it catches up).
    fn lose_top(&self, n: usize) -> Vec<Block> {
        let mut chain = self.chain.lock().unwrap();
        let keep = chain.len() - n;
        chain.split_off(keep)
    }

    fn up(&self) -> Result<std::sync::MutexGuard<'_, Vec<Block>>, NodeError> {
        match self.down.load(Ordering::Relaxed) {
            true => Err(NodeError("connection refused".into())),
            false => Ok(self.chain.lock().unwrap()),
        }
    }
}

fn head_ref(b: &Block) -> HeadRef {
    HeadRef {
        number: b.number,
        hash: format!("0x{}", hex::encode(b.hash)),
        parent: format!("0x{}", hex::encode(b.parent)),
    }
}

impl EvmNode for FakeNode {
    fn chain_id(&self) -> Result<u64, NodeError> {
        self.up().map(|_| self.chain_id)
    }
    fn head(&self) -> Result<HeadRef, NodeError> {
        Ok(head_ref(self.up()?.last().unwrap()))
    }
    fn header(&self, number: u64) -> Result<Option<HeadRef>, NodeError> {
        if self.lagging_headers.lock().unwrap().is_some_and(|top| number > top) {
            return Ok(None);
        }
        Ok(self.up()?.get(number as usize).map(head_ref))
    }
    fn block_by_hash(&self, hash: &str) -> Result<Option<HeadRef>, NodeError> {
        let stale = self.stale.lock().unwrap().clone();
        let chain = self.up()?;
        Ok(chain.iter().chain(&stale).map(head_ref).find(|b| b.hash == hash))
    }
    fn token_decimals(&self, contract: &str) -> Result<Option<u8>, NodeError> {
        self.up().map(|_| (contract == TOKEN).then_some(6))
    }
    fn syncing(&self) -> Result<Option<String>, NodeError> {
        self.up().map(|_| self.syncing.lock().unwrap().clone())
    }
    fn blocks(&self, from: u64, to: u64) -> Result<Vec<Block>, NodeError> {
        let chain = self.up()?;
        (from..=to)
            .map(|n| chain.get(n as usize).cloned().ok_or_else(|| NodeError(format!("the node has no block {n}"))))
            .collect()
    }
}

/// What the `ethereum` plugin does, over the daemon's watch set.
struct NativeScan(Arc<ChainSet>);

impl Scanner for NativeScan {
    fn scan(&self, _: u32, raw: &[u8]) -> Result<ScanReply, CallError> {
        let block = BlockView::parse(raw).map_err(|e| CallError::Plugin {
            plugin: "native-scan".into(),
            method: "scan_block".into(),
            error: PluginError::invalid_input(e.to_string()),
        })?;
        let mut out = ScanReply::default();
        for tx in block.txs().filter(|t| t.success()) {
            if let Some(to) = tx.to().filter(|to| self.0.is_watched(*to)) {
                out.matches.push(Match {
                    key: Hex(to.to_vec()),
                    asset: "ETH".into(),
                    amount_base: paywatch_plugin_api::evm::u256_to_decimal(tx.value()),
                    txid: format!("0x{}", hex::encode(tx.hash())),
                    index: u32::MAX,
                    spends: Vec::new(),
                    outpoint_keys: Vec::new(),
                });
            }
        }
        Ok(out)
    }
}

struct Rig {
    _dir: tempfile::TempDir,
    db: Arc<Db>,
    node: Arc<FakeNode>,
    follower: Follower,
}

fn rig(window: u32, start_height: Option<u64>, chain_id: u64) -> Rig {
    rig_with(window, start_height, chain_id, Vec::new())
}

fn rig_with(window: u32, start_height: Option<u64>, chain_id: u64, tokens: Vec<TokenAsset>) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path()).unwrap());
    let set = Arc::new(WatchSet::load(db.clone(), ["eth".to_string()]).unwrap());
    db.write_watch(&WatchRecord::new("shop1", "eth", "0xaa".into(), WATCHED.to_vec(), 3)).unwrap();
    set.insert("eth", &WATCHED);
    let chain = set.chain("eth").unwrap().clone();
    let hook = Arc::new(crate::index::PlainWrites);
    let indexer = Indexer::load("eth", db.clone(), chain.clone(), window, [("ETH".into(), 18)].into(), hook).unwrap();
    let node = Arc::new(FakeNode::new());
    let cfg = FollowerConfig {
        chain: "eth".into(),
        chain_id,
        reorg_window: window,
        start_height,
        poll: Duration::from_secs(1),
        tokens,
    };
    let scanners: Vec<Arc<dyn Scanner>> = vec![Arc::new(NativeScan(chain))];
    let follower = Follower::new(cfg, node.clone(), indexer, scanners, Arc::new(Health::new()), Default::default());
    Rig { _dir: dir, db, node, follower }
}

impl Rig {
    fn kinds(&self) -> Vec<String> {
        self.db.store_events("shop1", 0, 1000).unwrap().into_iter().map(|e| e.kind.to_string()).collect()
    }

    fn payment(&self, id: u8) -> crate::db::PaymentRecord {
        let txid = format!("0x{}", hex::encode([id; 32]));
        self.db.tx_payments("eth", &txid).unwrap().pop().expect("payment stored")
    }
}

#[test]
fn catches_up_from_start_height_and_counts_confirmations() {
    let mut r = rig(10, Some(3), 31337);
    r.node.mine(&[(7, 1_000)], 0);
    r.node.mine(&[], 0);
    r.follower.sync().unwrap();
    let p = r.payment(7);
    assert_eq!((p.status, p.confirmations, p.amount.as_str()), (PaymentStatus::Confirmed, 2, "0.000000000000001"));
    assert_eq!(p.block_height, Some(5));
    r.node.mine(&[], 0);
    r.follower.sync().unwrap();
    assert!(r.payment(7).is_final);
    assert_eq!(r.kinds(), ["payment.detected", "payment.confirmed", "payment.confirmed", "payment.confirmed"]);
    r.follower.sync().unwrap();
    assert_eq!(r.kinds().len(), 4, "a sync with nothing new adds nothing");
}

#[test]
fn a_replaced_block_reverses_and_the_replacement_pays_again() {
    let mut r = rig(10, None, 31337);
    r.follower.sync().unwrap();
    r.node.mine(&[(7, 5)], 0);
    r.follower.sync().unwrap();
    let first = r.payment(7).block_hash;
    // The payment's block is replaced by one without it, then by one with it (a new hash).
    r.node.truncate(4);
    r.node.mine(&[], 1);
    r.follower.sync().unwrap();
    assert_eq!(r.payment(7).status, PaymentStatus::Reversed);
    r.node.truncate(4);
    r.node.mine(&[], 2);
    r.node.mine(&[(7, 5)], 2);
    r.follower.sync().unwrap();
    let p = r.payment(7);
    assert_eq!((p.status, p.block_height), (PaymentStatus::Confirmed, Some(6)));
    assert_ne!(p.block_hash, first);
    assert_eq!(
        r.kinds(),
        ["payment.detected", "payment.confirmed", "payment.reversed", "payment.detected", "payment.confirmed"]
    );
    // Block 5, its replacement, then 5 and 6 again: tip 6, 4 connected, 2 disconnected by two
    // reorgs 1 deep.
    assert_eq!(r.follower.metrics().snapshot(), (6, 4, 2, 1));
}

#[test]
fn a_reorg_deeper_than_the_window_stops_the_chain() {
    let mut r = rig(3, None, 31337);
    r.follower.sync().unwrap();
    for i in 0..5 {
        r.node.mine(&[], i);
    }
    r.follower.sync().unwrap();
    r.node.truncate(4);
    for i in 0..6 {
        r.node.mine(&[], 100 + i);
    }
    match r.follower.sync() {
        Err(FollowError::Fatal(e @ Fatal::DeepReorg { .. })) => {
            assert!(e.to_string().contains("reorg deeper than the reorg window (3 blocks)"), "{e}");
            assert!(e.to_string().contains("paywatch chain rewind --chain eth"), "the way out is named: {e}");
        }
        other => panic!("expected a fatal error, got {other:?}"),
    }
}

#[test]
fn a_node_away_is_transient_and_another_chain_is_fatal() {
    let mut r = rig(10, None, 31337);
    r.node.down.store(true, Ordering::Relaxed);
    assert!(
        matches!(r.follower.sync(), Err(FollowError::Transient(Transient::Node(e))) if e.to_string().contains("connection refused"))
    );
    r.node.down.store(false, Ordering::Relaxed);
    r.follower.sync().unwrap();

    let mut r = rig(10, None, 1);
    match r.follower.sync() {
        Err(FollowError::Fatal(e @ Fatal::ChainId { node: 31337, config: 1 })) => {
            assert!(e.to_string().contains("chain id 31337, the config says 1"), "{e}")
        }
        other => panic!("expected a fatal error, got {other:?}"),
    }
}

#[test]
fn token_decimals_that_disagree_with_the_contract_stop_the_chain() {
    let token = |decimals, contract: &str| TokenAsset { asset: "USDT".into(), contract: contract.into(), decimals };
    rig_with(10, None, 31337, vec![token(6, TOKEN)]).follower.sync().unwrap();
    // No decimals() to ask: a warning, not a stop.
    rig_with(10, None, 31337, vec![token(18, "0x0000000000000000000000000000000000000001")]).follower.sync().unwrap();
    match rig_with(10, None, 31337, vec![token(18, TOKEN)]).follower.sync() {
        Err(FollowError::Fatal(e @ Fatal::TokenDecimals { contract_decimals: 6, config: 18, .. })) => {
            assert!(e.to_string().contains("says decimals() = 6, the config says 18"), "{e}")
        }
        other => panic!("expected a fatal error, got {other:?}"),
    }
}

/// A node behind our head on our own chain (a load balancer switching to a lagging backend)
/// is waited for; only another block at a height we hold reverses.
#[test]
fn a_node_behind_us_is_waited_for_and_only_a_real_reorg_reverses() {
    let mut r = rig(10, None, 31337);
    r.follower.sync().unwrap();
    r.node.mine(&[(7, 5)], 0); // 5
    r.node.mine(&[], 0); // 6
    r.follower.sync().unwrap();
    let paid = r.kinds();
    assert_eq!(paid, ["payment.detected", "payment.confirmed", "payment.confirmed"]);
    let lost = r.node.lose_top(2);
    r.follower.sync().unwrap();
    assert_eq!(r.kinds(), paid, "nothing reversed");
    let detail = r.follower.ok_detail().unwrap();
    assert!(detail.contains("waiting for the node (2 blocks behind, on this chain)"), "{detail}");
    r.node.chain.lock().unwrap().extend(lost);
    r.follower.sync().unwrap();
    assert_eq!(r.kinds(), paid);
    // The lagging backend mines another block 5: its chain replaces ours from 5.
    r.node.lose_top(2);
    r.node.mine(&[], 1);
    r.follower.sync().unwrap();
    assert_eq!(r.kinds()[3..], ["payment.reversed"]);
    assert_eq!(r.payment(7).status, PaymentStatus::Reversed);
    // A node that knows our head but has it off its best chain: disconnected at once.
    r.node.mine(&[(8, 5)], 2);
    r.follower.sync().unwrap();
    assert_eq!(r.kinds()[4..], ["payment.detected", "payment.confirmed"]);
    r.node.truncate(5);
    r.follower.sync().unwrap();
    assert_eq!(r.kinds()[6..], ["payment.reversed"]);
    assert_eq!(r.payment(8).status, PaymentStatus::Reversed);
}

/// Attack review (issue 14): an RPC endpoint behind a load balancer (the usual hosted EVM RPC)
/// whose `eth_getBlockByNumber` reaches a backend a few blocks behind while `eth_blockNumber` /
/// the head reached a synced one. The lagging backend answers `null` at heights the head says
/// exist: that is no block of another chain at a height we hold, yet `fork_point` walks past the
/// `null`s to the lagging backend's top, disconnects our blocks above it (payment.reversed for
/// a payment nothing reversed) and connects them again (payment.detected a second time).
#[test]
fn a_lagging_backend_answering_null_below_the_head_reverses_nothing() {
    let mut r = rig(10, None, 31337);
    r.follower.sync().unwrap(); // tip 4
    r.node.mine(&[(7, 5)], 0); // 5
    r.node.mine(&[], 0); // 6
    r.follower.sync().unwrap();
    let paid = r.kinds();
    assert_eq!(paid, ["payment.detected", "payment.confirmed", "payment.confirmed"]);
    r.node.mine(&[], 0); // 7
    r.node.mine(&[], 0); // 8: the head's parent is not our tip, so the fork is looked for
    *r.node.lagging_headers.lock().unwrap() = Some(4);
    let _ = r.follower.sync();
    assert!(
        !r.kinds().iter().any(|k| k == "payment.reversed"),
        "nothing was reversed on the chain, got {:?}",
        &r.kinds()[paid.len()..]
    );
    assert_eq!(r.payment(7).status, PaymentStatus::Confirmed);
}

/// Attack review (issue 14): the same lagging backend more than the window behind answers
/// `null` all the way down the window: no block of the node's was ever seen where the chains
/// would part (nothing to vouch for), yet the chain is stopped for good as a deep reorg.
#[test]
fn a_lagging_backend_answering_null_down_the_window_is_not_a_deep_reorg() {
    let mut r = rig(3, None, 31337);
    r.follower.sync().unwrap();
    for i in 0..5 {
        r.node.mine(&[], i);
    }
    r.follower.sync().unwrap(); // tip 9
    r.node.mine(&[], 0);
    r.node.mine(&[], 0); // head 11
    *r.node.lagging_headers.lock().unwrap() = Some(2);
    match r.follower.sync() {
        Err(FollowError::Fatal(e)) => panic!("a lagging backend stopped the chain for good: {e}"),
        other => assert!(matches!(other, Err(FollowError::Transient(_))), "{other:?}"),
    }
}

/// More than the window behind, or `eth_syncing`: `degraded` (transient), never fatal; followed
/// again once the node caught up.
#[test]
fn a_node_far_behind_or_syncing_is_degraded_never_fatal_and_resumes() {
    let mut r = rig(2, None, 31337);
    r.follower.sync().unwrap();
    for i in 0..5 {
        r.node.mine(&[], i);
    }
    r.follower.sync().unwrap(); // head 9
    let mut lost = r.node.lose_top(5);
    let e = r.follower.sync().unwrap_err();
    assert!(matches!(&e, FollowError::Transient(Transient::NodeSyncing { behind: 5, tip: 9, .. })), "{e}");
    assert!(e.to_string().starts_with("node syncing, 5 blocks behind our tip 9 (more than reorg_window = 2"), "{e}");
    r.node.chain.lock().unwrap().extend(lost.drain(..4));
    *r.node.syncing.lock().unwrap() = Some("eth_syncing: at block 8 of 9".into());
    let e = r.follower.sync().unwrap_err();
    assert_eq!(e.to_string(), "node syncing, 1 blocks behind our tip 9 (eth_syncing: at block 8 of 9)");
    *r.node.syncing.lock().unwrap() = None;
    r.node.chain.lock().unwrap().extend(lost);
    r.follower.sync().unwrap();
    assert!(r.kinds().is_empty());
}

#[test]
fn eth_syncing_is_false_or_the_progress() {
    use super::node::syncing_of;
    use serde_json::json;
    assert_eq!(syncing_of(&json!(false)).unwrap(), None);
    let progress = json!({"startingBlock": "0x0", "currentBlock": "0x10", "highestBlock": "0x20"});
    assert_eq!(syncing_of(&progress).unwrap().as_deref(), Some("eth_syncing: at block 16 of 32"));
    assert_eq!(
        syncing_of(&json!({"stage": "headers"})).unwrap().as_deref(),
        Some("eth_syncing: {\"stage\":\"headers\"}")
    );
    assert!(syncing_of(&json!(true)).unwrap_err().0.contains("unexpected reply true"));
}
