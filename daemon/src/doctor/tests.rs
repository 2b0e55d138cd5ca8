//! The verdicts on canned node answers: Bitcoin Core's and Bitcoin SV's replies, pruned and
//! syncing nodes, other networks, ZMQ lists, clocks; EVM replies; free space; the report.

use super::bitcoin::{self, ChainInfo, Fail};
use super::zmq::{self as feed, Listed, Notification, Probe};
use super::{evm, local, Check, Report, Verdict};
use crate::config::{BitcoinNetwork, BitcoinNode, PowLimit, RpcAuth, Secret, Traces, ZmqEndpoints};
use serde_json::json;
use std::path::Path;
use time::macros::datetime;

const REGTEST_GENESIS: &str = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206";

fn node(network: BitcoinNetwork, zmq: Option<&str>) -> BitcoinNode {
    let z = zmq.map(str::to_string);
    BitcoinNode {
        network,
        rpc_url: "http://127.0.0.1:18443".parse().unwrap(),
        rpc_auth: RpcAuth::UserPass { user: "u".into(), password: Secret::new("p".into()) },
        zmq: ZmqEndpoints { rawtx: z.clone(), hashblock: z.clone(), rawblock: z.clone(), sequence: z },
        rpc_timeout_secs: 30,
        poll_secs: 10,
        genesis_hash: None,
        pow_limit: PowLimit::Network,
    }
}

fn info(json: serde_json::Value) -> ChainInfo {
    serde_json::from_value(json).unwrap()
}

fn only(checks: &[Check]) -> &Check {
    assert_eq!(checks.len(), 1, "{checks:#?}");
    &checks[0]
}

#[test]
fn credentials_refused_name_the_config_keys() {
    let n = node(BitcoinNetwork::Regtest, None);
    let got = bitcoin::reached("btc", &n, "http://127.0.0.1:18443/", Err(&Fail::Status(401)));
    assert_eq!(
        got.iter().map(|c| (c.name, c.verdict)).collect::<Vec<_>>(),
        [("rpc", Verdict::Ok), ("credentials", Verdict::Problem)]
    );
    assert!(got[1].detail.contains("chains[btc].rpc_user / chains[btc].rpc_password (HTTP 401"), "{}", got[1].detail);
    assert!(got[1].fix.as_deref().unwrap().contains("-rpcuser/-rpcpassword"));
    let cookie = BitcoinNode { rpc_auth: RpcAuth::Cookie("/var/lib/bitcoind/.cookie".into()), ..n.clone() };
    let got = bitcoin::reached("btc", &cookie, "u", Err(&Fail::Status(401)));
    assert!(got[1].detail.contains("chains[btc].rpc_cookie (/var/lib/bitcoind/.cookie)"), "{}", got[1].detail);
    let got = bitcoin::reached("btc", &n, "u", Err(&Fail::Transport("connection refused".into())));
    assert_eq!((only(&got).name, got[0].verdict), ("rpc", Verdict::Problem));
    assert!(got[0].fix.as_deref().unwrap().contains("chains[btc].rpc_url"));
    assert_eq!(bitcoin::reached("btc", &n, "u", Err(&Fail::Status(403)))[0].verdict, Verdict::Problem);
    let warming = Fail::Node { code: -28, message: "Loading block index...".into() };
    let got = bitcoin::reached("btc", &n, "http://n/", Err(&warming));
    assert_eq!(only(&got).detail, "the node at http://n/ is still starting: Loading block index...");
    assert!(bitcoin::reached("btc", &n, "u", Ok(())).iter().all(|c| c.verdict == Verdict::Ok));
}

#[test]
fn the_network_is_the_nodes_chain_and_genesis() {
    let n = node(BitcoinNetwork::Testnet, None);
    let c = bitcoin::network("btc", &n, "regtest", Some(REGTEST_GENESIS));
    assert_eq!(c.verdict, Verdict::Problem);
    assert!(
        c.detail.contains("the node is on \"regtest\" (regtest), the config says chains[btc].network = \"testnet\""),
        "{}",
        c.detail
    );
    assert!(c.fix.as_deref().unwrap().starts_with("set chains[btc].network = \"regtest\""));
    // Bitcoin Core and SV call mainnet "main".
    let c = bitcoin::network("btc", &node(BitcoinNetwork::Regtest, None), "main", None);
    assert!(c.fix.as_deref().unwrap().starts_with("set chains[btc].network = \"mainnet\""), "{c:?}");
    let regtest = node(BitcoinNetwork::Regtest, None);
    assert_eq!(bitcoin::network("btc", &regtest, "regtest", Some(REGTEST_GENESIS)).verdict, Verdict::Ok);
    // Right chain name, another coin's genesis: what the follower refuses.
    let c = bitcoin::network("btc", &regtest, "regtest", Some(&"ab".repeat(32)));
    assert_eq!(c.verdict, Verdict::Problem);
    assert!(c.fix.as_deref().unwrap().contains("chains[btc].genesis_hash"));
}

