//! Bitcoin end to end: a real regtest node, the real daemon binary, the `bitcoin` plugin as a
//! cdylib. Payments are found from the mempool and from blocks, confirmed to their target,
//! reversed by reorgs, and never missed across daemon downtime or a dropped ZMQ feed.

use bitcoincore_rpc::RpcApi;
use paywatch_tests::btc::{summary, vout_of, BtcRig, SHOP};
use paywatch_tests::daemon::SHOP2_KEY;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

fn of_type<'a>(evs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    evs.iter().filter(|e| e["type"] == kind).collect()
}

fn has(evs: &[Value], kind: &str, txid: &str, pred: impl Fn(&Value) -> bool) -> bool {
    evs.iter().any(|e| e["type"] == kind && e["data"]["txid"] == txid && pred(&e["data"]))
}

#[tokio::test]
async fn a_payment_is_detected_from_the_mempool_and_confirmed_to_its_target() {
    let rig = BtcRig::start(1).await.unwrap();
    // Watches are decoded by the plugin: a mainnet address is refused on this regtest chain.
    let r = rig
        .daemon
        .req(reqwest::Method::POST, "/v1/watches", SHOP)
        .json(&json!({"chain": "btc", "address": "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "invalid_address");
    assert!(e["error"]["message"].as_str().unwrap().contains("this chain (regtest) uses bcrt"), "{e}");
    let addr = rig.new_address().unwrap();
    let watch = rig.watch(SHOP, &addr, 3).await.unwrap();
    let txid = rig.send(&addr, 1.5).unwrap();
    let vout = vout_of(&rig.rpc(), &txid, &addr).unwrap();
    let evs = rig.wait_events(SHOP, "payment.detected", |e| has(e, "payment.detected", &txid, |_| true)).await.unwrap();
    let d = &evs[0]["data"];
    assert_eq!(evs[0]["type"], "payment.detected");
    assert_eq!(d["watch_id"], watch.as_str());
    assert_eq!(
        (d["chain"].as_str(), d["asset"].as_str(), d["address"].as_str()),
        (Some("btc"), Some("BTC"), Some(addr.as_str()))
    );
    assert_eq!(d["index"], vout);
    assert_eq!((d["amount"].as_str(), d["amount_base"].as_str()), (Some("1.5"), Some("150000000")));
    assert_eq!(
        (d["status"].as_str(), d["confirmations"].as_u64(), d["final"].as_bool()),
        (Some("pending"), Some(0), Some(false))
    );
    assert_eq!(d["required_confirmations"], 3);
    assert!(d["block_height"].is_null() && d["block_hash"].is_null() && d["replaced_by"].is_null());

    let block = rig.mine(1).unwrap().remove(0);
    let height = rig.height().unwrap();
    rig.wait_events(SHOP, "1 confirmation", |e| has(e, "payment.confirmed", &txid, |d| d["confirmations"] == 1))
        .await
        .unwrap();
    rig.mine(3).unwrap();
    let evs =
        rig.wait_events(SHOP, "final", |e| has(e, "payment.confirmed", &txid, |d| d["final"] == true)).await.unwrap();
    rig.wait_synced().await.unwrap();
    let evs2 = rig.events(SHOP).await.unwrap();
    assert_eq!(evs.len(), evs2.len(), "nothing after final: {:?}", summary(&evs2));
    let s: Vec<_> = summary(&evs).into_iter().map(|(k, t, _, st, c, f)| (k, t == txid, st, c, f)).collect();
    assert_eq!(
        s,
        vec![
            ("payment.detected".into(), true, "pending".into(), 0, false),
            ("payment.confirmed".into(), true, "confirmed".into(), 1, false),
            ("payment.confirmed".into(), true, "confirmed".into(), 2, false),
            ("payment.confirmed".into(), true, "confirmed".into(), 3, true),
        ]
    );
    let last = &evs.last().unwrap()["data"];
    assert_eq!((last["block_hash"].as_str(), last["block_height"].as_u64()), (Some(block.as_str()), Some(height)));
    // The same payment through the API, and only for its store.
    let by_watch: Value = rig
        .daemon
        .req(reqwest::Method::GET, &format!("/v1/watches/{watch}/payments"), SHOP)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_watch["items"][0]["txid"], txid.as_str());
    assert_eq!(by_watch["items"][0]["final"], true);
    let by_tx = rig.daemon.req(reqwest::Method::GET, &format!("/v1/payments/btc/{txid}"), SHOP).send().await.unwrap();
    assert_eq!(by_tx.status(), 200);
    let by_tx: Value = by_tx.json().await.unwrap();
    assert_eq!(by_tx["items"].as_array().unwrap().len(), 1);
    for (path, key) in
        [(format!("/v1/payments/btc/{txid}"), SHOP2_KEY), (format!("/v1/watches/{watch}/payments"), SHOP2_KEY)]
    {
        let r = rig.daemon.req(reqwest::Method::GET, &path, key).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path} for another store");
    }
}

#[tokio::test]
async fn two_outputs_of_one_transaction_and_a_coinbase_payment() {
    let rig = BtcRig::start(1).await.unwrap();
    let (a1, a2, a3) = (rig.new_address().unwrap(), rig.new_address().unwrap(), rig.new_address().unwrap());
    for a in [&a1, &a2, &a3] {
        rig.watch(SHOP, a, 1).await.unwrap();
    }
    // A watched address of the other store too: both stores see their own payment.
    rig.watch(SHOP2_KEY, &a2, 1).await.unwrap();
    let txid: String = rig.rpc().call("sendmany", &["".into(), json!({&a1: 0.1, &a2: 0.25})]).unwrap();
    let cb_block: Vec<String> = rig.rpc().call("generatetoaddress", &[1.into(), a3.clone().into()]).unwrap();
    let cb: Value = rig.rpc().call("getblock", &[cb_block[0].clone().into()]).unwrap();
    let cb_txid = cb["tx"][0].as_str().unwrap().to_string();
    let cb_tx: Value = rig.rpc().call("getrawtransaction", &[cb_txid.clone().into(), 1.into()]).unwrap();
    let cb_sats = (cb_tx["vout"][0]["value"].as_f64().unwrap() * 1e8).round() as u64;
    let evs = rig
        .wait_events(SHOP, "three final payments", |e| {
            of_type(e, "payment.confirmed").iter().filter(|e| e["data"]["final"] == true).count() == 3
        })
        .await
        .unwrap();
    let mut got: BTreeMap<String, (String, u64, String)> = BTreeMap::new();
    for e in of_type(&evs, "payment.confirmed") {
        let d = &e["data"];
        got.insert(
            d["address"].as_str().unwrap().into(),
            (
                d["txid"].as_str().unwrap().into(),
                d["index"].as_u64().unwrap(),
                d["amount_base"].as_str().unwrap().into(),
            ),
        );
    }
    let v = |a: &str| vout_of(&rig.rpc(), &txid, a).unwrap();
    assert_eq!(got[&a1], (txid.clone(), v(&a1), "10000000".to_string()));
    assert_eq!(got[&a2], (txid.clone(), v(&a2), "25000000".to_string()));
    assert_eq!(got[&a3], (cb_txid.clone(), 0, cb_sats.to_string()));
    // The coinbase is detected (from the block's ZMQ rawtx or the block itself) before it is
    // confirmed, once.
    let cb: Vec<_> = summary(&evs).into_iter().filter(|s| s.1 == cb_txid).map(|s| s.0).collect();
    assert_eq!(cb, ["payment.detected", "payment.confirmed"]);
    let other =
        rig.wait_events(SHOP2_KEY, "shop2's payment", |e| has(e, "payment.confirmed", &txid, |_| true)).await.unwrap();
    assert!(other.iter().all(|e| e["data"]["address"] == a2.as_str()), "{other:?}");
}

#[tokio::test]
async fn invalidateblock_reverses_and_reconsiderblock_or_a_new_block_confirms_again() {
    let rig = BtcRig::start(1).await.unwrap();
    let addr = rig.new_address().unwrap();
    rig.watch(SHOP, &addr, 2).await.unwrap();
    let txid = rig.send(&addr, 0.5).unwrap();
    let b1 = rig.mine(1).unwrap().remove(0);
    rig.wait_events(SHOP, "confirmed in b1", |e| {
        has(e, "payment.confirmed", &txid, |d| d["block_hash"] == b1.as_str())
    })
    .await
    .unwrap();

    // invalidateblock: reversed, and pending again as the node puts the tx back in its mempool.
    rig.rpc().call::<Value>("invalidateblock", &[b1.clone().into()]).unwrap();
    let n = rig.events(SHOP).await.unwrap().len();
    let evs = rig
        .wait_events(SHOP, "reversed then pending", |e| {
            e.len() >= n + 2 && e[n]["type"] == "payment.reversed" && e[n + 1]["type"] == "payment.detected"
        })
        .await
        .unwrap();
    assert_eq!(evs[n]["data"]["status"], "reversed");
    assert!(evs[n]["data"]["block_hash"].is_null());
    assert_eq!(evs[n + 1]["data"]["status"], "pending");

    // reconsiderblock: the same block is back, the payment confirmed in it again.
    rig.rpc().call::<Value>("reconsiderblock", &[b1.clone().into()]).unwrap();
    rig.wait_events(SHOP, "confirmed in b1 again", |e| {
        e.len() > n + 2 && e[n + 2]["type"] == "payment.confirmed" && e[n + 2]["data"]["block_hash"] == b1.as_str()
    })
    .await
    .unwrap();

    // Invalidate again and mine a replacement block: confirmed with the new hash, then final.
    rig.rpc().call::<Value>("invalidateblock", &[b1.clone().into()]).unwrap();
    rig.wait_events(SHOP, "reversed again", |e| e.len() > n + 4 && e[n + 4]["type"] == "payment.detected")
        .await
        .unwrap();
    // Mined to another address: a block identical to b1 would be refused as invalid.
    let elsewhere = rig.new_address().unwrap();
    let b2: Vec<String> = rig.rpc().call("generatetoaddress", &[2.into(), elsewhere.into()]).unwrap();
    let evs = rig
        .wait_events(SHOP, "final in the new chain", |e| has(e, "payment.confirmed", &txid, |d| d["final"] == true))
        .await
        .unwrap();
    let last = &evs.last().unwrap()["data"];
    assert_eq!(last["block_hash"], b2[0].as_str());
    assert_ne!(b2[0], b1);
    assert_eq!(last["confirmations"], 2);
}

#[tokio::test]
async fn payments_made_while_the_daemon_is_down_are_all_found_once() {
    let mut rig = BtcRig::start(1).await.unwrap();
    let addrs: Vec<String> = (0..3).map(|_| rig.new_address().unwrap()).collect();
    for a in &addrs {
        rig.watch(SHOP, a, 2).await.unwrap();
    }
    let t0 = rig.send(&addrs[0], 0.1).unwrap();
    rig.mine(1).unwrap();
    rig.wait_events(SHOP, "t0 confirmed", |e| has(e, "payment.confirmed", &t0, |_| true)).await.unwrap();

    rig.daemon.stop().await.unwrap();
    let t1 = rig.send(&addrs[1], 0.2).unwrap();
    rig.mine(3).unwrap();
    let t2 = rig.send(&addrs[2], 0.3).unwrap();
    rig.daemon.restart().await.unwrap();
    rig.wait_synced().await.unwrap();
    let evs = rig
        .wait_events(SHOP, "everything", |e| {
            has(e, "payment.confirmed", &t0, |d| d["final"] == true)
                && has(e, "payment.confirmed", &t1, |d| d["final"] == true)
                && has(e, "payment.detected", &t2, |d| d["status"] == "pending")
        })
        .await
        .unwrap();
    // No duplicates: every (type, txid, confirmations) once.
    let s = summary(&evs);
    let unique: BTreeSet<_> = s.iter().map(|(k, t, i, st, c, _)| (k, t, i, st, c)).collect();
    assert_eq!(unique.len(), s.len(), "duplicate events: {s:?}");
    // t1 was mined during the downtime: first seen in a block, confirmed to its target.
    assert!(has(&evs, "payment.detected", &t1, |d| d["status"] == "confirmed"));
    // Another restart changes nothing.
    rig.daemon.restart().await.unwrap();
    rig.wait_synced().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(summary(&rig.events(SHOP).await.unwrap()), s);
}

#[tokio::test]
async fn a_node_restart_drops_zmq_and_nothing_is_missed_and_the_daemon_survives_the_outage() {
    let mut rig = BtcRig::start(1).await.unwrap();
    let addr = rig.new_address().unwrap();
    rig.watch(SHOP, &addr, 1).await.unwrap();
    rig.node.stop();
    // The node is away: the daemon stays up and says so.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let h: Value = rig.daemon.health().await.unwrap();
        if h["chains"]["btc"]["status"] == "degraded" {
            assert!(h["chains"]["btc"]["detail"].as_str().unwrap().contains("unreachable"), "{h}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "health never said degraded: {h}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    rig.node.start_again().unwrap();
    let txid = rig.send(&addr, 0.7).unwrap();
    rig.mine(1).unwrap();
    rig.wait_events(SHOP, "detected and final after the restart", |e| {
        has(e, "payment.detected", &txid, |_| true) && has(e, "payment.confirmed", &txid, |d| d["final"] == true)
    })
    .await
    .unwrap();
    rig.wait_synced().await.unwrap();
}

#[tokio::test]
async fn a_mempool_payment_that_disappears_unmined_is_dropped() {
    let mut rig = BtcRig::start(1).await.unwrap();
    let addr = rig.new_address().unwrap();
    rig.watch(SHOP, &addr, 1).await.unwrap();
    let txid = rig.send(&addr, 0.4).unwrap();
    rig.wait_events(SHOP, "detected", |e| has(e, "payment.detected", &txid, |_| true)).await.unwrap();
    // Restart the node without its saved mempool and without the wallet that would
    // rebroadcast the transaction: it is gone from the network's view.
    rig.node.stop();
    let _ = std::fs::remove_file(rig.node.dir.path().join("regtest/mempool.dat"));
    rig.node.extra_args = vec!["-disablewallet=1".into(), "-persistmempool=0".into()];
    rig.node.start_again().unwrap();
    let mempool: Vec<String> = rig.rpc().call("getrawmempool", &[]).unwrap();
    assert!(!mempool.contains(&txid), "the node still has {txid}");
    let evs = rig.wait_events(SHOP, "dropped", |e| has(e, "payment.dropped", &txid, |_| true)).await.unwrap();
    let d = &evs.last().unwrap()["data"];
    assert_eq!((d["status"].as_str(), d["confirmations"].as_u64()), (Some("dropped"), Some(0)));
}

#[tokio::test]
async fn a_thousand_watches_and_two_hundred_payments_over_twenty_blocks() {
    let rig = BtcRig::start(1).await.unwrap();
    let addrs: Vec<String> = (0..1000).map(|_| rig.new_address().unwrap()).collect();
    for chunk in addrs.chunks(500) {
        let body = json!({"watches": chunk.iter().map(|a| json!({"chain": "btc", "address": a})).collect::<Vec<_>>()});
        let r = rig.daemon.req(reqwest::Method::POST, "/v1/watches/batch", SHOP).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201);
    }
    // 200 payments to every fifth address, amounts distinct, 10 per block.
    let mut expected = BTreeMap::new();
    for block in 0..20 {
        for i in 0..10 {
            let n = block * 10 + i;
            let addr = &addrs[n * 5];
            let sats = 100_000 + n as u64;
            let txid = rig.send(addr, sats as f64 / 1e8).unwrap();
            let vout = vout_of(&rig.rpc(), &txid, addr).unwrap();
            expected.insert((txid, vout), (addr.clone(), sats.to_string()));
        }
        rig.mine(1).unwrap();
    }
    let evs = rig
        .wait_events(SHOP, "200 final payments", |e| {
            of_type(e, "payment.confirmed").iter().filter(|e| e["data"]["final"] == true).count() >= 200
        })
        .await
        .unwrap();
    let mut got = BTreeMap::new();
    for e in of_type(&evs, "payment.confirmed") {
        let d = &e["data"];
        let k = (d["txid"].as_str().unwrap().to_string(), d["index"].as_u64().unwrap());
        let v = (d["address"].as_str().unwrap().to_string(), d["amount_base"].as_str().unwrap().to_string());
        assert!(got.insert(k, v).is_none(), "a payment confirmed twice: {e}");
    }
    assert_eq!(got, expected, "exactly the 200 payments, none extra");
    assert_eq!(of_type(&evs, "payment.detected").len(), 200);
}

/// A regtest node configured as `mainnet` (scriptPubKeys are the same on every network, so its
/// payments would settle mainnet invoices): the chain refuses to start, naming both genesis
/// blocks, nothing is recorded, and the daemon keeps serving.
#[tokio::test]
async fn a_node_on_another_network_than_configured_is_refused_and_the_daemon_serves() {
    use paywatch_tests::btc::btc_chains;
    use paywatch_tests::daemon::{config_with_chains, Daemon};
    use paywatch_tests::nodes::Bitcoind;
    let node = tokio::task::spawn_blocking(Bitcoind::start).await.unwrap().unwrap();
    let miner: String = node.rpc().call("getnewaddress", &[]).unwrap();
    node.rpc().call::<Vec<String>>("generatetoaddress", &[1.into(), miner.clone().into()]).unwrap();
    let chains = btc_chains(&node, 1, true).replace("network = \"regtest\"", "network = \"mainnet\"");
    assert!(chains.contains("network = \"mainnet\""));
    let plugins = [paywatch_tests::plugin_lib("bitcoin")];
    let daemon =
        Daemon::start_configured(|dir, port| config_with_chains(dir, port, &chains, ""), &plugins).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let h: Value = daemon.health().await.unwrap();
        let chain = &h["chains"]["btc"];
        if chain["status"] == "down" {
            let detail = chain["detail"].as_str().unwrap();
            assert!(
                detail.contains("0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206")
                    && detail.contains("network = \"mainnet\"")
                    && detail.contains("000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"),
                "{h}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the chain did not stop: {h}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // A payment to a watched address is never recorded.
    let (status, watch) = daemon
        .call(
            reqwest::Method::POST,
            "/v1/watches",
            SHOP,
            Some(json!({"chain": "btc", "address": "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"})),
        )
        .await;
    assert_eq!(status, 201, "the daemon keeps serving: {watch}");
    assert!(daemon.events(SHOP).await.unwrap().is_empty());
}
