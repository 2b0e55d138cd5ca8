//! `paywatch doctor` against real regtest nodes: a healthy bitcoind (Bitcoin SV here) and
//! anvil beside a running daemon, a node without ZMQ, a pruned node, and nodes on another
//! network than the config says (with wrong credentials and a wrong EVM chain id beside).
//! Each asserts the exit status and the named problem with its fix, in text and in JSON.

use anyhow::Result;
use bitcoincore_rpc::RpcApi;
use paywatch_tests::daemon::{config_with_chains, paywatch_bin, Daemon};
use paywatch_tests::nodes::{Anvil, Bitcoind};
use paywatch_tests::plugin_lib;
use serde_json::{json, Value};
use std::process::Command;

/// A `[[chains]]` table for `node`, with `keys` added (e.g. `start_height = 5`).
fn btc_chain(name: &str, node: &Bitcoind, keys: &str) -> String {
    format!(
        r#"
[[chains]]
name = "{name}"
kind = "bitcoin"
network = "regtest"
rpc_url = "{url}"
rpc_user = "{user}"
rpc_password = "{password}"
zmq = "{zmq}"
{keys}
"#,
        url = node.rpc_url(),
        user = node.user,
        password = node.password,
        zmq = node.zmq_url(),
    )
}

fn eth_chain(node: &Anvil, keys: &str) -> String {
    format!(
        r#"
[[chains]]
name = "eth"
kind = "evm"
chain_id = 31337
ws_url = "{ws}"
http_url = "{http}"
{keys}
"#,
        ws = node.ws_url(),
        http = node.http_url(),
    )
}

/// What one `paywatch doctor` run gave.
struct Doctor {
    code: Option<i32>,
    text: String,
    json: Value,
}

impl Doctor {
    /// The checks named `name` of `chain` (`None`: this machine's), as (verdict, detail, fix).
    fn checks(&self, chain: Option<&str>, name: &str) -> Vec<(String, String, String)> {
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        self.json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["name"] == name && c["chain"].as_str() == chain)
            .map(|c| (s(&c["verdict"]), s(&c["detail"]), s(&c["fix"])))
            .collect()
    }

    /// The one check named `name` of `chain`.
    fn check(&self, chain: Option<&str>, name: &str) -> (String, String, String) {
        let mut found = self.checks(chain, name);
        assert_eq!(found.len(), 1, "{chain:?} {name}: {found:?}\n{}", self.text);
        found.remove(0)
    }

    /// Every problem, as (chain, name).
    fn problems(&self) -> Vec<(String, String)> {
        let s = |v: &Value| v.as_str().unwrap_or("local").to_string();
        let checks = self.json["checks"].as_array().unwrap();
        checks.iter().filter(|c| c["verdict"] == "problem").map(|c| (s(&c["chain"]), s(&c["name"]))).collect()
    }
}

/// Runs `paywatch doctor` and `paywatch doctor --json` on the config at `path`; both must exit
/// alike.
fn doctor(path: &std::path::Path) -> Result<Doctor> {
    let run = |json: bool| {
        let mut c = Command::new(paywatch_bin()?);
        c.args(["doctor", "--config"]).arg(path).env_remove("RUST_LOG");
        if json {
            c.arg("--json");
        }
        anyhow::Ok(c.output()?)
    };
    let (text, json) = (run(false)?, run(true)?);
    assert_eq!(text.status.code(), json.status.code(), "{}", String::from_utf8_lossy(&text.stderr));
    let text_out = String::from_utf8_lossy(&text.stdout).into_owned();
    let json: Value = serde_json::from_slice(&json.stdout)
        .map_err(|e| anyhow::anyhow!("{e}: {}", String::from_utf8_lossy(&json.stdout)))?;
    Ok(Doctor { code: text.status.code(), text: text_out, json })
}