#[test]
fn sync_from_core_and_sv_replies() {
    let core_ibd = info(json!({"chain": "main", "blocks": 100, "headers": 800000, "initialblockdownload": true}));
    let c = bitcoin::synced("btc", &core_ibd);
    assert_eq!(c.verdict, Verdict::Problem);
    assert!(c.detail.contains("initial block download, at height 100 of 800000"));
    // Bitcoin SV has no initialblockdownload: blocks behind headers is a warning.
    let sv = info(json!({"chain": "regtest", "blocks": 10, "headers": 20, "pruned": false}));
    assert_eq!(bitcoin::synced("btc", &sv).verdict, Verdict::Warning);
    let synced = info(json!({"chain": "main", "blocks": 20, "headers": 20, "initialblockdownload": false}));
    assert_eq!(bitcoin::synced("btc", &synced).verdict, Verdict::Ok);
}

#[test]
fn pruning_against_the_start_height() {
    let pruned = info(json!({"chain": "regtest", "blocks": 1010, "headers": 1010, "pruned": true, "pruneheight": 499}));
    let c = bitcoin::pruning("btc", Some(100), &pruned);
    assert_eq!(c.verdict, Verdict::Problem);
    assert!(
        c.detail.contains("its lowest block is 499, but chains[btc].start_height = 100 needs block 99"),
        "{}",
        c.detail
    );
    assert!(c.fix.as_deref().unwrap().contains("set chains[btc].start_height to 500 or above"), "{c:?}");
    // Block 499 is the one before 500: still there.
    assert_eq!(bitcoin::pruning("btc", Some(500), &pruned).verdict, Verdict::Warning);
    assert_eq!(bitcoin::pruning("btc", Some(499), &pruned).verdict, Verdict::Problem);
    assert_eq!(bitcoin::pruning("btc", None, &pruned).verdict, Verdict::Warning);
    let full = info(json!({"chain": "regtest", "blocks": 10, "headers": 10, "pruned": false}));
    assert_eq!(bitcoin::pruning("btc", Some(0), &full).verdict, Verdict::Ok);
}

#[test]
fn clock_skew_from_the_date_header() {
    let date = bitcoin::http_date("Wed, 02 Dec 2026 09:36:24 GMT").unwrap();
    assert_eq!(date, datetime!(2026-12-02 09:36:24 UTC));
    assert_eq!(bitcoin::http_date("yesterday"), None);
    let c = bitcoin::clock("btc", Some(date), datetime!(2026-12-02 09:38:00 UTC));
    assert_eq!(c.verdict, Verdict::Warning);
    assert!(c.detail.contains("96 s behind this machine"), "{}", c.detail);
    let c = bitcoin::clock("btc", Some(date), datetime!(2026-12-02 09:35:00 UTC));
    assert!(c.detail.contains("84 s ahead"), "{}", c.detail);
    assert_eq!(bitcoin::clock("btc", Some(date), datetime!(2026-12-02 09:36:54 UTC)).verdict, Verdict::Ok);
    assert_eq!(bitcoin::clock("btc", None, date).verdict, Verdict::Warning);
}

fn listed(list: &[(&str, &str)]) -> Listed {
    Listed::By(
        "getzmqnotifications",
        list.iter().map(|(k, a)| Notification { kind: k.to_string(), address: a.to_string() }).collect(),
    )
}

