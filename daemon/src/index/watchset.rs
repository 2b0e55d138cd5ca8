//! The in-memory watch set, per chain: compact fingerprints of every watched canonical key
//! ([`Fingerprints`]), confirmed against RocksDB on a hit so a collision never invents a
//! match; and the outpoints spent by pending payments, whose spending by another transaction
//! means the payment was replaced.
//!
//! Deleting a watch leaves its fingerprint in place: another key may share it, and finding out
//! would cost a scan. A stale fingerprint only costs a RocksDB look-up on a hit; the set is
//! rebuilt from the database at every start.

use super::fingerprints::Fingerprints;
use crate::db::{Db, DbError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

#[derive(Debug)]
pub(crate) struct WatchSet {
    chains: HashMap<String, Arc<ChainSet>>,
}

/// One chain's watched keys and watched spends.
#[derive(Debug)]
pub(crate) struct ChainSet {
    chain: String,
    db: Arc<Db>,
    fps: RwLock<Fingerprints>,
    /// Outpoint (chain serialization) → how many live payments spend it.
    spends: Mutex<HashMap<Vec<u8>, u32>>,
    /// `spends.len()`, readable without the lock (most scans have none to check).
    spend_count: AtomicUsize,
}

impl WatchSet {
    /// Loads every chain's watched keys from the database.
    pub(crate) fn load(db: Arc<Db>, chains: impl IntoIterator<Item = String>) -> Result<Self, DbError> {
        let mut out = HashMap::new();
        for chain in chains {
            // Counted first, so the table is sized once (no doubling garbage at start).
            let mut n = 0;
            db.for_each_watched_key(&chain, |_| n += 1)?;
            let mut fps = Fingerprints::with_capacity(n);
            db.for_each_watched_key(&chain, |k| fps.insert(k))?;
            let set = ChainSet {
                chain: chain.clone(),
                db: db.clone(),
                fps: RwLock::new(fps),
                spends: Mutex::new(HashMap::new()),
                spend_count: AtomicUsize::new(0),
            };
            out.insert(chain, Arc::new(set));
        }
        Ok(Self { chains: out })
    }

    pub(crate) fn chain(&self, name: &str) -> Option<&Arc<ChainSet>> {
        self.chains.get(name)
    }

    /// Adds a key after its watch was committed.
    pub(crate) fn insert(&self, chain: &str, key: &[u8]) {
        if let Some(c) = self.chains.get(chain) {
            c.insert(key);
        }
    }

    pub(crate) fn len(&self, chain: &str) -> usize {
        self.chains.get(chain).map_or(0, |c| c.len())
    }

    /// Bytes the chain's fingerprints take.
    pub(crate) fn heap_bytes(&self, chain: &str) -> usize {
        self.chains.get(chain).map_or(0, |c| c.heap_bytes())
    }
}

impl ChainSet {
    pub(crate) fn insert(&self, key: &[u8]) {
        self.fps.write().unwrap_or_else(|p| p.into_inner()).insert(key);
    }

    /// Room for `additional` more keys at once.
    pub(crate) fn reserve(&self, additional: usize) {
        self.fps.write().unwrap_or_else(|p| p.into_inner()).reserve(additional);
    }

    /// Exact: the fingerprint, then the database.
    pub(crate) fn is_watched(&self, key: &[u8]) -> bool {
        self.may_contain(key) && self.confirm(key)
    }

    /// The fingerprints read-locked for a whole scan: one lock per block instead of one per
    /// output. Inserts wait for the scan (well under a millisecond per block). Never take a
    /// second lock of this set on the same thread while holding a view.
    pub(crate) fn view(&self) -> ScanView<'_> {
        ScanView { set: self, fps: self.fps.read().unwrap_or_else(|p| p.into_inner()) }
    }

    /// A fingerprint hit, confirmed against the database.
    fn confirm(&self, key: &[u8]) -> bool {
        match self.db.watch_ids_for_key(&self.chain, key) {
            Ok(ids) => !ids.is_empty(),
            Err(e) => {
                // Never drop a possible payment on a read error: report it as watched; the
                // indexer's own look-up then fails loudly.
                tracing::error!(chain = %self.chain, error = %e, "watch look-up failed; treating key as watched");
                true
            }
        }
    }

    /// The fingerprint check alone (false positives possible).
    #[inline]
    pub(crate) fn may_contain(&self, key: &[u8]) -> bool {
        self.fps.read().unwrap_or_else(|p| p.into_inner()).may_contain(key)
    }

    pub(crate) fn len(&self) -> usize {
        self.fps.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.fps.read().unwrap_or_else(|p| p.into_inner()).heap_bytes()
    }

    /// Whether a live payment spends this outpoint; for an empty outpoint, whether any does.
    #[inline]
    pub(crate) fn is_watched_spend(&self, outpoint: &[u8]) -> bool {
        let any = self.spend_count.load(Ordering::Acquire) > 0;
        match outpoint.is_empty() {
            true => any,
            false => any && self.spends.lock().unwrap_or_else(|p| p.into_inner()).contains_key(outpoint),
        }
    }

    pub(crate) fn watch_spend(&self, outpoint: &[u8]) {
        let mut s = self.spends.lock().unwrap_or_else(|p| p.into_inner());
        *s.entry(outpoint.to_vec()).or_default() += 1;
        self.spend_count.store(s.len(), Ordering::Release);
    }

    pub(crate) fn unwatch_spend(&self, outpoint: &[u8]) {
        let mut s = self.spends.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = s.get_mut(outpoint) {
            *n -= 1;
            if *n == 0 {
                s.remove(outpoint);
            }
        }
        self.spend_count.store(s.len(), Ordering::Release);
    }
}

/// A chain's fingerprints held for one plugin call (see [`ChainSet::view`]).
#[derive(Debug)]
pub(crate) struct ScanView<'a> {
    set: &'a ChainSet,
    fps: RwLockReadGuard<'a, Fingerprints>,
}

impl ScanView<'_> {
    #[inline]
    pub(crate) fn is_watched(&self, key: &[u8]) -> bool {
        self.fps.may_contain(key) && self.set.confirm(key)
    }

    #[inline]
    pub(crate) fn is_watched_spend(&self, outpoint: &[u8]) -> bool {
        self.set.is_watched_spend(outpoint)
    }
}
