//! A real anvil with two real ERC-20 contracts (OpenZeppelin's published
//! `ERC20PresetMinterPauser`, deployed from its compiled artifact) and a daemon following it
//! with the real `ethereum` and `erc20` plugins: what every EVM scenario starts from.
//!
//! `TOK` (the first token) is a configured asset; the second token is deployed but not
//! configured, so its transfers must be ignored.

use crate::daemon::{config_with_chains, Daemon, Launch};
use crate::nodes::Anvil;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Anvil's first dev account: deploys the tokens, holds their supply, pays.
pub const DEV0: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
/// Anvil's second and third dev accounts (funded, unlocked).
pub const DEV1: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
pub const DEV2: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
/// The account xpub (m/44'/60'/0') of anvil's dev mnemonic: its `/0/i` are the dev accounts.
pub const DEV_XPUB: &str =
    "xpub6Ce9NcJvTk36xtLSrJLZqE7wtgA5deCeYs7rSQtreh4cj6ByPtrg9sD7V2FNFLPnf8heNP3FGkeV9qwfzvZNSd54JoNXVsXFYSYwHsnJxqP";

/// `mint(address,uint256)` and `transfer(address,uint256)` selectors.
const MINT: &str = "40c10f19";
const TRANSFER: &str = "a9059cbb";

#[derive(Debug)]
pub struct EthRig {
    pub node: Anvil,
    pub daemon: Daemon,
    /// The configured token (asset `TOK`, 18 decimals).
    pub token: String,
    /// A deployed token no asset names.
    pub other_token: String,
}

/// Options of [`EthRig::start_with`].
#[derive(Debug, Default)]
pub struct EthOptions {
    /// Confirmations of the chain (default 3).
    pub confirmations: Option<u32>,
    /// Anvil's `--state` file.
    pub state: Option<PathBuf>,
    /// More TOML for the daemon (stores…).
    pub extra: String,
    /// No `http_url`: requests go over the WebSocket too.
    pub ws_only: bool,
    /// The chain's `traces` (off when `None`).
    pub traces: Option<&'static str>,
    /// The `decimals` configured for `TOK` (default 18, what the contract says).
    pub token_decimals: Option<u8>,
    /// Return once the daemon answers, without waiting for the chain to be synced.
    pub no_sync_wait: bool,
    /// How the daemon process is started (its environment…).
    pub launch: Launch,
}

/// The `eth` chain on `node` with the `ETH` and `TOK` assets; polls every second.
pub fn eth_chains(node: &Anvil, token: &str, confirmations: u32, opts: &EthOptions) -> String {
    let (ws_only, traces, decimals) = (opts.ws_only, opts.traces, opts.token_decimals.unwrap_or(18));
    let mut http = if ws_only { String::new() } else { format!("http_url = \"{}\"", node.http_url()) };
    if let Some(t) = traces {
        http.push_str(&format!("\ntraces = \"{t}\""));
    }
    format!(
        r#"
[[chains]]
name = "eth"
kind = "evm"
chain_id = 31337
ws_url = "{ws}"
{http}
confirmations = {confirmations}
poll_secs = 1
rpc_timeout_secs = 5

[[assets]]
id = "ETH"
chain = "eth"
plugin = "ethereum"

[[assets]]
id = "TOK"
chain = "eth"
plugin = "erc20"
contract = "{token}"
decimals = {decimals}
"#,
        ws = node.ws_url(),
    )
}

impl EthRig {
    pub async fn start() -> Result<Self> {
        Self::start_with(EthOptions::default()).await
    }

    pub async fn start_with(opts: EthOptions) -> Result<Self> {
        let node = match &opts.state {
            Some(s) => Anvil::start_with_state(s).await?,
            None => Anvil::start().await?,
        };
        let token = deploy_token(&node, "Token", "TOK").await?;
        let other_token = deploy_token(&node, "Other", "OTH").await?;
        let chains = eth_chains(&node, &token, opts.confirmations.unwrap_or(3), &opts);
        let plugins = [crate::plugin_lib("ethereum"), crate::plugin_lib("erc20"), crate::plugin_lib("webhook")];
        let config = |dir: &Path, port| config_with_chains(dir, port, &chains, &opts.extra);
        let daemon = Daemon::start_launched(config, &plugins, opts.launch.clone()).await?;
        let rig = Self { node, daemon, token, other_token };
        if !opts.no_sync_wait {
            rig.wait_synced().await?;
        }
        Ok(rig)
    }