#[test]
fn zmq_topics_against_what_the_node_lists() {
    let at = "tcp://127.0.0.1:28332";
    let n = node(BitcoinNetwork::Regtest, Some(at));
    // Bitcoin Core publishing everything.
    let all = listed(&[("pubrawtx", at), ("pubhashblock", at), ("pubrawblock", at), ("pubsequence", at)]);
    let got = feed::topics("btc", &n.zmq, &all, 10);
    assert_eq!((only(&got).verdict, got[0].detail.as_str()), (Verdict::Ok, "the node publishes rawtx at tcp://127.0.0.1:28332, hashblock at tcp://127.0.0.1:28332, rawblock at tcp://127.0.0.1:28332, sequence at tcp://127.0.0.1:28332 (getzmqnotifications)"));
    // Bitcoin SV: no sequence topic, bound on every interface.
    let sv = listed(&[
        ("pubrawtx", "tcp://0.0.0.0:28332"),
        ("pubhashblock", "tcp://0.0.0.0:28332"),
        ("pubrawblock", at),
        ("pubhashtx", at),
    ]);
    let got = feed::topics("btc", &n.zmq, &sv, 10);
    assert_eq!(got.iter().map(|c| c.verdict).collect::<Vec<_>>(), [Verdict::Ok, Verdict::Warning]);
    assert!(got[1].detail.starts_with("the node publishes no sequence at all"), "{}", got[1].detail);
    // A node without ZMQ.
    let got = feed::topics("btc", &n.zmq, &listed(&[]), 10);
    assert_eq!(
        got.iter().map(|c| c.verdict).collect::<Vec<_>>(),
        [Verdict::Problem, Verdict::Problem, Verdict::Problem, Verdict::Warning]
    );
    assert!(
        got[0].detail.contains(
            "no rawtx at all (getzmqnotifications): payments in the mempool are seen only by polling, every 10 s"
        ),
        "{}",
        got[0].detail
    );
    assert_eq!(got[0].fix.as_deref(), Some("start bitcoind with -zmqpubrawtx=tcp://127.0.0.1:28332"));
    // Published elsewhere: the fix names the node's address.
    let got = feed::topics("btc", &n.zmq, &listed(&[("pubrawtx", "tcp://127.0.0.1:29000"), ("pubhashblock", at)]), 10);
    let rawtx = got.iter().find(|c| c.detail.contains("rawtx at tcp://127.0.0.1:29000")).unwrap();
    assert_eq!(
        rawtx.fix.as_deref(),
        Some("set chains[btc].zmq_rawtx (or chains[btc].zmq) to \"tcp://127.0.0.1:29000\"")
    );
    // One block topic is enough: the other's absence is a warning.
    assert!(got.iter().any(|c| c.detail.contains("no rawblock") && c.verdict == Verdict::Warning), "{got:#?}");
    // The node cannot list its notifications.
    let c = &feed::topics("btc", &n.zmq, &Listed::Unavailable("no such RPC".into()), 10)[0];
    assert_eq!(c.verdict, Verdict::Warning);
    assert!(c.detail.starts_with("the node cannot list its ZMQ notifications (no such RPC)"));
    // No ZMQ configured: polling.
    let c = &feed::topics("btc", &ZmqEndpoints::default(), &listed(&[("pubrawtx", at)]), 10)[0];
    assert_eq!(c.verdict, Verdict::Warning);
    assert!(c.fix.as_deref().unwrap().starts_with("set chains[btc].zmq = \"tcp://127.0.0.1:28332\""));
}

#[test]
fn sv_and_core_notification_lists_both_read() {
    let core: Vec<Notification> =
        serde_json::from_value(json!([{"type": "pubrawtx", "address": "tcp://127.0.0.1:1", "hwm": 1000}])).unwrap();
    let sv: Vec<Notification> =
        serde_json::from_value(json!([{"notification": "pubrawtx", "address": "tcp://127.0.0.1:1"}])).unwrap();
    assert_eq!(core, sv);
}

#[test]
fn endpoints_match_across_wildcards_and_loopback_names() {
    assert!(feed::same_endpoint("tcp://127.0.0.1:28332", "tcp://127.0.0.1:28332"));
    assert!(feed::same_endpoint("tcp://0.0.0.0:28332", "tcp://10.0.0.5:28332"));
    assert!(feed::same_endpoint("tcp://127.0.0.1:28332", "tcp://localhost:28332"));
    assert!(feed::same_endpoint("tcp://[::]:28332", "tcp://[::1]:28332"));
    assert!(!feed::same_endpoint("tcp://127.0.0.1:28332", "tcp://127.0.0.1:28333"));
    assert!(!feed::same_endpoint("tcp://10.0.0.6:28332", "tcp://10.0.0.5:28332"));
    assert!(feed::same_endpoint("ipc:///run/bitcoind.sock", "ipc:///run/bitcoind.sock"));
}

#[test]
fn zmq_probe_verdicts() {
    let c = feed::reachable("btc", "tcp://127.0.0.1:1", &["rawtx"], &Probe::Unreachable);
    assert_eq!(c.verdict, Verdict::Problem);
    assert!(c.fix.as_deref().unwrap().starts_with("start bitcoind with -zmqpubrawtx=tcp://127.0.0.1:1"));
    assert_eq!(feed::reachable("btc", "e", &["rawtx"], &Probe::NotZmq).verdict, Verdict::Problem);
    assert_eq!(feed::reachable("btc", "e", &["rawtx"], &Probe::Subscribed(None)).verdict, Verdict::Ok);
}

