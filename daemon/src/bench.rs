//! For benchmarks only (hidden from the docs): the daemon's real watch set, host vtable and
//! plugin instances, so that benches measure production code rather than a copy of it.

use crate::config::{BitcoinNetwork, ChainKind};
use crate::db::{Db, DbError, WatchRecord};
use crate::db::{EndpointRecord, NewEvent};
use crate::events::EventKind;
use crate::health::Health;
use crate::index::{ChainSet, WatchSet};
use crate::plugins::{CallContext, Kind, PluginInstance};
use crate::RunError;
use paywatch_plugin_api::abi::HostVTable;
use paywatch_plugin_api::messages::ScanReply;
use serde_json::{Map, Value};
use std::path::Path;
use std::sync::Arc;

const CHAIN: &str = "bench";

/// A database in `dir` and the watch set of one chain over it.
#[derive(Debug)]
pub struct BenchWatchSet {
    db: Arc<Db>,
    chain: Arc<ChainSet>,
}

impl BenchWatchSet {
    pub fn open(dir: &Path) -> Result<Self, DbError> {
        let db = Arc::new(Db::open(dir)?);
        let set = WatchSet::load(db.clone(), [CHAIN.to_string()])?;
        let chain = set.chain(CHAIN).expect("loaded above").clone();
        Ok(Self { db, chain })
    }

    /// Adds a key's fingerprint only (no watch row): a scan never matches it, as with the
    /// millions of watched keys a block does not pay.
    pub fn insert_fingerprint(&self, key: &[u8]) {
        self.chain.insert(key);
    }

    /// A real watch (RocksDB rows and fingerprint): a hit is confirmed against the database.
    pub fn watch(&self, key: &[u8]) -> Result<(), DbError> {
        self.db.write_watch(&WatchRecord::new("bench", CHAIN, hex::encode(key), key.to_vec(), 1))?;
        self.chain.insert(key);
        Ok(())
    }

    /// Room for `n` more keys in one step, as loading the watch set at start does.
    pub fn reserve(&self, n: usize) {
        self.chain.reserve(n);
    }

    pub fn len(&self) -> usize {
        self.chain.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the in-memory fingerprint table.
    pub fn heap_bytes(&self) -> usize {
        self.chain.heap_bytes()
    }

    /// Runs `f` with the host vtable a currency plugin of this chain gets during a scan (for a
    /// plugin linked in and called directly).
    pub fn with_host<R>(&self, f: impl FnOnce(&HostVTable) -> R) -> R {
        let ctx = CallContext { plugin: "bench", watches: Some(&self.chain), view: Some(self.chain.view()) };
        let vt = ctx.vtable();
        f(&vt)
    }

    /// Loads the currency plugin library at `path` with the daemon's loader and creates the
    /// instance `run` creates for an asset `asset` of this set's chain: the same config
    /// (`asset`, `symbol`, `chain`, the chain's `network` or `chain_id`, then the asset table's
    /// `own` keys, e.g. `contract`, `decimals`), checked to scan `chain`'s kind, with this watch
    /// set attached.
    pub fn currency_plugin(
        &self,
        path: &Path,
        asset: &str,
        chain: BenchChain,
        own: &Map<String, Value>,
    ) -> Result<BenchPlugin, RunError> {
        let lib = crate::plugins::load(path).map_err(|e| RunError::Plugin(Box::new(e)))?;
        if lib.kind != Kind::Currency {
            let message = format!("{} is a platform plugin", lib.name);
            return Err(RunError::Refused { at: path.display().to_string(), message });
        }
        let (kind, node) = match chain {
            BenchChain::Bitcoin(network) => {
                (ChainKind::Bitcoin, ("network", serde_json::to_value(network).expect("enum encodes")))
            }
            BenchChain::Evm { chain_id } => (ChainKind::Evm, ("chain_id", chain_id.into())),
        };
        let config = crate::startup::currency_plugin_config(asset, CHAIN, [node], own);
        let health = Arc::new(Health::new());
        let inst = crate::startup::currency_instance(Arc::new(lib), asset, CHAIN, kind, &config, &health)?;
        inst.attach_watches(self.chain.clone());
        Ok(BenchPlugin(inst))
    }
}

/// The chain of a [`BenchWatchSet`] as its `[[chains]]` table would describe it to a currency
/// plugin: the kind, and the Bitcoin network or EVM chain id.
#[derive(Debug, Clone, Copy)]
pub enum BenchChain {
    Bitcoin(BitcoinNetwork),
    Evm { chain_id: u64 },
}

/// A currency plugin instance of [`BenchWatchSet::currency_plugin`]: the daemon's own, so a
/// call costs what it costs a chain follower (instance lock, host vtable and watch-set view,
/// reply copied out of the plugin and decoded, panics caught).
#[derive(Debug)]
pub struct BenchPlugin(PluginInstance);

impl BenchPlugin {
    /// Scans a raw block (`abi::SCAN_BLOCK`) or transaction (`abi::SCAN_TX`), as a follower does.
    pub fn scan(&self, what: u32, raw: &[u8]) -> Result<ScanReply, RunError> {
        self.0.scan(what, raw).map_err(|e| RunError::Plugin(Box::new(e)))
    }