    /// Sends `wei` from the first dev account to `to` (mined at once); the tx hash.
    pub async fn send_eth(&self, to: &str, wei: u128) -> Result<String> {
        send(&self.node, json!({"from": DEV0, "to": to, "value": format!("{wei:#x}")})).await
    }

    /// Sends `wei` to a contract that rejects it, with explicit gas (no estimate, which would
    /// refuse): mined with status 0. The tx hash.
    pub async fn send_eth_reverting(&self, to: &str, wei: u128) -> Result<String> {
        let h =
            send(&self.node, json!({"from": DEV0, "to": to, "value": format!("{wei:#x}"), "gas": "0x30000"})).await?;
        let r = receipt(&self.node, &h).await?;
        if r["status"] != "0x0" {
            bail!("expected {h} to revert: {r}");
        }
        Ok(h)
    }

    /// Transfers `amount` base units of `token` from the first dev account to `to`; the tx hash.
    pub async fn transfer(&self, token: &str, to: &str, amount: u128) -> Result<String> {
        transfer_token(&self.node, token, to, amount).await
    }

    /// Mines `n` empty blocks.
    pub async fn mine(&self, n: u64) -> Result<()> {
        self.node.rpc("anvil_mine", json!([format!("{n:#x}")])).await?;
        Ok(())
    }

    pub async fn latest(&self) -> Result<Value> {
        self.node.rpc("eth_getBlockByNumber", json!(["latest", false])).await
    }

    /// Watches `address` on `eth` for a store; the watch id.
    pub async fn watch(&self, key: &str, address: &str, confirmations: u32) -> Result<String> {
        let body = json!({"chain": "eth", "address": address, "confirmations": confirmations});
        let (status, v) = self.daemon.call(reqwest::Method::POST, "/v1/watches", key, Some(body)).await;
        if status != 201 {
            bail!("watch {address}: {status} {v}");
        }
        Ok(v["id"].as_str().context("watch id")?.to_string())
    }

    /// Waits until `/health` reports the chain at the node's latest block.
    pub async fn wait_synced(&self) -> Result<()> {
        let best = self.latest().await?["hash"].as_str().unwrap_or_default().to_string();
        self.daemon.wait_chain_at("eth", &best).await
    }
}

/// A random address nobody holds keys of.
pub fn fresh_address(seed: u64) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(seed.to_be_bytes());
    format!("0x{}", hex::encode(&h[..20]))
}

/// `eth_sendTransaction` from an unlocked dev account; the tx hash once it is mined (anvil
/// mines each transaction into its own block).
/// Transfers `amount` base units of `token` from the first dev account (which holds the
/// supply) to `to`, mined at once; the tx hash.
pub async fn transfer_token(node: &Anvil, token: &str, to: &str, amount: u128) -> Result<String> {
    let data = format!("0x{TRANSFER}{}{}", word_addr(to)?, word(amount));
    send(node, json!({"from": DEV0, "to": token, "data": data, "gas": "0x30000"})).await
}

pub async fn send(node: &Anvil, tx: Value) -> Result<String> {
    let h = node.rpc("eth_sendTransaction", json!([tx])).await?;
    let h = h.as_str().context("tx hash")?.to_string();
    receipt(node, &h).await?;
    Ok(h)
}

