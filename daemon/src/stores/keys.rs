//! A store's API keys made at run time: each with scopes, a label, an optional expiry and a
//! last-used time. The key itself is shown once, when made; the database keeps its SHA-256.

use super::scopes::{Scope, Scopes};
use crate::events::views::ts;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicI64, Ordering};
use time::OffsetDateTime;

/// Longest label.
pub(crate) const MAX_LABEL: usize = 100;

/// A key as stored (`admin` CF, `key/` ‖ id).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeyRecord {
    /// `key_` and 16 hex digits: what names the key in the API, events and logs.
    pub(crate) id: String,
    pub(crate) store: String,
    pub(crate) label: String,
    pub(crate) scopes: Vec<Scope>,
    /// Hex SHA-256 of the key.
    pub(crate) sha256: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub(crate) expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub(crate) revoked_at: Option<OffsetDateTime>,
    /// Written at most once a minute per key (`Stores::flush_last_used`).
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub(crate) last_used_at: Option<OffsetDateTime>,
}

/// The key record kind in the `admin` CF.
pub(crate) const KIND: &str = "key";

/// A fresh key id.
pub(crate) fn new_id() -> String {
    format!("key_{}", hex::encode(rand::random::<[u8; 8]>()))
}

/// The digest keys are looked up by.
pub(crate) fn digest(presented: &str) -> [u8; 32] {
    Sha256::digest(presented.as_bytes()).into()
}

/// A key in memory: its record and when it was last used (unix seconds, 0: never), kept apart
/// so that using a key writes nothing at once.
#[derive(Debug)]
pub(crate) struct Key {
    pub(crate) record: KeyRecord,
    pub(crate) scopes: Scopes,
    last_used: AtomicI64,
    /// The last-used time last written.
    written: AtomicI64,
}

impl Key {
    pub(crate) fn new(record: KeyRecord) -> Self {
        let at = record.last_used_at.map_or(0, |t| t.unix_timestamp());
        let scopes = Scopes::of(&record.scopes);
        Self { record, scopes, last_used: AtomicI64::new(at), written: AtomicI64::new(at) }
    }

    /// The config file's key of `store`: every scope, no expiry.
    pub(crate) fn config_key(store: &str) -> Self {
        Self::new(KeyRecord {
            id: super::CONFIG_KEY_ID.into(),
            store: store.into(),
            label: "the config file's api_key".into(),
            scopes: Scope::ALL.to_vec(),
            sha256: String::new(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
        })
    }

    pub(crate) fn touch(&self, now: OffsetDateTime) {
        self.last_used.fetch_max(now.unix_timestamp(), Ordering::Relaxed);
    }

    pub(crate) fn last_used(&self) -> Option<OffsetDateTime> {
        let at = self.last_used.load(Ordering::Relaxed);
        (at > 0).then(|| OffsetDateTime::from_unix_timestamp(at).ok()).flatten()
    }

    /// The last-used time if it moved on by `granularity` seconds since last written; marks it
    /// written.
    pub(crate) fn take_unwritten(&self, granularity: i64) -> Option<OffsetDateTime> {
        let at = self.last_used.load(Ordering::Relaxed);
        let written = self.written.load(Ordering::Relaxed);
        if at == 0 || at < written + granularity {
            return None;
        }
        self.written.store(at, Ordering::Relaxed);
        OffsetDateTime::from_unix_timestamp(at).ok()
    }

    pub(crate) fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.record.expires_at.is_some_and(|e| e <= now)
    }

    /// The key as the API lists it (never the key itself, nor its hash).
    pub(crate) fn view(&self) -> serde_json::Value {
        let r = &self.record;
        serde_json::json!({
            "id": r.id, "store": r.store, "label": r.label, "scopes": r.scopes,
            "created_at": ts(r.created_at), "expires_at": r.expires_at.map(ts),
            "revoked_at": r.revoked_at.map(ts), "last_used_at": self.last_used().map(ts),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> KeyRecord {
        KeyRecord {
            id: new_id(),
            store: "s".into(),
            label: "checkout".into(),
            scopes: vec![Scope::InvoicesCreate],
            sha256: hex::encode(digest("k")),
            created_at: OffsetDateTime::UNIX_EPOCH,
            expires_at: Some(OffsetDateTime::from_unix_timestamp(100).unwrap()),
            revoked_at: None,
            last_used_at: None,
        }
    }

    #[test]
    fn last_use_is_written_once_it_moved_on() {
        let k = Key::new(record());
        assert_eq!(k.take_unwritten(60), None);
        k.touch(OffsetDateTime::from_unix_timestamp(1000).unwrap());
        assert_eq!(k.take_unwritten(60).map(|t| t.unix_timestamp()), Some(1000));
        k.touch(OffsetDateTime::from_unix_timestamp(1030).unwrap());
        assert_eq!(k.take_unwritten(60), None, "30 s later: not yet");
        k.touch(OffsetDateTime::from_unix_timestamp(900).unwrap());
        assert_eq!(k.last_used().map(|t| t.unix_timestamp()), Some(1030), "never goes back");
        k.touch(OffsetDateTime::from_unix_timestamp(1061).unwrap());
        assert_eq!(k.take_unwritten(60).map(|t| t.unix_timestamp()), Some(1061));
    }

    #[test]
    fn expiry_and_the_view_show_no_secret() {
        let k = Key::new(record());
        assert!(!k.is_expired(OffsetDateTime::from_unix_timestamp(99).unwrap()));
        assert!(k.is_expired(OffsetDateTime::from_unix_timestamp(100).unwrap()));
        let v = k.view();
        assert_eq!(v["scopes"], serde_json::json!(["invoices:create"]));
        assert!(!v.to_string().contains(&k.record.sha256));
        assert!(v["expires_at"].as_str().unwrap().starts_with("1970-01-01T00:01:40"));
    }
}
