//! The follower on canned chains (bdk's emitter pattern): a fake node serving blocks built with
//! the `bitcoin` crate, a scanner decoding them fully; real indexer and RocksDB.

use super::follower::{Follower, FollowerConfig};
use super::rpc::{BitcoinNode, ChainInfo, RpcError};
use super::Trigger;
use crate::chain::rewind::{rewind_with, ChainReader, RewindError};
use crate::chain::{Fatal, FollowError, NodeTip, Scanner, Transient};
use crate::db::{Db, PaymentStatus, WatchRecord};
use crate::health::Health;
use crate::index::{ChainSet, Indexer, WatchSet};
use crate::plugins::CallError;
use bitcoincore_rpc::bitcoin::{
    absolute::LockTime, block, consensus, hashes::Hash, Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf,
    Sequence, Target, Transaction, TxIn, TxMerkleNode, TxOut, Witness,
};
use paywatch_plugin_api::messages::{Hex, Match, ScanReply};
use paywatch_plugin_api::PluginError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct FakeNode {
    chain: Mutex<Vec<Block>>,
    /// Heights whose blocks the node refuses to serve (pruned).
    pruned_below: Mutex<u64>,
    down: Mutex<bool>,
    /// Transactions in the node's mempool.
    pool: Mutex<Vec<Transaction>>,
    /// Bytes served instead of a block (by hash): a man in the middle on plain-HTTP RPC.
    altered: Mutex<std::collections::HashMap<String, Vec<u8>>>,
    /// The `bits` of blocks mined from now on (default: regtest's limit, 0x207fffff).
    bits: Mutex<Option<u32>>,
    /// A man in the middle answering `getblockhash`/`getbestblockhash` with made-up hashes.
    lying: Mutex<bool>,
    /// What `getblockchaininfo` says of the node's sync.
    syncing: Mutex<Option<String>>,
    /// Blocks the node knows off its best chain (reorganized away, invalidated).
    stale: Mutex<Vec<Block>>,
}

impl FakeNode {
    fn with<R>(&self, f: impl FnOnce(&Vec<Block>) -> R) -> Result<R, RpcError> {
        if *self.down.lock().unwrap() {
            return Err(RpcError::Transport("connection refused".into()));
        }
        Ok(f(&self.chain.lock().unwrap()))
    }

    /// Appends a block whose coinbase pays `script` (a distinct `tag` makes a distinct block).
    fn mine(&self, script: &[u8], tag: u32) {
        let next = self.next_block(script, tag);
        self.chain.lock().unwrap().push(next);
    }

    /// The block [`FakeNode::mine`] would append, without appending it (a forgery's start). Its
    /// header carries regtest proof of work.
    fn next_block(&self, script: &[u8], tag: u32) -> Block {
        let mut b = self.next_block_unmined(script, tag);
        while !b.header.target().is_met_by(b.block_hash()) {
            b.header.nonce += 1;
        }
        b
    }

    /// The next block with a nonce whose hash does not meet its target: no proof of work.
    fn next_block_without_work(&self, script: &[u8], tag: u32) -> Block {
        let mut b = self.next_block_unmined(script, tag);
        while b.header.target().is_met_by(b.block_hash()) {
            b.header.nonce += 1;
        }
        b
    }

    fn next_block_unmined(&self, script: &[u8], tag: u32) -> Block {
        let chain = self.chain.lock().unwrap();
        let prev = chain.last().map_or(BlockHash::all_zeros(), |b| b.block_hash());
        let coinbase = Transaction {
            version: bitcoincore_rpc::bitcoin::transaction::Version::ONE,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig: ScriptBuf::from_bytes(
                    [chain.len() as u32, tag].iter().flat_map(|n| n.to_le_bytes()).collect(),
                ),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(5_000),
                script_pubkey: ScriptBuf::from_bytes(script.to_vec()),
            }],
        };
        let header = block::Header {
            version: block::Version::ONE,
            prev_blockhash: prev,
            merkle_root: TxMerkleNode::from_raw_hash(coinbase.compute_txid().to_raw_hash()),
            time: 1_700_000_000 + chain.len() as u32,
            bits: CompactTarget::from_consensus(self.bits.lock().unwrap().unwrap_or(0x207fffff)),
            nonce: tag,
        };
        Block { header, txdata: vec![coinbase] }
    }

    /// Drops the blocks above `height` from the best chain (the node still knows them, as
    /// after a reorg or `invalidateblock`).
    fn truncate(&self, height: usize) {
        let gone = self.chain.lock().unwrap().split_off(height + 1);
        self.stale.lock().unwrap().extend(gone);
    }

    /// The node as restarted from an older copy of its datadir: its top `n` blocks are gone
    /// (returned, to give back as it catches up).
    fn lose_top(&self, n: usize) -> Vec<Block> {
        let mut chain = self.chain.lock().unwrap();
        let keep = chain.len() - n;
        chain.split_off(keep)
    }

    fn catch_up(&self, blocks: Vec<Block>) {
        self.chain.lock().unwrap().extend(blocks);
    }
}

