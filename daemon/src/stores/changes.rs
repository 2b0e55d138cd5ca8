//! The admin API's changes: stores made, changed and retired, keys made and revoked. Each is
//! validated in full, written, then applied to the services (`StoreSettings`).

use super::keys::{self, Key, KeyRecord, MAX_LABEL};
use super::records::{self, Entry, StoreError, StoreRecord, StoreView};
use super::scopes::Scope;
use super::Stores;
use crate::config::{ConfigIssue, ReceiveConfig, StoreConfig};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;

/// A key just made: shown once.
#[derive(Debug)]
pub(crate) struct NewKey {
    pub(crate) key: String,
    pub(crate) view: Value,
}

/// Largest spec accepted (the API's body limit is the other bound).
const MAX_SPEC_BYTES: usize = 256 * 1024;

impl Stores {
    /// Every store, config file's first… in id order.
    pub(crate) fn list(&self) -> Vec<StoreView> {
        self.entries().values().map(Entry::view).collect()
    }

    pub(crate) fn view(&self, id: &str) -> Result<StoreView, StoreError> {
        self.entries().get(id).map(Entry::view).ok_or_else(|| StoreError::NotFound(format!("store {id:?}")))
    }

    /// Makes a store from its spec (a `[[stores]]` table as JSON, without keys, endpoints or
    /// gateways). Blocking: the receive sources are checked through their plugins.
    pub(crate) fn create_store(&self, spec: Value, now: OffsetDateTime) -> Result<StoreView, StoreError> {
        let config = self.validate(&spec)?;
        let _guard = self.0.write.lock().unwrap_or_else(|p| p.into_inner());
        if self.exists(&config.id) {
            return Err(StoreError::Exists(config.id));
        }
        let derived = self.check_sources(&config)?;
        self.check_unwatched(&config.id, &derived)?;
        let record = StoreRecord { spec, created_at: now, updated_at: now, retired_at: None };
        self.save(&config, record)
    }

    /// Changes a run-time store: `patch`'s keys replace the spec's (a `null` removes one; `id`
    /// cannot change), and the whole is validated again.
    pub(crate) fn update_store(&self, id: &str, patch: Value, now: OffsetDateTime) -> Result<StoreView, StoreError> {
        let Value::Object(patch) = patch else {
            return Err(invalid("", "expected a JSON object of the store's keys to change"));
        };
        let _guard = self.0.write.lock().unwrap_or_else(|p| p.into_inner());
        let mut record = self.api_record(id)?;
        let Value::Object(spec) = &mut record.spec else {
            return Err(StoreError::Conflict(format!("store {id:?}'s stored spec is not an object")));
        };
        for (k, v) in patch {
            match v {
                Value::Null => {
                    spec.remove(&k);
                }
                v => {
                    spec.insert(k, v);
                }
            }
        }
        if spec.get("id").and_then(Value::as_str) != Some(id) {
            return Err(invalid("id", &format!("a store's id cannot change (it is {id:?})")));
        }
        let config = self.validate(&record.spec)?;
        let derived = self.check_sources(&config)?;
        self.check_unwatched(id, &derived)?;
        record.updated_at = now;
        self.save(&config, record)
    }

    /// Retires a run-time store: its keys stop working and its endpoints are disabled; its
    /// invoices, payments and events stay, readable with the admin key.
    pub(crate) fn retire_store(&self, id: &str, now: OffsetDateTime) -> Result<StoreView, StoreError> {
        let _guard = self.0.write.lock().unwrap_or_else(|p| p.into_inner());
        let mut record = self.api_record(id)?;
        record.retired_at = Some(now);
        let mut batch = self.0.db.batch();
        batch.admin_put(records::KIND, id, &record)?;
        self.0.db.write(batch)?;
        let view = {
            let mut entries = self.0.entries.write().unwrap_or_else(|p| p.into_inner());
            let entry = entries.get_mut(id).expect("api_record found it");
            entry.record = Some(record);
            entry.view()
        };
        for s in self.settings() {
            s.retire_store(id);
        }
        tracing::info!(store = %id, "store retired");
        Ok(view)
    }

