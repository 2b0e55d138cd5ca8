use super::*;
use crate::events::EventKind;
use serde_json::json;

fn watch(store: &str, n: u32) -> WatchRecord {
    let key = Uuid::now_v7().as_bytes().to_vec();
    WatchRecord::new(store, "btc", format!("addr{n}"), key, 1)
}

/// One batch = one watch with its indexes + one event naming it.
fn write_watch_with_event(s: &Db, w: &WatchRecord) {
    let mut b = s.batch();
    b.put_watch(w).unwrap();
    let (kind, subject) = (EventKind::InvoiceCreated, format!("invoice:{}", w.id));
    b.push_event(NewEvent { kind, store: w.store.clone(), subject, data: json!({"watch": w.id}) });
    s.write(b).unwrap();
}

/// Every watch has all its index entries, and exactly one event names each watch.
fn assert_consistent(s: &Db) -> usize {
    let watches = s.store_watches("shop1", None, usize::MAX).unwrap();
    let events = s.store_events("shop1", 0, usize::MAX).unwrap();
    assert_eq!(watches.len(), events.len(), "a batch was split: watches vs events");
    let named: std::collections::HashSet<_> = events.iter().map(|e| e.data["watch"].clone()).collect();
    assert_eq!(named.len(), events.len(), "an event was written twice");
    for w in &watches {
        assert!(named.contains(&json!(w.id)), "watch {} without its event", w.id);
        assert_eq!(s.watch_ids_for_key("btc", &w.key).unwrap(), vec![w.id]);
    }
    let mut n = 0;
    s.for_each_watched_key("btc", |_| n += 1).unwrap();
    assert_eq!(n, watches.len());
    watches.len()
}

#[test]
fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let w = watch("shop1", 1);
    {
        let s = Db::open(dir.path()).unwrap();
        write_watch_with_event(&s, &w);
        s.flush().unwrap();
    }
    let s = Db::open(dir.path()).unwrap();
    assert_eq!(s.watch(w.id).unwrap(), Some(w.clone()));
    let events = s.store_events("shop1", 0, 10).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].seq, 1);
    // Sequence numbers continue after a reopen.
    write_watch_with_event(&s, &watch("shop1", 2));
    assert_eq!(*s.subscribe_seq().borrow(), 2);
}

#[test]
fn a_schema_version_mismatch_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Db::open(dir.path()).unwrap();
        s.db.put_cf(s.cf(CF_META), META_SCHEMA_VERSION, 999u32.to_be_bytes()).unwrap();
    }
    let err = Db::open(dir.path()).unwrap_err();
    assert!(matches!(err, DbError::SchemaMismatch { found: 999, expected: SCHEMA_VERSION, .. }), "{err}");
    assert!(err.to_string().contains("schema version 999"), "{err}");
}

#[test]
fn a_version_1_store_is_upgraded_in_place_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let w = watch("shop1", 1);
    {
        let mut s = Db::open(dir.path()).unwrap();
        write_watch_with_event(&s, &w);
        s.db.put_cf(s.cf(CF_META), META_SCHEMA_VERSION, 1u32.to_be_bytes()).unwrap();
        // A v1 store had no payment or block column families.
        for cf in [CF_PAYMENTS, CF_WATCH_PAYMENTS, CF_LIVE_PAYMENTS, CF_BLOCKS] {
            s.db.drop_cf(cf).unwrap();
        }
    }
    let s = Db::open(dir.path()).unwrap();
    let v = s.db.get_cf(s.cf(CF_META), META_SCHEMA_VERSION).unwrap().unwrap();
    assert_eq!(v, SCHEMA_VERSION.to_be_bytes());
    assert_eq!(s.watch(w.id).unwrap(), Some(w));
    assert!(s.blocks("btc").unwrap().is_empty());
}

#[test]
fn a_second_open_of_the_same_path_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let _s = Db::open(dir.path()).unwrap();
    let err = Db::open(dir.path()).unwrap_err();
    assert!(err.to_string().starts_with(&format!("cannot open store at {}", dir.path().display())), "{err}");
}

