//! The in-memory watch set: a 64-bit fingerprint per watched canonical key, per chain, so
//! millions of addresses cost a few bytes each. A hit is confirmed against RocksDB, so a
//! fingerprint collision never invents a match.
//!
//! Deleting a watch leaves its fingerprint in place: another key may share it, and finding out
//! would cost a scan. A stale fingerprint only costs a RocksDB look-up on a hit; the set is
//! rebuilt from the store at every start.

use crate::store::{Store, StoreError};
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::{Arc, RwLock};

/// The fingerprints are already hashes: the set does not hash them again.
#[derive(Debug, Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 fingerprints are hashed")
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type Fingerprints = HashSet<u64, BuildHasherDefault<Identity>>;

#[derive(Debug)]
pub(crate) struct WatchSet {
    store: Arc<Store>,
    /// Per-process random keys: nobody can aim collisions at it.
    seed: RandomState,
    chains: RwLock<HashMap<String, Fingerprints>>,
}

impl WatchSet {
    /// Loads every chain's watched keys from the store.
    pub(crate) fn load(store: Arc<Store>, chains: impl IntoIterator<Item = String>) -> Result<Self, StoreError> {
        let set = Self { store, seed: RandomState::new(), chains: RwLock::new(HashMap::new()) };
        for chain in chains {
            let mut fps = Fingerprints::default();
            set.store.for_each_watched_key(&chain, |key| {
                fps.insert(set.fingerprint(key));
            })?;
            set.write().insert(chain, fps);
        }
        Ok(set)
    }

    fn fingerprint(&self, key: &[u8]) -> u64 {
        self.seed.hash_one(key)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Fingerprints>> {
        self.chains.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds keys after their watches were committed.
    pub(crate) fn insert(&self, chain: &str, key: &[u8]) {
        let fp = self.fingerprint(key);
        self.write().entry(chain.to_string()).or_default().insert(fp);
    }

    /// Exact: the fingerprint, then the store.
    pub(crate) fn is_watched(&self, chain: &str, key: &[u8]) -> bool {
        if !self.may_contain(chain, key) {
            return false;
        }
        match self.store.watch_ids_for_key(chain, key) {
            Ok(ids) => !ids.is_empty(),
            Err(e) => {
                // Never drop a possible payment on a read error: report it as watched; the
                // indexer's own look-up then fails loudly.
                tracing::error!(chain, error = %e, "watch look-up failed; treating key as watched");
                true
            }
        }
    }

    /// The fingerprint check alone (false positives possible).
    pub(crate) fn may_contain(&self, chain: &str, key: &[u8]) -> bool {
        let fp = self.fingerprint(key);
        self.chains.read().unwrap_or_else(|p| p.into_inner()).get(chain).is_some_and(|s| s.contains(&fp))
    }

    pub(crate) fn len(&self, chain: &str) -> usize {
        self.chains.read().unwrap_or_else(|p| p.into_inner()).get(chain).map_or(0, |s| s.len())
    }
}
