//! The stores: the config file's and those the admin API makes, changes and retires at run
//! time (kept in the `admin` column family and loaded at start), and every store's API keys.
//! The API asks it who a presented key is ([`Stores::authenticate`]); the services that keep
//! per-store settings are told of each change through [`StoreSettings`], so a store made here
//! takes invoices, payments and webhooks at once, with no restart.

mod changes;
mod keys;
mod offline;
mod records;
mod scopes;

pub(crate) use keys::Key;
pub use offline::{keys_create, keys_list, keys_revoke};
pub(crate) use records::StoreError;
pub(crate) use scopes::{parse_list as parse_scopes, required as required_scope, Scope, Scopes};

use crate::config::{Config, StoreConfig};
use crate::db::Db;
use crate::startup::Currencies;
use records::{Entry, StoreRecord};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use time::OffsetDateTime;

/// A service keeping per-store settings (invoice policy, rate rules, quotas, SSRF guard…),
/// told of every store made or changed at run time and of every store retired.
pub(crate) trait StoreSettings: Send + Sync + std::fmt::Debug {
    fn put_store(&self, store: &StoreConfig);
    fn retire_store(&self, _store: &str) {}
}

/// Who a presented key is.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) store: String,
    /// The key's id (`key_…`; `config` for the config file's key).
    pub(crate) key_id: String,
    pub(crate) scopes: Scopes,
}

/// Why a presented key does not act for a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No such key, or a revoked one: the caller learns nothing more.
    Unknown,
    Expired(OffsetDateTime),
    Retired(String),
}

/// The registry. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Stores(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    db: Arc<Db>,
    /// What a store spec is validated against: the config's assets and rate sources.
    config: Arc<Config>,
    currencies: Currencies,
    entries: RwLock<BTreeMap<String, Entry>>,
    /// The ids of stored run-time stores left out at start (unreadable, no longer valid, or
    /// sharing a receive source): not reused, and their keys act for nothing.
    left_out: RwLock<BTreeSet<String>>,
    keys: RwLock<HashMap<[u8; 32], Arc<Key>>>,
    settings: RwLock<Vec<Arc<dyn StoreSettings>>>,
    /// Serializes changes (rare), so checks and writes see one another.
    write: Mutex<()>,
}

/// The id the config file's store keys go by.
pub(crate) const CONFIG_KEY_ID: &str = "config";

impl Stores {
    /// The config file's stores and the stored run-time ones (a stored store that no longer
    /// validates against this config, say its asset was removed, is left out and said so).
    /// Returns the registry and the run-time stores' configs, which `run` adds to the
    /// config's before the services are built.
    pub(crate) fn load(
        config: &Config,
        db: Arc<Db>,
        currencies: Currencies,
    ) -> Result<(Self, Vec<StoreConfig>), crate::db::DbError> {
        let (me, api) = Self::read(config, db, currencies)?;
        // A source a config-file store took since (or another run-time store) is not shared.
        let mut kept = Vec::new();
        for s in api {
            match me.check_sources(&s) {
                Ok(_) => kept.push(s),
                Err(e) => {
                    tracing::error!(store = %s.id, error = %e, "a store made through the admin API is left out");
                    me.0.entries.write().unwrap_or_else(|p| p.into_inner()).remove(&s.id);
                    me.0.left_out.write().unwrap_or_else(|p| p.into_inner()).insert(s.id);
                }
            }
        }
        Ok((me, kept))
    }

