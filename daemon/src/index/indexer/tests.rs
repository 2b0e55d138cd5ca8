//! The indexer with canned scan replies on a real RocksDB: event sequences for detection,
//! confirmations, reorgs, drops, replacements and restarts.

use super::*;
use crate::db::EventRecord;
use crate::index::WatchSet;
use paywatch_plugin_api::messages::{Hex, OutPoint, WatchedSpend};
use uuid::Uuid;

struct Fixture {
    _dir: tempfile::TempDir,
    db: Arc<Db>,
    set: Arc<WatchSet>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path()).unwrap());
    let set = Arc::new(WatchSet::load(db.clone(), ["btc".to_string()]).unwrap());
    Fixture { _dir: dir, db, set }
}

impl Fixture {
    fn indexer(&self) -> Indexer {
        let chain = self.set.chain("btc").unwrap().clone();
        Indexer::load(
            "btc",
            self.db.clone(),
            chain,
            3,
            [("BTC".to_string(), 8)].into(),
            Arc::new(crate::index::PlainWrites),
        )
        .unwrap()
    }

    fn watch(&self, store: &str, key: &[u8], confirmations: u32) -> Uuid {
        let w = WatchRecord::new(store, "btc", format!("addr-{}", hex::encode(key)), key.to_vec(), confirmations);
        self.db.write_watch(&w).unwrap();
        self.set.insert("btc", key);
        w.id
    }

    /// (type, txid, index, status, confirmations, final) of every event so far.
    fn events(&self, store: &str) -> Vec<(String, String, u64, String, u64, bool)> {
        let evs: Vec<EventRecord> = self.db.store_events(store, 0, 10_000).unwrap();
        evs.into_iter()
            .map(|e| {
                let d = &e.data;
                (
                    e.kind.to_string(),
                    d["txid"].as_str().unwrap().to_string(),
                    d["index"].as_u64().unwrap(),
                    d["status"].as_str().unwrap().to_string(),
                    d["confirmations"].as_u64().unwrap(),
                    d["final"].as_bool().unwrap(),
                )
            })
            .collect()
    }
}

fn pay(key: &[u8], txid: &str, index: u32, sats: u64, spends: &[(&str, u32)]) -> Match {
    Match {
        key: Hex(key.to_vec()),
        asset: "BTC".into(),
        amount_base: sats.to_string(),
        txid: txid.into(),
        index,
        spends: spends.iter().map(|(t, i)| OutPoint { txid: t.to_string(), index: *i }).collect(),
        // Opaque to the indexer: any bytes the plugin chooses (here `TXID:INDEX`).
        outpoint_keys: spends.iter().map(|(t, i)| Hex(format!("{t}:{i}").into_bytes())).collect(),
    }
}

/// A transaction `txid` spending `outpoint`, reported because that outpoint is watched.
fn spend(txid: &str, outpoint: (&str, u32)) -> WatchedSpend {
    let (t, i) = outpoint;
    WatchedSpend {
        txid: txid.into(),
        spends: OutPoint { txid: t.into(), index: i },
        outpoint_key: Hex(format!("{t}:{i}").into_bytes()),
    }
}

fn reply(matches: Vec<Match>) -> ScanReply {
    ScanReply { matches, ..ScanReply::default() }
}

fn ev(kind: &str, txid: &str, status: &str, confs: u64, fin: bool) -> (String, String, u64, String, u64, bool) {
    (kind.into(), txid.into(), 0, status.into(), confs, fin)
}

