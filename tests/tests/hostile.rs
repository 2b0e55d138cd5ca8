//! Never credit what the chain did not do, against hostile parts beside a real node: a ZMQ
//! publisher forging blocks and transactions, and an RPC proxy substituting the transactions
//! of the blocks it relays. The real binary, the real plugin, the real regtest node.

use bitcoincore_rpc::bitcoin::consensus;
use bitcoincore_rpc::RpcApi;
use paywatch_tests::btc::{btc_chains, shop3, SHOP3_KEY};
use paywatch_tests::daemon::{config_with_chains, Daemon};
use paywatch_tests::hostile::{forged_block, forged_tx, script_of, substituted, RpcProxy, ZmqForger};
use paywatch_tests::nodes::Bitcoind;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A funded node (101 blocks) and its mining address.
async fn node() -> (Bitcoind, String) {
    let node = tokio::task::spawn_blocking(Bitcoind::start).await.unwrap().unwrap();
    let miner: String = node.rpc().call("getnewaddress", &[]).unwrap();
    node.rpc().call::<Vec<String>>("generatetoaddress", &[101.into(), miner.clone().into()]).unwrap();
    (node, miner)
}

/// The `btc` chain ([`btc_chains`]) with RPC at `rpc_url` and the given ZMQ lines; shop3
/// takes invoices.
async fn daemon(node: &Bitcoind, rpc_url: &str, zmq: &str) -> Daemon {
    let chains = btc_chains(node, 1, false)
        .replace(&node.rpc_url(), rpc_url)
        .replace("poll_secs = 1", &format!("poll_secs = 1\n{zmq}"));
    let plugins = [paywatch_tests::plugin_lib("bitcoin")];
    let extra = shop3(86_400, 60);
    Daemon::start_configured(|dir, port| config_with_chains(dir, port, &chains, &extra), &plugins).await.unwrap()
}

/// A `speed: high` invoice (settled by an unconfirmed payment): (id, address).
async fn invoice(daemon: &Daemon) -> (String, String) {
    let body = json!({"asset": "BTC", "amount": "0.5", "order_id": "hostile", "speed": "high"});
    let (status, v) = daemon.call(Method::POST, "/v1/invoices", SHOP3_KEY, Some(body)).await;
    assert_eq!(status, 201, "{v}");
    (v["id"].as_str().unwrap().to_string(), v["address"].as_str().unwrap().to_string())
}

async fn get_invoice(daemon: &Daemon, id: &str) -> Value {
    daemon.call(Method::GET, &format!("/v1/invoices/{id}"), SHOP3_KEY, None).await.1
}

async fn chain_health(daemon: &Daemon) -> Value {
    let h: Value = daemon.health().await.unwrap();
    h["chains"]["btc"].clone()
}