impl BitcoinNode for FakeNode {
    fn best_block_hash(&self) -> Result<String, RpcError> {
        if *self.lying.lock().unwrap() {
            return Ok("66".repeat(32));
        }
        self.with(|c| c.last().unwrap().block_hash().to_string())
    }
    fn block_count(&self) -> Result<u64, RpcError> {
        self.with(|c| c.len() as u64 - 1)
    }
    fn block_hash(&self, height: u64) -> Result<String, RpcError> {
        if *self.lying.lock().unwrap() {
            return Ok(format!("{height:064x}"));
        }
        self.with(|c| c.get(height as usize).map(|b| b.block_hash().to_string()))?.ok_or(RpcError::Node {
            method: "getblockhash",
            code: -8,
            message: "Block height out of range".into(),
        })
    }
    fn block(&self, hash: &str) -> Result<Vec<u8>, RpcError> {
        if *self.lying.lock().unwrap() {
            return Err(RpcError::Node { method: "getblock", code: -5, message: "Block not found".into() });
        }
        if let Some(bytes) = self.altered.lock().unwrap().get(hash) {
            return Ok(bytes.clone());
        }
        let pruned = *self.pruned_below.lock().unwrap();
        self.with(|c| {
            let (h, b) = c.iter().enumerate().find(|(_, b)| b.block_hash().to_string() == hash).expect("known hash");
            if (h as u64) < pruned {
                return Err(RpcError::Node {
                    method: "getblock",
                    code: -1,
                    message: "Block not available (pruned data)".into(),
                });
            }
            Ok(consensus::serialize(b))
        })?
    }
    fn mempool(&self) -> Result<Vec<String>, RpcError> {
        self.with(|_| self.pool.lock().unwrap().iter().map(|t| t.compute_txid().to_string()).collect())
    }
    fn syncing(&self) -> Result<Option<String>, RpcError> {
        self.with(|_| self.syncing.lock().unwrap().clone())
    }
    fn in_best_chain(&self, hash: &str) -> Result<Option<bool>, RpcError> {
        let is = |b: &Block| b.block_hash().to_string() == hash;
        let stale = self.stale.lock().unwrap().iter().any(is);
        self.with(|c| if c.iter().any(is) { Some(true) } else { stale.then_some(false) })
    }
    fn in_mempool(&self, txid: &str) -> Result<bool, RpcError> {
        self.with(|_| self.pool.lock().unwrap().iter().any(|t| t.compute_txid().to_string() == txid))
    }
    /// Any transaction of the chain (as a node with `txindex`).
    fn transaction(&self, txid: &str) -> Result<Option<Vec<u8>>, RpcError> {
        let pool = self.pool.lock().unwrap().clone();
        self.with(|c| {
            let mut txs = c.iter().flat_map(|b| &b.txdata).chain(&pool);
            txs.find(|t| t.compute_txid().to_string() == txid).map(consensus::serialize)
        })
    }
}

/// The node as `paywatch chain rewind` reads it.
impl ChainReader for FakeNode {
    fn check(&self) -> Result<(), FollowError> {
        Ok(())
    }
    fn tip(&self) -> Result<NodeTip, FollowError> {
        let height = self.block_count()?;
        Ok(NodeTip { height, hash: self.block_hash(height)? })
    }
    fn hash_at(&self, height: u64) -> Result<Option<String>, FollowError> {
        Ok(self.with(|c| c.get(height as usize).map(|b| b.block_hash().to_string()))?)
    }
    fn parent_of(&self, height: u64, _: &str) -> Result<String, FollowError> {
        Ok(self.with(|c| c[height as usize].header.prev_blockhash.to_string())?)
    }
}

/// Decodes the whole block and asks the chain's watch set about every output; with `true`, it
/// reports the block's merkle root as a plugin does (else the follower computes it).
struct FullDecode(Arc<ChainSet>, bool);

impl Scanner for FullDecode {
    fn scan(&self, what: u32, raw: &[u8]) -> Result<ScanReply, CallError> {
        let bad = |e: consensus::encode::Error| CallError::Plugin {
            plugin: "full-decode".into(),
            method: "scan".into(),
            error: PluginError::invalid_input(e.to_string()),
        };
        let mut out = ScanReply::default();
        let txdata = match what {
            paywatch_plugin_api::abi::SCAN_TX => vec![consensus::deserialize::<Transaction>(raw).map_err(bad)?],
            _ => {
                let block = consensus::deserialize::<Block>(raw).map_err(bad)?;
                if self.1 {
                    out.merkle_root = block.compute_merkle_root().map(|r| r.to_string());
                }
                block.txdata
            }
        };
        for tx in &txdata {
            for (i, o) in tx.output.iter().enumerate() {
                if self.0.is_watched(o.script_pubkey.as_bytes()) {
                    out.matches.push(Match {
                        key: Hex(o.script_pubkey.to_bytes()),
                        asset: "BTC".into(),
                        amount_base: o.value.to_sat().to_string(),
                        txid: tx.compute_txid().to_string(),
                        index: i as u32,
                        spends: Vec::new(),
                        outpoint_keys: Vec::new(),
                    });
                }
            }
        }
        Ok(out)
    }
}

struct Rig {
    _dir: tempfile::TempDir,
    db: Arc<Db>,
    set: Arc<ChainSet>,
    node: Arc<FakeNode>,
    cfg: FollowerConfig,
    health: Arc<Health>,
    follower: Follower,
}

const WATCHED: &[u8] = b"\x51\x20watched-script-of-thirty-two-b";

fn rig(window: u32, start_height: Option<u64>) -> Rig {
    rig_with(window, start_height, false)
}

fn rig_with(window: u32, start_height: Option<u64>, reports_root: bool) -> Rig {
    rig_scanners(window, start_height, reports_root, Vec::new())
}

/// A rig whose follower has `extra` scanners after the full decoder.
fn rig_scanners(window: u32, start_height: Option<u64>, reports_root: bool, extra: Vec<Arc<dyn Scanner>>) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path()).unwrap());
    let set = Arc::new(WatchSet::load(db.clone(), ["btc".to_string()]).unwrap());
    db.write_watch(&WatchRecord::new("shop1", "btc", "a".into(), WATCHED.to_vec(), 2)).unwrap();
    set.insert("btc", WATCHED);
    let chain = set.chain("btc").unwrap().clone();
    let indexer = Indexer::load(
        "btc",
        db.clone(),
        chain.clone(),
        window,
        [("BTC".into(), 8)].into(),
        Arc::new(crate::index::PlainWrites),
    )
    .unwrap();
    let node = Arc::new(FakeNode::default());
    for i in 0..5 {
        node.mine(b"\x00\x14other", i);
    }
    let genesis = node.block_hash(0).unwrap();
    let cfg = FollowerConfig {
        chain: "btc".into(),
        reorg_window: window,
        start_height,
        poll: Duration::from_secs(1),
        genesis,
        genesis_from: "network = \"regtest\"".into(),
        rules: super::verify::Rules::network(bitcoincore_rpc::bitcoin::Network::Regtest),
    };
    let health = Arc::new(Health::new());
    let mut scanners: Vec<Arc<dyn Scanner>> = vec![Arc::new(FullDecode(chain.clone(), reports_root))];
    scanners.extend(extra);
    let follower = Follower::new(cfg.clone(), node.clone(), indexer, scanners, health.clone());
    Rig { _dir: dir, db, set: chain, node, cfg, health, follower }
}

