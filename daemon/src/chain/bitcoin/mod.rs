//! Bitcoin-family chains: the ZMQ trigger thread, the minimal RPC client, the follower.

mod follower;
pub(crate) mod fuzz;
mod rpc;
mod verify;
mod zmq;

#[cfg(test)]
mod tests;

use crate::chain::rewind::ChainReader;
use crate::chain::supervise::{pause, supervise};
use crate::chain::{ChainStartError, Fatal, FollowError, NodeTip, Parts};
use crate::config::{BitcoinNetwork, BitcoinNode, ChainConfig, PowLimit};
use crate::health::{Kind, Status};
use crate::index::Indexer;
use bitcoincore_rpc::bitcoin::constants::genesis_block;
use bitcoincore_rpc::bitcoin::Network;
use follower::{Follower, FollowerConfig};
use rpc::BitcoinNode as _;
pub(crate) use rpc::RpcError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
pub(crate) use verify::Invalid;

/// What wakes the follower.
#[derive(Debug)]
pub(crate) enum Trigger {
    /// A transaction entered the mempool (or a block): scan it now.
    RawTx(zmq::Body),
    /// A new block: connect it if it extends the tip, else reconcile.
    RawBlock(zmq::Body),
    /// Something happened (block hash, gap, reconnect, quiet feed): reconcile.
    Reconcile(&'static str),
    Stop,
}

/// Triggers queued before the ZMQ thread drops them (and owes a reconcile).
const QUEUE: usize = 10_000;

/// A running follower and its ZMQ thread.
#[derive(Debug)]
pub(crate) struct Running {
    chain: String,
    stop: Arc<AtomicBool>,
    triggers: crossbeam_channel::Sender<Trigger>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Running {
    pub(crate) fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.triggers.send(Trigger::Stop);
        for t in self.threads {
            if t.join().is_err() {
                tracing::error!(chain = %self.chain, "a follower thread panicked");
            }
        }
    }
}

fn bitcoin_network(n: BitcoinNetwork) -> Network {
    match n {
        BitcoinNetwork::Mainnet => Network::Bitcoin,
        BitcoinNetwork::Testnet => Network::Testnet,
        BitcoinNetwork::Testnet4 => Network::Testnet4,
        BitcoinNetwork::Signet => Network::Signet,
        BitcoinNetwork::Regtest => Network::Regtest,
    }
}

/// The config's spelling of a network.
pub(crate) fn network_name(n: BitcoinNetwork) -> &'static str {
    match n {
        BitcoinNetwork::Mainnet => "mainnet",
        BitcoinNetwork::Testnet => "testnet",
        BitcoinNetwork::Testnet4 => "testnet4",
        BitcoinNetwork::Signet => "signet",
        BitcoinNetwork::Regtest => "regtest",
    }
}

/// The hash of a Bitcoin network's genesis block, as RPC prints it.
fn network_genesis(n: BitcoinNetwork) -> String {
    genesis_block(bitcoin_network(n)).block_hash().to_string()
}

