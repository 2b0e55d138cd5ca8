//! Values stored in RocksDB. Encoded as JSON: self-describing, and small next to the keys'
//! index work. Any layout change bumps `schema::SCHEMA_VERSION`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

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
}

/// An immutable, numbered event of the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct EventRecord {
    pub(crate) seq: u64,
    /// Stable across redeliveries (the `webhook-id`).
    pub(crate) id: Uuid,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) store: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    pub(crate) data: Value,
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