impl Rig {
    /// The chain's indexer as loaded from the store (a restarted daemon, an offline command).
    fn indexer(&self, window: u32) -> Indexer {
        let hook = Arc::new(crate::index::PlainWrites);
        Indexer::load("btc", self.db.clone(), self.set.clone(), window, [("BTC".into(), 8)].into(), hook).unwrap()
    }

    /// A follower made from the store, as a restarted daemon makes it.
    fn restarted(&self, window: u32) -> Follower {
        let mut cfg = self.cfg.clone();
        cfg.reorg_window = window;
        let scanners: Vec<Arc<dyn Scanner>> = vec![Arc::new(FullDecode(self.set.clone(), false))];
        Follower::new(cfg, self.node.clone(), self.indexer(window), scanners, self.health.clone())
    }

    fn kinds(&self) -> Vec<String> {
        self.db.store_events("shop1", 0, 1000).unwrap().into_iter().map(|e| e.kind.to_string()).collect()
    }
}

#[test]
fn catches_up_from_start_height_and_follows_a_reorg_by_hash() {
    let mut r = rig(10, Some(2));
    r.node.mine(WATCHED, 0); // height 5
    r.node.mine(b"x", 0);
    r.follower.sync().unwrap();
    assert_eq!(r.kinds(), ["payment.detected", "payment.confirmed", "payment.confirmed"]);
    // Replace heights 5.. with a longer branch that pays at 6 instead.
    r.node.truncate(4);
    r.node.mine(b"y", 1);
    r.node.mine(WATCHED, 1);
    r.node.mine(b"z", 1);
    r.follower.sync().unwrap();
    assert_eq!(r.kinds()[3..], ["payment.reversed", "payment.detected", "payment.confirmed", "payment.confirmed"]);
    let best = r.node.best_block_hash().unwrap();
    assert_eq!(r.follower_tip(), (7, best));
    // Heights 2..=6, then 5 and 6 disconnected and 5..=7 connected: tip 7, 8 connected, 2
    // disconnected, a reorg 2 deep.
    assert_eq!(r.follower.metrics().snapshot(), (7, 8, 2, 2));
}

impl Rig {
    fn follower_tip(&self) -> (u64, String) {
        let b = self.db.blocks("btc").unwrap();
        let (h, rec) = b.last().unwrap();
        (*h, rec.hash.clone())
    }
}

/// A node on another network than the config says (a regtest node configured as mainnet:
/// scriptPubKeys are the same on every network) stops the chain before anything is indexed.
#[test]
fn a_node_on_another_network_is_refused_before_anything_is_indexed() {
    let mut r = rig(10, Some(1));
    r.follower.cfg_mut().genesis = super::network_genesis(crate::config::BitcoinNetwork::Mainnet);
    r.follower.cfg_mut().genesis_from = "network = \"mainnet\"".into();
    r.node.mine(WATCHED, 0);
    let e = r.follower.sync().unwrap_err();
    assert!(matches!(&e, FollowError::Fatal(Fatal::OtherNetwork { .. })), "{e}");
    let text = e.to_string();
    let node_genesis = r.node.block_hash(0).unwrap();
    assert!(text.contains(&node_genesis) && text.contains("network = \"mainnet\""), "{text}");
    assert!(text.contains("000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"), "{text}");
    assert!(r.kinds().is_empty() && r.db.blocks("btc").unwrap().is_empty(), "nothing indexed");
}

#[test]
fn each_network_expects_its_genesis_block() {
    use crate::config::BitcoinNetwork as N;
    for (n, hash) in [
        (N::Mainnet, "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"),
        (N::Testnet, "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943"),
        (N::Testnet4, "00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043"),
        (N::Signet, "00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6"),
        (N::Regtest, "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"),
    ] {
        assert_eq!(super::network_genesis(n), hash, "{n:?}");
    }
}

/// ZMQ is unauthenticated: a forged `rawblock` on our tip (its coinbase paying a watched
/// script) and a forged `rawtx` are ignored; a genuine header with other transactions connects
/// the node's copy of the block.
#[test]
fn zmq_blocks_and_transactions_are_only_hints() {
    let mut r = rig(10, None);
    r.follower.sync().unwrap();
    let forged = r.node.next_block(WATCHED, 666);
    assert!(!r.follower.on_raw_block(&consensus::serialize(&forged)), "the node has no block there");
    let forged_tx = consensus::serialize(&forged.txdata[0]);
    r.follower.on_raw_tx(&forged_tx);
    assert!(
        r.kinds().is_empty()
            && r.db.tx_payments("btc", &forged.txdata[0].compute_txid().to_string()).unwrap().is_empty()
    );
    // The node mines a block paying the watched script; ZMQ sends its header with a forged
    // coinbase paying it ten times as much: the node's copy is what gets connected.
    r.node.mine(WATCHED, 7);
    let genuine = r.node.chain.lock().unwrap().last().unwrap().clone();
    let mut substituted = genuine.clone();
    substituted.txdata[0].output[0].value = Amount::from_sat(50_000);
    assert!(r.follower.on_raw_block(&consensus::serialize(&substituted)));
    let paid = r.db.tx_payments("btc", &genuine.txdata[0].compute_txid().to_string()).unwrap();
    assert_eq!(paid.len(), 1);
    assert_eq!(paid[0].amount_base, "5000", "the node's block, not the feed's");
    assert!(r.db.tx_payments("btc", &substituted.txdata[0].compute_txid().to_string()).unwrap().is_empty());
    // A transaction in the node's mempool is recorded from the feed at once.
    let mut pending = r.node.next_block(WATCHED, 9).txdata[0].clone();
    pending.output[0].value = Amount::from_sat(7_000);
    r.node.pool.lock().unwrap().push(pending.clone());
    let before = r.kinds().len();
    r.follower.on_raw_tx(&consensus::serialize(&pending));
    assert_eq!(r.kinds()[before..], ["payment.detected"]);
    let paid = r.db.tx_payments("btc", &pending.compute_txid().to_string()).unwrap();
    assert_eq!(paid[0].status, PaymentStatus::Pending);
    // One the node serves only from a block (txindex; bitcoind also publishes rawtx for block
    // transactions, and a publisher could replay a reorganized-out one) is left to the block.
    r.node.mine(WATCHED, 8);
    let next = r.node.chain.lock().unwrap().last().unwrap().txdata[0].clone();
    let before = r.kinds().len();
    r.follower.on_raw_tx(&consensus::serialize(&next));
    assert_eq!(r.kinds().len(), before, "not recorded from the feed");
    assert!(r.db.tx_payments("btc", &next.compute_txid().to_string()).unwrap().is_empty());
    r.follower.sync().unwrap();
    let paid = r.db.tx_payments("btc", &next.compute_txid().to_string()).unwrap();
    assert_eq!(paid[0].status, PaymentStatus::Confirmed, "recorded when its block connects");
    let still = r.db.tx_payments("btc", &pending.compute_txid().to_string()).unwrap();
    assert_eq!(still[0].status, PaymentStatus::Pending, "still in the mempool");
}

