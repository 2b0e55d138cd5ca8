//! A real regtest node with a funded wallet and a daemon following it with the real `bitcoin`
//! plugin: what every Bitcoin scenario starts from.

pub use crate::daemon::summary;
use crate::daemon::{config_with_chains, Daemon, Launch, SHOP1_KEY};
use crate::nodes::Bitcoind;
use anyhow::{bail, Context, Result};
use bitcoincore_rpc::RpcApi;
use serde_json::{json, Value};

#[derive(Debug)]
pub struct BtcRig {
    pub node: Bitcoind,
    pub daemon: Daemon,
    /// The wallet's mining address (its coins pay for everything).
    pub miner: String,
}

/// The `btc` chain on `node`, the `BTC` asset with the real plugin; polls every second.
pub fn btc_chains(node: &Bitcoind, confirmations: u32, zmq: bool) -> String {
    let zmq = if zmq { format!("zmq = \"{}\"", node.zmq_url()) } else { String::new() };
    format!(
        r#"
[[chains]]
name = "btc"
kind = "bitcoin"
network = "regtest"
rpc_url = "{url}"
rpc_user = "{user}"
rpc_password = "{password}"
{zmq}
confirmations = {confirmations}
poll_secs = 1

[[assets]]
id = "BTC"
chain = "btc"
plugin = "bitcoin"
"#,
        url = node.rpc_url(),
        user = node.user,
        password = node.password,
    )
}

impl BtcRig {
    /// A node with 101 blocks (mature coins) and a daemon following it from its tip.
    pub async fn start(confirmations: u32) -> Result<Self> {
        Self::start_with(confirmations, "").await
    }

    /// [`BtcRig::start`] with `extra` TOML appended to the daemon's config (more stores…).
    pub async fn start_with(confirmations: u32, extra: &str) -> Result<Self> {
        Self::start_custom(confirmations, "", extra, Launch::default()).await
    }

    /// [`BtcRig::start_with`], with `chain_keys` added to the chain's table (e.g.
    /// `reorg_window = 3`) and the daemon started as `launch` says.
    pub async fn start_custom(confirmations: u32, chain_keys: &str, extra: &str, launch: Launch) -> Result<Self> {
        let node = tokio::task::spawn_blocking(Bitcoind::start).await??;
        let miner: String = node.rpc().call("getnewaddress", &[])?;
        node.rpc().call::<Vec<String>>("generatetoaddress", &[101.into(), miner.clone().into()])?;
        let chains = btc_chains(&node, confirmations, true)
            .replace("poll_secs = 1\n", &format!("poll_secs = 1\n{chain_keys}\n"));
        let plugins =
            ["bitcoin", "webhook", "woocommerce", "bitpay", "coingate", "coinpayments"].map(crate::plugin_lib);
        let config = |dir: &std::path::Path, port| config_with_chains(dir, port, &chains, extra);
        let daemon = Daemon::start_launched(config, &plugins, launch).await?;
        let rig = Self { node, daemon, miner };
        rig.wait_synced().await?;
        Ok(rig)
    }

    pub fn rpc(&self) -> bitcoincore_rpc::Client {
        self.node.rpc()
    }

    pub fn new_address(&self) -> Result<String> {
        Ok(self.rpc().call("getnewaddress", &[])?)
    }

    /// Sends `btc` to `address` from the wallet; the txid.
    pub fn send(&self, address: &str, btc: f64) -> Result<String> {
        Ok(self.rpc().call("sendtoaddress", &[address.into(), btc.into()])?)
    }

