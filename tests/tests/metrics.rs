//! `/metrics` on a daemon following a real regtest node: scraped before and after a reorg the
//! test makes, the chain's, the feed's, the endpoint's and the store's figures move as they
//! must; and every metric the Grafana dashboard and the alert rules use is one this scrape
//! declares.

use bitcoincore_rpc::RpcApi;
use paywatch_tests::btc::{shop3, BtcRig, SHOP, SHOP3_KEY};
use paywatch_tests::daemon::ADMIN_KEY;
use paywatch_tests::receiver::Receiver;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

/// One scrape: each sample's name, labels and value.
struct Scrape {
    text: String,
}

impl Scrape {
    async fn of(rig: &BtcRig) -> Self {
        let r = rig.daemon.req(Method::GET, "/metrics", ADMIN_KEY).send().await.unwrap();
        assert_eq!(r.status(), 200);
        Self { text: r.text().await.unwrap() }
    }

    /// The value of the sample `name` whose labels include each of `labels` (`k="v"`); 0 when
    /// there is none (a counter not yet made).
    fn get(&self, name: &str, labels: &[&str]) -> f64 {
        self.text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (series, value) = l.rsplit_once(' ')?;
                let (n, rest) = series.split_once('{').unwrap_or((series, ""));
                (n == name && labels.iter().all(|want| rest.contains(want))).then(|| value.parse::<f64>().unwrap())
            })
            .next()
            .unwrap_or(0.0)
    }

    /// Every name a query may use: each sample's, and each declared family's with the suffixes
    /// its type gives its samples (a family with no series yet still declares its type).
    fn names(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for l in self.text.lines() {
            if let Some(decl) = l.strip_prefix("# TYPE ") {
                let (name, kind) = decl.split_once(' ').unwrap();
                let suffixes: &[&str] = match kind {
                    "counter" => &["_total"],
                    "histogram" => &["", "_bucket", "_sum", "_count"],
                    "info" => &["_info"],
                    _ => &[""],
                };
                out.extend(suffixes.iter().map(|s| format!("{name}{s}")));
            } else if !l.starts_with('#') {
                out.insert(l.split(['{', ' ']).next().unwrap().to_string());
            }
        }
        out
    }
}

/// The `paywatch_…` names a file uses.
fn used_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("paywatch_") {
        let rest = &text[i..];
        let end =
            rest.find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')).unwrap_or(rest.len());
        out.insert(rest[..end].to_string());
    }
    out
}

