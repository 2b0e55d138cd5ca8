//! The database (RocksDB), and nothing else touches it. Owns the column families and every
//! key codec ([`schema`]), the schema version check at open, and typed batches written
//! atomically and synced ([`batch`]). Stored values (JSON, self-describing) and their reads are
//! split by domain: [`watches`], [`payments`] (and the reorg window's blocks), [`invoices`]
//! (and refunds), [`refund_totals`] (an invoice's refunds as running totals), [`outbox`]
//! (events and deliveries), [`endpoints`]; backups and restores ([`backup`]). Any layout change bumps
//! `schema::SCHEMA_VERSION`.

mod admin;
mod backup;
mod batch;
mod compat;
mod disk;
mod endpoints;
mod invoices;
mod memory;
mod outbox;
mod payments;
mod private;
mod refund_totals;
mod restore_pools;
mod schema;
mod wake;
mod watches;

pub(crate) use backup::{backup_stopped, restore};
pub use backup::{BackupError, ChainCursor, Manifest, Restored};
pub(crate) use batch::Batch;
pub(crate) use batch::NewEvent;
pub(crate) use endpoints::EndpointRecord;
pub(crate) use invoices::{
    ApprovalRecord, Exception, GatewayRecord, InvoiceRecord, InvoiceStatus, MethodRecord, RefundRecord, RefundStatus,
    SourceId, SAME_ASSET,
};
pub(crate) use outbox::{Attempt, DeliveryRecord, DeliveryStatus, EventRecord};
pub(crate) use payments::{BlockRecord, PaymentRecord, PaymentRef, PaymentStatus};
pub(crate) use refund_totals::RefundTotals;
pub use restore_pools::PoolsAdvanced;
pub(crate) use watches::WatchRecord;

use paywatch_plugin_api::amount::Amount;
use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteOptions, DB};
use schema::*;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokio::sync::watch;
use uuid::Uuid;

/// Errors of the database. Messages name the path or key involved (operators know the data
/// directory as "the store": the messages keep that word).
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open store at {path}: {source} (is another paywatch using it?)")]
    Open { path: PathBuf, source: rocksdb::Error },
    #[error("cannot create store directory {path}: {source}")]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("store at {path} belongs to uid {owner}, and this paywatch runs as uid {uid}: run it as the store's owner (e.g. `sudo -u paywatch paywatch …`); files written as another user would stop the daemon from opening its store")]
    NotOwner { path: PathBuf, owner: u32, uid: u32 },
    #[error("no store at {0}: is this the daemon's config (--config or PAYWATCH_CONFIG)? only `paywatch run` makes a new store")]
    NoStore(PathBuf),
    #[error("store at {path} has schema version {found}, this paywatch needs {expected}; it does not migrate silently: use a paywatch that matches, or a new storage.path")]
    SchemaMismatch { path: PathBuf, found: u32, expected: u32 },
    #[error("store at {path} has an unreadable schema version {raw:?}")]
    BadSchemaVersion { path: PathBuf, raw: Vec<u8> },
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error("corrupt record in {cf} at key {key}: {reason}")]
    Corrupt { cf: &'static str, key: String, reason: String },
    #[error("cannot encode record for {cf}: {0}", cf = .1)]
    Encode(serde_json::Error, &'static str),
}

impl DbError {
    /// A write failed for want of space (a full disk, a quota). RocksDB stops taking writes
    /// and recovers by itself once space is freed (its file manager polls for it); callers
    /// retry meanwhile.
    pub(crate) fn is_disk_full(&self) -> bool {
        match self {
            DbError::Rocks(e) => {
                let m = e.as_ref();
                e.kind() == rocksdb::ErrorKind::IOError
                    && ["No space left on device", "Disk quota exceeded"].iter().any(|s| m.contains(s))
            }
            _ => false,
        }
    }
}

/// The one handle on the database. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub(crate) struct Db {
    db: DB,
    path: PathBuf,
    /// Serializes commits that append events, so sequence numbers are assigned in commit order
    /// and a reader that saw seq N never misses an event below N committed later.
    commit: Mutex<u64>,
    last_seq: watch::Sender<u64>,
    /// The same, per store: what dispatcher workers and long-polls wait on.
    store_seqs: wake::StoreWakes,
    /// RocksDB's memtables and block cache under one budget.
    memory: memory::Memory,
    /// Counts the events each write commits (`/metrics`), once set.
    counted: std::sync::OnceLock<crate::metrics::EventCounter>,
}