/// Waits (publishing `again` meanwhile, for ZMQ's slow joiner) until the log says `what`.
async fn until_logged(daemon: &Daemon, what: &str, mut again: impl FnMut()) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !daemon.log().contains(what) {
        assert!(Instant::now() < deadline, "the log never said {what:?}:\n{}", daemon.log());
        again();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn payment_events(events: &[Value]) -> Vec<&Value> {
    events.iter().filter(|e| e["type"] != "invoice.created").collect()
}

/// A forged block on our tip (proof of work right, its coinbase paying the invoice), a real
/// header with substituted transactions, and a forged transaction paying a `speed: high`
/// invoice, all published on the chain's ZMQ endpoint: nothing is recorded, nothing settles,
/// the log names what was refused; the real payment then settles the invoice.
#[tokio::test]
async fn a_hostile_zmq_publisher_credits_nothing() {
    let (node, miner) = node().await;
    let mut forger = ZmqForger::bind().unwrap();
    // The forger holds the block and transaction topics; block hashes come from the node.
    let zmq = format!(
        "zmq_rawtx = \"{f}\"\nzmq_rawblock = \"{f}\"\nzmq_hashblock = \"{n}\"",
        f = forger.endpoint,
        n = node.zmq_url()
    );
    let daemon = daemon(&node, &node.rpc_url(), &zmq).await;
    let tip: String = node.rpc().call("getbestblockhash", &[]).unwrap();
    daemon.wait_chain_at("btc", &tip).await.unwrap();
    let (id, address) = invoice(&daemon).await;
    let script = script_of(&address).unwrap();

    let block = forged_block(&tip, script.clone(), 50_000_000).unwrap();
    let raw = consensus::serialize(&block);
    until_logged(&daemon, "zmq rawblock not confirmed by the node", || forger.publish("rawblock", &raw).unwrap()).await;
    let tx = consensus::serialize(&forged_tx(script.clone(), 50_000_000));
    until_logged(&daemon, "zmq rawtx the node does not hold: ignored", || forger.publish("rawtx", &tx).unwrap()).await;

    // A real block, published with its coinbase paying the invoice instead.
    let real = node.rpc().call::<Vec<String>>("generatetoaddress", &[1.into(), miner.clone().into()]).unwrap();
    let real_raw: String = node.rpc().call("getblock", &[real[0].clone().into(), 0.into()]).unwrap();
    let real_block: bitcoincore_rpc::bitcoin::Block = consensus::deserialize(&hex::decode(real_raw).unwrap()).unwrap();
    let forged = consensus::serialize(&substituted(&real_block, &script));
    for _ in 0..10 {
        forger.publish("rawblock", &forged).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    daemon.wait_chain_at("btc", &real[0]).await.unwrap();
    let inv = get_invoice(&daemon, &id).await;
    assert_eq!((inv["status"].as_str(), inv["amount_paid"].as_str()), (Some("new"), Some("0")), "{inv}");
    let events = daemon.events(SHOP3_KEY).await.unwrap();
    assert!(payment_events(&events).is_empty(), "nothing but invoice.created: {events:#?}");
    assert_eq!(inv["payments"], json!([]), "{inv}");

    // The customer really pays: seen through RPC polling, it settles the invoice.
    let txid: String = node.rpc().call("sendtoaddress", &[address.clone().into(), 0.5.into()]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let inv = get_invoice(&daemon, &id).await;
        if inv["status"] == "settled" {
            assert_eq!(inv["payments"][0]["txid"], txid, "{inv}");
            break;
        }
        assert!(Instant::now() < deadline, "the real payment did not settle: {inv}\n{}", daemon.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A proxy between daemon and node substitutes the transactions of the blocks it relays (their
/// coinbase pays the invoice): each block is refused by its merkle root, the chain is
/// `degraded` naming the block, no payment appears; with the proxy honest again the chain
/// catches up with the real blocks.
#[tokio::test]
async fn blocks_altered_between_node_and_daemon_are_refused_until_served_intact() {
    let (node, miner) = node().await;
    let proxy = RpcProxy::start(&node.rpc_url()).await.unwrap();
    let daemon = daemon(&node, &proxy.url, &format!("zmq = \"{}\"", node.zmq_url())).await;
    let tip: String = node.rpc().call("getbestblockhash", &[]).unwrap();
    daemon.wait_chain_at("btc", &tip).await.unwrap();
    let (id, address) = invoice(&daemon).await;
    let height = node.rpc().get_block_count().unwrap();
    proxy.tamper_above(height, script_of(&address).unwrap());
    let mined = node.rpc().call::<Vec<String>>("generatetoaddress", &[2.into(), miner.clone().into()]).unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    let detail = loop {
        let c = chain_health(&daemon).await;
        let detail = c["detail"].as_str().unwrap_or_default().to_string();
        if c["status"] == "degraded" && detail.contains("refused") {
            break detail;
        }
        assert!(Instant::now() < deadline, "the chain never said it refused a block: {c}\n{}", daemon.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(detail.contains(&mined[0]) && detail.contains("merkle root"), "{detail}");
    assert!(daemon.log().contains("block refused"), "{}", daemon.log());
    assert!(proxy.altered.load(std::sync::atomic::Ordering::Relaxed) > 0);
    let inv = get_invoice(&daemon, &id).await;
    assert_eq!((inv["status"].as_str(), inv["amount_paid"].as_str()), (Some("new"), Some("0")), "{inv}");

    proxy.stop_tampering();
    daemon.wait_chain_at("btc", &mined[1]).await.unwrap();
    let inv = get_invoice(&daemon, &id).await;
    assert_eq!((inv["status"].as_str(), inv["amount_paid"].as_str()), (Some("new"), Some("0")), "{inv}");
    let events = daemon.events(SHOP3_KEY).await.unwrap();
    assert!(payment_events(&events).is_empty(), "nothing but invoice.created: {events:#?}");
}
