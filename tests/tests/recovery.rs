//! Recovering without losing or inventing payments, on the real regtest node and the real
//! binary: a node restarted from an older copy of its datadir (behind us: waited for, never a
//! reorg until it really reorganizes), a reorg deeper than the window rewound offline with
//! `paywatch chain rewind`, a follower that panics (down in `/health`, then restarted from the
//! store) through the daemon's test-only fault hook, and a store on a full disk (degraded,
//! then resumed once space is freed).

use bitcoincore_rpc::RpcApi;
use paywatch_tests::btc::{shop3, summary, BtcRig, SHOP, SHOP3_KEY};
use paywatch_tests::daemon::Launch;
use serde_json::{json, Value};
use std::collections::BTreeSet;

fn has(evs: &[Value], kind: &str, txid: &str) -> bool {
    evs.iter().any(|e| e["type"] == kind && e["data"]["txid"] == txid)
}

fn count(evs: &[Value], kind: &str) -> usize {
    evs.iter().filter(|e| e["type"] == kind).count()
}

#[tokio::test]
async fn a_node_restarted_from_an_older_datadir_is_waited_for_until_it_really_reorgs() {
    let mut rig = BtcRig::start(1).await.unwrap();
    let addr = rig.new_address().unwrap();
    rig.watch(SHOP, &addr, 3).await.unwrap();
    let snapshot = rig.node.snapshot().unwrap(); // at 101
    let txid = rig.send(&addr, 0.3).unwrap();
    rig.mine(3).unwrap(); // 102 (the payment) .. 104
    rig.wait_events(SHOP, "final", |e| {
        e.iter().any(|e| e["data"]["txid"] == txid.as_str() && e["data"]["final"] == true)
    })
    .await
    .unwrap();
    rig.wait_synced().await.unwrap();
    let before = rig.events(SHOP).await.unwrap();

    rig.node.restore(snapshot.path()).unwrap();
    assert_eq!(rig.height().unwrap(), 101);
    let c = rig
        .daemon
        .wait_chain_health("btc", "waiting for the node", |c| {
            c["detail"].as_str().unwrap_or_default().contains("waiting for the node (3 blocks behind, on this chain)")
        })
        .await
        .unwrap();
    assert_eq!(c["status"], "ok", "{c}");
    // A few polls later, still nothing reversed.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(summary(&rig.events(SHOP).await.unwrap()), summary(&before), "nothing happens while the node is behind");

    // The node mines on its older chain: it now holds another block 102, a real reorg.
    rig.mine(1).unwrap();
    let evs = rig.wait_events(SHOP, "reversed", |e| has(e, "payment.reversed", &txid)).await.unwrap();
    rig.wait_synced().await.unwrap();
    assert_eq!(count(&evs, "payment.reversed"), 1);
    assert_eq!(evs.last().unwrap()["data"]["status"], "reversed");
}