impl Db {
    /// Opens (creating if needed) the database at `path` with the default memory budget.
    /// A store that exists already (the commands other than `run`, which never make one).
    pub(crate) fn open_existing(path: &Path) -> Result<Self, DbError> {
        if !path.join("CURRENT").is_file() {
            return Err(DbError::NoStore(path.to_owned()));
        }
        Self::open(path)
    }

    pub(crate) fn open(path: &Path) -> Result<Self, DbError> {
        Self::open_with(path, memory::DEFAULT_BUDGET)
    }

    /// Opens (creating if needed) the database at `path`, checking the schema version, with
    /// its memtables and block cache within `memory_budget` bytes (`storage.memory_budget`);
    /// the directory is made private to the owner first (`private.rs`).
    pub(crate) fn open_with(path: &Path, memory_budget: usize) -> Result<Self, DbError> {
        let open_err = |source| DbError::Open { path: path.to_owned(), source };
        if let Some((owner, uid)) = private::foreign_owner(path) {
            return Err(DbError::NotOwner { path: path.to_owned(), owner, uid });
        }
        private::prepare(path).map_err(|source| DbError::CreateDir { path: path.to_owned(), source })?;
        let memory = memory::Memory::new(memory_budget);
        let mut opts = Options::default();
        memory.apply_db(&mut opts);
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        opts.set_keep_log_file_num(5);
        // Open every CF present (a newer schema's too: the version check then says what is wrong).
        let mut names: Vec<String> = DB::list_cf(&opts, path).unwrap_or_default();
        for cf in ALL_CFS {
            if !names.iter().any(|n| n == cf) {
                names.push(cf.to_string());
            }
        }
        let cfs = names.iter().map(|n| {
            let mut o = cf_options();
            memory.apply_cf(&mut o);
            ColumnFamilyDescriptor::new(n, o)
        });
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(open_err)?;
        Self::check_version(db, path, memory)
    }

    /// Bytes RocksDB holds under the memory budget now, the memtables' share of them, and the
    /// budget.
    pub(crate) fn memory(&self) -> (usize, usize, usize) {
        (self.memory.usage(), self.memory.memtables(), self.memory.budget())
    }

    fn check_version(db: DB, path: &Path, memory: memory::Memory) -> Result<Self, DbError> {
        let meta = db.cf_handle(CF_META).expect("meta cf opened above");
        match db.get_cf(meta, META_SCHEMA_VERSION)? {
            None => {
                let mut wo = WriteOptions::default();
                wo.set_sync(true);
                db.put_cf_opt(meta, META_SCHEMA_VERSION, SCHEMA_VERSION.to_be_bytes(), &wo)?;
            }
            Some(raw) => {
                let found = <[u8; 4]>::try_from(raw.as_slice())
                    .map(u32::from_be_bytes)
                    .map_err(|_| DbError::BadSchemaVersion { path: path.to_owned(), raw: raw.clone() })?;
                if UPGRADABLE_FROM.contains(&found) {
                    // The missing column families were created at open; record the new version.
                    let mut wo = WriteOptions::default();
                    wo.set_sync(true);
                    db.put_cf_opt(meta, META_SCHEMA_VERSION, SCHEMA_VERSION.to_be_bytes(), &wo)?;
                    tracing::info!(path = %path.display(), from = found, to = SCHEMA_VERSION, "store schema upgraded");
                } else if found != SCHEMA_VERSION {
                    return Err(DbError::SchemaMismatch { path: path.to_owned(), found, expected: SCHEMA_VERSION });
                }
            }
        }
        let last = last_seq(&db)?;
        Ok(Self {
            db,
            path: path.to_owned(),
            commit: Mutex::new(last),
            last_seq: watch::channel(last).0,
            store_seqs: wake::StoreWakes::default(),
            memory,
            counted: std::sync::OnceLock::new(),
        })
    }

    /// Counts every event committed from now on with `counter` (once; later calls are ignored).
    pub(crate) fn count_events(&self, counter: crate::metrics::EventCounter) {
        let _ = self.counted.set(counter);
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn cf(&self, name: &'static str) -> &ColumnFamily {
        self.db.cf_handle(name).expect("every schema CF is opened at open")
    }

    pub(crate) fn batch(&self) -> Batch<'_> {
        Batch::new(self)
    }