/// A real header with other transactions (a man in the middle on plain-HTTP RPC) is refused by
/// its merkle root, whether the scanner reports the root or the follower computes it; nothing
/// of it is recorded, and the intact block connects once it is served.
#[test]
fn a_block_whose_transactions_were_altered_is_refused_until_served_intact() {
    for reports_root in [false, true] {
        let mut r = rig_with(10, None, reports_root);
        r.follower.sync().unwrap();
        r.node.mine(b"\x00\x14other", 9);
        let genuine = r.node.chain.lock().unwrap().last().unwrap().clone();
        let mut altered = genuine.clone();
        altered.txdata[0].output[0].script_pubkey = ScriptBuf::from_bytes(WATCHED.to_vec());
        let hash = genuine.block_hash().to_string();
        r.node.altered.lock().unwrap().insert(hash.clone(), consensus::serialize(&altered));
        let e = r.follower.sync().unwrap_err();
        let FollowError::Transient(Transient::Invalid { height: 5, hash: h, source: super::Invalid::Merkle { .. } }) =
            &e
        else {
            panic!("reports_root {reports_root}: {e:?}")
        };
        assert_eq!(*h, hash);
        assert!(e.to_string().contains("altered"), "{e}");
        assert!(r.kinds().is_empty(), "nothing recorded from the altered block");
        assert_eq!(r.follower_tip().0, 4);
        r.node.altered.lock().unwrap().clear();
        r.follower.sync().unwrap();
        assert_eq!(r.follower_tip(), (5, hash));
        assert!(r.kinds().is_empty(), "the genuine block pays nothing watched");
    }
}

/// A block whose hash does not meet its own target is refused, even when the node vouches
/// for it (RPC tampered with, or a node that does not validate).
#[test]
fn a_block_without_proof_of_work_is_refused() {
    let mut r = rig(10, None);
    r.follower.sync().unwrap();
    let lazy = r.node.next_block_without_work(WATCHED, 3);
    r.node.chain.lock().unwrap().push(lazy.clone());
    let e = r.follower.sync().unwrap_err();
    assert!(
        matches!(&e, FollowError::Transient(Transient::Invalid { source: super::Invalid::NoWork { .. }, .. })),
        "{e:?}"
    );
    assert!(e.to_string().contains(&lazy.block_hash().to_string()), "{e}");
    assert!(r.kinds().is_empty() && r.follower_tip().0 == 4);
}

#[test]
fn a_reorg_deeper_than_the_window_stops_loudly() {
    let mut r = rig(2, None);
    r.follower.sync().unwrap();
    r.node.mine(b"a", 0);
    r.node.mine(b"b", 0);
    r.node.mine(b"c", 0);
    r.follower.sync().unwrap();
    r.node.truncate(3);
    for i in 0..6 {
        r.node.mine(b"d", 10 + i);
    }
    let e = r.follower.sync().unwrap_err();
    assert!(matches!(&e, FollowError::Fatal(Fatal::DeepReorg { window: 2, .. })), "{e}");
    assert!(e.to_string().contains("deeper than the reorg window"), "{e}");
    assert!(e.to_string().contains("paywatch chain rewind --chain btc"), "the way out is named: {e}");
}

/// A window of 2 and a followed chain to height 9 with payments at 5 (A) and 7 (B).
fn two_payments_below_a_window_of_two() -> Rig {
    let mut r = rig(2, None);
    r.follower.sync().unwrap();
    r.node.mine(WATCHED, 0); // 5: payment A
    r.node.mine(b"x", 0); // 6
    r.node.mine(WATCHED, 1); // 7: payment B
    r.node.mine(b"x", 1); // 8
    r.node.mine(b"x", 2); // 9
    r.follower.sync().unwrap();
    r
}

