//! Reading watches: by id, per store, per canonical key (what scanning matches on).

use super::schema::*;
use super::*;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A watched address of one store on one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WatchRecord {
    pub(crate) id: Uuid,
    pub(crate) store: String,
    pub(crate) chain: String,
    /// Normalized form, as the currency plugin prints it.
    pub(crate) address: String,
    /// Canonical key bytes (e.g. the scriptPubKey), what scanning matches on.
    #[serde(with = "hex_bytes")]
    pub(crate) key: Vec<u8>,
    pub(crate) label: Option<String>,
    pub(crate) confirmations: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    /// The invoice whose address this is (the watch was made for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) invoice: Option<Uuid>,
    /// The refund whose destination this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) refund: Option<Uuid>,
}

impl WatchRecord {
    /// A new watch: a fresh UUIDv7 id, created now, no label.
    pub(crate) fn new(store: &str, chain: &str, address: String, key: Vec<u8>, confirmations: u32) -> Self {
        WatchRecord {
            id: Uuid::now_v7(),
            store: store.to_string(),
            chain: chain.to_string(),
            address,
            key,
            label: None,
            confirmations,
            created_at: OffsetDateTime::now_utc(),
            invoice: None,
            refund: None,
        }
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

impl Db {
    /// Stores one watch on its own (no uniqueness checks: those are `index::Watches`'s job).
    pub(crate) fn write_watch(&self, w: &WatchRecord) -> Result<(), DbError> {
        let mut b = self.batch();
        b.put_watch(w)?;
        self.write(b)
    }

    pub(crate) fn watch(&self, id: Uuid) -> Result<Option<WatchRecord>, DbError> {
        let raw = self.db.get_cf(self.cf(CF_WATCHES), watch_key(id))?;
        raw.map(|v| decode(CF_WATCHES, &watch_key(id), &v)).transpose()
    }

    /// A store's watches in creation order, after `after` (exclusive), at most `limit`.
    pub(crate) fn store_watches(
        &self,
        store: &str,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<WatchRecord>, DbError> {
        let mut out = Vec::new();
        for id in self.ids_after(CF_STORE_WATCHES, &store_prefix(store), after, limit)? {
            let w = self.watch(id)?;
            out.push(w.ok_or_else(|| corrupt(CF_STORE_WATCHES, id.as_bytes(), "index entry without a watch"))?);
        }
        Ok(out)
    }

    /// How many watches each store has (read at start: the watch quotas' counts). Keys only.
    pub(crate) fn store_watch_counts(&self) -> Result<std::collections::HashMap<String, u64>, DbError> {
        let mut out = std::collections::HashMap::new();
        for item in self.db.iterator_cf(self.cf(CF_STORE_WATCHES), rocksdb::IteratorMode::Start) {
            let (k, _) = item?;
            let store = decode_store_watches_key(&k).ok_or_else(|| corrupt(CF_STORE_WATCHES, &k, "bad key layout"))?;
            *out.entry(store.to_string()).or_insert(0) += 1;
        }
        Ok(out)
    }

    /// Ids of every watch (of any store) on this canonical key.
    pub(crate) fn watch_ids_for_key(&self, chain: &str, key: &[u8]) -> Result<Vec<Uuid>, DbError> {
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
    pub(crate) fn for_each_watched_key(&self, chain: &str, mut f: impl FnMut(&[u8])) -> Result<(), DbError> {
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
}