#[test]
fn paging_and_deletion_keep_indexes_in_step() {
    let dir = tempfile::tempdir().unwrap();
    let s = Db::open(dir.path()).unwrap();
    let ws: Vec<_> = (0..5).map(|n| watch("shop1", n)).collect();
    for w in &ws {
        let mut b = s.batch();
        b.put_watch(w).unwrap();
        s.write(b).unwrap();
    }
    s.write({
        let mut b = s.batch();
        b.put_watch(&watch("shop2", 9)).unwrap();
        b
    })
    .unwrap();
    let page1 = s.store_watches("shop1", None, 2).unwrap();
    let page2 = s.store_watches("shop1", Some(page1[1].id), 10).unwrap();
    let ids: Vec<_> = page1.iter().chain(&page2).map(|w| w.id).collect();
    assert_eq!(ids, ws.iter().map(|w| w.id).collect::<Vec<_>>());
    let mut b = s.batch();
    b.delete_watch(&ws[2]);
    s.write(b).unwrap();
    assert_eq!(s.watch(ws[2].id).unwrap(), None);
    assert!(s.watch_ids_for_key("btc", &ws[2].key).unwrap().is_empty());
    assert_eq!(s.store_watches("shop1", None, 10).unwrap().len(), 4);
}

#[test]
fn events_are_numbered_in_commit_order_across_threads() {
    let dir = tempfile::tempdir().unwrap();
    let s = std::sync::Arc::new(Db::open(dir.path()).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                for n in 0..50 {
                    write_watch_with_event(&s, &watch("shop1", t * 1000 + n));
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let seqs: Vec<_> = s.store_events("shop1", 0, usize::MAX).unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
    assert_eq!(s.store_events("shop1", 150, 10).unwrap()[0].seq, 151);
    assert_consistent(&s);
}

#[test]
fn a_commit_wakes_the_subscribers_of_its_stores_only() {
    let dir = tempfile::tempdir().unwrap();
    let s = Db::open(dir.path()).unwrap();
    let (mut one, mut two) = (s.subscribe_store("shop1"), s.subscribe_store("shop2"));
    for _ in 0..3 {
        write_watch_with_event(&s, &watch("shop1", 1));
    }
    assert_eq!(*one.borrow_and_update(), 3);
    assert!(!two.has_changed().unwrap(), "shop1's events woke shop2");
    // One batch with both stores' events wakes each with its own newest seq.
    let mut b = s.batch();
    for store in ["shop2", "shop1", "shop2"] {
        let subject = format!("invoice:{store}");
        b.push_event(NewEvent { kind: EventKind::InvoiceCreated, store: store.into(), subject, data: json!({}) });
    }
    s.write(b).unwrap();
    assert_eq!((*one.borrow_and_update(), *two.borrow_and_update()), (5, 6));
    // A batch without events wakes no one.
    let mut b = s.batch();
    b.put_watch(&watch("shop1", 9)).unwrap();
    s.write(b).unwrap();
    assert!(!one.has_changed().unwrap() && !two.has_changed().unwrap());
}

const KILL_DIR_ENV: &str = "PAYWATCH_TEST_STORE_WRITER_DIR";

/// Writes batches and checks each is whole. Run by `a_batch_is_all_or_nothing_across_kill_9`
/// as a child process with `KILL_DIR_ENV` set, where it writes until it is killed.
#[test]
fn batches_are_written_whole() {
    let forever = std::env::var_os(KILL_DIR_ENV);
    let dir = tempfile::tempdir().unwrap();
    let path = forever.as_ref().map(PathBuf::from).unwrap_or_else(|| dir.path().to_owned());
    let s = Db::open(&path).unwrap();
    let rounds = if forever.is_some() { u32::MAX } else { 50 };
    for n in 0..rounds {
        write_watch_with_event(&s, &watch("shop1", n));
        if n == 0 && forever.is_some() {
            // The parent test reads this line from the child's stdout.
            #[allow(clippy::print_stdout)]
            {
                println!("writing");
            }
        }
    }
    assert_eq!(assert_consistent(&s), 50);
}

#[test]
fn a_batch_is_all_or_nothing_across_kill_9() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "db::tests::batches_are_written_whole", "--nocapture", "--test-threads=1"])
            .env(KILL_DIR_ENV, dir.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        // Wait until it writes, then let it run a little and kill it mid-stream.
        while let Some(Ok(l)) = lines.next() {
            if l.contains("writing") {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(150 + 100 * round));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let s = Db::open(dir.path()).unwrap();
        let n = assert_consistent(&s);
        assert!(n > 0, "round {round}: the child wrote nothing before it was killed");
    }
}