/// A reorg deeper than the window, rewound offline: the highest block known to be the node's
/// (here the block of an older payment, below the window) becomes the cursor; only what left
/// the node's chain is reversed, and the follower made from the store then follows the node.
#[test]
fn a_deep_reorg_is_rewound_to_the_highest_block_known_to_be_the_nodes() {
    let mut r = two_payments_below_a_window_of_two();
    let txid = |h: usize| r.node.chain.lock().unwrap()[h].txdata[0].compute_txid().to_string();
    let (a, b) = (txid(5), txid(7));
    r.node.truncate(6);
    for i in 0..4 {
        r.node.mine(b"y", 10 + i); // 7'..10'
    }
    assert!(matches!(r.follower.sync(), Err(FollowError::Fatal(Fatal::DeepReorg { .. }))));
    let before = r.kinds();
    let blocks = r.db.blocks("btc").unwrap();

    // A dry run changes nothing and says what it would do.
    let mut indexer = r.indexer(2);
    let report = rewind_with(&*r.node, &mut indexer, &r.db, None, false).unwrap().to_string();
    assert!(!report.contains("applied"), "{report}");
    assert!(
        report.contains(&format!("highest block known to be in the node's chain: 5 {}", r.node.block_hash(5).unwrap()))
    );
    assert!(report.contains(&format!("(the block of payment {a}:0)")), "{report}");
    assert!(
        report.contains("payments to reverse (confirmed in a block the node's chain does not hold): 1"),
        "{report}"
    );
    assert!(report.contains(&format!("  {b}:0 store shop1 0.00005 BTC at height 7 in block")), "{report}");
    assert!(report.contains("dry run: nothing was changed; run again with --yes to apply"), "{report}");
    assert_eq!((r.kinds(), r.db.blocks("btc").unwrap()), (before.clone(), blocks));
    // Not above the highest block known to be common; lower keeps what is the node's.
    let e = rewind_with(&*r.node, &mut indexer, &r.db, Some(6), false).unwrap_err();
    assert!(matches!(e, RewindError::AboveCommon { height: 6, common: 5, .. }), "{e}");
    let lower = rewind_with(&*r.node, &mut indexer, &r.db, Some(4), false).unwrap().to_string();
    assert!(lower.contains("confirmed payments above 4 kept (their blocks are the node's): 1"), "{lower}");

    let report = rewind_with(&*r.node, &mut indexer, &r.db, None, true).unwrap();
    assert!(report.applied());
    assert!(report.to_string().ends_with("applied: 1 payments reversed (payment.reversed events written, their invoices re-evaluated); start paywatch to follow the node from 6"));
    drop(indexer);
    assert_eq!(r.kinds()[before.len()..], ["payment.reversed"]);
    let reversed = r.db.tx_payments("btc", &b).unwrap().remove(0);
    assert_eq!((reversed.status, reversed.block_hash), (PaymentStatus::Reversed, None));
    let kept = r.db.tx_payments("btc", &a).unwrap().remove(0);
    assert_eq!((kept.status, kept.block_height), (PaymentStatus::Confirmed, Some(5)));
    assert_eq!(
        r.db.blocks("btc").unwrap().iter().map(|(h, b)| (*h, b.hash.clone())).collect::<Vec<_>>(),
        [(5, r.node.block_hash(5).unwrap())]
    );

    let mut follower = r.restarted(2);
    follower.sync().unwrap();
    assert_eq!(r.kinds()[before.len()..], ["payment.reversed"], "the node's chain pays nothing more");
    assert_eq!(r.follower_tip(), (10, r.node.best_block_hash().unwrap()));
    let e = rewind_with(&*r.node, &mut r.indexer(2), &r.db, None, false).unwrap_err();
    assert!(matches!(e, RewindError::NothingToRewind { tip: 10, .. }), "{e}");
}

/// Attack review (issue 14): `--height` below the common block keeps the confirmed payments
/// between (their blocks are the node's), and the restarted follower connects those blocks
/// again. `connect` skips a payment already confirmed in the block it connects ("already
/// counted") without putting it in the block's undo, so when that block later leaves the
/// chain in an ordinary reorg the payment is never reversed: it stays confirmed (and keeps
/// gaining confirmations) for a transaction the node's chain no longer holds.
#[test]
fn a_payment_kept_by_a_lower_rewind_is_reversed_when_its_block_later_leaves_the_chain() {
    let mut r = two_payments_below_a_window_of_two();
    let a = r.node.chain.lock().unwrap()[5].txdata[0].compute_txid().to_string();
    r.node.truncate(6);
    for i in 0..4 {
        r.node.mine(b"y", 10 + i); // 7'..10'
    }
    assert!(matches!(r.follower.sync(), Err(FollowError::Fatal(Fatal::DeepReorg { .. }))));
    // Rewound lower than the common block (5): A, at 5, is kept.
    let report = rewind_with(&*r.node, &mut r.indexer(2), &r.db, Some(4), true).unwrap();
    assert!(report.to_string().contains("confirmed payments above 4 kept (their blocks are the node's): 1"));
    // Restarted with a window that holds the rescanned blocks: 5..10 connected again.
    let mut follower = r.restarted(10);
    follower.sync().unwrap();
    assert_eq!(r.db.tx_payments("btc", &a).unwrap()[0].status, PaymentStatus::Confirmed);
    // An ordinary reorg, within the window, replaces block 5 and everything above it.
    r.node.truncate(4);
    for i in 0..8 {
        r.node.mine(b"z", 20 + i);
    }
    follower.sync().unwrap();
    let p = r.db.tx_payments("btc", &a).unwrap().remove(0);
    assert_eq!(
        (p.status, p.block_hash.is_some()),
        (PaymentStatus::Reversed, false),
        "payment A's block left the chain; still counted: {p:?}"
    );
}

/// A node restarted from an older copy of its datadir is behind our tip on our own chain: the
/// follower waits (no reversal), follows it again once it caught up, and reverses only when
/// the node's chain really holds another block at a height we hold.
#[test]
fn a_node_behind_us_is_waited_for_and_only_a_real_reorg_reverses() {
    let mut r = rig(10, None);
    r.follower.sync().unwrap();
    r.node.mine(b"a", 0); // 5
    r.node.mine(WATCHED, 0); // 6
    r.node.mine(b"b", 0); // 7
    r.follower.sync().unwrap();
    let paid = ["payment.detected", "payment.confirmed", "payment.confirmed"];
    assert_eq!(r.kinds(), paid);
    let ours = r.follower_tip();

    let lost = r.node.lose_top(2); // the node is at 5, our block
    r.follower.sync().unwrap();
    assert_eq!(r.kinds(), paid, "nothing reversed");
    assert_eq!(r.follower_tip(), ours);
    let detail = r.follower.ok_detail().unwrap();
    assert!(detail.contains("waiting for the node (2 blocks behind, on this chain)"), "{detail}");
    r.node.catch_up(lost);
    r.follower.sync().unwrap();
    assert_eq!(r.kinds(), paid);
    assert!(!r.follower.ok_detail().unwrap().contains("waiting"));

    // Behind again, then the node mines another block 6: its chain replaces ours from 6 up.
    let lost = r.node.lose_top(2);
    r.node.mine(b"c", 1);
    r.follower.sync().unwrap();
    assert_eq!(r.kinds()[3..], ["payment.reversed"]);
    assert_eq!(r.follower_tip(), (6, r.node.best_block_hash().unwrap()));

    // A node that knows our blocks and has them off its best chain (invalidateblock) is no
    // laggard: they are disconnected at once, without waiting for a replacement.
    r.node.truncate(5);
    r.node.catch_up(lost);
    r.follower.sync().unwrap();
    assert_eq!(r.kinds()[4..], ["payment.detected", "payment.confirmed", "payment.confirmed"]);
    r.node.truncate(5);
    r.follower.sync().unwrap();
    assert_eq!(r.kinds()[7..], ["payment.reversed"]);
    assert_eq!(r.follower_tip(), (5, r.node.best_block_hash().unwrap()));
}

