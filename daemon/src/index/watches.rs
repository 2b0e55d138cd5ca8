//! Creating, reading and deleting watches: validation, per-store uniqueness, storage.

use super::codec::{AddressCodec, AddressError};
use super::quota::{Full, Reservation, WatchQuota};
use super::watchset::WatchSet;
use crate::db::{Batch, Db, DbError, WatchRecord};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use uuid::Uuid;

pub(crate) const MAX_LABEL_CHARS: usize = 256;
pub(crate) const MAX_CONFIRMATIONS: u32 = 10_000;
/// Locks striped by (chain, key): two creates of one address serialize, others run in parallel
/// (and share RocksDB's group commit).
/// Watch creation locks a stripe per (chain, key) from staging until its batch is written;
/// invoices write outside their lock, so many batches are in flight at once and the stripes
/// are many, to keep unrelated keys from waiting on each other.
const STRIPES: usize = 1024;

/// A watch to create.
#[derive(Debug, Clone)]
pub(crate) struct NewWatch {
    pub(crate) chain: String,
    pub(crate) address: String,
    pub(crate) label: Option<String>,
    pub(crate) confirmations: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum WatchError {
    #[error("unknown chain {0:?}")]
    UnknownChain(String),
    #[error("invalid address for chain {chain:?}: {reason}")]
    InvalidAddress { chain: String, reason: String },
    #[error("cannot check addresses of chain {chain:?} now: {reason}")]
    CodecUnavailable { chain: String, reason: String },
    #[error("label is {0} characters, at most {MAX_LABEL_CHARS} are allowed")]
    LabelTooLong(usize),
    #[error("confirmations {0} is more than {MAX_CONFIRMATIONS}")]
    TooManyConfirmations(u32),
    #[error("address {address} on chain {chain:?} is already watched by this store as {existing}")]
    Duplicate { chain: String, address: String, existing: Uuid },
    /// Twice in one batch: nothing of it is stored, so no watch id is named.
    #[error("address {address} on chain {chain:?} is also at index {first} of this batch")]
    RepeatedInBatch { chain: String, address: String, first: usize },
    #[error("watch {id} belongs to {owner}: it ends with it")]
    Owned { id: Uuid, owner: String },
    /// The store has no room for more watches (every watch counts, invoices' and refunds').
    #[error("store {store:?} has {have} watches (invoices' addresses and refunds' destinations included) and max_watches = {max}: no room for {asked} more; delete watches, or raise stores.max_watches in the config")]
    Quota { store: String, max: u64, have: u64, asked: u64 },
    #[error("{field} at index {index}: {source}")]
    InBatch { index: usize, field: &'static str, source: Box<WatchError> },
    #[error("database: {0}")]
    Db(#[from] DbError),
}

/// The watch service. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Watches {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Arc<Db>,
    set: Arc<WatchSet>,
    chains: HashMap<String, ChainWatches>,
    stripes: Vec<Mutex<()>>,
    quota: WatchQuota,
    /// Keys of watches staged in batches not written yet, per store and chain, with how many
    /// such watches each has: a store watches them already, for whoever looks meanwhile.
    staged: Staged,
}

/// Store, chain and key of a watch.
type StoreKey = (String, String, Vec<u8>);

/// The keys of watches staged and not written yet, with how many watches each.
type Staged = Mutex<HashMap<StoreKey, usize>>;

/// How watches on one chain are made: its address codec and default confirmations.
#[derive(Debug)]
pub(crate) struct ChainWatches {
    pub(crate) name: String,
    pub(crate) codec: Box<dyn AddressCodec>,
    pub(crate) default_confirmations: u32,
}

impl Watches {
    /// `max_watches`: each store's quota; the watches each store has are counted here, from the
    /// database.
    pub(crate) fn new(
        db: Arc<Db>,
        set: Arc<WatchSet>,
        chains: Vec<ChainWatches>,
        max_watches: HashMap<String, u64>,
    ) -> Result<Self, DbError> {
        let chains = chains.into_iter().map(|c| (c.name.clone(), c)).collect();
        let stripes = (0..STRIPES).map(|_| Mutex::new(())).collect();
        let quota = WatchQuota::new(max_watches, db.store_watch_counts()?);
        Ok(Self { inner: Arc::new(Inner { db, set, chains, stripes, quota, staged: Mutex::default() }) })
    }

    /// Sets a store's `max_watches` (a store made or changed at run time).
    pub(crate) fn set_max_watches(&self, store: &str, max: u64) {
        self.inner.quota.set_max(store, max);
    }

    /// Places for `n` more watches of the store, or [`WatchError::Quota`].
    fn reserve(&self, store_id: &str, n: usize) -> Result<Reservation<'_>, WatchError> {
        let asked = n as u64;
        self.inner.quota.reserve(store_id, asked).map_err(|Full { max, have }| WatchError::Quota {
            store: store_id.to_string(),
            max,
            have,
            asked,
        })
    }

    /// The watches a store has (and those being written).
    #[cfg(test)]
    pub(crate) fn count(&self, store_id: &str) -> u64 {
        self.inner.quota.count(store_id)
    }

    /// Validates and stores watches, all or none, synced. Blocking: call off the async workers.
    pub(crate) fn create(&self, store_id: &str, new: Vec<NewWatch>) -> Result<Vec<WatchRecord>, WatchError> {
        let batch_mode = new.len() > 1;
        let records = new
            .into_iter()
            .enumerate()
            .map(|(i, n)| {
                self.prepare(store_id, n).map_err(|e| match batch_mode {
                    true => WatchError::InBatch { index: i, field: "watches", source: Box::new(e) },
                    false => e,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let reserved = self.reserve(store_id, records.len())?;
        let mut stripes: Vec<usize> = records.iter().map(|r| stripe(&r.chain, &r.key)).collect();
        stripes.sort_unstable();
        stripes.dedup();
        let _guards: Vec<_> =
            stripes.iter().map(|i| self.inner.stripes[*i].lock().unwrap_or_else(|p| p.into_inner())).collect();
        let s = &self.inner.db;
        let mut batch = s.batch();
        for (i, r) in records.iter().enumerate() {
            let (chain, address) = (r.chain.clone(), r.address.clone());
            let first = records[..i].iter().position(|o| o.chain == r.chain && o.key == r.key);
            let refused = match first {
                Some(first) => Some(WatchError::RepeatedInBatch { chain, address, first }),
                None => self.existing(store_id, &r.chain, &r.key)?.map(|existing| WatchError::Duplicate {
                    chain,
                    address,
                    existing,
                }),
            };
            if let Some(e) = refused {
                return Err(match batch_mode {
                    true => WatchError::InBatch { index: i, field: "watches", source: Box::new(e) },
                    false => e,
                });
            }
            batch.put_watch(r)?;
        }
        s.write(batch)?;
        reserved.keep();
        for r in &records {
            self.inner.set.insert(&r.chain, &r.key);
        }
        Ok(records)
    }

    fn prepare(&self, store_id: &str, n: NewWatch) -> Result<WatchRecord, WatchError> {
        let chain = self.inner.chains.get(&n.chain).ok_or_else(|| WatchError::UnknownChain(n.chain.clone()))?;
        let parsed = chain.codec.parse(n.address.trim()).map_err(|e| match e {
            AddressError::Invalid(reason) => WatchError::InvalidAddress { chain: n.chain.clone(), reason },
            AddressError::Unavailable(reason) => WatchError::CodecUnavailable { chain: n.chain.clone(), reason },
        })?;
        let label = n.label.filter(|l| !l.is_empty());
        if let Some(l) = &label {
            let chars = l.chars().count();
            if chars > MAX_LABEL_CHARS {
                return Err(WatchError::LabelTooLong(chars));
            }
        }
        let confirmations = n.confirmations.unwrap_or(chain.default_confirmations);
        if confirmations > MAX_CONFIRMATIONS {
            return Err(WatchError::TooManyConfirmations(confirmations));
        }
        Ok(WatchRecord { label, ..WatchRecord::new(store_id, &n.chain, parsed.address, parsed.key, confirmations) })
    }

    /// Whether the store already watches this canonical key on `chain`, or is writing a watch
    /// of it.
    pub(crate) fn watched_by(&self, store_id: &str, chain: &str, key: &[u8]) -> Result<bool, DbError> {
        let staged = self.inner.staged.lock().unwrap_or_else(|p| p.into_inner());
        if staged.contains_key(&(store_id.to_string(), chain.to_string(), key.to_vec())) {
            return Ok(true);
        }
        drop(staged);
        for id in self.inner.db.watch_ids_for_key(chain, key)? {
            if self.inner.db.watch(id)?.is_some_and(|w| w.store == store_id) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Adds a watch made for an invoice or refund to its owner's batch, so the watch and what
    /// it is for are written together. With `unique`, refused when the store already watches
    /// the key (an invoice's address; a refund's destination may be watched already); refused
    /// too when the store is at its `max_watches`. Until the returned [`StagedWatch`] is
    /// committed (after the batch is written) or dropped, no other watch of that key can be
    /// made, and the watch holds its place in the store's quota (given back if dropped).
    pub(crate) fn stage(
        &self,
        batch: &mut Batch<'_>,
        w: &WatchRecord,
        unique: bool,
    ) -> Result<StagedWatch<'_>, WatchError> {
        self.stage_all(batch, std::slice::from_ref(w), unique)
    }

    /// [`Watches::stage`] for several watches of one store at once (an invoice's payment
    /// methods): their stripes are locked in order, each once, so staging them together never
    /// waits on itself; two of them with one key are refused like a key already watched.
    pub(crate) fn stage_all(
        &self,
        batch: &mut Batch<'_>,
        ws: &[WatchRecord],
        unique: bool,
    ) -> Result<StagedWatch<'_>, WatchError> {
        let Some(store) = ws.first().map(|w| w.store.as_str()) else {
            let reserved = self.reserve("", 0)?;
            let (set, staged) = (&*self.inner.set, &self.inner.staged);
            return Ok(StagedWatch { _guards: Vec::new(), reserved: Some(reserved), set, staged, keys: Vec::new() });
        };
        debug_assert!(ws.iter().all(|w| w.store == store), "one store's watches");
        let reserved = self.reserve(store, ws.len())?;
        let mut stripes: Vec<usize> = ws.iter().map(|w| stripe(&w.chain, &w.key)).collect();
        stripes.sort_unstable();
        stripes.dedup();
        let guards: Vec<_> =
            stripes.into_iter().map(|i| self.inner.stripes[i].lock().unwrap_or_else(|p| p.into_inner())).collect();
        for (i, w) in ws.iter().enumerate() {
            let twin = ws[..i].iter().find(|o| o.chain == w.chain && o.key == w.key).map(|o| o.id);
            let existing = match twin {
                Some(id) => Some(id),
                None => self.existing(&w.store, &w.chain, &w.key)?,
            };
            if let Some(existing) = existing.filter(|_| unique) {
                return Err(WatchError::Duplicate { chain: w.chain.clone(), address: w.address.clone(), existing });
            }
        }
        for w in ws {
            batch.put_watch(w)?;
        }
        let keys: Vec<_> = ws.iter().map(|w| (w.store.clone(), w.chain.clone(), w.key.clone())).collect();
        let mut staged = self.inner.staged.lock().unwrap_or_else(|p| p.into_inner());
        for k in &keys {
            *staged.entry(k.clone()).or_default() += 1;
        }
        drop(staged);
        Ok(StagedWatch {
            _guards: guards,
            reserved: Some(reserved),
            set: &self.inner.set,
            staged: &self.inner.staged,
            keys,
        })
    }

    /// Removes a watch in its owner's batch (an invoice's address going back to the pool). The
    /// watch set keeps the key's fingerprint until restart: a hit is confirmed in the database.
    /// The watch's place in the store's quota is given back when the returned
    /// [`UnstagedWatch`] is committed, after the batch is written.
    pub(crate) fn unstage(&self, batch: &mut Batch<'_>, w: &WatchRecord) -> UnstagedWatch<'_> {
        batch.delete_watch(w);
        UnstagedWatch { quota: &self.inner.quota, store: w.store.clone() }
    }

    fn existing(&self, store_id: &str, chain: &str, key: &[u8]) -> Result<Option<Uuid>, WatchError> {
        for id in self.inner.db.watch_ids_for_key(chain, key)? {
            if self.inner.db.watch(id)?.is_some_and(|w| w.store == store_id) {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// A store's watch; another store's is `None`, as if it did not exist.
    pub(crate) fn get(&self, store_id: &str, id: Uuid) -> Result<Option<WatchRecord>, WatchError> {
        Ok(self.inner.db.watch(id)?.filter(|w| w.store == store_id))
    }

    pub(crate) fn list(
        &self,
        store_id: &str,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<WatchRecord>, WatchError> {
        Ok(self.inner.db.store_watches(store_id, after, limit)?)
    }

    /// Deletes a store's watch; `false` when it has none with this id.
    pub(crate) fn delete(&self, store_id: &str, id: Uuid) -> Result<bool, WatchError> {
        let Some(w) = self.get(store_id, id)? else {
            return Ok(false);
        };
        let owner = match (w.invoice, w.refund) {
            (Some(i), _) => Some(format!("invoice {i}")),
            (None, Some(r)) => Some(format!("refund {r}")),
            (None, None) => None,
        };
        if let Some(owner) = owner {
            return Err(WatchError::Owned { id, owner });
        }
        let _guard = self.inner.stripes[stripe(&w.chain, &w.key)].lock().unwrap_or_else(|p| p.into_inner());
        // Read again under the key's lock: of two deletes of one watch, one gives its place back.
        if self.get(store_id, id)?.is_none() {
            return Ok(false);
        }
        let mut batch = self.inner.db.batch();
        batch.delete_watch(&w);
        self.inner.db.write(batch)?;
        self.inner.quota.release(store_id, 1);
        Ok(true)
    }
}

/// A watch in a batch not yet written (see [`Watches::stage`]).
#[must_use = "commit it after the batch is written, or followers never scan for it"]
pub(crate) struct StagedWatch<'a> {
    _guards: Vec<MutexGuard<'a, ()>>,
    /// Given back when dropped unless kept by `commit`.
    reserved: Option<Reservation<'a>>,
    set: &'a WatchSet,
    staged: &'a Staged,
    keys: Vec<StoreKey>,
}

impl StagedWatch<'_> {
    /// The batch was written: followers now look for the keys.
    pub(crate) fn commit(mut self) {
        for (_, chain, key) in &self.keys {
            self.set.insert(chain, key);
        }
        if let Some(r) = self.reserved.take() {
            r.keep();
        }
    }
}

impl Drop for StagedWatch<'_> {
    /// Written (the database has the watches now) or given up: no longer staged.
    fn drop(&mut self) {
        let mut staged = self.staged.lock().unwrap_or_else(|p| p.into_inner());
        for k in &self.keys {
            if let Some(n) = staged.get_mut(k) {
                *n -= 1;
                if *n == 0 {
                    staged.remove(k);
                }
            }
        }
    }
}

/// A watch deleted in a batch not yet written (see [`Watches::unstage`]).
#[must_use = "commit it after the batch is written, or the store's quota keeps counting the watch"]
pub(crate) struct UnstagedWatch<'a> {
    quota: &'a WatchQuota,
    store: String,
}

impl UnstagedWatch<'_> {
    /// The batch was written: the watch's place in the store's quota is free again.
    pub(crate) fn commit(self) {
        self.quota.release(&self.store, 1);
    }
}

fn stripe(chain: &str, key: &[u8]) -> usize {
    let mut h = DefaultHasher::new();
    (chain, key).hash(&mut h);
    (h.finish() as usize) % STRIPES
}

#[cfg(test)]
mod tests;

impl crate::stores::StoreSettings for Watches {
    fn put_store(&self, store: &crate::config::StoreConfig) {
        self.set_max_watches(&store.id, store.max_watches);
    }
}