/// The probe against a real publisher, a plain TCP listener and a closed port.
#[test]
fn zmq_probe_tells_a_publisher_from_a_listener_from_nothing() {
    let ctx = zmq::Context::new();
    let publ = ctx.socket(zmq::PUB).unwrap();
    publ.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = publ.get_last_endpoint().unwrap().unwrap();
    assert_eq!(feed::probe(&endpoint, &["rawtx"]), Probe::Subscribed(None));
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = format!("tcp://{}", tcp.local_addr().unwrap());
    assert_eq!(feed::probe(&silent, &["rawtx"]), Probe::NotZmq);
    drop(tcp);
    assert_eq!(feed::probe(&silent, &["rawtx"]), Probe::Unreachable);
}

#[test]
fn evm_verdicts() {
    let c = evm::chain_id("eth", 1, Some(31337));
    assert_eq!(c.verdict, Verdict::Problem);
    assert!(c.detail.contains("the node serves chain 31337, the config says chains[eth].chain_id = 1"));
    assert_eq!(evm::chain_id("eth", 1, Some(1)).verdict, Verdict::Ok);
    assert_eq!(evm::synced("eth", &json!(false)).verdict, Verdict::Ok);
    let c = evm::synced("eth", &json!({"currentBlock": "0x10", "highestBlock": "0x20"}));
    assert_eq!((c.verdict, c.detail.as_str()), (Verdict::Problem, "the node is syncing (at block 16 of 32)"));
    // A head from the future: a clock is off, dev chain or not.
    assert_eq!(evm::clock("eth", 31337, 1_000_100, 1_000_000).verdict, Verdict::Warning);
    // An old head: stalled on mainnet, meaningless on anvil.
    assert_eq!(evm::clock("eth", 1, 1_000_000, 1_001_000).verdict, Verdict::Warning);
    assert_eq!(evm::clock("eth", 31337, 1_000_000, 1_001_000).verdict, Verdict::Ok);
    assert_eq!(evm::clock("eth", 1, 1_000_000, 1_000_012).verdict, Verdict::Ok);
    let missing = Err(evm::Fail::Node { code: -32601, message: "the method trace_block does not exist".into() });
    let c = evm::traces("eth", Traces::Parity, 5, &missing);
    assert_eq!(c.verdict, Verdict::Problem);
    assert!(c.detail.starts_with("the node has no trace_block"));
    let pruned_state = Err(evm::Fail::Node { code: -32000, message: "missing trie node".into() });
    assert!(evm::traces("eth", Traces::Geth, 5, &pruned_state).fix.unwrap().contains("archive node"));
    assert_eq!(evm::traces("eth", Traces::Geth, 5, &Ok(())).verdict, Verdict::Ok);
    assert_eq!(evm::history("eth", 10, Some(5), &Ok(serde_json::Value::Null)).verdict, Verdict::Warning);
    assert_eq!(evm::history("eth", 10, Some(50), &Ok(serde_json::Value::Null)).verdict, Verdict::Problem);
    assert_eq!(evm::history("eth", 10, Some(50), &Ok(json!({"number": "0x9"}))).verdict, Verdict::Ok);
    assert_eq!(evm::subscription("eth", "ws://x", &Err("refused".into())).verdict, Verdict::Problem);
}

#[test]
fn free_space_thresholds() {
    let p = Path::new("/data");
    assert_eq!(local::free_space(p, 100 << 20, 100 << 30).verdict, Verdict::Problem);
    assert_eq!(local::free_space(p, 900 << 20, 100 << 30).verdict, Verdict::Warning);
    assert_eq!(local::free_space(p, 5 << 30, 100 << 30).verdict, Verdict::Warning);
    assert_eq!(local::free_space(p, 50 << 30, 100 << 30).verdict, Verdict::Ok);
    assert!(local::free_space(p, 50 << 30, 100 << 30).detail.contains("51200 MiB free of 102400 MiB (50 %)"));
}

#[test]
fn the_report_counts_and_prints_problems_with_their_fixes() {
    let r = Report::new(vec![
        Check::ok("rpc", Some("btc"), "fine"),
        Check::warning("clock", Some("btc"), "off", "ntp"),
        Check::problem("disk", None, "full", "free space"),
    ]);
    assert_eq!((r.problems, r.warnings, r.healthy()), (1, 1, false));
    let text = r.to_string();
    assert!(text.contains("PROBLEM  local      disk           full\n"), "{text}");
    assert!(text.contains("fix: free space\n"), "{text}");
    assert!(text.ends_with("1 problem(s), 1 warning(s), 3 check(s)"), "{text}");
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(
        v["checks"][2],
        json!({"name": "disk", "chain": null, "verdict": "problem", "detail": "full", "fix": "free space"})
    );
}