/// A node more than the window behind, or one that says it is syncing, is waited for
/// (`Transient`: `degraded`, retried), never fatal, and followed again once it caught up.
#[test]
fn a_node_far_behind_or_syncing_is_degraded_never_fatal_and_resumes() {
    let mut r = rig(2, None);
    r.follower.sync().unwrap();
    for i in 0..5 {
        r.node.mine(if i == 1 { WATCHED } else { b"x" }, i);
    }
    r.follower.sync().unwrap(); // tip 9, payment at 6
    let before = r.kinds();

    let mut lost = r.node.lose_top(5); // the node is at 4
    let e = r.follower.sync().unwrap_err();
    assert!(matches!(&e, FollowError::Transient(Transient::NodeSyncing { behind: 5, tip: 9, .. })), "{e}");
    assert_eq!(
        e.to_string(),
        "node syncing, 5 blocks behind our tip 9 (more than reorg_window = 2 behind: its chain cannot be compared with ours yet)"
    );
    // Within the window, but in initial block download: still waited for.
    r.node.catch_up(lost.drain(..4).collect());
    *r.node.syncing.lock().unwrap() = Some("initial block download, at height 8 of 9".into());
    let e = r.follower.sync().unwrap_err();
    assert_eq!(e.to_string(), "node syncing, 1 blocks behind our tip 9 (initial block download, at height 8 of 9)");
    // While it syncs, another block at a height we hold is not acted on either.
    r.node.mine(b"other", 99);
    assert!(matches!(r.follower.sync(), Err(FollowError::Transient(Transient::NodeSyncing { behind: 0, .. }))));
    assert_eq!(r.kinds(), before, "nothing reversed while the node syncs");
    r.node.lose_top(1);
    *r.node.syncing.lock().unwrap() = None;
    r.follower.sync().unwrap();
    r.node.catch_up(lost);
    r.follower.sync().unwrap();
    assert_eq!(r.kinds(), before);
    assert_eq!(r.follower_tip(), (9, r.node.best_block_hash().unwrap()));
}

#[test]
fn getblockchaininfo_says_the_node_syncs_only_by_initialblockdownload() {
    let info = |v: serde_json::Value| serde_json::from_value::<ChainInfo>(v).unwrap().syncing();
    let core = serde_json::json!({"chain": "main", "blocks": 10, "headers": 900, "initialblockdownload": true});
    assert_eq!(info(core).as_deref(), Some("initial block download, at height 10 of 900"));
    let done = serde_json::json!({"blocks": 10, "headers": 10, "initialblockdownload": false});
    assert_eq!(info(done), None);
    // Bitcoin SV's node has no initialblockdownload, and its headers stay ahead of its blocks
    // after invalidateblock: never syncing.
    assert_eq!(info(serde_json::json!({"blocks": 5, "headers": 5})), None);
    assert_eq!(info(serde_json::json!({"blocks": 5, "headers": 6})), None);
}

/// Panics once, on its first scan.
struct PanicOnce(FullDecode, std::sync::atomic::AtomicBool);

impl Scanner for PanicOnce {
    fn scan(&self, what: u32, raw: &[u8]) -> Result<ScanReply, CallError> {
        if !self.1.swap(true, std::sync::atomic::Ordering::Relaxed) {
            panic!("a bug in the follower");
        }
        self.0.scan(what, raw)
    }
}

/// The follower thread as `start` runs it: a panic is `down` in `/health` with its message,
/// then the follower is made again from the store and follows on; `Stop` ends it.
#[test]
fn a_follower_that_panics_is_down_then_restarted_from_the_store() {
    let r = rig(10, None);
    let (tx, rx) = crossbeam_channel::unbounded();
    let scanner: Arc<dyn Scanner> =
        Arc::new(PanicOnce(FullDecode(r.set.clone(), false), std::sync::atomic::AtomicBool::new(false)));
    let (db, set, node, cfg, health) = (r.db.clone(), r.set.clone(), r.node.clone(), r.cfg.clone(), r.health.clone());
    let load = move || {
        let hook = Arc::new(crate::index::PlainWrites);
        Indexer::load("btc", db.clone(), set.clone(), 10, [("BTC".into(), 8)].into(), hook)
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let thread = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let attempt = || {
                let mut f = Follower::new(cfg.clone(), node.clone(), load()?, vec![scanner.clone()], health.clone());
                f.run(&rx)
            };
            let pause = |d| {
                seen.lock().unwrap().push(health.report().chains["btc"].clone());
                super::super::supervise::pause(&rx, d, |t| matches!(t, Trigger::Stop))
            };
            let metrics = crate::metrics::ChainMetrics::detached();
            super::super::supervise::supervise("btc", &health, &metrics, attempt, pause);
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while r.db.blocks("btc").unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "never started: {:?}", r.health.report());
        std::thread::sleep(Duration::from_millis(20));
    }
    r.node.mine(WATCHED, 1); // its first scan: the panic
    tx.send(Trigger::Reconcile("test")).unwrap();
    while r.kinds().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "never resumed: {:?}", r.health.report());
        std::thread::sleep(Duration::from_millis(20));
    }
    tx.send(Trigger::Stop).unwrap();
    thread.join().unwrap();
    assert_eq!(r.kinds(), ["payment.detected", "payment.confirmed"]);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].status, crate::health::Status::Down);
    assert_eq!(seen[0].detail, "follower panicked: a bug in the follower; restarting in 1s");
    assert_eq!(r.health.report().chains["btc"].status, crate::health::Status::Ok);
}

#[test]
fn a_pruned_block_is_a_fatal_error_naming_its_height_and_an_absent_node_is_transient() {
    let mut r = rig(10, Some(1));
    *r.node.down.lock().unwrap() = true;
    assert!(
        matches!(r.follower.sync(), Err(FollowError::Transient(Transient::Rpc(e))) if e.to_string().contains("unreachable"))
    );
    *r.node.down.lock().unwrap() = false;
    *r.node.pruned_below.lock().unwrap() = 3;
    let e = r.follower.sync().unwrap_err();
    assert!(matches!(&e, FollowError::Fatal(Fatal::BlockUnavailable { height: 0 | 3, .. })), "{e}");
    assert!(e.to_string().contains("block 0 ") || e.to_string().contains("block 3 "), "{e}");
    assert!(e.to_string().contains("pruned"), "{e}");
    assert!(r.db.tx_payments("btc", "x").unwrap().is_empty());
}