    /// Writes a batch atomically and synced. Events in it get their sequence numbers here.
    pub(crate) fn write(&self, batch: Batch<'_>) -> Result<(), DbError> {
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        let (mut wb, events) = batch.into_parts();
        if events.is_empty() {
            return Ok(self.db.write_opt(wb, &wo)?);
        }
        let mut next = self.commit.lock().unwrap_or_else(|p| p.into_inner());
        let mut seq = *next;
        // Each store's newest seq in this batch (a batch holds one store's events, or a few).
        let mut newest: Vec<(String, u64)> = Vec::new();
        let mut kinds = Vec::with_capacity(events.len());
        for e in events {
            seq += 1;
            let rec = e.into_record(seq);
            if self.counted.get().is_some() {
                kinds.push((rec.store.clone(), rec.kind));
            }
            let value = serde_json::to_vec(&rec).map_err(|err| DbError::Encode(err, CF_OUTBOX))?;
            wb.put_cf(self.cf(CF_OUTBOX), outbox_key(seq), value);
            wb.put_cf(self.cf(CF_STORE_EVENTS), store_events_key(&rec.store, seq), []);
            match newest.iter_mut().find(|(s, _)| *s == rec.store) {
                Some(entry) => entry.1 = seq,
                None => newest.push((rec.store, seq)),
            }
        }
        self.db.write_opt(wb, &wo)?;
        if let Some(counter) = self.counted.get() {
            for (store, kind) in &kinds {
                counter.committed(store, *kind);
            }
        }
        *next = seq;
        self.last_seq.send_replace(seq);
        self.store_seqs.committed(newest.iter().map(|(s, q)| (s.as_str(), *q)));
        Ok(())
    }

    /// Flushes memtables and the WAL (at shutdown).
    pub(crate) fn flush(&self) -> Result<(), DbError> {
        self.db.flush_wal(true)?;
        Ok(self.db.flush()?)
    }

    /// Ids listed under `prefix` (prefix ‖ id keys) after `after`, at most `limit`, in order.
    fn ids_after(
        &self,
        cf: &'static str,
        prefix: &[u8],
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Uuid>, DbError> {
        let mut start = prefix.to_vec();
        if let Some(id) = after {
            start.extend_from_slice(id.as_bytes());
            start.push(0); // strictly after
        }
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(cf), IteratorMode::From(&start, Direction::Forward)) {
            let (k, _) = item?;
            if !k.starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push(Uuid::from_slice(&k[prefix.len()..]).map_err(|e| corrupt(cf, &k, e))?);
        }
        Ok(out)
    }

    fn prefix_values<T: serde::de::DeserializeOwned>(
        &self,
        cf: &'static str,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<T>, DbError> {
        let mut out = Vec::new();
        for item in self.db.prefix_iterator_cf(self.cf(cf), prefix) {
            let (k, v) = item?;
            if !k.starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push(decode(cf, &k, &v)?);
        }
        Ok(out)
    }
}

fn cf_options() -> Options {
    let mut o = Options::default();
    o.set_compression_type(rocksdb::DBCompressionType::Lz4);
    o
}

fn last_seq(db: &DB) -> Result<u64, DbError> {
    let cf = db.cf_handle(CF_OUTBOX).expect("outbox cf opened");
    match db.iterator_cf(cf, IteratorMode::End).next() {
        None => Ok(0),
        Some(item) => {
            let (k, _) = item?;
            decode_seq(&k).ok_or_else(|| corrupt(CF_OUTBOX, &k, "bad seq"))
        }
    }
}

fn corrupt(cf: &'static str, key: &[u8], reason: impl ToString) -> DbError {
    DbError::Corrupt { cf, key: hex::encode(key), reason: reason.to_string() }
}

/// An amount a record stores (base units, a decimal string), read: one that does not read is a
/// corrupt record, never zero.
fn stored_amount(cf: &'static str, key: &[u8], field: &str, value: &str) -> Result<Amount, DbError> {
    Amount::from_base_str(value).map_err(|e| corrupt(cf, key, format!("{field}: {e}")))
}

fn decode<T: serde::de::DeserializeOwned>(cf: &'static str, key: &[u8], v: &[u8]) -> Result<T, DbError> {
    serde_json::from_slice(v).map_err(|e| corrupt(cf, key, e))
}

#[cfg(test)]
mod tests;
