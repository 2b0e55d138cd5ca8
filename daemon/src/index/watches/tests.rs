//! The per-store watch quota over a real database: refusals, restarts, concurrent creates, and
//! the watches invoices and refunds stage and unstage.

use super::*;
use crate::config::ChainKind;
use crate::index::placeholder_codec;
use std::path::Path;

fn open(dir: &Path, max: u64) -> Watches {
    let db = Arc::new(Db::open(dir).unwrap());
    let set = Arc::new(WatchSet::load(db.clone(), ["eth".to_string()]).unwrap());
    let chains =
        vec![ChainWatches { name: "eth".into(), codec: placeholder_codec(ChainKind::Evm), default_confirmations: 1 }];
    Watches::new(db, set, chains, HashMap::from([("a".into(), max), ("b".into(), max)])).unwrap()
}

fn address() -> String {
    format!("0x{}", hex::encode(rand::random::<[u8; 20]>()))
}

fn new(n: usize) -> Vec<NewWatch> {
    (0..n).map(|_| NewWatch { chain: "eth".into(), address: address(), label: None, confirmations: None }).collect()
}

fn stored(w: &Watches, store: &str) -> usize {
    w.list(store, None, usize::MAX).unwrap().len()
}

fn record(store: &str) -> WatchRecord {
    let a = address();
    let key = hex::decode(&a[2..]).unwrap();
    WatchRecord::new(store, "eth", a, key, 1)
}

#[test]
fn a_store_at_its_quota_is_refused_whole_batches_included_and_the_other_store_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let w = open(dir.path(), 3);
    w.create("a", new(2)).unwrap();
    let err = w.create("a", new(2)).unwrap_err();
    assert!(matches!(err, WatchError::Quota { max: 3, have: 2, asked: 2, .. }), "{err}");
    assert!(err.to_string().contains("max_watches = 3"), "{err}");
    assert_eq!((w.count("a"), stored(&w, "a")), (2, 2), "a refused batch writes none of it");
    let last = w.create("a", new(1)).unwrap().remove(0);
    assert!(matches!(w.create("a", new(1)), Err(WatchError::Quota { .. })));
    assert_eq!(w.create("b", new(3)).unwrap().len(), 3, "the other store has its own quota");
    // A delete makes room; deleting it again frees nothing more.
    assert!(w.delete("a", last.id).unwrap());
    assert!(!w.delete("a", last.id).unwrap());
    assert_eq!((w.count("a"), stored(&w, "a")), (2, 2));
    // A create refused for another reason (a duplicate) gives its places back.
    let existing = w.list("a", None, 1).unwrap().remove(0).address;
    let twice = NewWatch { chain: "eth".into(), address: existing, label: None, confirmations: None };
    assert!(matches!(w.create("a", vec![twice]), Err(WatchError::Duplicate { .. })));
    assert_eq!((w.count("a"), stored(&w, "a")), (2, 2));
    w.create("a", new(1)).unwrap();
}

#[test]
fn the_count_is_read_from_the_store_at_start() {
    let dir = tempfile::tempdir().unwrap();
    {
        let w = open(dir.path(), 10);
        w.create("a", new(4)).unwrap();
        w.create("b", new(1)).unwrap();
        let gone = w.create("a", new(1)).unwrap().remove(0);
        w.delete("a", gone.id).unwrap();
    }
    let w = open(dir.path(), 5);
    assert_eq!((w.count("a"), w.count("b")), (4, 1));
    w.create("a", new(1)).unwrap();
    assert!(matches!(w.create("a", new(1)), Err(WatchError::Quota { max: 5, have: 5, .. })));
    // A quota lowered below what a store has: nothing is deleted, nothing more is made.
    drop(w);
    let w = open(dir.path(), 2);
    assert_eq!((w.count("a"), stored(&w, "a")), (5, 5));
    assert!(matches!(w.create("a", new(1)), Err(WatchError::Quota { max: 2, have: 5, .. })));
}

#[test]
fn staged_watches_hold_their_place_until_committed_or_dropped_and_unstaged_ones_free_it() {
    let dir = tempfile::tempdir().unwrap();
    let w = open(dir.path(), 2);
    let db = w.inner.db.clone();
    // Dropped unwritten (an invoice refused after its address was staged): the place is back.
    {
        let mut batch = db.batch();
        let _staged = w.stage(&mut batch, &record("a"), true).unwrap();
        assert_eq!(w.count("a"), 1);
    }
    assert_eq!(w.count("a"), 0);
    let mut kept = Vec::new();
    for _ in 0..2 {
        let r = record("a");
        let mut batch = db.batch();
        let staged = w.stage(&mut batch, &r, true).unwrap();
        db.write(batch).unwrap();
        staged.commit();
        kept.push(r);
    }
    let mut batch = db.batch();
    let err = w.stage(&mut batch, &record("a"), false).map(|_| ()).unwrap_err();
    assert!(matches!(err, WatchError::Quota { max: 2, have: 2, asked: 1, .. }), "{err}");
    drop(batch);
    // Unstaged (an unpaid invoice's address back to its pool): free once written.
    let mut batch = db.batch();
    let unstaged = w.unstage(&mut batch, &kept[0]);
    assert_eq!(w.count("a"), 2, "not before the batch is written");
    db.write(batch).unwrap();
    unstaged.commit();
    assert_eq!((w.count("a"), stored(&w, "a")), (1, 1));
}

#[test]
fn concurrent_creates_never_pass_the_quota() {
    let dir = tempfile::tempdir().unwrap();
    let w = open(dir.path(), 50);
    let made = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..10 {
                    match w.create("a", new(1)) {
                        Ok(_) => _ = made.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                        Err(WatchError::Quota { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            });
        }
    });
    assert_eq!((made.into_inner(), w.count("a"), stored(&w, "a")), (50, 50, 50));
    drop(w);
    let w = open(dir.path(), 50);
    assert_eq!(w.count("a"), 50);
}