    /// A control-plane call (e.g. `parse_address`) with a JSON payload; the reply's bytes.
    pub fn call_raw(&self, method: &str, payload: &[u8]) -> Result<Vec<u8>, RunError> {
        self.0.call_raw(method, payload).map_err(|e| RunError::Plugin(Box::new(e)))
    }
}

/// Writes a delivery backlog into the database at `dir`: a `webhook` endpoint of `store` to `url`
/// that has seen nothing yet, and `n` events of that store (as if the shop had been down).
pub fn write_backlog(dir: &Path, store: &str, url: &str, secret: &str, n: usize) -> Result<(), DbError> {
    let db = Db::open(dir)?;
    let now = time::OffsetDateTime::now_utc();
    let mut config = serde_json::Map::new();
    config.insert("url".into(), url.into());
    config.insert("secret".into(), secret.into());
    let endpoint = EndpointRecord {
        id: uuid::Uuid::now_v7(),
        store: store.to_string(),
        plugin: "webhook".into(),
        config,
        events: Vec::new(),
        enabled: true,
        disabled_reason: None,
        from_config: false,
        created_at: now,
        updated_at: now,
    };
    let mut b = db.batch();
    b.put_endpoint(&endpoint)?;
    b.put_cursor(endpoint.id, 0);
    db.write(b)?;
    for chunk in 0..n.div_ceil(10_000) {
        let mut b = db.batch();
        for i in chunk * 10_000..((chunk + 1) * 10_000).min(n) {
            let id = uuid::Uuid::now_v7();
            let data = serde_json::json!({"id": id, "order_id": format!("backlog-{i}"), "status": "new"});
            let (kind, subject) = (EventKind::InvoiceCreated, format!("invoice:{id}"));
            b.push_event(NewEvent { kind, store: store.to_string(), subject, data });
        }
        db.write(b)?;
    }
    db.flush()
}

/// An EVM block and its receipts as the daemon's RPC client decodes the node's JSON
/// (`eth_getBlockByNumber(n, true)`, `eth_getBlockReceipts`): the part of fetching that is CPU.
#[derive(Debug)]
pub struct EvmFetched(crate::chain::EvmFetched);

impl EvmFetched {
    pub fn decode(block: &str, receipts: &str) -> Result<Self, String> {
        crate::chain::EvmFetched::decode(block, receipts).map(Self)
    }

    /// The follower's work after fetch, before the plugins: checked, normalized, encoded.
    pub fn normalize_and_encode(&self) -> Result<Vec<u8>, String> {
        self.0.normalize().map(|b| b.encode())
    }

    /// The block (node JSON) checked against its header as the RPC client checks it with
    /// `verify_blocks` on: header hash, transaction hashes, transactions and receipts roots.
    /// `true` when checked in full, `false` when by header hash only (a transaction type that is
    /// not Ethereum's); the error names the block and what did not match.
    pub fn verify(block: &str, receipts: &str) -> Result<bool, String> {
        crate::chain::EvmFetched::verify(block, receipts)
    }
}

/// The follower's verification of a Bitcoin mainnet block, as it runs after a scan: header
/// decode, proof of work against mainnet's limit, merkle root (the one a plugin reported, or,
/// with `None`, computed here by decoding the block).
pub fn verify_mainnet_block(raw: &[u8], reported_root: Option<&str>) -> Result<(), String> {
    crate::chain::verify_bitcoin_block(raw, bitcoincore_rpc::bitcoin::Network::Bitcoin, reported_root)
}
