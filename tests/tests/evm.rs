//! EVM end to end on a real anvil with real ERC-20 contracts: Ether and token payments,
//! reverted transactions, unconfigured tokens, `anvil_reorg`, a node restarted from `--state`
//! with the WebSocket dropped, daemon downtime, invoices in ETH and in a token, blocks of each
//! transaction type verified against their headers, and Ether paid by contracts from traces
//! (a 200-deep call stack included).

use paywatch_tests::daemon::SHOP1_KEY;
use paywatch_tests::evm::{fresh_address, EthOptions, EthRig, DEV0, DEV1, DEV2, DEV_XPUB};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const SHOP: &str = SHOP1_KEY;

/// The payment events of a txid: (type, confirmations, final, block hash).
fn of_tx(events: &[Value], txid: &str) -> Vec<(String, u64, bool, String)> {
    events
        .iter()
        .filter(|e| e["data"]["txid"] == txid)
        .map(|e| {
            let d = &e["data"];
            (
                e["type"].as_str().unwrap().to_string(),
                d["confirmations"].as_u64().unwrap(),
                d["final"].as_bool().unwrap(),
                d["block_hash"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn kinds(events: &[(String, u64, bool, String)]) -> Vec<&str> {
    events.iter().map(|e| e.0.as_str()).collect()
}

#[tokio::test]
async fn ether_to_a_watched_address_is_detected_then_confirmed_block_by_block() {
    let rig = EthRig::start().await.unwrap();
    ether_payment(&rig).await;
}

/// The same over a node reached by WebSocket only (no `http_url`: requests share the socket).
#[tokio::test]
async fn a_websocket_only_node_works_the_same() {
    let rig = EthRig::start_with(EthOptions { ws_only: true, ..Default::default() }).await.unwrap();
    ether_payment(&rig).await;
}

async fn ether_payment(rig: &EthRig) {
    let to = fresh_address(1);
    rig.watch(SHOP, &to, 3).await.unwrap();
    let txid = rig.send_eth(&to, 500_000_000_000_000_000).await.unwrap();
    let receipt = paywatch_tests::evm::receipt(&rig.node, &txid).await.unwrap();
    let evs = rig.daemon.wait_events(SHOP, "detected", |e| of_tx(e, &txid).len() >= 2).await.unwrap();
    let first = evs.iter().find(|e| e["data"]["txid"] == txid).unwrap();
    let d = &first["data"];
    assert_eq!(first["type"], "payment.detected");
    assert_eq!((d["asset"].as_str(), d["chain"].as_str()), (Some("ETH"), Some("eth")));
    assert_eq!((d["amount"].as_str(), d["amount_base"].as_str()), (Some("0.5"), Some("500000000000000000")));
    assert_eq!(d["block_hash"], receipt["blockHash"]);
    assert_eq!(
        d["block_height"].as_u64(),
        u64::from_str_radix(receipt["blockNumber"].as_str().unwrap().trim_start_matches("0x"), 16).ok()
    );
    // The address as the plugin normalizes it (EIP-55).
    assert_eq!(d["address"].as_str().unwrap().to_lowercase(), to);
    assert_ne!(d["address"].as_str().unwrap(), to, "checksummed, not lowercase");

    rig.mine(2).await.unwrap();
    let evs = rig.daemon.wait_events(SHOP, "final", |e| of_tx(e, &txid).iter().any(|x| x.2)).await.unwrap();
    let got: Vec<(String, u64, bool)> = of_tx(&evs, &txid).into_iter().map(|(k, c, f, _)| (k, c, f)).collect();
    assert_eq!(
        got,
        [
            ("payment.detected".into(), 1, false),
            ("payment.confirmed".into(), 1, false),
            ("payment.confirmed".into(), 2, false),
            ("payment.confirmed".into(), 3, true)
        ]
    );
    let (status, p) = rig.daemon.call(Method::GET, &format!("/v1/payments/eth/{txid}"), SHOP, None).await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["items"][0]["status"], "confirmed", "{p}");
}

#[tokio::test]
async fn reverted_transactions_and_unconfigured_tokens_pay_nothing_configured_tokens_do() {
    let rig = EthRig::start().await.unwrap();
    let b = fresh_address(2);
    rig.watch(SHOP, &rig.token, 1).await.unwrap(); // a contract that rejects Ether
    rig.watch(SHOP, &b, 1).await.unwrap();
    let reverted = rig.send_eth_reverting(&rig.token, 10_u128.pow(15)).await.unwrap();
    let other = rig.transfer(&rig.other_token, &b, 7 * 10_u128.pow(18)).await.unwrap();
    // A token transfer to a watched address in a transaction that reverts: the token's own
    // check fails (more than the balance), so the Transfer log never exists; and ETH sent with
    // a failing call never counts.
    let paid = rig.transfer(&rig.token, &b, 2_500_000_000_000_000_000).await.unwrap();
    let evs = rig.daemon.wait_events(SHOP, "the token payment", |e| !of_tx(e, &paid).is_empty()).await.unwrap();
    rig.wait_synced().await.unwrap();
    let evs = if evs.len() < 2 { rig.daemon.events(SHOP).await.unwrap() } else { evs };
    assert!(of_tx(&evs, &reverted).is_empty(), "a reverted transaction paid: {evs:#?}");
    assert!(of_tx(&evs, &other).is_empty(), "an unconfigured token paid: {evs:#?}");
    let p = &evs.iter().find(|e| e["data"]["txid"] == paid).unwrap()["data"];
    assert_eq!((p["asset"].as_str(), p["amount"].as_str()), (Some("TOK"), Some("2.5")));
    assert_eq!(p["amount_base"], "2500000000000000000");
    assert_eq!(evs.len(), 2, "detected + confirmed of the token payment only: {evs:#?}");
    // The log index is the payment's index.
    let receipt = paywatch_tests::evm::receipt(&rig.node, &paid).await.unwrap();
    let log_index =
        u64::from_str_radix(receipt["logs"][0]["logIndex"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    assert_eq!(p["index"].as_u64(), Some(log_index));
}

#[tokio::test]
async fn anvil_reorg_reverses_the_payment_and_a_replacement_block_with_it_pays_again() {
    let rig = EthRig::start_with(EthOptions { confirmations: Some(2), ..Default::default() }).await.unwrap();
    let to = fresh_address(3);
    rig.watch(SHOP, &to, 2).await.unwrap();
    // A signed transaction we can put into a replacement block: same hash there.
    let nonce = rig.node.rpc("eth_getTransactionCount", json!([DEV0, "latest"])).await.unwrap();
    let tx = json!({"from": DEV0, "to": to, "value": "0x2386f26fc10000", "gas": "0x5208", "nonce": nonce,
                    "maxFeePerGas": "0x3b9aca000", "maxPriorityFeePerGas": "0x1", "chainId": "0x7a69"});
    let raw = rig.node.rpc("eth_signTransaction", json!([tx])).await.unwrap();
    let txid = rig.node.rpc("eth_sendRawTransaction", json!([raw])).await.unwrap().as_str().unwrap().to_string();
    paywatch_tests::evm::receipt(&rig.node, &txid).await.unwrap();
    let evs = rig.daemon.wait_events(SHOP, "detected", |e| of_tx(e, &txid).len() >= 2).await.unwrap();
    let first_block = of_tx(&evs, &txid)[0].3.clone();

    rig.node.rpc("anvil_reorg", json!([1, []])).await.unwrap();
    let evs = rig
        .daemon
        .wait_events(SHOP, "reversed", |e| kinds(&of_tx(e, &txid)).contains(&"payment.reversed"))
        .await
        .unwrap();
    assert_eq!(kinds(&of_tx(&evs, &txid)), ["payment.detected", "payment.confirmed", "payment.reversed"]);

    rig.node.rpc("anvil_reorg", json!([1, [[raw, 0]]])).await.unwrap();
    let evs = rig.daemon.wait_events(SHOP, "detected again", |e| of_tx(e, &txid).len() >= 5).await.unwrap();
    let got = of_tx(&evs, &txid);
    assert_eq!(
        kinds(&got),
        ["payment.detected", "payment.confirmed", "payment.reversed", "payment.detected", "payment.confirmed"]
    );
    let latest = rig.latest().await.unwrap();
    assert_eq!(got[4].3, latest["hash"].as_str().unwrap(), "confirmed in the replacement block");
    assert_ne!(got[4].3, first_block);
    rig.mine(1).await.unwrap();
    let evs = rig.daemon.wait_events(SHOP, "final", |e| of_tx(e, &txid).iter().any(|x| x.2)).await.unwrap();
    assert_eq!(of_tx(&evs, &txid).len(), 6);
}

#[tokio::test]
async fn node_restarts_from_state_websocket_drops_and_daemon_downtime_miss_nothing() {
    let state = tempfile::tempdir().unwrap();
    let opts =
        EthOptions { confirmations: Some(2), state: Some(state.path().join("anvil.json")), ..Default::default() };
    let mut rig = EthRig::start_with(opts).await.unwrap();
    let addrs: Vec<String> = (10..16).map(fresh_address).collect();
    for a in &addrs {
        rig.watch(SHOP, a, 2).await.unwrap();
    }
    let mut paid = vec![rig.send_eth(&addrs[0], 1_000).await.unwrap()];
    rig.daemon.wait_events(SHOP, "first payment", |e| !of_tx(e, &paid[0]).is_empty()).await.unwrap();

    // The node goes away (the WebSocket drops) and comes back from its state file.
    rig.node.stop().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    rig.node.start_again().await.unwrap();
    paid.push(rig.send_eth(&addrs[1], 2_000).await.unwrap());
    paid.push(rig.transfer(&rig.token, &addrs[2], 3_000).await.unwrap());
    rig.daemon
        .wait_events(SHOP, "payments after the node's restart", |e| !of_tx(e, &paid[2]).is_empty())
        .await
        .unwrap();
    let health: Value = rig.daemon.health().await.unwrap();
    assert_eq!(health["chains"]["eth"]["status"], "ok", "{health}");

    // The daemon is down while both happen: payments and blocks, and another node restart.
    rig.daemon.stop().await.unwrap();
    paid.push(rig.send_eth(&addrs[3], 4_000).await.unwrap());
    rig.node.stop().await.unwrap();
    rig.node.start_again().await.unwrap();
    paid.push(rig.transfer(&rig.token, &addrs[4], 5_000).await.unwrap());
    paid.push(rig.send_eth(&addrs[5], 6_000).await.unwrap());
    rig.mine(3).await.unwrap();
    rig.daemon.restart().await.unwrap();
    rig.wait_synced().await.unwrap();
    let evs = rig.daemon.events(SHOP).await.unwrap();
    let mut seen: BTreeMap<(String, String, u64), usize> = BTreeMap::new();
    for e in &evs {
        let k = (
            e["type"].as_str().unwrap().to_string(),
            e["data"]["txid"].as_str().unwrap().to_string(),
            e["data"]["confirmations"].as_u64().unwrap(),
        );
        *seen.entry(k).or_default() += 1;
    }
    assert!(seen.values().all(|&n| n == 1), "duplicated events: {seen:#?}");
    for (i, txid) in paid.iter().enumerate() {
        let got = of_tx(&evs, txid);
        assert_eq!(
            kinds(&got),
            ["payment.detected", "payment.confirmed", "payment.confirmed"],
            "payment {i}: {got:#?}"
        );
        assert!(got[2].2, "payment {i} final");
    }
    assert_eq!(evs.len(), 3 * paid.len(), "nothing else: {evs:#?}");
}

const SHOP_ETH_KEY: &str = "shop_eth_GrFJarxfIPYFY7UVuAOCBkrHMH";

/// A store taking ETH invoices at addresses from the dev mnemonic's account xpub and token
/// invoices at a fixed address list.
fn shop_eth(token_addresses: &[String]) -> String {
    let list = token_addresses.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(", ");
    format!(
        r#"
[[stores]]
id = "shop-eth"
api_key = "{SHOP_ETH_KEY}"
speed = 1
[stores.receive.ETH]
xpub = "{DEV_XPUB}"
[stores.receive.TOK]
addresses = [{list}]
"#
    )
}

async fn wait_status(rig: &EthRig, id: &str, status: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (_, inv) = rig.daemon.call(Method::GET, &format!("/v1/invoices/{id}"), SHOP_ETH_KEY, None).await;
        if inv["status"] == status {
            return inv;
        }
        assert!(std::time::Instant::now() < deadline, "invoice never {status}: {inv}\nlog:\n{}", rig.daemon.log());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn invoices_in_ether_and_in_a_token_settle_and_count_only_their_asset() {
    let token_addr = fresh_address(40);
    let opts =
        EthOptions { confirmations: Some(1), extra: shop_eth(std::slice::from_ref(&token_addr)), ..Default::default() };
    let rig = EthRig::start_with(opts).await.unwrap();
    let create = |body: Value| {
        let rig = &rig;
        async move {
            let (status, v) = rig.daemon.call(Method::POST, "/v1/invoices", SHOP_ETH_KEY, Some(body)).await;
            assert_eq!(status, 201, "{v}");
            v
        }
    };
    // ETH: the first address of the xpub is dev account 0 (m/44'/60'/0'/0/0).
    let eth = create(json!({"asset": "ETH", "amount": "0.25", "order_id": "e-1"})).await;
    assert_eq!(eth["address"], DEV0);
    assert_eq!(eth["payment_uri"], format!("ethereum:{DEV0}@31337?value=250000000000000000"));
    let tok = create(json!({"asset": "TOK", "amount": "12.5", "order_id": "t-1"})).await;
    // An EVM asset's largest invoice is 10^15 of its unit by default.
    let huge = json!({"asset": "TOK", "amount": "1000000000000001", "order_id": "t-huge"});
    let (status, v) = rig.daemon.call(Method::POST, "/v1/invoices", SHOP_ETH_KEY, Some(huge)).await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("amount_too_large")), "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("the largest invoice of TOK, 1000000000000000"), "{v}");
    let tok_address = tok["address"].as_str().unwrap().to_string();
    assert_eq!(tok_address.to_lowercase(), token_addr);
    assert_eq!(
        tok["payment_uri"],
        format!("ethereum:{}@31337/transfer?address={tok_address}&uint256=12500000000000000000", checksum(&rig.token))
    );

    // Ether paid to the token invoice's address is not a token payment.
    rig.send_eth(&tok_address, 10_u128.pow(18)).await.unwrap();
    rig.transfer(&rig.token, &tok_address, 12_500_000_000_000_000_000).await.unwrap();
    // Dev account 1 pays the ETH invoice (account 0 is the invoice's address).
    let one = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
    paywatch_tests::evm::send(&rig.node, json!({"from": one, "to": DEV0, "value": "0x3782dace9d90000"})).await.unwrap();

    let eth = wait_status(&rig, eth["id"].as_str().unwrap(), "settled").await;
    assert_eq!((eth["amount_paid"].as_str(), eth["exception"].as_str()), (Some("0.25"), Some("none")), "{eth}");
    let tok = wait_status(&rig, tok["id"].as_str().unwrap(), "settled").await;
    assert_eq!((tok["amount_paid"].as_str(), tok["exception"].as_str()), (Some("12.5"), Some("none")), "{tok}");
    let payments = tok["payments"].as_array().unwrap();
    assert_eq!(payments.len(), 1, "only the token payment counts: {tok}");
    assert_eq!(payments[0]["asset"], "TOK");
}

/// The EIP-55 form of an address (checked against the EIP's vectors in `evm-common`).
fn checksum(address: &str) -> String {
    paywatch_evm_common::address::to_checksum(&paywatch_evm_common::address::parse(address).unwrap())
}

/// Ether paid out by a contract (OpenZeppelin's `PaymentSplitter.release`, an internal call)
/// is invisible without traces and credited with either trace flavour; a release that reverts
/// credits nothing.
#[tokio::test]
async fn ether_sent_by_a_contract_is_credited_from_traces() {
    for traces in [None, Some("parity"), Some("geth")] {
        let opts = EthOptions { confirmations: Some(1), traces, ..Default::default() };
        let rig = EthRig::start_with(opts).await.unwrap();
        let (w, x) = (fresh_address(60), fresh_address(61));
        rig.watch(SHOP, &w, 1).await.unwrap();
        let splitter = paywatch_tests::evm::deploy_splitter(&rig.node, &[&w, &x]).await.unwrap();
        rig.send_eth(&splitter, 2 * 10_u128.pow(18)).await.unwrap();
        let released = paywatch_tests::evm::release(&rig.node, &splitter, &w).await.unwrap();
        // Nothing is due any more: this one reverts ("account is not due payment").
        let reverted = paywatch_tests::evm::release(&rig.node, &splitter, &w).await.unwrap();
        let r = paywatch_tests::evm::receipt(&rig.node, &reverted).await.unwrap();
        assert_eq!(r["status"], "0x0", "{r}");
        // A direct payment afterwards: once it is in, every earlier block was scanned.
        let marker = rig.send_eth(&w, 3).await.unwrap();
        let evs = rig.daemon.wait_events(SHOP, "the marker payment", |e| !of_tx(e, &marker).is_empty()).await.unwrap();
        assert!(of_tx(&evs, &reverted).is_empty(), "{traces:?}: a reverted release paid: {evs:#?}");
        let got = of_tx(&evs, &released);
        if traces.is_none() {
            assert!(got.is_empty(), "without traces an internal transfer is not seen: {evs:#?}");
            continue;
        }
        assert_eq!(kinds(&got), ["payment.detected", "payment.confirmed"], "{traces:?}: {evs:#?}");
        let d = &evs.iter().find(|e| e["data"]["txid"] == released).unwrap()["data"];
        assert_eq!((d["amount"].as_str(), d["asset"].as_str()), (Some("1"), Some("ETH")), "{traces:?}");
        assert_eq!(d["index"].as_u64(), Some(u32::MAX as u64 - 1), "the first internal transfer of its tx");
    }
}

/// With `verify_blocks` on (the default) every block is checked against its header before it
/// is scanned: legacy, EIP-2930 and EIP-1559 transactions (anvil's types) are re-encoded and
/// hashed to the header's roots, and their payments come through.
#[tokio::test]
async fn blocks_with_each_transaction_type_are_verified_and_followed() {
    let rig = EthRig::start_with(EthOptions { confirmations: Some(1), ..Default::default() }).await.unwrap();
    let (a, b, c) = (fresh_address(80), fresh_address(81), fresh_address(82));
    for w in [&a, &b, &c] {
        rig.watch(SHOP, w, 1).await.unwrap();
    }
    // One sender per type (anvil's miner orders one sender's mixed types by fee, not nonce).
    let send = |tx: Value| paywatch_tests::evm::send(&rig.node, tx);
    let legacy = send(json!({"from": DEV1, "to": a, "value": "0x10", "gasPrice": "0x77359400", "type": "0x0"}));
    let legacy = legacy.await.unwrap();
    let access = json!([{"address": b, "storageKeys": [format!("0x{:064x}", 1)]}]);
    let eip2930 = send(json!({"from": DEV2, "to": b, "value": "0x20", "gasPrice": "0x77359400", "type": "0x1",
                              "accessList": access}));
    let eip2930 = eip2930.await.unwrap();
    let eip1559 = rig.send_eth(&c, 0x30).await.unwrap();
    let evs = rig.daemon.wait_events(SHOP, "three payments", |e| !of_tx(e, &eip1559).is_empty()).await.unwrap();
    for (tx, ty) in [(&legacy, "0x0"), (&eip2930, "0x1"), (&eip1559, "0x2")] {
        let t = rig.node.rpc("eth_getTransactionByHash", json!([tx])).await.unwrap();
        assert_eq!(t["type"], ty, "{t}");
        assert_eq!(kinds(&of_tx(&evs, tx)), ["payment.detected", "payment.confirmed"], "type {ty}: {evs:#?}");
    }
    rig.wait_synced().await.unwrap();
    assert!(!rig.daemon.log().contains("checked by their header hash only"), "anvil's blocks are checked in full");
}

/// A contract that calls itself 200 deep, passing its value down, and pays a watched address at
/// the bottom: the `callTracer` reply nests 201 calls (serde_json's default recursion limit gave
/// up at about 63, and the block was retried forever). With `traces = "geth"` the chain keeps
/// following and the payment is credited as the transaction's 201st internal transfer.
#[tokio::test]
async fn a_payment_at_the_bottom_of_a_200_deep_call_stack_is_credited_from_geth_traces() {
    let opts = EthOptions { confirmations: Some(1), traces: Some("geth"), ..Default::default() };
    let rig = EthRig::start_with(opts).await.unwrap();
    let w = fresh_address(70);
    rig.watch(SHOP, &w, 1).await.unwrap();
    let contract = paywatch_tests::evm::deploy_recursive(&rig.node).await.unwrap();
    let deep = paywatch_tests::evm::recurse(&rig.node, &contract, 200, &w, 777).await.unwrap();
    let r = paywatch_tests::evm::receipt(&rig.node, &deep).await.unwrap();
    assert_eq!(r["status"], "0x1", "the calls went down to the bottom: {r}");
    // A direct payment afterwards: once it is in, the deep transaction's block was followed.
    let marker = rig.send_eth(&w, 3).await.unwrap();
    let evs = rig.daemon.wait_events(SHOP, "the marker payment", |e| !of_tx(e, &marker).is_empty()).await.unwrap();
    let got = of_tx(&evs, &deep);
    assert_eq!(kinds(&got), ["payment.detected", "payment.confirmed"], "{evs:#?}");
    let d = &evs.iter().find(|e| e["data"]["txid"] == deep).unwrap()["data"];
    assert_eq!((d["amount_base"].as_str(), d["asset"].as_str()), (Some("777"), Some("ETH")), "{d}");
    assert_eq!(d["index"].as_u64(), Some(u32::MAX as u64 - 1 - 200), "200 value calls above it, one per level");
    rig.wait_synced().await.unwrap();
}

/// A token configured with other decimals than its contract's `decimals()` would misstate every
/// amount by powers of ten: the chain stops, saying why, and the daemon keeps serving.
#[tokio::test]
async fn token_decimals_that_disagree_with_the_contract_stop_the_chain() {
    let opts = EthOptions { token_decimals: Some(6), no_sync_wait: true, ..Default::default() };
    let rig = EthRig::start_with(opts).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let h: Value = rig.daemon.health().await.unwrap();
        let chain = &h["chains"]["eth"];
        if chain["status"] == "down" {
            let detail = chain["detail"].as_str().unwrap();
            assert!(
                detail.contains("asset \"TOK\"") && detail.contains("says decimals() = 18, the config says 6"),
                "{h}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the chain did not stop: {h}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (status, _) = rig.daemon.call(Method::GET, "/v1/watches", SHOP, None).await;
    assert_eq!(status, 200, "the daemon keeps serving");
}