    /// A new key for `store` (config file's or run-time, not retired): shown once.
    pub(crate) fn create_key(
        &self,
        store: &str,
        label: &str,
        scopes: Vec<Scope>,
        expires_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<NewKey, StoreError> {
        let label = label.trim();
        let bidi = |c: char| ('\u{202A}'..='\u{202E}').contains(&c) || ('\u{2066}'..='\u{2069}').contains(&c);
        if label.is_empty() || label.chars().count() > MAX_LABEL || label.chars().any(|c| c.is_control() || bidi(c)) {
            return Err(StoreError::InvalidKey(format!(
                "the key's label {label:?} must be 1 to {MAX_LABEL} characters with no control or bidirectional character"
            )));
        }
        if expires_at.is_some_and(|e| e <= now) {
            return Err(StoreError::InvalidKey(format!(
                "the key's expires_at {} is not in the future",
                expires_at.map(crate::events::views::ts).unwrap_or_default()
            )));
        }
        let _guard = self.0.write.lock().unwrap_or_else(|p| p.into_inner());
        match self.entries().get(store) {
            None => return Err(StoreError::NotFound(format!("store {store:?}"))),
            Some(e) if e.is_retired() => return Err(StoreError::Retired(store.into())),
            Some(_) => {}
        }
        let (key, hash) = crate::config::new_key();
        let record = KeyRecord {
            id: keys::new_id(),
            store: store.into(),
            label: label.into(),
            scopes,
            sha256: hash,
            created_at: now,
            expires_at,
            revoked_at: None,
            last_used_at: None,
        };
        let mut batch = self.0.db.batch();
        batch.admin_put(keys::KIND, &record.id, &record)?;
        self.0.db.write(batch)?;
        let k = Arc::new(Key::new(record));
        let view = k.view();
        self.0.keys.write().unwrap_or_else(|p| p.into_inner()).insert(keys::digest(&key), k);
        tracing::info!(store = %store, key = %view["id"], "API key made");
        Ok(NewKey { key, view })
    }

    /// Revokes a key (at once: the next request with it is refused).
    pub(crate) fn revoke_key(&self, id: &str, now: OffsetDateTime) -> Result<Value, StoreError> {
        let _guard = self.0.write.lock().unwrap_or_else(|p| p.into_inner());
        let Some(mut record) = self.0.db.admin_get::<KeyRecord>(keys::KIND, id)? else {
            return Err(StoreError::NotFound(format!("key {id:?}")));
        };
        if record.revoked_at.is_none() {
            record.revoked_at = Some(now);
            let mut batch = self.0.db.batch();
            batch.admin_put(keys::KIND, id, &record)?;
            self.0.db.write(batch)?;
        }
        self.0.keys.write().unwrap_or_else(|p| p.into_inner()).retain(|_, k| k.record.id != id);
        tracing::info!(key = %id, "API key revoked");
        Ok(Key::new(record).view())
    }

    /// A store's keys made here (revoked ones too), oldest first; last-used times as in memory.
    pub(crate) fn keys_of(&self, store: &str) -> Result<Vec<Value>, StoreError> {
        if !self.exists(store) {
            return Err(StoreError::NotFound(format!("store {store:?}")));
        }
        let live: HashMap<String, Arc<Key>> = {
            let keys = self.0.keys.read().unwrap_or_else(|p| p.into_inner());
            keys.values().map(|k| (k.record.id.clone(), k.clone())).collect()
        };
        let mut out = Vec::new();
        for (id, r) in self.0.db.admin_all::<KeyRecord>(keys::KIND)? {
            let Ok(r) = r else { continue };
            if r.store != store {
                continue;
            }
            out.push(live.get(&id).map_or_else(|| Key::new(r).view(), |k| k.view()));
        }
        out.sort_by(|a, b| a["created_at"].as_str().cmp(&b["created_at"].as_str()));
        Ok(out)
    }

    fn validate(&self, spec: &Value) -> Result<StoreConfig, StoreError> {
        if serde_json::to_vec(spec).map_or(true, |b| b.len() > MAX_SPEC_BYTES) {
            return Err(invalid("", &format!("the store is larger than {MAX_SPEC_BYTES} bytes of JSON")));
        }
        crate::config::store_spec(spec, &self.0.config.assets, &self.0.config.rates).map_err(StoreError::Invalid)
    }

    /// The stored record of a run-time store (not a config file's).
    fn api_record(&self, id: &str) -> Result<StoreRecord, StoreError> {
        match self.entries().get(id) {
            None => Err(StoreError::NotFound(format!("store {id:?}"))),
            Some(Entry { record: None, .. }) => Err(StoreError::FromConfig(id.into())),
            Some(Entry { record: Some(r), .. }) if r.retired_at.is_some() => Err(StoreError::Retired(id.into())),
            Some(Entry { record: Some(r), .. }) => Ok(r.clone()),
        }
    }

    /// Writes the record, keeps the entry and tells the services.
    fn save(&self, config: &StoreConfig, record: StoreRecord) -> Result<StoreView, StoreError> {
        let mut batch = self.0.db.batch();
        batch.admin_put(records::KIND, &config.id, &record)?;
        self.0.db.write(batch)?;
        let entry = Entry::api(config.clone(), record);
        let view = entry.view();
        self.0.entries.write().unwrap_or_else(|p| p.into_inner()).insert(config.id.clone(), entry);
        for s in self.settings() {
            s.put_store(config);
        }
        tracing::info!(store = %config.id, "store saved");
        Ok(view)
    }

    /// Each receive source derives through its asset's plugin, and hands out no address
    /// another store's source hands out (as at start, `startup::shared_sources`). Returns each
    /// source's first addresses' watch keys.
    pub(super) fn check_sources(&self, config: &StoreConfig) -> Result<Vec<Derived>, StoreError> {
        let chain_of = |asset: &str| self.0.config.assets.iter().find(|a| a.id == asset).map(|a| a.chain.clone());
        let keys_of = |asset: &str, source: &ReceiveConfig| -> Result<Vec<Vec<u8>>, String> {
            match self.0.currencies.get(asset) {
                Some(plugin) => crate::startup::source_keys(plugin, source),
                None => Err(format!("asset {asset:?} has no plugin loaded")),
            }
        };
        let mut mine = Vec::new();
        for (asset, source) in &config.receive {
            let keys = keys_of(asset, source).map_err(|m| invalid(&format!("receive.{asset}"), &m))?;
            mine.push(Derived { asset: asset.clone(), chain: chain_of(asset), keys });
        }
        let others: Vec<StoreConfig> =
            self.entries().values().filter(|e| e.config.id != config.id).map(|e| e.config.clone()).collect();
        for other in &others {
            for (other_asset, source) in &other.receive {
                let chain = chain_of(other_asset);
                let Some(Derived { asset, .. }) = mine.iter().find(|d| d.chain == chain) else { continue };
                let Ok(theirs) = keys_of(other_asset, source) else { continue };
                let hit = mine.iter().filter(|d| d.chain == chain).any(|d| d.keys.iter().any(|k| theirs.contains(k)));
                if hit {
                    return Err(invalid(
                        &format!("receive.{asset}"),
                        &format!(
                            "hands out the same addresses as store {:?} (receive.{other_asset}): one payment would settle invoices of both; give each store its own receive source",
                            other.id
                        ),
                    ));
                }
            }
        }
        Ok(mine)
    }

    /// No address `derived` hands out is watched already for another store: one whose source
    /// was changed since, left out at start or taken out of the config file still has its
    /// invoices' addresses watched, and one payment would settle invoices of both.
    fn check_unwatched(&self, store: &str, derived: &[Derived]) -> Result<(), StoreError> {
        for d in derived {
            let Some(chain) = &d.chain else { continue };
            for key in &d.keys {
                for id in self.0.db.watch_ids_for_key(chain, key)? {
                    let Some(w) = self.0.db.watch(id)?.filter(|w| w.store != store) else { continue };
                    return Err(invalid(
                        &format!("receive.{}", d.asset),
                        &format!(
                            "hands out {}, an address watched for store {:?}: one payment would settle invoices of both; give each store its own receive source",
                            w.address, w.store
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A receive source's first addresses, as watch keys.
#[derive(Debug)]
pub(super) struct Derived {
    asset: String,
    chain: Option<String>,
    keys: Vec<Vec<u8>>,
}

fn invalid(path: &str, message: &str) -> StoreError {
    StoreError::Invalid(vec![ConfigIssue { path: path.into(), message: message.into() }])
}