#[tokio::test]
async fn a_node_far_behind_is_degraded_and_a_deeper_reorg_is_rewound_offline() {
    let mut rig = BtcRig::start_custom(1, "reorg_window = 3", &shop3(86_400, 2), Launch::default()).await.unwrap();
    // An older payment, in a block the node keeps: the rewind finds its way back through it.
    let early = rig.new_address().unwrap();
    rig.watch(SHOP, &early, 1).await.unwrap();
    let early_tx = rig.send(&early, 0.2).unwrap();
    rig.mine(1).unwrap(); // 102
    rig.wait_events(SHOP, "early payment", |e| has(e, "payment.confirmed", &early_tx)).await.unwrap();
    let snapshot = rig.node.snapshot().unwrap(); // at 102
    let (status, inv) = rig
        .call(
            reqwest::Method::POST,
            "/v1/invoices",
            SHOP3_KEY,
            Some(json!({"asset": "BTC", "amount": "0.0015", "order_id": "r1", "confirmations": 1})),
        )
        .await;
    assert_eq!(status, 201, "{inv}");
    let (id, address) = (inv["id"].as_str().unwrap(), inv["address"].as_str().unwrap());
    let paid = rig.send(address, 0.0015).unwrap();
    rig.mine(5).unwrap(); // 103 (the invoice's payment) .. 107
    rig.wait_events(SHOP3_KEY, "settled", |e| e.iter().any(|e| e["type"] == "invoice.settled")).await.unwrap();
    rig.wait_synced().await.unwrap();

    // 5 blocks behind, more than the window: degraded, never fatal, nothing reversed.
    rig.node.restore(snapshot.path()).unwrap();
    let c = rig
        .daemon
        .wait_chain_health("btc", "degraded", |c| {
            c["status"] == "degraded" && c["detail"].as_str().unwrap().contains("node syncing")
        })
        .await
        .unwrap();
    let detail = c["detail"].as_str().unwrap();
    assert!(detail.starts_with("node syncing, 5 blocks behind our tip 107 (more than reorg_window = 3 behind"), "{c}");
    assert!(!has(&rig.events(SHOP3_KEY).await.unwrap(), "payment.reversed", &paid));

    // The node's older chain grows past ours: a reorg from 103, deeper than the window. The
    // chain stops and names the way out.
    rig.mine(7).unwrap(); // 103' .. 109'
    let c = rig.daemon.wait_chain_health("btc", "down", |c| c["status"] == "down").await.unwrap();
    let detail = c["detail"].as_str().unwrap();
    assert!(detail.contains("reorg deeper than the reorg window (3 blocks)"), "{c}");
    assert!(detail.contains("paywatch chain rewind --chain btc"), "{c}");
    let events_before = rig.events(SHOP3_KEY).await.unwrap().len();
    rig.daemon.stop().await.unwrap();

    // A dry run: what it would do, nothing changed.
    let (code, out, err) = rig.daemon.command(&["chain", "rewind", "--chain", "btc"]).unwrap();
    assert_eq!(code, Some(0), "{out}{err}");
    let node_102 = rig.rpc().get_block_hash(102).unwrap().to_string();
    assert!(
        out.contains(&format!(
            "highest block known to be in the node's chain: 102 {node_102} (the block of payment {early_tx}:"
        )),
        "{out}"
    );
    assert!(out.contains("payments to reverse (confirmed in a block the node's chain does not hold): 1"), "{out}");
    assert!(out.contains(&format!("  {paid}:")) && out.contains("store shop3 0.0015 BTC at height 103"), "{out}");
    assert!(out.contains("dry run: nothing was changed"), "{out}");
    // Not above the common block; then for real.
    let (code, _, err) =
        rig.daemon.command(&["chain", "rewind", "--chain", "btc", "--height", "104", "--yes"]).unwrap();
    assert_eq!(code, Some(1));
    assert!(err.contains("height 104 is above 102, the highest block known to be in the node's chain"), "{err}");
    let (code, out, err) = rig.daemon.command(&["chain", "rewind", "--chain", "btc", "--yes"]).unwrap();
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("applied: 1 payments reversed"), "{out}");

    // The daemon starts from 102 and follows the node's chain; the reversal was emitted by the
    // rewind, once, and the invoice re-evaluated.
    rig.daemon.restart().await.unwrap();
    rig.wait_synced().await.unwrap();
    let evs = rig.events(SHOP3_KEY).await.unwrap();
    let after: Vec<&str> = evs[events_before..].iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(after, ["payment.reversed", "invoice.payment_reversed"], "{evs:#?}");
    let (_, inv) = rig.call(reqwest::Method::GET, &format!("/v1/invoices/{id}"), SHOP3_KEY, None).await;
    assert_ne!(inv["status"], "settled", "{inv}");
    let early_now: Value = rig.call(reqwest::Method::GET, &format!("/v1/payments/btc/{early_tx}"), SHOP, None).await.1;
    assert_eq!(early_now["items"][0]["status"], "confirmed", "the node's block keeps its payment: {early_now}");
    let s = summary(&rig.events(SHOP).await.unwrap());
    assert!(s.iter().all(|e| e.0 != "payment.reversed"), "{s:?}");
}

#[tokio::test]
async fn a_follower_that_panics_is_down_then_resumes_and_follows_new_blocks() {
    let faults = Launch::env("PAYWATCH_TEST_FAULTS", "panic@btc:103");
    let rig = BtcRig::start_custom(1, "", "", faults).await.unwrap(); // at 101
    let addr = rig.new_address().unwrap();
    rig.watch(SHOP, &addr, 3).await.unwrap();
    let txid = rig.send(&addr, 0.1).unwrap();
    rig.wait_events(SHOP, "detected", |e| has(e, "payment.detected", &txid)).await.unwrap();
    rig.mine(1).unwrap(); // 102
    let confirmed = |n: u64| {
        let txid = txid.clone();
        move |e: &[Value]| e.iter().any(|e| e["data"]["txid"] == txid.as_str() && e["data"]["confirmations"] == n)
    };
    rig.wait_events(SHOP, "1 confirmation", confirmed(1)).await.unwrap();

    rig.mine(1).unwrap(); // 103: the follower panics before connecting it
    let c = rig.daemon.wait_chain_health("btc", "down after the panic", |c| c["status"] == "down").await.unwrap();
    assert_eq!(c["detail"], "follower panicked: injected fault: panic@btc:103; restarting in 1s", "{c}");
    rig.wait_events(SHOP, "2 confirmations after the restart", confirmed(2)).await.unwrap();
    rig.wait_synced().await.unwrap();
    rig.mine(1).unwrap(); // 104: followed as usual
    let evs = rig.wait_events(SHOP, "final", confirmed(3)).await.unwrap();
    rig.wait_synced().await.unwrap();
    let s = summary(&evs);
    let unique: BTreeSet<_> = s.iter().collect();
    assert_eq!(unique.len(), s.len(), "no event twice: {s:?}");
    let kinds: Vec<(&str, u64)> = s.iter().map(|e| (e.0.as_str(), e.4)).collect();
    assert_eq!(
        kinds,
        [("payment.detected", 0), ("payment.confirmed", 1), ("payment.confirmed", 2), ("payment.confirmed", 3)]
    );
    let log = rig.daemon.log();
    assert_eq!(log.matches("follower failed; restarting it from the store").count(), 1, "{log}");
}