#[test]
fn mempool_then_blocks_up_to_the_target() {
    let f = fixture();
    f.watch("shop1", b"k1", 3);
    let mut ix = f.indexer();
    ix.start_at(100, "h100", "h99").unwrap();
    ix.mempool_tx(reply(vec![pay(b"k1", "t1", 0, 150_000_000, &[("p", 0)])])).unwrap();
    // Seeing it again (rawtx and the mempool poll) changes nothing.
    ix.mempool_tx(reply(vec![pay(b"k1", "t1", 0, 150_000_000, &[("p", 0)])])).unwrap();
    for h in 101..=105 {
        let m = if h == 101 { vec![pay(b"k1", "t1", 0, 150_000_000, &[("p", 0)])] } else { vec![] };
        ix.connect(h, &format!("h{h}"), &format!("h{}", h - 1), reply(m)).unwrap();
    }
    assert_eq!(
        f.events("shop1"),
        vec![
            ev("payment.detected", "t1", "pending", 0, false),
            ev("payment.confirmed", "t1", "confirmed", 1, false),
            ev("payment.confirmed", "t1", "confirmed", 2, false),
            ev("payment.confirmed", "t1", "confirmed", 3, true),
        ]
    );
    let p = f.db.tx_payments("btc", "t1").unwrap().remove(0);
    assert_eq!((p.amount.as_str(), p.block_height, p.is_final), ("1.5", Some(101), true));
    assert!(ix.live.is_empty());
    // The window keeps reorg_window + 1 blocks.
    assert_eq!(ix.lowest(), Some(102));
}

#[test]
fn first_seen_in_a_block_is_detected_and_confirmed_and_each_watching_store_is_paid() {
    let f = fixture();
    f.watch("shop1", b"k1", 1);
    f.watch("shop2", b"k1", 2);
    let mut ix = f.indexer();
    ix.start_at(0, "h0", "-").unwrap();
    ix.connect(1, "h1", "h0", reply(vec![pay(b"k1", "cb", 0, 5_000_000_000, &[])])).unwrap();
    assert_eq!(
        f.events("shop1"),
        vec![ev("payment.detected", "cb", "confirmed", 1, true), ev("payment.confirmed", "cb", "confirmed", 1, true)]
    );
    assert_eq!(f.events("shop2").len(), 2);
    ix.connect(2, "h2", "h1", reply(vec![])).unwrap();
    assert_eq!(f.events("shop2")[2], ev("payment.confirmed", "cb", "confirmed", 2, true));
    assert_eq!(f.events("shop1").len(), 2, "a final payment gets no more events");
}

#[test]
fn a_disconnected_block_reverses_then_the_tx_comes_back_and_confirms_in_the_new_block() {
    let f = fixture();
    f.watch("shop1", b"k1", 2);
    let mut ix = f.indexer();
    ix.start_at(10, "h10", "h9").unwrap();
    ix.mempool_tx(reply(vec![pay(b"k1", "t1", 0, 1000, &[])])).unwrap();
    ix.connect(11, "h11", "h10", reply(vec![pay(b"k1", "t1", 0, 1000, &[])])).unwrap();
    let tip = ix.disconnect_tip().unwrap();
    assert_eq!(tip, BlockRef { height: 10, hash: "h10".into() });
    ix.mempool_tx(reply(vec![pay(b"k1", "t1", 0, 1000, &[])])).unwrap();
    ix.connect(11, "h11b", "h10", reply(vec![])).unwrap();
    ix.connect(12, "h12b", "h11b", reply(vec![pay(b"k1", "t1", 0, 1000, &[])])).unwrap();
    ix.connect(13, "h13b", "h12b", reply(vec![])).unwrap();
    assert_eq!(
        f.events("shop1"),
        vec![
            ev("payment.detected", "t1", "pending", 0, false),
            ev("payment.confirmed", "t1", "confirmed", 1, false),
            ev("payment.reversed", "t1", "reversed", 0, false),
            ev("payment.detected", "t1", "pending", 0, false),
            ev("payment.confirmed", "t1", "confirmed", 1, false),
            ev("payment.confirmed", "t1", "confirmed", 2, true),
        ]
    );
    let p = f.db.tx_payments("btc", "t1").unwrap().remove(0);
    assert_eq!(p.block_hash.as_deref(), Some("h12b"));
    // A block that does not extend the tip is refused.
    assert!(matches!(ix.connect(20, "x", "y", reply(vec![])), Err(IndexError::NotOnTip { .. })));
}

