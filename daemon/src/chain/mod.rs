//! Chain followers: one per configured chain, each keeping the chain's local best chain equal
//! to its node's (by hash) and handing the indexer what changed. Feeds are only triggers.

mod bitcoin;

use crate::config::{ChainNode, Config};
use crate::health::{Health, Kind, Status};
use crate::index::{Decimals, PaymentHook, WatchSet};
use crate::plugins::PluginInstance;
use crate::startup::Currencies;
use crate::store::Store;
use paywatch_plugin_api::messages::ScanReply;
use std::sync::Arc;

/// Why a sync round failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FollowError {
    /// Try again later (node away, plugin hiccup, a race with the node).
    #[error("{0}")]
    Transient(String),
    /// Following cannot go on without an operator (deep reorg, pruned node, store failure).
    #[error("{0}")]
    Fatal(String),
}

/// Scans raw chain data for watched keys: a chain's currency plugin instances.
pub(crate) trait Scanner: Send + Sync {
    fn scan(&self, what: u32, raw: &[u8]) -> Result<ScanReply, String>;
}

impl Scanner for PluginInstance {
    fn scan(&self, what: u32, raw: &[u8]) -> Result<ScanReply, String> {
        PluginInstance::scan(self, what, raw).map_err(|e| e.to_string())
    }
}

/// The running followers; [`Followers::stop`] ends them.
#[derive(Debug, Default)]
pub(crate) struct Followers {
    running: Vec<bitcoin::Running>,
}

impl Followers {
    /// Starts a follower for every chain that has a currency plugin to scan with.
    pub(crate) fn start(
        config: &Config,
        store: &Arc<Store>,
        set: &Arc<WatchSet>,
        currencies: &Currencies,
        decimals: &Decimals,
        hook: &Arc<dyn PaymentHook>,
        health: &Arc<Health>,
    ) -> Result<Self, String> {
        let mut out = Self::default();
        for chain in &config.chains {
            let assets: Vec<_> = config.assets.iter().filter(|a| a.chain == chain.name).collect();
            let scanners: Vec<Arc<dyn Scanner>> =
                assets.iter().filter_map(|a| currencies.get(&a.id)).map(|p| p.clone() as Arc<dyn Scanner>).collect();
            if scanners.is_empty() {
                health.set(Kind::Chain, &chain.name, Status::Idle, "no asset uses this chain: not followed");
                continue;
            }
            let chain_set = set.chain(&chain.name).expect("the set has every configured chain").clone();
            match &chain.node {
                ChainNode::Bitcoin(node) => {
                    let parts = bitcoin::Parts {
                        store: store.clone(),
                        set: chain_set,
                        scanners,
                        decimals: decimals.clone(),
                        hook: hook.clone(),
                        health: health.clone(),
                    };
                    let r = bitcoin::start(chain, node, parts)?;
                    out.running.push(r);
                }
                ChainNode::Evm(_) => {
                    health.set(Kind::Chain, &chain.name, Status::Idle, "evm chains are not followed yet");
                }
            }
        }
        Ok(out)
    }

    /// Stops every follower and waits for it (a block in progress is finished first).
    pub(crate) fn stop(self) {
        for r in self.running {
            r.stop();
        }
    }
}