async fn wait_scrape(rig: &BtcRig, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    for _ in 0..600 {
        let s = Scrape::of(rig).await;
        if done(&s) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("metrics never showed {what}:\n{}", Scrape::of(rig).await.text);
}

#[tokio::test]
async fn metrics_move_as_a_regtest_reorg_disconnects_and_connects_blocks() {
    let extra = format!("\n[dispatch]\nallow_private = [\"127.0.0.1/32\"]\n{}", shop3(86_400, 604_800));
    let rig = BtcRig::start_with(1, &extra).await.unwrap();
    let rx = Receiver::ok().await;
    let (s, ep) = rig
        .daemon
        .call(
            Method::POST,
            "/v1/endpoints",
            SHOP,
            Some(json!({"plugin": "webhook", "url": rx.url("/"), "events": ["payment.*"],
                "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})),
        )
        .await;
    assert_eq!(s, 201, "{ep}");
    let endpoint = format!("endpoint=\"{}\"", ep["id"].as_str().unwrap());
    let (s, inv) = rig
        .daemon
        .call(
            Method::POST,
            "/v1/invoices",
            SHOP3_KEY,
            Some(json!({"asset": "BTC", "amount": "0.001", "order_id": "m1"})),
        )
        .await;
    assert_eq!(s, 201, "{inv}");

    // A payment confirmed in a block, delivered to the shop (coins mature enough that the
    // reorg below cannot make its inputs immature).
    rig.mine(10).unwrap();
    let addr = rig.new_address().unwrap();
    rig.watch(SHOP, &addr, 1).await.unwrap();
    let txid = rig.send(&addr, 0.5).unwrap();
    rig.mine(1).unwrap();
    rig.wait_synced().await.unwrap();
    rx.wait("the confirmation", |g| g.iter().any(|r| r.body.contains("payment.confirmed"))).await;
    let chain = ["chain=\"btc\""];
    let before = wait_scrape(&rig, "the deliveries acknowledged", |s| {
        s.get("paywatch_endpoint_delivery_attempts_total", &[&endpoint, "verdict=\"ack\""]) >= 2.0
            && s.get("paywatch_endpoint_pending_deliveries", &[&endpoint]) == 0.0
    })
    .await;
    let height = rig.height().unwrap() as f64;
    assert_eq!(before.get("paywatch_chain_local_tip_height", &chain), height, "{}", before.text);
    assert_eq!(before.get("paywatch_chain_node_tip_height", &chain), height);
    assert_eq!(before.get("paywatch_chain_feed_up", &["chain=\"btc\"", "feed=\"zmq\""]), 1.0, "{}", before.text);
    assert!(before.get("paywatch_chain_feed_messages_total", &chain) >= 2.0, "rawtx and rawblock at least");
    assert!(before.get("paywatch_chain_blocks_connected_total", &chain) >= 1.0);
    assert_eq!(before.get("paywatch_chain_stopped", &chain), 0.0);
    let best: String = rig.rpc().call("getbestblockhash", &[]).unwrap();
    let header: Value = rig.rpc().call("getblockheader", &[best.into(), true.into()]).unwrap();
    assert_eq!(before.get("paywatch_chain_last_block_timestamp_seconds", &chain), header["time"].as_f64().unwrap());
    assert_eq!(before.get("paywatch_invoice_transitions_total", &["store=\"shop3\"", "status=\"new\""]), 1.0);
    assert_eq!(before.get("paywatch_events_total", &["store=\"shop1\"", "type=\"payment.confirmed\""]), 1.0);
    assert!(before.get("paywatch_rocksdb_wal_bytes", &[]) > 0.0, "{}", before.text);
    assert!(before.get("paywatch_rocksdb_memory_budget_bytes", &[]) > 0.0);

    // A reorg 2 deep: the block below the tip invalidated, 3 others mined instead.
    let tip = rig.height().unwrap();
    let fork: String = rig.rpc().call("getblockhash", &[(tip - 1).into()]).unwrap();
    rig.rpc().call::<Value>("invalidateblock", &[fork.into()]).unwrap();
    let elsewhere = rig.new_address().unwrap();
    rig.rpc().call::<Vec<String>>("generatetoaddress", &[3.into(), elsewhere.into()]).unwrap();
    rig.wait_synced().await.unwrap();
    rx.wait("the reversal", |g| g.iter().any(|r| r.body.contains("payment.reversed") && r.body.contains(&txid))).await;
    let acked = before.get("paywatch_endpoint_delivery_attempts_total", &[&endpoint, "verdict=\"ack\""]);
    let after = wait_scrape(&rig, "the reversal acknowledged", |s| {
        s.get("paywatch_endpoint_delivery_attempts_total", &[&endpoint, "verdict=\"ack\""]) > acked
            && s.get("paywatch_endpoint_pending_deliveries", &[&endpoint]) == 0.0
    })
    .await;
    let height = rig.height().unwrap() as f64;
    assert_eq!(height, tip as f64 + 1.0);
    let moved = |name: &str| after.get(name, &chain) - before.get(name, &chain);
    assert!(moved("paywatch_chain_blocks_disconnected_total") >= 2.0, "{}", after.text);
    assert!(moved("paywatch_chain_blocks_connected_total") >= 3.0, "{}", after.text);
    assert!(after.get("paywatch_chain_deepest_reorg_blocks", &chain) >= 2.0, "{}", after.text);
    assert!(moved("paywatch_chain_reorg_depth_blocks_count") >= 1.0, "{}", after.text);
    assert_eq!(after.get("paywatch_chain_local_tip_height", &chain), height);
    assert_eq!(after.get("paywatch_chain_node_tip_height", &chain), height);
    assert_eq!(after.get("paywatch_chain_feed_up", &["chain=\"btc\"", "feed=\"zmq\""]), 1.0);
    assert!(moved("paywatch_chain_feed_messages_total") >= 3.0, "a message per block at least");
    assert!(after.get("paywatch_events_total", &["store=\"shop1\"", "type=\"payment.reversed\""]) >= 1.0);
    assert!(after.get("paywatch_endpoint_delivery_duration_seconds_count", &[&endpoint]) > acked);
    assert_eq!(after.get("paywatch_chain_sync_failures_total", &["chain=\"btc\"", "kind=\"fatal\""]), 0.0);
    assert_eq!(after.get("paywatch_chain_verification_failures_total", &["chain=\"btc\"", "what=\"block\""]), 0.0);

    // The dashboard and the alert rules use only what the daemon exports.
    let exported = after.names();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for file in ["packaging/grafana/paywatch.json", "packaging/prometheus/alerts.yml", "docs/metrics.md"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        if file.ends_with(".json") {
            serde_json::from_str::<Value>(&text).unwrap();
        }
        let unknown: Vec<_> = used_names(&text).into_iter().filter(|n| !exported.contains(n)).collect();
        assert!(unknown.is_empty(), "{file} uses metrics the daemon does not export: {unknown:?}");
    }
}