    /// The stores and keys as stored, no plugin asked (`paywatch keys`, the daemon stopped).
    pub(crate) fn read(
        config: &Config,
        db: Arc<Db>,
        currencies: Currencies,
    ) -> Result<(Self, Vec<StoreConfig>), crate::db::DbError> {
        let mut entries = BTreeMap::new();
        let mut keys = HashMap::new();
        for s in &config.stores {
            if let Some(hash) = &s.api_key {
                keys.insert(hash.digest(), Arc::new(Key::config_key(&s.id)));
            }
            entries.insert(s.id.clone(), Entry::file(s.clone()));
        }
        let mut api = Vec::new();
        let mut left_out = BTreeSet::new();
        // Run-time stores retired before a config-file store took their id: when.
        let mut shadowed: HashMap<String, OffsetDateTime> = HashMap::new();
        for (id, record) in db.admin_all::<StoreRecord>(records::KIND)? {
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(store = %id, error = %e, "a store made through the admin API cannot be read; it is left out");
                    left_out.insert(id);
                    continue;
                }
            };
            if entries.contains_key(&id) {
                tracing::error!(store = %id, "a store made through the admin API has the id of a config-file store; the config file's is used");
                if let Some(at) = record.retired_at {
                    shadowed.insert(id, at);
                }
                continue;
            }
            match crate::config::store_spec(&record.spec, &config.assets, &config.rates) {
                Ok(s) => {
                    api.push(s.clone());
                    entries.insert(id, Entry::api(s, record));
                }
                Err(issues) => {
                    let issues: Vec<String> = issues.iter().map(ToString::to_string).collect();
                    tracing::error!(store = %id, issues = %issues.join("; "), "a store made through the admin API no longer fits the config; it is left out until the config has what it needs");
                    left_out.insert(id);
                }
            }
        }
        for (_, k) in db.admin_all::<keys::KeyRecord>(keys::KIND)? {
            match k {
                // A retired store's keys (none is made once it is): not the config file's store's.
                Ok(r) if shadowed.get(&r.store).is_some_and(|at| r.created_at <= *at) => {
                    tracing::error!(key = %r.id, store = %r.store, "an API key of a retired store whose id a config-file store took is left out");
                }
                Ok(r) if r.revoked_at.is_none() => {
                    let Ok(hash) = <[u8; 32]>::try_from(hex::decode(&r.sha256).unwrap_or_default()) else {
                        tracing::error!(key = %r.id, "an API key's hash cannot be read; the key is left out");
                        continue;
                    };
                    keys.insert(hash, Arc::new(Key::new(r)));
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "an API key cannot be read; it is left out"),
            }
        }
        let inner = Inner {
            db,
            config: Arc::new(config.clone()),
            currencies,
            entries: RwLock::new(entries),
            left_out: RwLock::new(left_out),
            keys: RwLock::new(keys),
            settings: RwLock::new(Vec::new()),
            write: Mutex::new(()),
        };
        Ok((Self(Arc::new(inner)), api))
    }

    /// Tells `settings` of every change from now on, and of the stores retired already (what
    /// retiring one did may not have been done: the daemon stopped between, a write failed).
    pub(crate) fn attach(&self, settings: Arc<dyn StoreSettings>) {
        let retired: Vec<String> =
            self.entries().values().filter(|e| e.is_retired()).map(|e| e.config.id.clone()).collect();
        for id in &retired {
            settings.retire_store(id);
        }
        self.0.settings.write().unwrap_or_else(|p| p.into_inner()).push(settings);
    }

    /// The store and scopes a presented key acts with; its use is noted for `last_used_at`.
    pub(crate) fn authenticate(&self, presented: &str, now: OffsetDateTime) -> Result<Caller, Refusal> {
        let digest = keys::digest(presented);
        let key = self.0.keys.read().unwrap_or_else(|p| p.into_inner()).get(&digest).cloned();
        let key = key.ok_or(Refusal::Unknown)?;
        if key.record.revoked_at.is_some() {
            return Err(Refusal::Unknown);
        }
        if let Some(at) = key.record.expires_at.filter(|_| key.is_expired(now)) {
            return Err(Refusal::Expired(at));
        }
        match self.entries().get(&key.record.store) {
            // A store left out at start: its keys act for nothing until it is back.
            None => return Err(Refusal::Unknown),
            Some(e) if e.is_retired() => return Err(Refusal::Retired(key.record.store.clone())),
            Some(_) => {}
        }
        key.touch(now);
        Ok(Caller { store: key.record.store.clone(), key_id: key.record.id.clone(), scopes: key.scopes })
    }

    /// Whether `store` exists (retired or not), or did and is not to be made anew: stored but
    /// left out at start, or taken out of the config file with keys not revoked (a new store of
    /// its id would be served by them).
    pub(crate) fn exists(&self, store: &str) -> bool {
        self.entries().contains_key(store)
            || self.0.left_out.read().unwrap_or_else(|p| p.into_inner()).contains(store)
            || self.0.keys.read().unwrap_or_else(|p| p.into_inner()).values().any(|k| k.record.store == store)
    }

    fn entries(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Entry>> {
        self.0.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    fn settings(&self) -> Vec<Arc<dyn StoreSettings>> {
        self.0.settings.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Writes the keys' last-used times that moved on by a minute (called every minute and at
    /// shutdown): a key used a thousand times a second writes once a minute.
    pub(crate) fn flush_last_used(&self) -> Result<(), crate::db::DbError> {
        let keys: Vec<Arc<Key>> = self.0.keys.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        let _guard = self.0.write.lock().unwrap_or_else(|p| p.into_inner());
        let mut batch = self.0.db.batch();
        let mut any = false;
        for k in keys.iter().filter(|k| k.record.id != CONFIG_KEY_ID) {
            if let Some(at) = k.take_unwritten(60) {
                // The stored record, not the one in memory: it may have been revoked since.
                if let Some(mut r) = self.0.db.admin_get::<keys::KeyRecord>(keys::KIND, &k.record.id)? {
                    r.last_used_at = Some(at);
                    batch.admin_put(keys::KIND, &r.id, &r)?;
                    any = true;
                }
            }
        }
        if any {
            self.0.db.write(batch)?;
        }
        Ok(())
    }
}

/// A service's settings per store, changed at run time: readers get an `Arc` of the value as
/// it was when they asked.
#[derive(Debug)]
pub(crate) struct PerStore<T>(RwLock<HashMap<String, Arc<T>>>);

impl<T> PerStore<T> {
    pub(crate) fn get(&self, store: &str) -> Option<Arc<T>> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).get(store).cloned()
    }

    pub(crate) fn put(&self, store: &str, value: T) {
        self.0.write().unwrap_or_else(|p| p.into_inner()).insert(store.to_string(), Arc::new(value));
    }

    /// Every store's value, in no order.
    pub(crate) fn all(&self) -> Vec<(String, Arc<T>)> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

impl<T> FromIterator<(String, T)> for PerStore<T> {
    fn from_iter<I: IntoIterator<Item = (String, T)>>(iter: I) -> Self {
        Self(RwLock::new(iter.into_iter().map(|(k, v)| (k, Arc::new(v))).collect()))
    }
}

impl<T> Default for PerStore<T> {
    fn default() -> Self {
        Self(RwLock::new(HashMap::new()))
    }
}

/// Writes the keys' last-used times every minute until `stop`, and once more then.
pub(crate) async fn flush_every_minute(stores: Stores, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        let stopping = tokio::select! {
            _ = stop.wait_for(|s| *s) => true,
            _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => false,
        };
        let s = stores.clone();
        match tokio::task::spawn_blocking(move || s.flush_last_used()).await {
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot write the API keys' last use; will try again"),
            Err(e) => tracing::warn!(error = %e, "writing the API keys' last use failed"),
            Ok(Ok(())) => {}
        }
        if stopping {
            break;
        }
    }
}

#[cfg(test)]
mod tests;
