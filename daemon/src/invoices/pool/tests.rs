//! Address pools over the real RocksDB with a scripted receive source: a source's addresses
//! are `{name}{index}`, and what the store watches is a set the test keeps.

use super::*;
use std::cell::RefCell;
use std::collections::HashSet;

struct Scripted {
    name: &'static str,
    /// A list source's length.
    len: Option<u32>,
    watched: RefCell<HashSet<Vec<u8>>>,
}

impl Scripted {
    fn new(name: &'static str) -> Self {
        Self { name, len: None, watched: RefCell::default() }
    }
}

impl Source for Scripted {
    fn at(&self, index: u32) -> Result<Option<(String, Vec<u8>)>, InvoiceError> {
        if self.len.is_some_and(|n| index >= n) {
            return Ok(None);
        }
        Ok(Some(self.parse(&format!("{}{index}", self.name))?))
    }

    fn parse(&self, address: &str) -> Result<(String, Vec<u8>), InvoiceError> {
        Ok((address.to_string(), address.as_bytes().to_vec()))
    }

    fn watched(&self, key: &[u8]) -> Result<bool, InvoiceError> {
        Ok(self.watched.borrow().contains(key))
    }
}

const STORE: (&str, &str) = ("shop", "BTC");

fn xpub(s: &str) -> ReceiveConfig {
    ReceiveConfig::Xpub(s.to_string())
}

/// Allocates and writes, as an invoice's creation does; the store now watches the address.
fn take(db: &Db, receive: &ReceiveConfig, src: &Scripted) -> String {
    let mut batch = db.batch();
    let a = allocate(db, &mut batch, STORE, receive, src, &Pending::default(), &mut Held::default()).unwrap();
    db.write(batch).unwrap();
    src.watched.borrow_mut().insert(a.key);
    a.address
}

/// Releases an address to a pool (an unpaid invoice after its monitoring window).
fn release(db: &Db, src: &Scripted, source: Option<&SourceId>, index: u32, address: &str) {
    let mut batch = db.batch();
    batch.put_free_address(STORE.0, STORE.1, source, index, address);
    db.write(batch).unwrap();
    src.watched.borrow_mut().remove(address.as_bytes());
}

fn open() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    (dir, db)
}

#[test]
fn after_the_xpub_changes_no_address_of_the_old_one_is_handed_out_until_it_comes_back() {
    let (_dir, db) = open();
    let (old, new) = (xpub("tpubOLD"), xpub("tpubNEW"));
    let a = Scripted::new("a");
    assert_eq!([take(&db, &old, &a), take(&db, &old, &a), take(&db, &old, &a)], ["a0", "a1", "a2"]);
    release(&db, &a, Some(&source_id(&old, &a).unwrap()), 1, "a1");
    // The store's xpub changed: its own counter from 0, and never a1.
    let b = Scripted::new("b");
    assert_eq!([take(&db, &new, &b), take(&db, &new, &b)], ["b0", "b1"]);
    release(&db, &b, Some(&source_id(&new, &b).unwrap()), 0, "b0");
    assert_eq!(take(&db, &new, &b), "b0", "the new source reuses its own released address");
    assert_eq!(take(&db, &new, &b), "b2");
    // Back to the old xpub: its released address first, then its next index.
    assert_eq!([take(&db, &old, &a), take(&db, &old, &a)], ["a1", "a3"]);
}

/// A descriptor or key is known by what it derives: spelled another way (the bare key and its
/// descriptor, a checksum added) it is the same pool; another key is another. A list by its
/// text, in order.
#[test]
fn sources_are_told_apart_by_what_they_derive_and_lists_by_their_text() {
    let id = |r: &ReceiveConfig, src: &Scripted| source_id(r, src).unwrap();
    let list = |l: &[&str]| ReceiveConfig::Addresses(l.iter().map(|s| s.to_string()).collect());
    let (x, y) = (Scripted::new("x"), Scripted::new("y"));
    assert_eq!(id(&xpub("tpubX"), &x), id(&ReceiveConfig::Descriptor("pkh(tpubX/0/*)#checksum".into()), &x));
    assert_ne!(id(&xpub("tpubX"), &x), id(&xpub("tpubY"), &y));
    assert_ne!(id(&xpub("tpubX"), &x), id(&list(&["x0", "x1"]), &x), "a list is not the key that derives it");
    assert_eq!(id(&list(&["a", "b"]), &x), id(&list(&[" a", "b\n"]), &x));
    assert_ne!(id(&list(&["a", "b"]), &x), id(&list(&["b", "a"]), &x));
    assert_ne!(id(&list(&["a", "b"]), &x), id(&list(&["a", "b", "c"]), &x));
    assert_ne!(id(&list(&["ab"]), &x), id(&list(&["a", "b"]), &x));
}