    /// One transaction from the wallet with an output of each of `sats` to `address` (the
    /// node's wallet refuses an address twice in one transaction, so it is built here and only
    /// signed by the wallet), the change back to the wallet; its txid. Spends the wallet's
    /// largest coin (confirmed or not), at about 2 sat/byte.
    pub fn send_outputs(&self, address: &str, sats: &[u64]) -> Result<String> {
        use bitcoincore_rpc::bitcoin::{self, absolute::LockTime, transaction::Version};
        let rpc = self.rpc();
        let spk = |a: &str| -> Result<bitcoin::ScriptBuf> {
            let a: bitcoin::Address<_> = a.parse()?;
            Ok(a.require_network(bitcoin::Network::Regtest)?.script_pubkey())
        };
        let coins: Vec<Value> = rpc.call("listunspent", &[0.into()])?;
        let coin = coins
            .iter()
            .filter(|c| c["spendable"] == true)
            .max_by_key(|c| (c["amount"].as_f64().unwrap_or(0.0) * 1e8) as u64)
            .context("the wallet has no coin")?;
        let txid: bitcoin::Txid = coin["txid"].as_str().context("txid")?.parse()?;
        let vout = coin["vout"].as_u64().context("vout")? as u32;
        let value = (coin["amount"].as_f64().context("amount")? * 1e8).round() as u64;
        let to = spk(address)?;
        let mut output: Vec<bitcoin::TxOut> = sats
            .iter()
            .map(|s| bitcoin::TxOut { value: bitcoin::Amount::from_sat(*s), script_pubkey: to.clone() })
            .collect();
        // About 10 bytes of transaction, 148 of the P2PKH input, 34 per output with the change.
        let fee = 2 * (10 + 148 + 34 * (sats.len() as u64 + 1));
        let change = value.checked_sub(sats.iter().sum::<u64>() + fee).context("the coin is too small")?;
        output.push(bitcoin::TxOut {
            value: bitcoin::Amount::from_sat(change),
            script_pubkey: spk(&self.new_address()?)?,
        });
        let input = vec![bitcoin::TxIn {
            previous_output: bitcoin::OutPoint { txid, vout },
            script_sig: bitcoin::ScriptBuf::new(),
            sequence: bitcoin::Sequence::MAX,
            witness: bitcoin::Witness::new(),
        }];
        let tx = bitcoin::Transaction { version: Version::TWO, lock_time: LockTime::ZERO, input, output };
        let unsigned = bitcoin::consensus::encode::serialize_hex(&tx);
        let signed: Value = rpc.call("signrawtransaction", &[unsigned.into()])?;
        if signed["complete"] != true {
            bail!("the wallet did not sign: {signed}");
        }
        Ok(rpc.call("sendrawtransaction", &[signed["hex"].clone()])?)
    }

    /// Mines `n` blocks to the wallet; their hashes.
    pub fn mine(&self, n: u64) -> Result<Vec<String>> {
        Ok(self.rpc().call("generatetoaddress", &[n.into(), self.miner.clone().into()])?)
    }

    pub fn height(&self) -> Result<u64> {
        Ok(self.rpc().get_block_count()?)
    }

    /// Watches `address` for a store; the watch id.
    pub async fn watch(&self, key: &str, address: &str, confirmations: u32) -> Result<String> {
        let body = json!({"chain": "btc", "address": address, "confirmations": confirmations});
        let r = self.daemon.req(reqwest::Method::POST, "/v1/watches", key).json(&body).send().await?;
        let status = r.status();
        let v: Value = r.json().await?;
        if status != 201 {
            bail!("watch {address}: {status} {v}");
        }
        Ok(v["id"].as_str().context("watch id")?.to_string())
    }

    /// One API call with a store key: (status, JSON body or null).
    pub async fn call(&self, method: reqwest::Method, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
        self.daemon.call(method, path, key, body).await
    }

    /// Every event of a store so far.
    pub async fn events(&self, key: &str) -> Result<Vec<Value>> {
        self.daemon.events(key).await
    }

    /// Waits until `done` holds for the store's events; returns them.
    pub async fn wait_events(&self, key: &str, what: &str, done: impl Fn(&[Value]) -> bool) -> Result<Vec<Value>> {
        self.daemon.wait_events(key, what, done).await
    }

    /// Waits until `/health` reports the chain at the node's tip.
    pub async fn wait_synced(&self) -> Result<()> {
        let best: String = self.rpc().call("getbestblockhash", &[])?;
        self.daemon.wait_chain_at("btc", &best).await
    }
}

/// The output index of `txid` paying `address`.
pub fn vout_of(rpc: &bitcoincore_rpc::Client, txid: &str, address: &str) -> Result<u64> {
    let tx: Value = rpc.call("getrawtransaction", &[txid.into(), 1.into()])?;
    for o in tx["vout"].as_array().context("vout")? {
        let spk = &o["scriptPubKey"];
        let addrs = spk["addresses"].as_array().cloned().unwrap_or_default();
        if addrs.iter().any(|a| a == address) || spk["address"] == address {
            return o["n"].as_u64().context("n");
        }
    }
    bail!("{txid} does not pay {address}: {tx}")
}

pub const SHOP: &str = SHOP1_KEY;

/// The key of [`shop3`], the store that takes invoices.
pub const SHOP3_KEY: &str = "shop3_TJHU3zAzW3xkbj6iiJ4ZHCHga7";

/// A third store that takes invoices: addresses from a BIP32 test-vector tpub (P2PKH, which the
/// test node can pay), with the given monitoring and refund-claim windows.
pub fn shop3(monitoring_secs: u64, refund_claim_secs: u64) -> String {
    format!(
        r#"
[[stores]]
id = "shop3"
api_key = "{SHOP3_KEY}"
speed = 1
monitoring_secs = {monitoring_secs}
refund_claim_secs = {refund_claim_secs}
[stores.receive.BTC]
descriptor = "pkh(tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp/0/*)"
"#
    )
}