#[test]
fn final_payments_are_reversed_too_and_the_window_bounds_disconnects() {
    let f = fixture();
    f.watch("shop1", b"k1", 1);
    let mut ix = f.indexer();
    ix.start_at(0, "h0", "-").unwrap();
    ix.connect(1, "h1", "h0", reply(vec![pay(b"k1", "t1", 0, 1000, &[])])).unwrap();
    ix.connect(2, "h2", "h1", reply(vec![])).unwrap();
    ix.disconnect_tip().unwrap();
    ix.disconnect_tip().unwrap();
    assert_eq!(f.events("shop1").last().unwrap(), &ev("payment.reversed", "t1", "reversed", 0, false));
    assert!(matches!(ix.disconnect_tip(), Err(IndexError::WindowExhausted { height: 0 })));
}

#[test]
fn pending_payments_missing_from_the_mempool_are_dropped_and_conflicts_replace_them() {
    let f = fixture();
    f.watch("shop1", b"k1", 1);
    f.watch("shop1", b"k2", 1);
    let mut ix = f.indexer();
    ix.start_at(0, "h0", "-").unwrap();
    ix.mempool_tx(reply(vec![pay(b"k1", "t1", 0, 1000, &[("c", 0)])])).unwrap();
    ix.mempool_tx(reply(vec![pay(b"k2", "t2", 1, 1000, &[("c", 1)])])).unwrap();
    // The host now reports spends of t2's input.
    let chain = f.set.chain("btc").unwrap();
    assert!(chain.is_watched_spend(b"c:1"));
    assert_eq!(ix.pending_txids(), ["t1".to_string(), "t2".to_string()].into());
    // Its own transaction spending it is no replacement; another one is.
    let own = spend("t2", ("c", 1));
    let rbf = spend("t3", ("c", 1));
    ix.mempool_tx(ScanReply { watched_spends: vec![own], ..ScanReply::default() }).unwrap();
    ix.connect(1, "h1", "h0", ScanReply { watched_spends: vec![rbf], ..ScanReply::default() }).unwrap();
    assert!(!chain.is_watched_spend(b"c:1"), "replaced payments stop watching their inputs");
    assert_eq!(ix.drop_missing(&HashSet::new()).unwrap(), 1);
    let kinds: Vec<_> = f.events("shop1").into_iter().map(|e| (e.0, e.1, e.3)).collect();
    assert_eq!(
        kinds,
        vec![
            ("payment.detected".into(), "t1".into(), "pending".into()),
            ("payment.detected".into(), "t2".into(), "pending".into()),
            ("payment.replaced".into(), "t2".into(), "replaced".into()),
            ("payment.dropped".into(), "t1".into(), "dropped".into()),
        ]
    );
    assert_eq!(f.db.tx_payments("btc", "t2").unwrap()[0].replaced_by.as_deref(), Some("t3"));
    // A dropped payment whose tx reappears is pending again.
    ix.mempool_tx(reply(vec![pay(b"k1", "t1", 0, 1000, &[("c", 0)])])).unwrap();
    assert_eq!(f.events("shop1").last().unwrap().0, "payment.detected");
}

