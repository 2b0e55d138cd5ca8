//! Chain followers: one per configured chain, each keeping the chain's local best chain equal
//! to its node's (by hash) and handing the indexer what changed. Feeds are only triggers.

mod bitcoin;
mod evm;

pub(crate) use evm::Fetched as EvmFetched;

use crate::config::{ChainNode, Config};
use crate::db::Db;
use crate::health::{Health, Kind, Status};
use crate::index::{ChainSet, Decimals, Indexer, PaymentHook, WatchSet};
use crate::plugins::PluginInstance;
use crate::startup::Currencies;
use paywatch_plugin_api::messages::ScanReply;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a sync round failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FollowError {
    /// Try again later (node away, plugin hiccup, a race with the node).
    #[error("{0}")]
    Transient(String),
    /// Following cannot go on without an operator (deep reorg, pruned node, database failure).
    #[error("{0}")]
    Fatal(String),
}

/// Scans raw chain data for watched keys: a chain's currency plugin instances.
pub(crate) trait Scanner: Send + Sync {
    fn scan(&self, what: u32, raw: &[u8]) -> Result<ScanReply, String>;
}

/// Every scanner of a chain (one per asset) over the same bytes: their matches, and each
/// watched spend once.
pub(crate) fn scan_all(scanners: &[Arc<dyn Scanner>], what: u32, raw: &[u8]) -> Result<ScanReply, String> {
    let mut out = ScanReply::default();
    for s in scanners {
        let r = s.scan(what, raw)?;
        out.matches.extend(r.matches);
        for w in r.watched_spends {
            if !out.watched_spends.contains(&w) {
                out.watched_spends.push(w);
            }
        }
    }
    Ok(out)
}

impl Scanner for PluginInstance {
    fn scan(&self, what: u32, raw: &[u8]) -> Result<ScanReply, String> {
        PluginInstance::scan(self, what, raw).map_err(|e| e.to_string())
    }
}

/// What a follower is built from besides its config.
pub(crate) struct Parts {
    pub(crate) db: Arc<Db>,
    pub(crate) set: Arc<ChainSet>,
    pub(crate) scanners: Vec<Arc<dyn Scanner>>,
    pub(crate) decimals: Decimals,
    pub(crate) hook: Arc<dyn PaymentHook>,
    pub(crate) health: Arc<Health>,
}

/// The highest height where the local chain and the node's agree, walking back by hash from
/// the lower of the two tips. Below the recorded window it is a fatal error: the reorg is
/// deeper than `reorg_window`, and guessing would corrupt payments.
pub(crate) fn fork_point(
    indexer: &Indexer,
    reorg_window: u32,
    local_tip: u64,
    node_height: u64,
    mut node_hash: impl FnMut(u64) -> Result<Option<String>, FollowError>,
) -> Result<u64, FollowError> {
    let mut h = local_tip.min(node_height);
    loop {
        let Some(local) = indexer.hash_at(h) else {
            return Err(FollowError::Fatal(format!(
                "reorg deeper than the reorg window ({reorg_window} blocks): no common block with the node at or above height {} (local tip {local_tip}); refusing to guess",
                indexer.lowest().unwrap_or(h),
            )));
        };
        if node_hash(h)?.as_deref() == Some(local) {
            return Ok(h);
        }
        if h == 0 {
            return Err(FollowError::Fatal("the node's genesis block differs from ours".into()));
        }
        h -= 1;
    }
}

/// The pace of a follower's loop: when the next sync is due, and what a sync's outcome means
/// (poll again later; back off 1 s → 30 s and say `degraded`; stop and say `down`).
#[derive(Debug)]
pub(crate) struct Pacer {
    chain: String,
    poll: Duration,
    backoff: Duration,
    next_sync: Instant,
    health: Arc<Health>,
}

const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl Pacer {
    pub(crate) fn new(chain: &str, poll: Duration, health: Arc<Health>) -> Self {
        Self { chain: chain.to_string(), poll, backoff: Duration::from_secs(1), next_sync: Instant::now(), health }
    }

    /// Runs `sync` when it is due. `sync` returns what `/health` says of a synced chain.
    /// False when the chain must stop (fatal, reported).
    pub(crate) fn sync_if_due(&mut self, sync: impl FnOnce() -> Result<Option<String>, FollowError>) -> bool {
        if Instant::now() < self.next_sync {
            return true;
        }
        let outcome = sync();
        if let Ok(Some(detail)) = &outcome {
            self.health.set(Kind::Chain, &self.chain, Status::Ok, detail.clone());
        }
        self.after(outcome.map(|_| ()))
    }

    /// How long to wait for a trigger before the next sync is due.
    pub(crate) fn wait(&self) -> Duration {
        self.next_sync.saturating_duration_since(Instant::now())
    }

    /// Sync as soon as possible (a trigger asked for it).
    pub(crate) fn now(&mut self) {
        self.next_sync = Instant::now();
    }

    /// Takes a sync's outcome; false when the chain must stop (fatal, reported).
    fn after(&mut self, outcome: Result<(), FollowError>) -> bool {
        match outcome {
            Ok(()) => {
                self.backoff = Duration::from_secs(1);
                self.next_sync = Instant::now() + self.poll;
                true
            }
            Err(FollowError::Transient(e)) => {
                let chain = &self.chain;
                tracing::warn!(%chain, error = %e, retry_in = ?self.backoff, "chain sync failed; retrying");
                let detail = format!("{e}; retrying in {}s", self.backoff.as_secs());
                self.health.set(Kind::Chain, chain, Status::Degraded, detail);
                self.next_sync = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                true
            }
            Err(FollowError::Fatal(e)) => {
                tracing::error!(chain = %self.chain, error = %e, "chain stopped");
                self.health.set(Kind::Chain, &self.chain, Status::Down, format!("stopped: {e}"));
                false
            }
        }
    }
}

#[derive(Debug)]
enum Running {
    Bitcoin(bitcoin::Running),
    Evm(evm::Running),
}

/// The running followers; [`Followers::stop`] ends them.
#[derive(Debug, Default)]
pub(crate) struct Followers {
    running: Vec<Running>,
}

impl Followers {
    /// Starts a follower for every chain that has a currency plugin to scan with.
    pub(crate) fn start(
        config: &Config,
        db: &Arc<Db>,
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
            let parts = Parts {
                db: db.clone(),
                set: chain_set,
                scanners,
                decimals: decimals.clone(),
                hook: hook.clone(),
                health: health.clone(),
            };
            out.running.push(match &chain.node {
                ChainNode::Bitcoin(node) => Running::Bitcoin(bitcoin::start(chain, node, parts)?),
                ChainNode::Evm(node) => {
                    let tokens = assets
                        .iter()
                        .filter_map(|a| {
                            let contract = a.contract.clone()?;
                            let decimals = *decimals.get(&a.id)?;
                            Some(evm::TokenAsset { asset: a.id.clone(), contract, decimals })
                        })
                        .collect();
                    Running::Evm(evm::start(chain, node, tokens, parts)?)
                }
            });
        }
        Ok(out)
    }

    /// Stops every follower and waits for it (a block in progress is finished first).
    pub(crate) fn stop(self) {
        for r in self.running {
            match r {
                Running::Bitcoin(r) => r.stop(),
                Running::Evm(r) => r.stop(),
            }
        }
    }
}
