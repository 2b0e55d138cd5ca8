//! Reading callback endpoints.

use super::schema::*;
use super::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

/// A callback endpoint of a store: a platform plugin and its config (secrets included: they are
/// write-only in the API and redacted in logs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct EndpointRecord {
    pub(crate) id: Uuid,
    pub(crate) store: String,
    pub(crate) plugin: String,
    /// What the plugin gets: `url`, secrets, the plugin's own keys.
    pub(crate) config: serde_json::Map<String, Value>,
    /// Event types or patterns like `invoice.*`; empty: every event.
    pub(crate) events: Vec<String>,
    pub(crate) enabled: bool,
    pub(crate) disabled_reason: Option<String>,
    /// Declared in the config file (the API may not change or delete it).
    pub(crate) from_config: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
}

impl Db {
    pub(crate) fn endpoint(&self, id: Uuid) -> Result<Option<EndpointRecord>, DbError> {
        let raw = self.db.get_cf(self.cf(CF_ENDPOINTS), id.as_bytes())?;
        raw.map(|v| decode(CF_ENDPOINTS, id.as_bytes(), &v)).transpose()
    }

    /// Every endpoint of every store.
    pub(crate) fn endpoints(&self) -> Result<Vec<EndpointRecord>, DbError> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_ENDPOINTS), IteratorMode::Start) {
            let (k, v) = item?;
            out.push(decode(CF_ENDPOINTS, &k, &v)?);
        }
        Ok(out)
    }
}