/// A scripted Bitcoin Core on loopback: `getblockchaininfo` of a pruned mainnet node, its
/// genesis block, and `getzmqnotifications` as Core answers it (`type`, `address`, `hwm`), or,
/// with `zmq_rpc` false, "Method not found" as Core answers it (HTTP 404, a JSON-RPC error) for
/// it and for `activezmqnotifications`.
async fn core(
    axum::extract::State((zmq_rpc, endpoint)): axum::extract::State<(bool, String)>,
    axum::Json(req): axum::Json<serde_json::Value>,
) -> (axum::http::StatusCode, axum::Json<serde_json::Value>) {
    use axum::http::StatusCode;
    let ok = |result| (StatusCode::OK, axum::Json(json!({"result": result, "error": null, "id": req["id"]})));
    let missing = (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"result": null, "error": {"code": -32601, "message": "Method not found"}, "id": req["id"]})),
    );
    match req["method"].as_str().unwrap() {
        "getblockchaininfo" => {
            ok(json!({"chain": "main", "blocks": 870000, "headers": 870000, "initialblockdownload": false,
            "verificationprogress": 0.9999, "pruned": true, "pruneheight": 700000, "automatic_pruning": true}))
        }
        "getblockhash" => ok(json!("000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f")),
        "getzmqnotifications" if zmq_rpc => ok(json!([
            {"type": "pubhashblock", "address": endpoint, "hwm": 1000},
            {"type": "pubrawtx", "address": endpoint, "hwm": 1000},
            {"type": "pubsequence", "address": endpoint, "hwm": 1000}])),
        _ => missing,
    }
}

/// The whole Bitcoin check against [`core`] (its HTTP server stamps a `Date`) and a real ZMQ
/// publisher: every check, in order, with its verdict.
fn core_checks(zmq_rpc: bool) -> Vec<(&'static str, Verdict, String)> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let ctx = zmq::Context::new();
    let publ = ctx.socket(zmq::PUB).unwrap();
    publ.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = publ.get_last_endpoint().unwrap().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/", axum::routing::post(core)).with_state((zmq_rpc, endpoint.clone()));
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    let node = BitcoinNode { rpc_url: url.parse().unwrap(), ..node(BitcoinNetwork::Mainnet, Some(&endpoint)) };
    let chain = crate::config::ChainConfig {
        name: "btc".into(),
        confirmations: 1,
        reorg_window: 100,
        start_height: Some(650_000),
        node: crate::config::ChainNode::Bitcoin(node.clone()),
    };
    let got = rt.block_on(bitcoin::check(&chain, &node));
    got.into_iter().map(|c| (c.name, c.verdict, c.detail)).collect()
}

#[test]
fn a_pruned_bitcoin_core_node_on_canned_answers() {
    use Verdict::{Ok, Problem, Warning};
    let got = core_checks(true);
    let verdicts: Vec<_> = got.iter().map(|(n, v, _)| (*n, *v)).collect();
    assert_eq!(
        verdicts,
        [
            ("rpc", Ok),
            ("credentials", Ok),
            ("network", Ok),
            ("synced", Ok),
            ("pruning", Problem),
            ("clock", Ok),
            ("zmq.topics", Ok),
            ("zmq.topics", Warning),
            ("zmq.reachable", Ok)
        ],
        "{got:#?}"
    );
    assert!(got[4].2.contains("its lowest block is 700000, but chains[btc].start_height = 650000 needs block 649999"));
    assert!(got[6].2.starts_with("the node publishes rawtx at tcp://127.0.0.1:"), "{}", got[6].2);
    assert!(got[6].2.ends_with("(getzmqnotifications)"), "{}", got[6].2);
    // rawblock is not published; hashblock is, so blocks are still noticed at once.
    assert!(got[7].2.starts_with("the node publishes no rawblock at all"), "{}", got[7].2);
    // A node without either RPC (Core built without ZMQ): the endpoint is only probed.
    let got = core_checks(false);
    let topics = got.iter().find(|(n, _, _)| *n == "zmq.topics").unwrap();
    assert_eq!(topics.1, Warning);
    assert!(
        topics.2.starts_with("the node cannot list its ZMQ notifications (it has neither getzmqnotifications nor activezmqnotifications)"),
        "{}",
        topics.2
    );
    assert_eq!(got.last().unwrap().1, Ok, "the probe still subscribes: {got:#?}");
}