/// The receipt of a transaction, waiting for it to be mined.
pub async fn receipt(node: &Anvil, txid: &str) -> Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = node.rpc("eth_getTransactionReceipt", json!([txid])).await?;
        if !r.is_null() {
            return Ok(r);
        }
        if Instant::now() > deadline {
            bail!("{txid} was not mined within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A published OpenZeppelin artifact fetched by `scripts/fetch-nodes.sh`: its bytecode.
fn bytecode(name: &str) -> Result<String> {
    let bin = crate::nodes::node_bin_dir()?;
    let path = bin.parent().unwrap_or(Path::new(".")).join(format!("contracts/{name}.json"));
    let a: Value = serde_json::from_slice(&std::fs::read(&path).with_context(|| format!("{}", path.display()))?)?;
    Ok(a["bytecode"].as_str().context("artifact bytecode")?.to_string())
}

/// Deploys `contract` (its bytecode followed by the encoded constructor `args`); its address.
async fn deploy(node: &Anvil, contract: &str, args: &str) -> Result<String> {
    let code = bytecode(contract)?;
    let h = send(node, json!({"from": DEV0, "data": format!("{code}{args}"), "gas": "0x500000"})).await?;
    let r = receipt(node, &h).await?;
    Ok(r["contractAddress"].as_str().with_context(|| format!("{contract} not deployed: {r}"))?.to_string())
}

/// Deploys OpenZeppelin's `PaymentSplitter(payees, shares)` with equal shares; its address.
/// Ether sent to it is paid out by `release(account)` through an internal call.
pub async fn deploy_splitter(node: &Anvil, payees: &[&str]) -> Result<String> {
    let n = payees.len() as u128;
    let mut args = format!("{}{}{}", word(0x40), word(0x60 + 0x20 * n), word(n));
    for p in payees {
        args.push_str(&word_addr(p)?);
    }
    args.push_str(&word(n));
    for _ in payees {
        args.push_str(&word(1));
    }
    deploy(node, "PaymentSplitter", &args).await
}

/// `PaymentSplitter.release(account)` from the first dev account (explicit gas: a release that
/// reverts is mined with status 0); the tx hash.
pub async fn release(node: &Anvil, splitter: &str, account: &str) -> Result<String> {
    let selector = hex::encode(&paywatch_evm_common::address::keccak256(b"release(address)")[..4]);
    let data = format!("0x{selector}{}", word_addr(account)?);
    send(node, json!({"from": DEV0, "to": splitter, "data": data, "gas": "0x30000"})).await
}

/// A contract that calls itself with the value it got until `depth` reaches 0, then sends the
/// value to `to`: calldata `depth (u256) ‖ to (address word)`; any failed call reverts it all.
/// Assembled by hand (offsets in the comments), so no compiler is needed.
const RECURSIVE_RUNTIME: &str = concat!(
    "600035",                                         // 00 depth = calldataload(0)
    "8015602657",                                     // 03 if depth == 0: jump to bottom (0x26)
    "6001900360005260203560205260006000604060003430", // 08 mem = (depth - 1, to); args (0, 64) to self, value
    "5af115603b5700",                                 // 1f call(gas, …); on failure jump to 0x3b (revert); stop
    "5b50600060006000600034602035",                   // 26 bottom: pop; no args, value, to = calldataload(32)
    "5af115603b5700",                                 // 34 call(gas, to, value); on failure revert; stop
    "5b600080fd",                                     // 3b revert
);

/// Deploys the contract of [`recurse`]; its address.
pub async fn deploy_recursive(node: &Anvil) -> Result<String> {
    let len = RECURSIVE_RUNTIME.len() / 2;
    // codecopy(0, 12, len); return(0, len): the 12-byte constructor, then the runtime.
    let init = format!("0x60{len:02x}600c600039 60{len:02x}6000f3{RECURSIVE_RUNTIME}").replace(' ', "");
    let h = send(node, json!({"from": DEV0, "data": init, "gas": "0x100000"})).await?;
    let r = receipt(node, &h).await?;
    Ok(r["contractAddress"].as_str().with_context(|| format!("recursive contract not deployed: {r}"))?.to_string())
}

/// Calls the [`deploy_recursive`] contract with `wei` from the first dev account: it calls
/// itself `depth` times, then pays `to`. The tx hash (mined, successful or not).
pub async fn recurse(node: &Anvil, contract: &str, depth: u128, to: &str, wei: u128) -> Result<String> {
    let data = format!("0x{}{}", word(depth), word_addr(to)?);
    let tx = json!({"from": DEV0, "to": contract, "data": data, "value": format!("{wei:#x}"), "gas": "0x1312d00"});
    send(node, tx).await
}

/// Deploys `ERC20PresetMinterPauser(name, symbol)` from the first dev account and mints it
/// 1,000,000 tokens; the contract address.
pub async fn deploy_token(node: &Anvil, name: &str, symbol: &str) -> Result<String> {
    // Constructor (string, string): two offsets, then each string's length and padded bytes.
    let string = |s: &str| format!("{}{:0<64}", word(s.len() as u128), hex::encode(s));
    let args = format!("{}{}{}{}", word(0x40), word(0x80), string(name), string(symbol));
    let token = deploy(node, "ERC20PresetMinterPauser", &args).await?;
    let mint = format!("0x{MINT}{}{}", word_addr(DEV0)?, word(1_000_000 * 10u128.pow(18)));
    send(node, json!({"from": DEV0, "to": token, "data": mint, "gas": "0x30000"})).await?;
    Ok(token)
}

/// A u128 as a 32-byte ABI word (hex).
fn word(n: u128) -> String {
    format!("{n:064x}")
}

fn word_addr(a: &str) -> Result<String> {
    let hex = a.strip_prefix("0x").context("address without 0x")?;
    Ok(format!("{:0>64}", hex.to_lowercase()))
}