/// A config with `chains` (no assets, so no plugins) in a fresh directory.
fn write_config(chains: &str) -> Result<(tempfile::TempDir, std::path::PathBuf)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("paywatch.toml");
    std::fs::write(&path, config_with_chains(dir.path(), paywatch_tests::free_port(), chains, ""))?;
    Ok((dir, path))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_healthy_bitcoind_and_anvil_beside_a_running_daemon_pass() -> Result<()> {
    let btc = tokio::task::spawn_blocking(Bitcoind::start).await??;
    let eth = Anvil::start().await?;
    let chains = format!(
        "{}{}\n[[assets]]\nid = \"BTC\"\nchain = \"btc\"\nplugin = \"bitcoin\"\n\n[[assets]]\nid = \"ETH\"\nchain = \"eth\"\nplugin = \"ethereum\"\n",
        btc_chain("btc", &btc, "poll_secs = 1"),
        eth_chain(&eth, "traces = \"parity\"\nstart_height = 0"),
    );
    let plugins = [plugin_lib("bitcoin"), plugin_lib("ethereum")];
    let daemon = Daemon::start_configured(|dir, port| config_with_chains(dir, port, &chains, ""), &plugins).await?;
    let d = doctor(&daemon.config_path)?;
    assert_eq!(d.code, Some(0), "{}", d.text);
    assert_eq!(d.json["problems"], 0, "{}", d.text);
    for name in ["rpc", "credentials", "network", "synced", "pruning", "clock", "zmq.reachable"] {
        assert_eq!(d.check(Some("btc"), name).0, "ok", "{name}: {}", d.text);
    }
    // Bitcoin SV lists what it publishes through activezmqnotifications, and has no sequence
    // topic: the one warning, with how to stop subscribing to it.
    let topics = d.checks(Some("btc"), "zmq.topics");
    assert_eq!(topics.len(), 2, "{topics:?}");
    assert_eq!(topics[0].0, "ok");
    assert!(topics[0].1.contains("rawtx at tcp://127.0.0.1:") && topics[0].1.ends_with("(activezmqnotifications)"));
    assert_eq!(topics[1].0, "warning");
    assert!(topics[1].1.starts_with("the node publishes no sequence at all"), "{topics:?}");
    assert!(d.check(Some("btc"), "network").1.starts_with("\"regtest\""));
    for name in ["rpc", "chain_id", "synced", "clock", "history", "traces", "websocket"] {
        assert_eq!(d.check(Some("eth"), name).0, "ok", "{name}: {}", d.text);
    }
    assert!(d.check(Some("eth"), "websocket").1.starts_with("eth_subscribe newHeads accepted at ws://127.0.0.1:"));
    assert!(d.check(Some("eth"), "traces").1.starts_with("trace_block answers"));
    // The running daemon holds the store's lock: said, not a problem.
    let lock = d.check(None, "lock");
    assert_eq!(lock.0, "ok");
    let pid = daemon.pid().expect("running");
    assert!(lock.1.starts_with(&format!("process {pid} holds ")), "{lock:?}");
    assert!(lock.1.contains("a daemon is running on this store"), "{lock:?}");
    for name in ["storage", "plugins.dir", "plugins"] {
        assert_eq!(d.check(None, name).0, "ok", "{name}: {}", d.text);
    }
    assert!(d.check(None, "plugins").1.contains("asset BTC: currency plugin bitcoin"), "{}", d.text);
    assert!(
        d.text.lines().any(|l| l.starts_with("ok       btc        credentials    accepted: chains[btc].rpc_user")),
        "{}",
        d.text
    );
    // Warnings depend on this machine too (its free space): only the problems are counted.
    assert!(d.text.contains("\n0 problem(s), "), "{}", d.text);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_without_zmq_is_a_problem_with_the_option_to_set() -> Result<()> {
    let node = tokio::task::spawn_blocking(|| Bitcoind::start_with(false, true, Vec::new())).await??;
    let (_dir, path) = write_config(&btc_chain("btc", &node, ""))?;
    let d = doctor(&path)?;
    assert_eq!(d.code, Some(1), "{}", d.text);
    let zmq = node.zmq_url();
    let topics = d.checks(Some("btc"), "zmq.topics");
    let rawtx = topics.iter().find(|t| t.1.contains("rawtx")).expect("rawtx named");
    assert_eq!(rawtx.0, "problem");
    assert_eq!(
        rawtx.1,
        "the node publishes no rawtx at all (activezmqnotifications): payments in the mempool are seen only by polling, every 10 s"
    );
    assert_eq!(rawtx.2, format!("start bitcoind with -zmqpubrawtx={zmq}"));
    let reachable = d.check(Some("btc"), "zmq.reachable");
    assert_eq!(reachable.0, "problem");
    assert_eq!(reachable.1, format!("nothing accepts ZMQ subscribers at {zmq} within 3 s"));
    assert!(reachable.2.starts_with(&format!("start bitcoind with -zmqpubrawtx={zmq}")), "{reachable:?}");
    assert!(
        d.text.contains(&format!("PROBLEM  btc        zmq.reachable  nothing accepts ZMQ subscribers at {zmq}")),
        "{}",
        d.text
    );
    // Only ZMQ is wrong.
    let mut problems = d.problems();
    problems.dedup();
    assert_eq!(problems, [("btc".to_string(), "zmq.topics".to_string()), ("btc".into(), "zmq.reachable".into())]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_pruned_above_the_start_height_is_a_problem() -> Result<()> {
    // Manual pruning (-prune=1) with small block files, so regtest's short chain spans many.
    let args = vec!["-prune=1".to_string(), "-preferredblockfilesize=1000".to_string()];
    let node = tokio::task::spawn_blocking(move || Bitcoind::start_with(true, false, args)).await??;
    let rpc = node.rpc();
    let miner: String = rpc.call("getnewaddress", &[])?;
    // Regtest prunes nothing below height 1000.
    let _: Vec<String> = rpc.call("generatetoaddress", &[1010.into(), miner.into()])?;
    let pruned: u64 = rpc.call("pruneblockchain", &[500.into()])?;
    assert_eq!(pruned, 500);
    let info: Value = rpc.call("getblockchaininfo", &[])?;
    assert_eq!((info["pruned"].clone(), info["pruneheight"].clone()), (json!(true), json!(499)));

    let (_dir, path) = write_config(&btc_chain("btc", &node, "start_height = 100"))?;
    let d = doctor(&path)?;
    assert_eq!(d.code, Some(1), "{}", d.text);
    assert_eq!(d.problems(), [("btc".to_string(), "pruning".to_string())], "{}", d.text);
    let (_, detail, fix) = d.check(Some("btc"), "pruning");
    assert_eq!(detail, "the node is pruned: its lowest block is 499, but chains[btc].start_height = 100 needs block 99 and every one above it");
    assert!(fix.contains("set chains[btc].start_height to 500 or above"), "{fix}");

    // Starting above the pruned blocks: only the warning about downtime.
    let (_dir, path) = write_config(&btc_chain("btc", &node, "start_height = 600"))?;
    let d = doctor(&path)?;
    assert_eq!(d.code, Some(0), "{}", d.text);
    let (verdict, detail, fix) = d.check(Some("btc"), "pruning");
    assert_eq!(
        (verdict.as_str(), detail.as_str()),
        ("warning", "the node is pruned (its lowest block is 499; chains[btc].start_height = 600 is above it)")
    );
    assert!(fix.starts_with("keep the daemon running"), "{fix}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_on_another_network_or_refusing_the_credentials_are_problems() -> Result<()> {
    let btc = tokio::task::spawn_blocking(Bitcoind::start).await??;
    let eth = Anvil::start().await?;
    let wrong_network = btc_chain("btc", &btc, "").replace("network = \"regtest\"", "network = \"testnet\"");
    let wrong_password = btc_chain("btc2", &btc, "")
        .replace(&format!("rpc_password = \"{}\"", btc.password), "rpc_password = \"not-the-password\"");
    let wrong_chain_id = eth_chain(&eth, "").replace("chain_id = 31337", "chain_id = 1");
    let (_dir, path) = write_config(&format!("{wrong_network}{wrong_password}{wrong_chain_id}"))?;
    let d = doctor(&path)?;
    assert_eq!(d.code, Some(1), "{}", d.text);
    assert_eq!(
        d.problems(),
        [
            ("btc".to_string(), "network".to_string()),
            ("btc2".into(), "credentials".into()),
            ("eth".into(), "chain_id".into())
        ],
        "{}",
        d.text
    );
    let (_, detail, fix) = d.check(Some("btc"), "network");
    assert_eq!(
        detail,
        "the node is on \"regtest\" (regtest), the config says chains[btc].network = \"testnet\": the follower would refuse it"
    );
    assert_eq!(fix, "set chains[btc].network = \"regtest\", or point chains[btc].rpc_url at a testnet node");
    let (_, detail, fix) = d.check(Some("btc2"), "credentials");
    assert_eq!(detail, "the node refused chains[btc2].rpc_user / chains[btc2].rpc_password (HTTP 401 Unauthorized)");
    assert!(
        fix.starts_with("set chains[btc2].rpc_user and chains[btc2].rpc_password to the node's -rpcuser/-rpcpassword")
    );
    assert_eq!(d.check(Some("btc2"), "rpc").1, format!("the node answers at {}/ (HTTP 401)", btc.rpc_url()));
    let (_, detail, fix) = d.check(Some("eth"), "chain_id");
    assert_eq!(
        detail,
        "the node serves chain 31337, the config says chains[eth].chain_id = 1: the follower would refuse it"
    );
    assert!(fix.starts_with("set chains[eth].chain_id = 31337"));
    assert!(d.text.contains("PROBLEM  btc        network        the node is on \"regtest\""), "{}", d.text);
    assert!(d.text.contains("fix: set chains[btc].network = \"regtest\""), "{}", d.text);
    assert!(d.text.contains("\n3 problem(s), "), "{}", d.text);
    Ok(())
}

#[test]
fn an_invalid_config_exits_2_an_unreachable_node_and_an_open_store_directory_are_named() -> Result<()> {
    let (dir, path) = write_config("")?;
    std::fs::write(&path, std::fs::read_to_string(&path)?.replace("[storage]", "[storage]\nbogus = 1"))?;
    let out = Command::new(paywatch_bin()?).args(["doctor", "--config"]).arg(&path).output()?;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("storage.bogus"), "{}", String::from_utf8_lossy(&out.stderr));
    // Nothing listens: each check says so (no node answers, nothing hangs).
    let port = paywatch_tests::free_port();
    let chain = format!(
        "[[chains]]\nname = \"btc\"\nkind = \"bitcoin\"\nnetwork = \"regtest\"\nrpc_url = \"http://127.0.0.1:{port}\"\nrpc_user = \"u\"\nrpc_password = \"p\"\n"
    );
    std::fs::write(&path, config_with_chains(dir.path(), 1, &chain, ""))?;
    // A store directory others may read.
    let data = dir.path().join("data");
    std::fs::create_dir(&data)?;
    std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let d = doctor(&path)?;
    let (verdict, detail, fix) = d.check(None, "storage");
    assert_eq!(verdict, "warning");
    assert!(
        detail.ends_with("is readable by others (mode 755): it holds endpoint secrets and customers' emails"),
        "{detail}"
    );
    assert_eq!(fix, format!("chmod 700 {} (the daemon also makes it 0700 when it opens the store)", data.display()));
    assert_eq!(d.code, Some(1), "{}", d.text);
    let (verdict, detail, fix) = d.check(Some("btc"), "rpc");
    assert_eq!(verdict, "problem");
    assert!(detail.starts_with(&format!("cannot reach the node at http://127.0.0.1:{port}/")), "{detail}");
    assert!(fix.contains("chains[btc].rpc_url"), "{fix}");
    Ok(())
}