#[derive(Debug, Clone)]
enum Op {
    Mine {
        pay: bool,
    },
    /// Replace the top `depth` blocks with `depth + extra` new ones; `pays` picks which pay.
    Reorg {
        depth: usize,
        extra: usize,
        pays: u8,
    },
    Sync,
    /// The node loses its top `depth` blocks (an older copy of its datadir) and gets them back.
    Lag {
        depth: usize,
    },
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        3 => any::<bool>().prop_map(|pay| Op::Mine { pay }),
        1 => (1usize..=3, 0usize..=2, any::<u8>()).prop_map(|(depth, extra, pays)| Op::Reorg { depth, extra, pays }),
        2 => Just(Op::Sync),
        1 => (1usize..=3).prop_map(|depth| Op::Lag { depth }),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Random mining, reorgs, syncs and lagging nodes (waited for: no event); the stored payments and their event history must agree
    /// with a naive reading of the node's final chain: a coinbase paying the watched script in
    /// the best chain at height h is confirmed in that block with min(tip − h + 1, 2)
    /// confirmations (the watch's target is 2), final once 2 are reached; one that left the best
    /// chain is reversed (or was never seen).
    #[test]
    fn payments_agree_with_the_final_chain(ops in proptest::collection::vec(op(), 1..40)) {
        let mut r = rig(10, Some(1));
        let mut tag = 100;
        let mut paid: Vec<String> = Vec::new();
        let mine = |node: &FakeNode, pay: bool, tag: &mut u32, paid: &mut Vec<String>| {
            *tag += 1;
            node.mine(if pay { WATCHED } else { b"nope" }, *tag);
            if pay {
                let txid = node.chain.lock().unwrap().last().unwrap().txdata[0].compute_txid().to_string();
                paid.push(txid);
            }
        };
        for op in ops {
            match op {
                Op::Mine { pay } => mine(&r.node, pay, &mut tag, &mut paid),
                Op::Reorg { depth, extra, pays } => {
                    let len = r.node.chain.lock().unwrap().len();
                    let depth = depth.min(len - 1);
                    r.node.truncate(len - 1 - depth);
                    for i in 0..depth + extra {
                        mine(&r.node, pays & (1 << i) != 0, &mut tag, &mut paid);
                    }
                }
                Op::Sync => r.follower.sync().unwrap(),
                Op::Lag { depth } => {
                    r.follower.sync().unwrap();
                    let before = r.kinds();
                    let len = r.node.chain.lock().unwrap().len();
                    let lost = r.node.lose_top(depth.min(len - 1));
                    r.follower.sync().unwrap();
                    proptest::prop_assert_eq!(r.kinds(), before, "a node behind us changed payments");
                    r.node.catch_up(lost);
                }
            }
        }
        r.follower.sync().unwrap();

        let chain = r.node.chain.lock().unwrap().clone();
        let tip = chain.len() as u64 - 1;
        let events = r.db.store_events("shop1", 0, 100_000).unwrap();
        for txid in &paid {
            let stored = r.db.tx_payments("btc", txid).unwrap();
            let in_chain = chain.iter().enumerate().find(|(_, b)| b.txdata[0].compute_txid().to_string() == *txid);
            match in_chain {
                Some((h, b)) if h >= 1 => {
                    let p = &stored[0];
                    let confs = (tip - h as u64 + 1).min(2) as u32;
                    proptest::prop_assert_eq!(p.status, PaymentStatus::Confirmed);
                    proptest::prop_assert_eq!(p.block_hash.clone(), Some(b.block_hash().to_string()));
                    proptest::prop_assert_eq!(p.block_height, Some(h as u64));
                    proptest::prop_assert_eq!(p.confirmations, confs);
                    proptest::prop_assert_eq!(p.is_final, confs >= 2);
                }
                _ => {
                    if let Some(p) = stored.first() {
                        proptest::prop_assert_eq!(p.status, PaymentStatus::Reversed);
                        proptest::prop_assert_eq!(p.block_hash.clone(), None);
                    }
                }
            }
            // Its events: detected once, first; confirmation counts rise between reversals;
            // the last event carries the stored state.
            let mine: Vec<_> = events.iter().filter(|e| e.data["txid"] == txid.as_str()).collect();
            if let Some(p) = stored.first() {
                proptest::prop_assert_eq!(mine[0].kind.as_str(), "payment.detected");
                proptest::prop_assert_eq!(mine.iter().filter(|e| e.kind == "payment.detected").count(), 1);
                let mut last = 0;
                for e in &mine[1..] {
                    match e.kind.as_str() {
                        "payment.confirmed" => {
                            let c = e.data["confirmations"].as_u64().unwrap();
                            proptest::prop_assert!(c > last, "confirmations went {} -> {}", last, c);
                            last = c;
                        }
                        "payment.reversed" => last = 0,
                        other => proptest::prop_assert!(false, "unexpected {}", other),
                    }
                }
                proptest::prop_assert_eq!(&mine.last().unwrap().data, &crate::events::views::sorted(&crate::events::views::payment(p)));
            } else {
                proptest::prop_assert!(mine.is_empty());
            }
        }
    }
}

// ---- Attack review (issue 14): what a man in the middle on plain-HTTP RPC can still do. ----

/// A scanner that reports a fixed merkle root for every block (a plugin whose walk of the bytes
/// disagrees with the header), and matches nothing.
struct ReportsRoot(String);

impl Scanner for ReportsRoot {
    fn scan(&self, what: u32, _raw: &[u8]) -> Result<ScanReply, CallError> {
        let mut out = ScanReply::default();
        if what == paywatch_plugin_api::abi::SCAN_BLOCK {
            out.merkle_root = Some(self.0.clone());
        }
        Ok(out)
    }
}