/// Whether a URL's host is this machine (loopback), where plain HTTP is not on any wire.
fn is_local(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// How the chain's headers are checked: the network's proof-of-work limit, or the configured one.
fn rules(node: &BitcoinNode) -> verify::Rules {
    match &node.pow_limit {
        PowLimit::Network => verify::Rules::network(bitcoin_network(node.network)),
        PowLimit::Target(hex) => verify::Rules::target(hex),
        PowLimit::None => verify::Rules::other_coin(None),
    }
}

/// A raw block checked as the follower checks it (for benchmarks).
pub(crate) fn verify_block(raw: &[u8], network: Network, reported_root: Option<&str>) -> Result<(), String> {
    use bitcoincore_rpc::bitcoin::consensus::Decodable;
    let header = bitcoincore_rpc::bitcoin::block::Header::consensus_decode(&mut raw.get(..80).unwrap_or(raw))
        .map_err(|e| e.to_string())?;
    verify::Rules::network(network).check_work(&header).map_err(|e| e.to_string())?;
    verify::check_merkle(&header, raw, reported_root).map_err(|e| e.to_string())
}

/// Why a raw block's header does not decode.
pub(crate) type HeaderError = bitcoincore_rpc::bitcoin::consensus::encode::Error;

/// The genesis block the node must have, and where that expectation comes from.
pub(crate) fn expected_genesis(node: &BitcoinNode) -> (String, String) {
    match &node.genesis_hash {
        Some(h) => (h.clone(), "its genesis_hash".to_string()),
        None => (network_genesis(node.network), format!("network = {:?}", network_name(node.network))),
    }
}

pub(crate) fn start(chain: &ChainConfig, node: &BitcoinNode, parts: Parts) -> Result<Running, ChainStartError> {
    let Parts { db, set, scanners, decimals, hook, health, metrics } = parts;
    let (name, window) = (chain.name.clone(), chain.reorg_window);
    let load = move || Indexer::load(&name, db.clone(), set.clone(), window, decimals.clone(), hook.clone());
    let indexer = load().map_err(|source| ChainStartError::Load { chain: chain.name.clone(), source })?;
    if !is_local(&node.rpc_url) {
        tracing::warn!(chain = %chain.name, rpc_url = %crate::config::redact_url(node.rpc_url.as_str()), "the node's RPC is plain HTTP to a host that is not this machine: anyone on the path can read the RPC password and feed forged blocks (each still needs the chain's difficulty) and forged mempool transactions (which settle speed-high invoices); reach the node through a tunnel");
    }
    let rpc: Arc<dyn rpc::BitcoinNode> =
        Arc::new(rpc::RpcClient::new(&node.rpc_url, node.rpc_auth.clone(), Duration::from_secs(node.rpc_timeout_secs)));
    let (genesis, genesis_from) = expected_genesis(node);
    let cfg = FollowerConfig {
        chain: chain.name.clone(),
        reorg_window: chain.reorg_window,
        start_height: chain.start_height,
        poll: Duration::from_secs(node.poll_secs),
        genesis,
        genesis_from,
        rules: rules(node),
    };
    let (tx, rx) = crossbeam_channel::bounded(QUEUE);
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    let zmq_topics = [&node.zmq.rawtx, &node.zmq.hashblock, &node.zmq.rawblock, &node.zmq.sequence];
    if zmq_topics.iter().any(|t| t.is_some()) {
        let t = zmq::spawn(&chain.name, &node.zmq, tx.clone(), stop.clone(), metrics.clone())?;
        threads.push(t);
    } else {
        tracing::warn!(chain = %chain.name, "no zmq endpoint: following by polling every {}s", node.poll_secs);
    }
    health.set(Kind::Chain, &chain.name, Status::Idle, "starting");
    let make = {
        let (cfg, health, metrics) = (cfg.clone(), health.clone(), metrics.clone());
        move |indexer| {
            Follower::new(cfg.clone(), rpc.clone(), indexer, scanners.clone(), health.clone())
                .with_metrics(metrics.clone())
        }
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
        supervise(&cfg.chain, &health, &metrics, attempt, |d| pause(&rx, d, |t| matches!(t, Trigger::Stop)));
    };
    let t = std::thread::Builder::new()
        .name(format!("follow-{}", chain.name))
        .spawn(body)
        .map_err(|source| ChainStartError::Spawn { chain: chain.name.clone(), what: "follower thread", source })?;
    threads.push(t);
    Ok(Running { chain: chain.name.clone(), stop, triggers: tx, threads })
}

/// The node as `paywatch chain rewind` reads it.
pub(crate) fn reader(node: &BitcoinNode) -> impl ChainReader {
    let rpc = rpc::RpcClient::new(&node.rpc_url, node.rpc_auth.clone(), Duration::from_secs(node.rpc_timeout_secs));
    Reader { rpc, genesis: expected_genesis(node) }
}

struct Reader {
    rpc: rpc::RpcClient,
    genesis: (String, String),
}

impl ChainReader for Reader {
    fn check(&self) -> Result<(), FollowError> {
        let node = self.rpc.block_hash(0)?;
        if node != self.genesis.0 {
            let (expected, expected_from) = self.genesis.clone();
            return Err(Fatal::OtherNetwork { node, expected, expected_from }.into());
        }
        Ok(())
    }

    fn tip(&self) -> Result<NodeTip, FollowError> {
        let height = self.rpc.block_count()?;
        Ok(NodeTip { height, hash: self.rpc.block_hash(height)? })
    }

    fn hash_at(&self, height: u64) -> Result<Option<String>, FollowError> {
        match self.rpc.block_hash(height) {
            Ok(h) => Ok(Some(h)),
            // -8: height out of range (above the node's tip).
            Err(RpcError::Node { code: -8, .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn parent_of(&self, height: u64, hash: &str) -> Result<String, FollowError> {
        Ok(follower::header_of(&self.rpc.block(hash)?, height, hash)?.prev_blockhash.to_string())
    }
}
