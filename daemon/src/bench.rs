//! For benchmarks only (hidden from the docs): the daemon's real watch set and host vtable, so
//! that benches measure production code rather than a copy of it.

use crate::db::{Db, DbError, WatchRecord};
use crate::db::{EndpointRecord, NewEvent};
use crate::events::EventKind;
use crate::index::{ChainSet, WatchSet};
use crate::plugins::CallContext;
use paywatch_plugin_api::abi::HostVTable;
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

    /// Runs `f` with the host vtable a currency plugin of this chain gets during a scan.
    pub fn with_host<R>(&self, f: impl FnOnce(&HostVTable) -> R) -> R {
        let ctx = CallContext { plugin: "bench", watches: Some(&self.chain), view: Some(self.chain.view()) };
        let vt = ctx.vtable();
        f(&vt)
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
}