#[test]
fn a_legacy_released_address_is_reused_only_if_the_current_source_gives_it_at_its_index() {
    let (_dir, db) = open();
    let cur = xpub("tpubCUR");
    let a = Scripted::new("a");
    // Released before schema 6 (source unknown): one of the current source, two of another.
    release(&db, &a, None, 4, "z4");
    release(&db, &a, None, 5, "a5");
    release(&db, &a, None, 6, "a7");
    assert_eq!(take(&db, &cur, &a), "a5", "z4 is not the current source's");
    assert_eq!(db.free_addresses(STORE.0, STORE.1, None, 10).unwrap(), [(6, "a7".to_string())], "z4 was dropped");
    assert_eq!(take(&db, &cur, &a), "a0", "a7 is not what the source gives at 6");
    assert!(db.free_addresses(STORE.0, STORE.1, None, 10).unwrap().is_empty());
}

#[test]
fn watched_addresses_are_skipped_and_a_list_runs_out_with_a_clear_error() {
    let (_dir, db) = open();
    let list = ReceiveConfig::Addresses(vec!["l0".into(), "l1".into(), "l2".into()]);
    let l = Scripted { len: Some(3), ..Scripted::new("l") };
    l.watched.borrow_mut().insert(b"l0".to_vec()); // watched through the API already
    assert_eq!([take(&db, &list, &l), take(&db, &list, &l)], ["l1", "l2"]);
    let mut batch = db.batch();
    let e = allocate(&db, &mut batch, STORE, &list, &l, &Pending::default(), &mut Held::default()).unwrap_err();
    assert_eq!(e.to_string(), "no free address for BTC in store \"shop\": all 3 configured addresses are in use");
    // A released address of the pool that the store watches again is not handed out.
    release(&db, &l, Some(&source_id(&list, &l).unwrap()), 1, "l1");
    l.watched.borrow_mut().insert(b"l1".to_vec());
    assert!(allocate(&db, &mut db.batch(), STORE, &list, &l, &Pending::default(), &mut Held::default()).is_err());
}

/// Writes a batch of allocations as an invoice's creation does (outside the invoice lock).
fn write_allocated(db: &Db, pending: &Pending, batch: Batch<'_>, held: Held) {
    pending.write(db, batch, held).unwrap();
}

/// Invoices are written outside the invoice lock: the batch that handed out the lower index
/// may be written last. The stored counter still never goes back, so after a restart (a new
/// `Pending`) the next address is past both.
#[test]
fn the_stored_counter_never_goes_back_when_batches_are_written_out_of_order() {
    let (_dir, db) = open();
    let (receive, src) = (xpub("tpubX"), Scripted::new("x"));
    let pending = Pending::default();
    let (mut first, mut second) = (db.batch(), db.batch());
    let (mut held_first, mut held_second) = (Held::default(), Held::default());
    let a = allocate(&db, &mut first, STORE, &receive, &src, &pending, &mut held_first).unwrap();
    let b = allocate(&db, &mut second, STORE, &receive, &src, &pending, &mut held_second).unwrap();
    assert_eq!((a.index, b.index), (0, 1));
    write_allocated(&db, &pending, second, held_second);
    write_allocated(&db, &pending, first, held_first);
    assert_eq!(db.next_index(STORE.0, STORE.1, &a.source).unwrap(), 2, "the stored counter went back");
    // After a restart, the store no longer watching them (released, say): still not handed out.
    assert_eq!(take(&db, &receive, &src), "x2");
}

/// Creations in flight whose writes all fail (a full disk) give their indexes back whatever
/// order they fail in: the next address is the first one never written, not past a gap that
/// a wallet's gap limit would stop at.
#[test]
fn failed_writes_in_any_order_leave_no_gap_in_the_derivation() {
    let (_dir, db) = open();
    let (receive, src) = (xpub("tpubX"), Scripted::new("x"));
    let pending = Pending::default();
    let mut held = Vec::new();
    for i in 0..3 {
        let mut h = Held::default();
        assert_eq!(allocate(&db, &mut db.batch(), STORE, &receive, &src, &pending, &mut h).unwrap().index, i);
        held.push(h);
    }
    // The first handed out fails first, then the others.
    for h in held {
        pending.settle(h, false);
    }
    let a = allocate(&db, &mut db.batch(), STORE, &receive, &src, &pending, &mut Held::default()).unwrap();
    assert_eq!(a.index, 0, "indexes 0.. were never written: a gap in the derivation");
}