/// Events written before subjects were stored (schema 4) read with the subject the dispatcher
/// of that version derived from their data.
#[test]
fn old_events_get_their_subject_derived() {
    let dir = tempfile::tempdir().unwrap();
    let s = Db::open(dir.path()).unwrap();
    let watch = Uuid::now_v7();
    let old = [
        json!({"seq": 1, "id": Uuid::now_v7(), "type": "invoice.created", "store": "s1",
               "created_at": "2026-01-01T00:00:00Z", "data": {"id": "i-1"}}),
        json!({"seq": 2, "id": Uuid::now_v7(), "type": "payment.detected", "store": "s1",
               "created_at": "2026-01-01T00:00:00Z",
               "data": {"chain": "btc", "txid": "ab", "index": 3, "watch_id": watch}}),
        json!({"seq": 3, "id": Uuid::now_v7(), "type": "refund.completed", "store": "s1",
               "created_at": "2026-01-01T00:00:00Z", "data": {"id": "r-1"}}),
    ];
    for e in &old {
        let seq = e["seq"].as_u64().unwrap();
        s.db.put_cf(s.cf(CF_OUTBOX), outbox_key(seq), serde_json::to_vec(e).unwrap()).unwrap();
        s.db.put_cf(s.cf(CF_STORE_EVENTS), store_events_key("s1", seq), []).unwrap();
    }
    let subjects: Vec<String> = s.store_events("s1", 0, 10).unwrap().into_iter().map(|e| e.subject).collect();
    assert_eq!(subjects, ["invoice:i-1".to_string(), format!("payment:btc:ab:3:{watch}"), "refund:r-1".into()]);
    assert_eq!(s.event("s1", 2).unwrap().unwrap().subject, format!("payment:btc:ab:3:{watch}"));
}

#[test]
fn a_payment_recorded_with_spends_as_outpoints_still_reads() {
    // As daemons wrote payments before plugins handed outpoint keys back: `spends` holds
    // txid and index; it is ignored now, and the record reads with no keys.
    let dir = tempfile::tempdir().unwrap();
    let s = Db::open(dir.path()).unwrap();
    let watch = Uuid::now_v7();
    let wire = json!({
        "watch_id": watch, "store": "shop1", "chain": "btc", "asset": "BTC", "address": "bcrt1q",
        "txid": "t1", "index": 0, "amount": "0.00001", "amount_base": "1000", "status": "pending",
        "confirmations": 0, "required_confirmations": 1, "final": false, "block_height": null,
        "block_hash": null, "replaced_by": null, "first_seen": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
    });
    let mut old = wire.clone();
    old["spends"] = json!([{"txid": "c".repeat(64), "index": 1}]);
    let key = payment_key("btc", "t1", 0, watch);
    s.db.put_cf(s.cf(CF_PAYMENTS), &key, serde_json::to_vec(&old).unwrap()).unwrap();
    let p = s.payment("btc", &PaymentRef { txid: "t1".into(), index: 0, watch }).unwrap().unwrap();
    assert!(p.outpoint_keys.is_empty());
    assert_eq!(crate::events::views::sorted(&crate::events::views::payment(&p)), wire, "the wire shape is what it was");
}