/// Fills the filesystem `file` is on, appending to it 1 MiB at a time until it says ENOSPC.
fn fill(file: &std::path::Path) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(file).unwrap();
    let chunk = vec![0u8; 1 << 20];
    loop {
        match f.write_all(&chunk).and_then(|()| f.sync_all()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => return,
            Err(e) => panic!("filling {}: {e}", file.display()),
        }
    }
}

/// The store on a full disk: the daemon runs in a user and mount namespace of its own
/// (util-linux `unshare`, no privileges needed) with a 128 MiB tmpfs on its data directory, and
/// the test fills that tmpfs through `/proc/PID/root`. Writes fail with ENOSPC: the chain is
/// `degraded` (never stopped), and once the filler is deleted RocksDB recovers by itself (it
/// waits for 64 MiB free, its write buffer) and the follower, restarted from the store,
/// records what it could not. A 100 MiB filler is there before the daemon starts: RocksDB
/// preallocates its log 70 MiB at a time, and writes into preallocated space would never fail.
#[tokio::test]
async fn a_full_disk_is_degraded_and_the_chain_resumes_once_space_is_freed() {
    let mount = r#"mkdir -p "$0" && mount -t tmpfs -o size=128m paywatch-test "$0" && head -c 100M /dev/zero >"$0/filler" && exec "$@""#;
    let under = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", mount, "{data}"];
    let launch = Launch { under: under.map(String::from).to_vec(), ..Launch::default() };
    let rig = BtcRig::start_custom(1, "", "", launch).await.unwrap();
    let addr = rig.new_address().unwrap();
    rig.watch(SHOP, &addr, 1).await.unwrap();
    let data = rig.daemon.dir.path().join("data");
    let filler = std::path::PathBuf::from(format!("/proc/{}/root{}/filler", rig.daemon.pid().unwrap(), data.display()));
    fill(&filler);

    // Payments until a write needs a page the disk no longer has (the log's last page may
    // still hold a few).
    let mut paid = Vec::new();
    let degraded =
        |c: &Value| c["status"] == "degraded" && c["detail"].as_str().unwrap().contains("store write failing");
    let c = loop {
        assert!(paid.len() < 50, "50 blocks written on a full disk?\n{}", rig.daemon.log());
        paid.push(rig.send(&addr, 0.01).unwrap());
        rig.mine(1).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        let c = loop {
            let h: Value = rig.daemon.health().await.unwrap();
            if degraded(&h["chains"]["btc"]) || std::time::Instant::now() > deadline {
                break h["chains"]["btc"].clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        if degraded(&c) {
            break c;
        }
    };
    assert!(c["detail"].as_str().unwrap().contains("No space left on device"), "{c}");
    // Degraded, never stopped: it keeps trying, and says so.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let c = rig.daemon.wait_chain_health("btc", "still degraded", |c| c["status"] != "ok").await.unwrap();
    assert_eq!(c["status"], "degraded", "{c}");

    std::fs::remove_file(&filler).unwrap();
    paid.push(rig.send(&addr, 0.01).unwrap());
    rig.mine(1).unwrap();
    let evs = rig
        .wait_events(SHOP, "every payment final after space was freed", |e| {
            paid.iter().all(|t| e.iter().any(|e| e["data"]["txid"] == t.as_str() && e["data"]["final"] == true))
        })
        .await
        .unwrap();
    rig.wait_synced().await.unwrap();
    let s = summary(&evs);
    let unique: BTreeSet<_> = s.iter().collect();
    assert_eq!(unique.len(), s.len(), "no event twice: {s:?}");
    assert_eq!(count(&evs, "payment.confirmed"), paid.len(), "{s:?}");
}
