//! RocksDB, and nothing else touches it. Owns the column families, key codecs
//! ([`schema`]), stored values ([`records`]), the schema version check at open, and typed
//! batches that are written atomically and synced.

mod batch;
mod records;
mod schema;

pub(crate) use batch::Batch;
pub(crate) use batch::NewEvent;
pub(crate) use records::{
    Attempt, BlockRecord, DeliveryRecord, DeliveryStatus, EndpointRecord, EventRecord, Exception, InvoiceRecord,
    InvoiceStatus, PaymentRecord, PaymentRef, PaymentStatus, RefundRecord, RefundStatus, SpentOutPoint, WatchRecord,
};

use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteOptions, DB};
use schema::*;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokio::sync::watch;
use uuid::Uuid;

/// Errors of the store. Messages name the path or key involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open store at {path}: {source} (is another paywatch using it?)")]
    Open { path: PathBuf, source: rocksdb::Error },
    #[error("cannot create store directory {path}: {source}")]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("store at {path} has schema version {found}, this paywatch needs {expected}; it does not migrate silently: use a paywatch that matches, or a new storage.path")]
    SchemaMismatch { path: PathBuf, found: u32, expected: u32 },
    #[error("store at {path} has an unreadable schema version {raw:?}")]
    BadSchemaVersion { path: PathBuf, raw: Vec<u8> },
    #[error("rocksdb: {0}")]
    Db(#[from] rocksdb::Error),
    #[error("corrupt record in {cf} at key {key}: {reason}")]
    Corrupt { cf: &'static str, key: String, reason: String },
    #[error("cannot encode record for {cf}: {0}", cf = .1)]
    Encode(serde_json::Error, &'static str),
}

/// The one handle on the database. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub(crate) struct Store {
    db: DB,
    path: PathBuf,
    /// Serializes commits that append events, so sequence numbers are assigned in commit order
    /// and a reader that saw seq N never misses an event below N committed later.
    commit: Mutex<u64>,
    last_seq: watch::Sender<u64>,
}

impl Store {
    /// Opens (creating if needed) the store at `path`, checking the schema version.
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open { path: path.to_owned(), source };
        std::fs::create_dir_all(path).map_err(|source| StoreError::CreateDir { path: path.to_owned(), source })?;
        let mut opts = Options::default();
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
        let cfs = names.iter().map(|n| ColumnFamilyDescriptor::new(n, cf_options()));
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(open_err)?;
        let store = Self::check_version(db, path)?;
        Ok(store)
    }

    fn check_version(db: DB, path: &Path) -> Result<Self, StoreError> {
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
                    .map_err(|_| StoreError::BadSchemaVersion { path: path.to_owned(), raw: raw.clone() })?;
                if UPGRADABLE_FROM.contains(&found) {
                    // The missing column families were created at open; record the new version.
                    let mut wo = WriteOptions::default();
                    wo.set_sync(true);
                    db.put_cf_opt(meta, META_SCHEMA_VERSION, SCHEMA_VERSION.to_be_bytes(), &wo)?;
                    tracing::info!(path = %path.display(), from = found, to = SCHEMA_VERSION, "store schema upgraded");
                } else if found != SCHEMA_VERSION {
                    return Err(StoreError::SchemaMismatch { path: path.to_owned(), found, expected: SCHEMA_VERSION });
                }
            }
        }
        let last = last_seq(&db)?;
        Ok(Self { db, path: path.to_owned(), commit: Mutex::new(last), last_seq: watch::channel(last).0 })
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
    pub(crate) fn write(&self, batch: Batch<'_>) -> Result<(), StoreError> {
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        let (mut wb, events) = batch.into_parts();
        if events.is_empty() {
            return Ok(self.db.write_opt(wb, &wo)?);
        }
        let mut next = self.commit.lock().unwrap_or_else(|p| p.into_inner());
        let mut seq = *next;
        for e in events {
            seq += 1;
            let rec = e.into_record(seq);
            let value = serde_json::to_vec(&rec).map_err(|err| StoreError::Encode(err, CF_OUTBOX))?;
            wb.put_cf(self.cf(CF_OUTBOX), outbox_key(seq), value);
            wb.put_cf(self.cf(CF_STORE_EVENTS), store_events_key(&rec.store, seq), []);
        }
        self.db.write_opt(wb, &wo)?;
        *next = seq;
        self.last_seq.send_replace(seq);
        Ok(())
    }

    /// Stores one watch on its own (no uniqueness checks: those are `index::Watches`'s job).
    pub(crate) fn write_watch(&self, w: &WatchRecord) -> Result<(), StoreError> {
        let mut b = self.batch();
        b.put_watch(w)?;
        self.write(b)
    }

    /// Flushes memtables and the WAL (at shutdown).
    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        self.db.flush_wal(true)?;
        Ok(self.db.flush()?)
    }

    pub(crate) fn watch(&self, id: Uuid) -> Result<Option<WatchRecord>, StoreError> {
        let raw = self.db.get_cf(self.cf(CF_WATCHES), watch_key(id))?;
        raw.map(|v| decode(CF_WATCHES, &watch_key(id), &v)).transpose()
    }

    /// A store's watches in creation order, after `after` (exclusive), at most `limit`.
    pub(crate) fn store_watches(
        &self,
        store: &str,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<WatchRecord>, StoreError> {
        let mut out = Vec::new();
        for id in self.ids_after(CF_STORE_WATCHES, &store_prefix(store), after, limit)? {
            let w = self.watch(id)?;
            out.push(w.ok_or_else(|| corrupt(CF_STORE_WATCHES, id.as_bytes(), "index entry without a watch"))?);
        }
        Ok(out)
    }

    /// Ids listed under `prefix` (prefix ‖ id keys) after `after`, at most `limit`, in order.
    fn ids_after(
        &self,
        cf: &'static str,
        prefix: &[u8],
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Uuid>, StoreError> {
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

    /// Ids of every watch (of any store) on this canonical key.
    pub(crate) fn watch_ids_for_key(&self, chain: &str, key: &[u8]) -> Result<Vec<Uuid>, StoreError> {
        let prefix = watch_keys_prefix(chain, key);
        let mut out = Vec::new();
        for item in self.db.prefix_iterator_cf(self.cf(CF_WATCH_KEYS), &prefix) {
            let (k, _) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            out.push(Uuid::from_slice(&k[prefix.len()..]).map_err(|e| corrupt(CF_WATCH_KEYS, &k, e))?);
        }
        Ok(out)
    }

    /// Visits every watched canonical key of a chain (to build the in-memory watch set).
    pub(crate) fn for_each_watched_key(&self, chain: &str, mut f: impl FnMut(&[u8])) -> Result<(), StoreError> {
        let prefix = watch_keys_chain_prefix(chain);
        for item in self.db.prefix_iterator_cf(self.cf(CF_WATCH_KEYS), &prefix) {
            let (k, _) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            let (key, _) =
                decode_watch_keys_key(prefix.len(), &k).ok_or_else(|| corrupt(CF_WATCH_KEYS, &k, "bad key layout"))?;
            f(key);
        }
        Ok(())
    }

    /// A store's events with seq > `after`, in order, at most `limit`.
    pub(crate) fn store_events(&self, store: &str, after: u64, limit: usize) -> Result<Vec<EventRecord>, StoreError> {
        let prefix = store_prefix(store);
        let start = store_events_key(store, after.saturating_add(1));
        let iter = self.db.iterator_cf(self.cf(CF_STORE_EVENTS), IteratorMode::From(&start, Direction::Forward));
        let mut out = Vec::new();
        for item in iter {
            let (k, _) = item?;
            if !k.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            let seq = decode_seq(&k[prefix.len()..]).ok_or_else(|| corrupt(CF_STORE_EVENTS, &k, "bad seq"))?;
            let raw = self.db.get_cf(self.cf(CF_OUTBOX), outbox_key(seq))?;
            let raw = raw.ok_or_else(|| corrupt(CF_STORE_EVENTS, &k, "index entry without an event"))?;
            out.push(decode(CF_OUTBOX, &outbox_key(seq), &raw)?);
        }
        Ok(out)
    }

    /// One payment of a chain.
    pub(crate) fn payment(&self, chain: &str, r: &PaymentRef) -> Result<Option<PaymentRecord>, StoreError> {
        let key = payment_key(chain, &r.txid, r.index, r.watch);
        let raw = self.db.get_cf(self.cf(CF_PAYMENTS), &key)?;
        raw.map(|v| decode(CF_PAYMENTS, &key, &v)).transpose()
    }

    /// Every payment of one transaction (any store), in output order.
    pub(crate) fn tx_payments(&self, chain: &str, txid: &str) -> Result<Vec<PaymentRecord>, StoreError> {
        self.prefix_values(CF_PAYMENTS, &payment_tx_prefix(chain, txid), usize::MAX)
    }

    /// A watch's payments, by chain, txid and output.
    pub(crate) fn watch_payments(&self, watch: Uuid, limit: usize) -> Result<Vec<PaymentRecord>, StoreError> {
        let prefix = watch.as_bytes().to_vec();
        let mut out = Vec::new();
        for item in self.db.prefix_iterator_cf(self.cf(CF_WATCH_PAYMENTS), &prefix) {
            let (k, _) = item?;
            if !k.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            let key = &k[prefix.len()..];
            let raw = self.db.get_cf(self.cf(CF_PAYMENTS), key)?;
            let raw = raw.ok_or_else(|| corrupt(CF_WATCH_PAYMENTS, &k, "index entry without a payment"))?;
            out.push(decode(CF_PAYMENTS, key, &raw)?);
        }
        Ok(out)
    }

    /// A chain's live payments (pending, or confirmed below their target).
    pub(crate) fn live_payments(&self, chain: &str) -> Result<Vec<PaymentRecord>, StoreError> {
        let prefix = chain_prefix(chain);
        let mut out = Vec::new();
        for item in self.db.prefix_iterator_cf(self.cf(CF_LIVE_PAYMENTS), &prefix) {
            let (k, _) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            let raw = self.db.get_cf(self.cf(CF_PAYMENTS), &k)?;
            let raw = raw.ok_or_else(|| corrupt(CF_LIVE_PAYMENTS, &k, "live entry without a payment"))?;
            out.push(decode(CF_PAYMENTS, &k, &raw)?);
        }
        Ok(out)
    }

    /// A chain's recorded blocks (the reorg window), by height.
    pub(crate) fn blocks(&self, chain: &str) -> Result<Vec<(u64, BlockRecord)>, StoreError> {
        let prefix = chain_prefix(chain);
        let mut out = Vec::new();
        for item in self.db.prefix_iterator_cf(self.cf(CF_BLOCKS), &prefix) {
            let (k, v) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            let height = decode_seq(&k[prefix.len()..]).ok_or_else(|| corrupt(CF_BLOCKS, &k, "bad height"))?;
            out.push((height, decode(CF_BLOCKS, &k, &v)?));
        }
        Ok(out)
    }

    pub(crate) fn invoice(&self, id: Uuid) -> Result<Option<InvoiceRecord>, StoreError> {
        let raw = self.db.get_cf(self.cf(CF_INVOICES), id.as_bytes())?;
        raw.map(|v| decode(CF_INVOICES, id.as_bytes(), &v)).transpose()
    }

    /// A store's invoice for an order id.
    pub(crate) fn invoice_by_order(&self, store: &str, order_id: &str) -> Result<Option<InvoiceRecord>, StoreError> {
        let k = tagged(tag::ORDER, store, order_id.as_bytes());
        match self.db.get_cf(self.cf(CF_INVOICE_INDEX), &k)? {
            Some(id) => self.invoice(Uuid::from_slice(&id).map_err(|e| corrupt(CF_INVOICE_INDEX, &k, e))?),
            None => Ok(None),
        }
    }

    /// Those of a store's next `limit` invoices (creation order, after `after`) that `keep`,
    /// and where the next page starts when there may be more (a page may hold fewer matches).
    pub(crate) fn store_invoices(
        &self,
        store: &str,
        after: Option<Uuid>,
        limit: usize,
        keep: impl Fn(&InvoiceRecord) -> bool,
    ) -> Result<(Vec<InvoiceRecord>, Option<Uuid>), StoreError> {
        let mut out = Vec::new();
        let ids = self.ids_after(CF_INVOICE_INDEX, &tagged(tag::STORE, store, &[]), after, limit)?;
        let next = (ids.len() == limit).then(|| ids.last().copied()).flatten();
        for id in ids {
            let inv = self.invoice(id)?;
            let inv = inv.ok_or_else(|| corrupt(CF_INVOICE_INDEX, id.as_bytes(), "index entry without an invoice"))?;
            if keep(&inv) {
                out.push(inv);
            }
        }
        Ok((out, next))
    }

    /// What an idempotency key of a store was used for: (request hash, id).
    pub(crate) fn idempotency(&self, store: &str, key: &str) -> Result<Option<(String, Uuid)>, StoreError> {
        let k = tagged(tag::IDEMPOTENCY, store, key.as_bytes());
        let Some(raw) = self.db.get_cf(self.cf(CF_INVOICE_INDEX), &k)? else { return Ok(None) };
        let v: serde_json::Value = decode(CF_INVOICE_INDEX, &k, &raw)?;
        let hash = v["hash"].as_str().unwrap_or_default().to_string();
        let id =
            v["id"].as_str().and_then(|s| s.parse().ok()).ok_or_else(|| corrupt(CF_INVOICE_INDEX, &k, "bad id"))?;
        Ok(Some((hash, id)))
    }

    /// Timers due at or before `now` (unix seconds): (at, invoice id, kind), oldest first.
    pub(crate) fn due_timers(&self, now: i64) -> Result<Vec<(i64, Uuid, u8)>, StoreError> {
        let mut out = Vec::new();
        for item in self.db.prefix_iterator_cf(self.cf(CF_INVOICE_INDEX), [tag::TIMER]) {
            let (k, v) = item?;
            if k.first() != Some(&tag::TIMER) {
                break;
            }
            let at = k.get(1..9).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes).unwrap_or(0) as i64;
            if at > now {
                break;
            }
            let id = k
                .get(9..)
                .and_then(|b| Uuid::from_slice(b).ok())
                .ok_or_else(|| corrupt(CF_INVOICE_INDEX, &k, "bad timer"))?;
            out.push((at, id, v.first().copied().unwrap_or(0)));
        }
        Ok(out)
    }

    pub(crate) fn next_index(&self, store: &str, asset: &str) -> Result<u32, StoreError> {
        let k = store_asset(tag::NEXT, store, asset);
        Ok(match self.db.get_cf(self.cf(CF_ADDRESSES), &k)? {
            Some(v) => u32::from_be_bytes(v.as_slice().try_into().map_err(|_| corrupt(CF_ADDRESSES, &k, "bad index"))?),
            None => 0,
        })
    }

    /// The lowest-index address free for reuse of a store's asset.
    pub(crate) fn first_free_address(&self, store: &str, asset: &str) -> Result<Option<(u32, String)>, StoreError> {
        let prefix = store_asset(tag::FREE, store, asset);
        if let Some(item) = self.db.prefix_iterator_cf(self.cf(CF_ADDRESSES), &prefix).next() {
            let (k, v) = item?;
            if k.starts_with(&prefix) {
                let index = k[prefix.len()..]
                    .try_into()
                    .map(u32::from_be_bytes)
                    .map_err(|_| corrupt(CF_ADDRESSES, &k, "bad index"))?;
                return Ok(Some((index, String::from_utf8_lossy(&v).into_owned())));
            }
        }
        Ok(None)
    }

    pub(crate) fn refund(&self, id: Uuid) -> Result<Option<RefundRecord>, StoreError> {
        let raw = self.db.get_cf(self.cf(CF_REFUNDS), id.as_bytes())?;
        raw.map(|v| decode(CF_REFUNDS, id.as_bytes(), &v)).transpose()
    }

    /// An invoice's refunds, oldest first.
    pub(crate) fn invoice_refunds(&self, invoice: Uuid) -> Result<Vec<RefundRecord>, StoreError> {
        let mut prefix = vec![tag::REFUND];
        prefix.extend_from_slice(invoice.as_bytes());
        let mut out = Vec::new();
        for item in self.db.prefix_iterator_cf(self.cf(CF_INVOICE_INDEX), &prefix) {
            let (k, _) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            let id = Uuid::from_slice(&k[prefix.len()..]).map_err(|e| corrupt(CF_INVOICE_INDEX, &k, e))?;
            out.push(self.refund(id)?.ok_or_else(|| corrupt(CF_INVOICE_INDEX, &k, "link without refund"))?);
        }
        Ok(out)
    }

    /// The refund a claim token (by its SHA-256) belongs to.
    pub(crate) fn claim(&self, token_sha256: &[u8; 32]) -> Result<Option<Uuid>, StoreError> {
        let mut k = vec![tag::CLAIM];
        k.extend_from_slice(token_sha256);
        match self.db.get_cf(self.cf(CF_INVOICE_INDEX), &k)? {
            Some(v) => Ok(Some(Uuid::from_slice(&v).map_err(|e| corrupt(CF_INVOICE_INDEX, &k, e))?)),
            None => Ok(None),
        }
    }

    pub(crate) fn endpoint(&self, id: Uuid) -> Result<Option<EndpointRecord>, StoreError> {
        let raw = self.db.get_cf(self.cf(CF_ENDPOINTS), id.as_bytes())?;
        raw.map(|v| decode(CF_ENDPOINTS, id.as_bytes(), &v)).transpose()
    }

    /// Every endpoint of every store.
    pub(crate) fn endpoints(&self) -> Result<Vec<EndpointRecord>, StoreError> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_ENDPOINTS), IteratorMode::Start) {
            let (k, v) = item?;
            out.push(decode(CF_ENDPOINTS, &k, &v)?);
        }
        Ok(out)
    }

    pub(crate) fn cursor(&self, endpoint: Uuid) -> Result<Option<u64>, StoreError> {
        let k = cursor_key(endpoint);
        match self.db.get_cf(self.cf(CF_META), &k)? {
            Some(v) => Ok(Some(decode_seq(&v).ok_or_else(|| corrupt(CF_META, &k, "bad cursor"))?)),
            None => Ok(None),
        }
    }

    pub(crate) fn delivery(&self, endpoint: Uuid, seq: u64) -> Result<Option<DeliveryRecord>, StoreError> {
        let k = delivery_key(endpoint, seq);
        let raw = self.db.get_cf(self.cf(CF_DELIVERIES), k)?;
        raw.map(|v| decode(CF_DELIVERIES, &k, &v)).transpose()
    }

    /// An endpoint's deliveries with seq > `after`, in order, at most `limit`.
    pub(crate) fn deliveries(
        &self,
        endpoint: Uuid,
        after: u64,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let start = delivery_key(endpoint, after.saturating_add(1));
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_DELIVERIES), IteratorMode::From(&start, Direction::Forward)) {
            let (k, v) = item?;
            if !k.starts_with(endpoint.as_bytes()) || out.len() >= limit {
                break;
            }
            out.push(decode(CF_DELIVERIES, &k, &v)?);
        }
        Ok(out)
    }

    /// An endpoint's pending deliveries from seq `from` on, oldest first, at most `limit`.
    /// (Starting past the delivered ones skips their tombstones in the pending index.)
    pub(crate) fn pending_deliveries(
        &self,
        endpoint: Uuid,
        from: u64,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let mut out = Vec::new();
        let start = delivery_key(endpoint, from);
        let mode = IteratorMode::From(&start, Direction::Forward);
        for item in self.db.iterator_cf(self.cf(CF_PENDING_DELIVERIES), mode) {
            let (k, _) = item?;
            if !k.starts_with(endpoint.as_bytes()) || out.len() >= limit {
                break;
            }
            let seq = decode_seq(&k[16..]).ok_or_else(|| corrupt(CF_PENDING_DELIVERIES, &k, "bad seq"))?;
            let d = self.delivery(endpoint, seq)?;
            out.push(d.ok_or_else(|| corrupt(CF_PENDING_DELIVERIES, &k, "pending entry without delivery"))?);
        }
        Ok(out)
    }

    /// The event with this seq, if it belongs to `store`.
    pub(crate) fn event(&self, store: &str, seq: u64) -> Result<Option<EventRecord>, StoreError> {
        let raw = self.db.get_cf(self.cf(CF_OUTBOX), outbox_key(seq))?;
        let e: Option<EventRecord> = raw.map(|v| decode(CF_OUTBOX, &outbox_key(seq), &v)).transpose()?;
        Ok(e.filter(|e| e.store == store))
    }

    fn prefix_values<T: serde::de::DeserializeOwned>(
        &self,
        cf: &'static str,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Vec<T>, StoreError> {
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

    /// The newest committed event sequence number; changes wake long-polls.
    pub(crate) fn subscribe_seq(&self) -> watch::Receiver<u64> {
        self.last_seq.subscribe()
    }
}

fn cf_options() -> Options {
    let mut o = Options::default();
    o.set_compression_type(rocksdb::DBCompressionType::Lz4);
    o
}

fn last_seq(db: &DB) -> Result<u64, StoreError> {
    let cf = db.cf_handle(CF_OUTBOX).expect("outbox cf opened");
    match db.iterator_cf(cf, IteratorMode::End).next() {
        None => Ok(0),
        Some(item) => {
            let (k, _) = item?;
            decode_seq(&k).ok_or_else(|| corrupt(CF_OUTBOX, &k, "bad seq"))
        }
    }
}

fn corrupt(cf: &'static str, key: &[u8], reason: impl ToString) -> StoreError {
    StoreError::Corrupt { cf, key: hex::encode(key), reason: reason.to_string() }
}

fn decode<T: serde::de::DeserializeOwned>(cf: &'static str, key: &[u8], v: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(v).map_err(|e| corrupt(cf, key, e))
}

#[cfg(test)]
mod tests;