/// Proof of work is checked against the network's *limit* only, never against the chain: on
/// mainnet the limit is difficulty 1 (0x1d00ffff, about 2^32 double SHA-256, seconds on a GPU,
/// well under a second on one ASIC), so a man in the middle who answers getbestblockhash,
/// getblockcount, getblockhash and getblock forges whole blocks on our tip (their coinbase
/// paying an invoice), as many as the invoice's confirmations need. Here, at cheap difficulty:
/// the honest chain carries bits 0x2000ffff (256 hashes a block), the forged block on top claims
/// the limit 0x207fffff (2 hashes) at a height that is no retarget boundary. Bitcoin Core would
/// refuse it (bad-diffbits); the follower must too.
#[test]
fn a_block_claiming_less_work_than_its_parent_off_a_retarget_is_refused() {
    let mut r = rig(10, None);
    // The honest chain at a harder difficulty than the limit, from height 1 on.
    r.node.truncate(0);
    *r.node.bits.lock().unwrap() = Some(0x2000_ffff);
    for i in 0..4 {
        r.node.mine(b"\x00\x14other", 20 + i);
    }
    r.follower.sync().unwrap();
    assert_eq!(r.follower_tip().0, 4);
    // The man in the middle's block: parent = our tip, coinbase paying the watched script,
    // proof of work for the network's limit only.
    *r.node.bits.lock().unwrap() = Some(0x207f_ffff);
    r.node.mine(WATCHED, 666);
    let forged = r.node.chain.lock().unwrap().last().unwrap().clone();
    assert!(forged.header.target() > Target::from_compact(CompactTarget::from_consensus(0x2000_ffff)));
    let outcome = r.follower.sync();
    let credited = r.db.tx_payments("btc", &forged.txdata[0].compute_txid().to_string()).unwrap();
    assert!(
        outcome.is_err() && credited.is_empty(),
        "a block with 1/128 of its parent's work was connected ({outcome:?}) and credited: {credited:?}; events {:?}",
        r.kinds()
    );
}

/// A man in the middle answering getblockhash and getbestblockhash with made-up hashes (no
/// block, no work behind them) makes the follower declare a reorg deeper than the window, which
/// is fatal: the chain stops for good, and stays stopped once the man in the middle is gone (an
/// operator must restart the daemon). The claimed chain cannot even be fetched: it is a
/// transient failure (degraded, retried), not a deep reorg.
#[test]
fn made_up_hashes_from_rpc_do_not_stop_the_chain_for_good() {
    let mut r = rig(10, None);
    r.follower.sync().unwrap();
    *r.node.lying.lock().unwrap() = true;
    let e = r.follower.sync().unwrap_err();
    assert!(matches!(e, FollowError::Transient(_)), "unverified hashes made the chain stop for good: {e}");
}

/// The currency plugin's merkle root (`ScanReply.merkle_root`) is dropped by `scan_all`, so the
/// follower always decodes the block a second time to compute the root itself (the slow
/// fallback the docs say is only for plugins that do not report one), and a plugin whose walk
/// disagrees with the header goes unnoticed. A scanner reporting a root that is not the
/// header's must make the block refused, as docs/following.md says.
#[test]
fn a_reported_merkle_root_that_is_not_the_headers_is_refused() {
    let bogus = TxMerkleNode::all_zeros().to_string();
    let scanners: Vec<Arc<dyn Scanner>> = vec![Arc::new(ReportsRoot(bogus.clone()))];
    let reply = crate::chain::scan_all(&scanners, paywatch_plugin_api::abi::SCAN_BLOCK, &[]).unwrap();
    assert_eq!(reply.merkle_root, Some(bogus.clone()), "scan_all dropped the plugin's root");
    // In the follower: an intact block, a second scanner whose walk does not give its root.
    let mut r = rig_scanners(10, None, false, vec![Arc::new(ReportsRoot(bogus))]);
    r.follower.sync().unwrap();
    r.node.mine(b"\x00\x14other", 9);
    let e = r.follower.sync().unwrap_err();
    assert!(matches!(&e, FollowError::Transient(Transient::Invalid { .. })), "{e:?}");
}

/// Two scanners of one chain (two assets) that report different roots for one block: at most
/// one of them walked the header's transactions. Whichever way `scan_all` combines them, the
/// block must be refused, never connected on the first or last root.
#[test]
fn scanners_that_disagree_on_the_merkle_root_do_not_let_a_block_through() {
    let r = rig_with(10, None, true);
    let block = r.node.chain.lock().unwrap()[1].clone();
    let raw = consensus::serialize(&block);
    let good = block.header.merkle_root.to_string();
    let bad = TxMerkleNode::all_zeros().to_string();
    for order in [[good.clone(), bad.clone()], [bad.clone(), good.clone()]] {
        let scanners: Vec<Arc<dyn Scanner>> =
            order.iter().map(|root| Arc::new(ReportsRoot(root.clone())) as Arc<dyn Scanner>).collect();
        let reply = crate::chain::scan_all(&scanners, paywatch_plugin_api::abi::SCAN_BLOCK, &raw);
        let verdict = reply.map(|reply| super::verify::check_merkle(&block.header, &raw, reply.merkle_root.as_deref()));
        assert!(
            !matches!(verdict, Ok(Ok(()))),
            "roots {order:?}: the block passed although one scanner's root is not the header's"
        );
    }
}

/// A node that is behind us (restarted with -reindex, resyncing from scratch, a load balancer
/// switching to a fresh backend) answers getblockcount with a low height: the fork search starts
/// there, finds no recorded block and calls it a reorg deeper than the window, which is fatal.
/// Nothing reorganized: the node only has to catch up (issue 14: "degraded, never fatal").
#[test]
fn a_node_far_behind_us_is_not_a_deep_reorg() {
    let mut r = rig(3, Some(1));
    for i in 0..6 {
        r.node.mine(b"\x00\x14other", 30 + i);
    }
    r.follower.sync().unwrap();
    assert_eq!(r.follower_tip().0, 10);
    // The node restarts with -reindex: it knows its genesis and one block so far.
    r.node.truncate(1);
    let e = r.follower.sync().unwrap_err();
    assert!(matches!(e, FollowError::Transient(_)), "a node catching up stopped the chain for good: {e}");
}