#[test]
fn an_invoice_recorded_before_min_payment_reads_with_no_minimum() {
    let dir = tempfile::tempdir().unwrap();
    let s = Db::open(dir.path()).unwrap();
    let id = Uuid::now_v7();
    let old = json!({
        "id": id, "store": "shop1", "order_id": "o1", "asset": "BTC", "chain": "btc", "description": null,
        "metadata": null, "refund_email": null, "decimals": 8, "amount_due": "150000", "amount_paid": "0",
        "amount_confirmed": "0", "tolerance_bp": 0, "required_confirmations": 1, "address": "bcrt1q",
        "address_index": 0, "watch_id": Uuid::now_v7(), "payment_uri": "bitcoin:bcrt1q", "status": "new",
        "exception": "none", "cancelled": false, "released": false, "sequence": 1, "request_hash": "h",
        "created_at": "2024-01-01T00:00:00Z", "expires_at": "2024-01-01T00:15:00Z",
        "monitoring_until": "2024-01-02T00:15:00Z", "updated_at": "2024-01-01T00:00:00Z",
    });
    s.db.put_cf(s.cf(CF_INVOICES), id.as_bytes(), serde_json::to_vec(&old).unwrap()).unwrap();
    let inv = s.invoice(id).unwrap().unwrap();
    assert_eq!(inv.min_payment().unwrap(), Amount::ZERO, "every payment counts, as when it was made");
    // Written back, it has the field and those of schema 8 (priced in its asset, one method at
    // rate 1 with its address and watch); other fields are as they were.
    let mut again = serde_json::to_value(&inv).unwrap();
    let again = again.as_object_mut().unwrap();
    assert_eq!(again.remove("min_payment"), Some(json!("0")));
    let schema_8: Vec<(&str, serde_json::Value)> =
        ["currency", "currency_decimals", "price", "value_paid", "value_confirmed", "value_due", "methods"]
            .into_iter()
            .map(|k| (k, again.remove(k).unwrap_or_else(|| panic!("{k} filled in"))))
            .collect();
    assert_eq!(serde_json::Value::Object(again.clone()), old);
    let expected = json!({"currency": "BTC", "currency_decimals": 8, "price": "0.0015", "value_paid": "0",
        "value_confirmed": "0", "value_due": "0.0015"});
    for (k, v) in &schema_8[..6] {
        assert_eq!(&expected[k], v, "{k}");
    }
    let m = &schema_8[6].1[0];
    assert_eq!(
        (&m["asset"], &m["address"], &m["watch_id"], &m["rate"], &m["amount_due"], &m["min_payment"]),
        (&json!("BTC"), &json!("bcrt1q"), &old["watch_id"], &json!("1"), &json!("150000"), &json!("0"))
    );
}

#[test]
fn a_watchs_payments_page_after_a_payment() {
    let dir = tempfile::tempdir().unwrap();
    let s = Db::open(dir.path()).unwrap();
    let (watch, other) = (Uuid::now_v7(), Uuid::now_v7());
    let pay = |w: Uuid, txid: &str, index: u32| PaymentRecord::sample(w, txid, index, 1000, 0);
    let mut b = s.batch();
    for (txid, index) in [("bb", 0), ("aa", 7), ("bb", 2), ("cc", 0), ("aa", 1)] {
        b.put_payment(&pay(watch, txid, index), true).unwrap();
        b.put_payment(&pay(other, txid, index), true).unwrap();
    }
    s.write(b).unwrap();
    let ids = |ps: Vec<PaymentRecord>| ps.iter().map(|p| format!("{}:{}", p.txid, p.index)).collect::<Vec<_>>();
    assert_eq!(ids(s.watch_payments(watch, usize::MAX).unwrap()), ["aa:1", "aa:7", "bb:0", "bb:2", "cc:0"]);
    assert_eq!(ids(s.watch_payments_after(watch, None, 2).unwrap()), ["aa:1", "aa:7"]);
    assert_eq!(ids(s.watch_payments_after(watch, Some(("btc", "aa", 7)), 2).unwrap()), ["bb:0", "bb:2"]);
    assert_eq!(ids(s.watch_payments_after(watch, Some(("btc", "bb", 2)), 2).unwrap()), ["cc:0"]);
    // A cursor that is no payment of the watch still pages from where it would sort.
    assert_eq!(ids(s.watch_payments_after(watch, Some(("btc", "ab", 0)), 9).unwrap()), ["bb:0", "bb:2", "cc:0"]);
    assert!(s.watch_payments_after(watch, Some(("btc", "cc", 0)), 9).unwrap().is_empty());
}