#[test]
fn spends_are_matched_by_the_plugins_outpoint_keys_alone() {
    let f = fixture();
    f.watch("shop1", b"k1", 1);
    f.watch("shop1", b"k2", 1);
    let mut ix = f.indexer();
    ix.start_at(0, "h0", "-").unwrap();
    let chain = f.set.chain("btc").unwrap();
    // A plugin that gives no outpoint keys (built before them): its payment is recorded, none
    // of its inputs is watched, and a spend without a key replaces nothing.
    let mut keyless = pay(b"k1", "t1", 0, 1000, &[("c", 0)]);
    keyless.outpoint_keys.clear();
    ix.mempool_tx(reply(vec![keyless])).unwrap();
    assert!(!chain.is_watched_spend(&[]), "nothing to watch");
    let mut old_spend = spend("t9", ("c", 0));
    old_spend.outpoint_key = Hex::default();
    ix.mempool_tx(ScanReply { watched_spends: vec![old_spend], ..ScanReply::default() }).unwrap();
    assert_eq!(ix.pending_txids(), ["t1".to_string()].into());
    // A payment pending since before keys existed learns them when its transaction is scanned
    // again (no event), and from then on its replacement is seen.
    ix.mempool_tx(reply(vec![pay(b"k1", "t1", 0, 1000, &[("c", 0)])])).unwrap();
    assert!(chain.is_watched_spend(b"c:0"));
    assert_eq!(f.db.tx_payments("btc", "t1").unwrap()[0].outpoint_keys, [Hex(b"c:0".to_vec())]);
    // Keys are compared as bytes: the same outpoint under another key is another outpoint.
    let mut other = spend("t9", ("c", 0));
    other.outpoint_key = Hex(b"c:00".to_vec());
    ix.mempool_tx(ScanReply { watched_spends: vec![other], ..ScanReply::default() }).unwrap();
    assert_eq!(ix.pending_txids(), ["t1".to_string()].into());
    ix.mempool_tx(ScanReply { watched_spends: vec![spend("t9", ("c", 0))], ..ScanReply::default() }).unwrap();
    assert!(ix.pending_txids().is_empty());
    assert!(!chain.is_watched_spend(b"c:0"));
    let kinds: Vec<_> = f.events("shop1").into_iter().map(|e| (e.0, e.1)).collect();
    assert_eq!(kinds, [("payment.detected".into(), "t1".into()), ("payment.replaced".into(), "t1".into())]);
}

/// A payment recorded without outpoint keys (an older daemon or plugin) that was dropped, or
/// reversed, learns them when its transaction comes back, so its replacement is seen later.
#[test]
fn a_keyless_payment_learns_its_keys_when_its_transaction_comes_back() {
    let f = fixture();
    f.watch("shop1", b"k1", 2);
    let mut ix = f.indexer();
    ix.start_at(0, "h0", "-").unwrap();
    let chain = f.set.chain("btc").unwrap();
    let mut keyless = pay(b"k1", "t1", 0, 1000, &[("c", 0)]);
    keyless.outpoint_keys.clear();
    ix.mempool_tx(reply(vec![keyless.clone()])).unwrap();
    assert_eq!(ix.drop_missing(&HashSet::new()).unwrap(), 1);
    // Back in a block, then reversed: pending again, watching its input by the plugin's key.
    ix.connect(1, "h1", "h0", reply(vec![pay(b"k1", "t1", 0, 1000, &[("c", 0)])])).unwrap();
    assert_eq!(f.db.tx_payments("btc", "t1").unwrap()[0].outpoint_keys, [Hex(b"c:0".to_vec())]);
    ix.disconnect_tip().unwrap();
    ix.mempool_tx(reply(vec![keyless])).unwrap();
    assert!(chain.is_watched_spend(b"c:0"), "the keys learned in the block are kept");
    ix.mempool_tx(ScanReply { watched_spends: vec![spend("t9", ("c", 0))], ..ScanReply::default() }).unwrap();
    let kinds: Vec<_> = f.events("shop1").into_iter().map(|e| e.0).collect();
    assert_eq!(
        kinds,
        [
            "payment.detected",
            "payment.dropped",
            "payment.detected",
            "payment.confirmed",
            "payment.reversed",
            "payment.detected",
            "payment.replaced"
        ]
    );
}

#[test]
fn a_reloaded_indexer_resumes_where_the_store_is() {
    let f = fixture();
    f.watch("shop1", b"k1", 3);
    {
        let mut ix = f.indexer();
        ix.start_at(0, "h0", "-").unwrap();
        ix.connect(1, "h1", "h0", reply(vec![pay(b"k1", "t1", 0, 1000, &[])])).unwrap();
        ix.mempool_tx(reply(vec![pay(b"k1", "t2", 0, 1000, &[("c", 0)])])).unwrap();
    }
    let mut ix = f.indexer();
    assert_eq!(ix.tip(), Some(BlockRef { height: 1, hash: "h1".into() }));
    assert!(f.set.chain("btc").unwrap().is_watched_spend(b"c:0"));
    ix.connect(2, "h2", "h1", reply(vec![])).unwrap();
    assert_eq!(f.events("shop1").last().unwrap(), &ev("payment.confirmed", "t1", "confirmed", 2, false));
}
