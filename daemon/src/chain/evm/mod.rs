//! EVM chains: the newHeads trigger task, the JSON-RPC client, the follower.
//!
//! Each chain gets a small tokio runtime of its own (one worker) for alloy's WebSocket and
//! HTTP clients, and a follower thread that blocks on it for requests: RocksDB writes and
//! plugin scans stay off the API's runtime, as on the Bitcoin side.

mod follower;
mod heads;
mod node;
mod normalize;
mod traces;
mod verify;

#[cfg(test)]
mod tests;

use crate::chain::rewind::ChainReader;
use crate::chain::supervise::{pause, supervise};
use crate::chain::{ChainStartError, Fatal, FollowError, NodeTip, Parts, Transient};
use crate::config::{ChainConfig, EvmNode};
use crate::health::{Kind, Status};
use crate::index::Indexer;
pub(crate) use follower::TokenAsset;
use follower::{Follower, FollowerConfig};
use node::EvmNode as _;
pub(crate) use node::NodeError;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// A block and its receipts as the RPC client decodes them from the node's JSON.
#[derive(Debug)]
pub(crate) struct Fetched(normalize::RpcBlock, Vec<normalize::RpcReceipt>);

impl Fetched {
    /// Node JSON (a block with its transactions, its receipts) decoded.
    pub(crate) fn decode(block: &str, receipts: &str) -> Result<Self, String> {
        let block = serde_json::from_str(block).map_err(|e| format!("block: {e}"))?;
        let receipts = serde_json::from_str(receipts).map_err(|e| format!("receipts: {e}"))?;
        Ok(Self(block, receipts))
    }

    /// Checked and normalized: what the follower hands the plugins.
    pub(crate) fn normalize(&self) -> Result<paywatch_plugin_api::evm::Block, String> {
        normalize::normalize(&self.0, &self.1)
    }

    /// Node JSON checked against its header (`verify`): whether in full.
    pub(crate) fn verify(block: &str, receipts: &str) -> Result<bool, String> {
        let receipts: Vec<Box<serde_json::value::RawValue>> =
            serde_json::from_str(receipts).map_err(|e| format!("receipts: {e}"))?;
        match verify::verify(block, &receipts) {
            Ok(checked) => Ok(checked == verify::Checked::Full),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// What wakes the follower.
#[derive(Debug)]
pub(crate) enum Wake {
    /// Reconcile now: a new head, or the feed (re)connected or ended (why, for the log).
    Sync(&'static str),
    Stop,
}

/// A running EVM follower, its runtime and trigger task.
#[derive(Debug)]
pub(crate) struct Running {
    chain: String,
    rt: tokio::runtime::Runtime,
    wake: crossbeam_channel::Sender<Wake>,
    thread: std::thread::JoinHandle<()>,
}

impl Running {
    pub(crate) fn stop(self) {
        let _ = self.wake.send(Wake::Stop);
        if self.thread.join().is_err() {
            tracing::error!(chain = %self.chain, "the follower thread panicked");
        }
        self.rt.shutdown_background();
    }
}

/// The chain's runtime: one worker for alloy's clients.
fn runtime(chain: &str) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(format!("evm-{chain}"))
        .enable_all()
        .build()
}

/// The JSON-RPC client: over `http_url`, else over the WebSocket.
fn client(rt: &tokio::runtime::Runtime, node: &EvmNode, metrics: &crate::metrics::ChainMetrics) -> node::RpcNode {
    let rpc_url = node.http_url.as_ref().unwrap_or(&node.ws_url).to_string();
    let timeout = Duration::from_secs(node.rpc_timeout_secs);
    node::RpcNode::new(rt.handle().clone(), rpc_url, timeout, node.traces, node.verify_blocks)
        .with_metrics(metrics.clone())
}

pub(crate) fn start(
    chain: &ChainConfig,
    node: &EvmNode,
    tokens: Vec<TokenAsset>,
    parts: Parts,
) -> Result<Running, ChainStartError> {
    let Parts { db, set, scanners, decimals, hook, health, metrics } = parts;
    let spawn = |what, source| ChainStartError::Spawn { chain: chain.name.clone(), what, source };
    let (name, window) = (chain.name.clone(), chain.reorg_window);
    let load = move || Indexer::load(&name, db.clone(), set.clone(), window, decimals.clone(), hook.clone());
    let indexer = load().map_err(|source| ChainStartError::Load { chain: chain.name.clone(), source })?;
    let rt = runtime(&chain.name).map_err(|e| spawn("runtime", e))?;
    let rpc: Arc<dyn node::EvmNode> = Arc::new(client(&rt, node, &metrics));
    let (tx, rx) = crossbeam_channel::bounded(64);
    let feed_up = Arc::new(AtomicBool::new(false));
    rt.spawn(heads::run(chain.name.clone(), node.ws_url.to_string(), tx.clone(), feed_up.clone(), metrics.clone()));
    let cfg = FollowerConfig {
        chain: chain.name.clone(),
        chain_id: node.chain_id,
        reorg_window: chain.reorg_window,
        start_height: chain.start_height,
        poll: Duration::from_secs(node.poll_secs),
        tokens,
    };
    health.set(Kind::Chain, &chain.name, Status::Idle, "starting");
    let (name, watched, counted) = (chain.name.clone(), health.clone(), metrics.clone());
    let make = move |indexer| {
        Follower::new(cfg.clone(), rpc.clone(), indexer, scanners.clone(), health.clone(), feed_up.clone())
            .with_metrics(metrics.clone())
    };
    let mut first = Some(make(indexer));
    let body = move || {
        let attempt = || {
            let mut follower = match first.take() {
                Some(f) => f,
                None => make(load()?),
            };
            follower.run(&rx)
        };
        supervise(&name, &watched, &counted, attempt, |d| pause(&rx, d, |w| matches!(w, Wake::Stop)));
    };
    let thread = std::thread::Builder::new()
        .name(format!("follow-{}", chain.name))
        .spawn(body)
        .map_err(|e| spawn("follower thread", e))?;
    Ok(Running { chain: chain.name.clone(), rt, wake: tx, thread })
}

/// The node as `paywatch chain rewind` reads it (with a runtime of its own).
pub(crate) fn reader(node: &EvmNode) -> std::io::Result<impl ChainReader> {
    let rt = runtime("rewind")?;
    let rpc = client(&rt, node, &crate::metrics::ChainMetrics::detached());
    Ok(Reader { rpc, chain_id: node.chain_id, _rt: rt })
}

struct Reader {
    rpc: node::RpcNode,
    chain_id: u64,
    /// Drives `rpc`; dropped last.
    _rt: tokio::runtime::Runtime,
}

impl ChainReader for Reader {
    fn check(&self) -> Result<(), FollowError> {
        match self.rpc.chain_id()? {
            id if id == self.chain_id => Ok(()),
            id => Err(Fatal::ChainId { node: id, config: self.chain_id }.into()),
        }
    }

    fn tip(&self) -> Result<NodeTip, FollowError> {
        let head = self.rpc.head()?;
        Ok(NodeTip { height: head.number, hash: head.hash })
    }

    fn hash_at(&self, height: u64) -> Result<Option<String>, FollowError> {
        Ok(self.rpc.header(height)?.map(|b| b.hash))
    }

    fn parent_of(&self, height: u64, hash: &str) -> Result<String, FollowError> {
        match self.rpc.header(height)? {
            Some(b) if b.hash == hash => Ok(b.parent),
            _ => Err(Transient::LostBlock { height }.into()),
        }
    }
}