/// A schema 5 store kept one address pool per store and asset (`n` counter, `f` free
/// addresses) and invoices without their source: opened by schema 6, its counter is where any
/// source without one starts, its free addresses form the legacy pool, and its invoices read.
#[test]
fn a_version_5_store_with_address_pools_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let id = Uuid::now_v7();
    {
        let s = Db::open(dir.path()).unwrap();
        let meta = s.cf(CF_META);
        s.db.put_cf(meta, META_SCHEMA_VERSION, 5u32.to_be_bytes()).unwrap();
        let pools = s.cf(CF_ADDRESSES);
        s.db.put_cf(pools, store_asset(b'n', "shop3", "BTC"), 7u32.to_be_bytes()).unwrap();
        let mut free = store_asset(b'f', "shop3", "BTC");
        free.extend_from_slice(&2u32.to_be_bytes());
        s.db.put_cf(pools, &free, b"mOld2").unwrap();
        let v5_invoice = json!({
            "id": id, "store": "shop3", "order_id": "o1", "asset": "BTC", "chain": "btc",
            "description": null, "metadata": null, "refund_email": null, "decimals": 8,
            "amount_due": "1000", "amount_paid": "0", "amount_confirmed": "0", "tolerance_bp": 0,
            "required_confirmations": 1, "address": "mOld3", "address_index": 3, "watch_id": Uuid::now_v7(),
            "payment_uri": "bitcoin:mOld3", "status": "new", "exception": "none", "cancelled": false,
            "released": false, "sequence": 1, "request_hash": "h", "created_at": "2026-01-01T00:00:00Z",
            "expires_at": "2026-01-01T00:15:00Z", "monitoring_until": "2026-01-02T00:15:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        });
        s.db.put_cf(s.cf(CF_INVOICES), id.as_bytes(), serde_json::to_vec(&v5_invoice).unwrap()).unwrap();
    }
    let s = Db::open(dir.path()).unwrap();
    let v = s.db.get_cf(s.cf(CF_META), META_SCHEMA_VERSION).unwrap().unwrap();
    assert_eq!(v, SCHEMA_VERSION.to_be_bytes());
    let (a, b) = (SourceId([1; 32]), SourceId([2; 32]));
    assert_eq!((s.next_index("shop3", "BTC", &a).unwrap(), s.next_index("shop3", "BTC", &b).unwrap()), (7, 7));
    assert_eq!(s.next_index("shop3", "ETH", &a).unwrap(), 0);
    assert!(s.free_addresses("shop3", "BTC", Some(&a), 10).unwrap().is_empty());
    assert_eq!(s.free_addresses("shop3", "BTC", None, 10).unwrap(), [(2, "mOld2".to_string())]);
    let inv = s.invoice(id).unwrap().unwrap();
    assert_eq!((inv.address_index, inv.address_source), (Some(3), None));
    // A source's own counter and pool, once written, are its alone.
    let mut batch = s.batch();
    batch.put_next_index("shop3", "BTC", &a, 1);
    batch.put_free_address("shop3", "BTC", Some(&a), 0, "mA0");
    batch.put_free_address("shop3", "BTC", None, 3, "mOld3");
    s.write(batch).unwrap();
    assert_eq!((s.next_index("shop3", "BTC", &a).unwrap(), s.next_index("shop3", "BTC", &b).unwrap()), (1, 7));
    assert_eq!(s.free_addresses("shop3", "BTC", Some(&a), 10).unwrap(), [(0, "mA0".to_string())]);
    assert!(s.free_addresses("shop3", "BTC", Some(&b), 10).unwrap().is_empty());
    assert_eq!(s.free_addresses("shop3", "BTC", None, 10).unwrap().len(), 2);
    let mut with_source = inv;
    with_source.address_source = Some(a);
    let mut batch = s.batch();
    batch.put_invoice(&with_source).unwrap();
    s.write(batch).unwrap();
    assert_eq!(s.invoice(id).unwrap().unwrap().address_source, Some(a));
}

/// Modes of the store directory and of every file in it.
fn modes(path: &std::path::Path) -> (u32, Vec<(String, u32)>) {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let files = std::fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.metadata().unwrap().is_file())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().permissions().mode() & 0o777))
        .collect();
    (dir, files)
}

#[test]
fn a_new_store_and_every_file_written_later_are_the_owners_alone() {
    let parent = tempfile::tempdir().unwrap();
    let path = parent.path().join("store");
    let s = Db::open(&path).unwrap();
    write_watch_with_event(&s, &watch("shop1", 1));
    s.flush().unwrap();
    let (dir, files) = modes(&path);
    assert_eq!(dir, 0o700, "store directory");
    assert!(files.iter().any(|(n, _)| n.ends_with(".log")), "the write-ahead log: {files:?}");
    let open: Vec<_> = files.iter().filter(|(_, m)| m & 0o077 != 0).collect();
    assert!(open.is_empty(), "files readable by group or others: {open:?}");
}

#[test]
fn a_world_readable_store_of_an_older_version_is_made_private_at_open() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let path = parent.path().join("store");
    drop(Db::open(&path).unwrap());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (name, _) in modes(&path).1 {
        std::fs::set_permissions(path.join(name), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    drop(Db::open(&path).unwrap());
    let (dir, files) = modes(&path);
    assert_eq!(dir, 0o700);
    assert!(files.iter().all(|(_, m)| m & 0o077 == 0), "{files:?}");
}
