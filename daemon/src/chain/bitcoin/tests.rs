//! The follower on canned chains (bdk's emitter pattern): a fake node serving blocks built with
//! the `bitcoin` crate, a scanner decoding them fully; real indexer and RocksDB.

use super::follower::{Follower, FollowerConfig};
use super::rpc::{BitcoinNode, RpcError};
use crate::chain::{Fatal, FollowError, Scanner, Transient};
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
    /// Bytes served instead of a block (by hash): a man in the middle on plain-HTTP RPC.
    altered: Mutex<std::collections::HashMap<String, Vec<u8>>>,
    /// The `bits` of blocks mined from now on (default: regtest's limit, 0x207fffff).
    bits: Mutex<Option<u32>>,
    /// A man in the middle answering `getblockhash`/`getbestblockhash` with made-up hashes.
    lying: Mutex<bool>,
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

    fn truncate(&self, height: usize) {
        self.chain.lock().unwrap().truncate(height + 1);
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
        self.with(|_| Vec::new())
    }
    /// Any transaction of the chain (as a node with `txindex`).
    fn transaction(&self, txid: &str) -> Result<Option<Vec<u8>>, RpcError> {
        self.with(|c| {
            let mut txs = c.iter().flat_map(|b| &b.txdata);
            txs.find(|t| t.compute_txid().to_string() == txid).map(consensus::serialize)
        })
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
    node: Arc<FakeNode>,
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
    let mut scanners: Vec<Arc<dyn Scanner>> = vec![Arc::new(FullDecode(chain, reports_root))];
    scanners.extend(extra);
    let follower = Follower::new(cfg, node.clone(), indexer, scanners, Arc::new(Health::new()));
    Rig { _dir: dir, db, node, follower }
}

impl Rig {
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
    // A transaction the node holds is recorded from the feed at once (here: in a block the
    // follower has not connected yet, as bitcoind publishes rawtx for block transactions).
    r.node.mine(WATCHED, 8);
    let next = r.node.chain.lock().unwrap().last().unwrap().txdata[0].clone();
    let before = r.kinds().len();
    r.follower.on_raw_tx(&consensus::serialize(&next));
    assert_eq!(r.kinds()[before..], ["payment.detected"]);
    assert_eq!(r.db.tx_payments("btc", &next.compute_txid().to_string()).unwrap()[0].status, PaymentStatus::Pending);
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
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        3 => any::<bool>().prop_map(|pay| Op::Mine { pay }),
        1 => (1usize..=3, 0usize..=2, any::<u8>()).prop_map(|(depth, extra, pays)| Op::Reorg { depth, extra, pays }),
        2 => Just(Op::Sync),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Random mining, reorgs and syncs; the stored payments and their event history must agree
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
