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

/// Where a payment stands. Wire names are the API's and events'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PaymentStatus {
    /// Seen in the mempool, not in a block of the best chain.
    Pending,
    /// In a block of the best chain.
    Confirmed,
    /// Its block was disconnected and the transaction is not (yet) back.
    Reversed,
    /// Left the mempool without being mined.
    Dropped,
    /// A conflicting transaction spent one of its inputs.
    Replaced,
}

/// An outpoint a payment's transaction spends (plugin's notation).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct SpentOutPoint {
    pub(crate) txid: String,
    pub(crate) index: u32,
}

/// One output paying one watch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PaymentRecord {
    pub(crate) watch_id: Uuid,
    pub(crate) store: String,
    pub(crate) chain: String,
    pub(crate) asset: String,
    pub(crate) address: String,
    pub(crate) txid: String,
    pub(crate) index: u32,
    /// In the asset's unit, e.g. `"1.5"`.
    pub(crate) amount: String,
    /// In base units, e.g. `"150000000"`.
    pub(crate) amount_base: String,
    pub(crate) status: PaymentStatus,
    pub(crate) confirmations: u32,
    pub(crate) required_confirmations: u32,
    #[serde(rename = "final")]
    pub(crate) is_final: bool,
    pub(crate) block_height: Option<u64>,
    pub(crate) block_hash: Option<String>,
    pub(crate) replaced_by: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) first_seen: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
    /// What the transaction spends (to notice replacements); not part of the wire shape.
    #[serde(default)]
    pub(crate) spends: Vec<SpentOutPoint>,
}

impl PaymentRecord {
    /// The wire shape (events, API): everything but the internal `spends`.
    pub(crate) fn to_wire(&self) -> Value {
        let mut v = serde_json::to_value(self).expect("payment records encode");
        if let Some(o) = v.as_object_mut() {
            o.remove("spends");
        }
        v
    }
}

/// A connected block of a chain's local best chain, kept for the reorg window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BlockRecord {
    pub(crate) hash: String,
    pub(crate) prev: String,
    /// Payments this block confirmed: what disconnecting it reverses.
    pub(crate) undo: Vec<PaymentRef>,
}

/// A payment's identity: (chain is the block's) txid, output index, watch.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct PaymentRef {
    pub(crate) txid: String,
    pub(crate) index: u32,
    pub(crate) watch: Uuid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum InvoiceStatus {
    New,
    Processing,
    Settled,
    Expired,
    Invalid,
}

impl InvoiceStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::New => "new",
            InvoiceStatus::Processing => "processing",
            InvoiceStatus::Settled => "settled",
            InvoiceStatus::Expired => "expired",
            InvoiceStatus::Invalid => "invalid",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        [Self::New, Self::Processing, Self::Settled, Self::Expired, Self::Invalid].into_iter().find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Exception {
    None,
    PaidPartial,
    PaidOver,
    PaidLate,
}

/// A payment request. Amounts in base units, as decimal strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct InvoiceRecord {
    pub(crate) id: Uuid,
    pub(crate) store: String,
    pub(crate) order_id: String,
    pub(crate) asset: String,
    pub(crate) chain: String,
    pub(crate) description: Option<String>,
    pub(crate) metadata: Option<Value>,
    pub(crate) refund_email: Option<String>,
    pub(crate) decimals: u8,
    pub(crate) amount_due: String,
    pub(crate) amount_paid: String,
    pub(crate) amount_confirmed: String,
    /// Accepted underpayment, in basis points.
    pub(crate) tolerance_bp: u32,
    pub(crate) required_confirmations: u32,
    pub(crate) address: String,
    /// Where the address came from (derivation or list index), to reuse it later.
    pub(crate) address_index: Option<u32>,
    pub(crate) watch_id: Uuid,
    pub(crate) payment_uri: String,
    pub(crate) status: InvoiceStatus,
    pub(crate) exception: Exception,
    pub(crate) cancelled: bool,
    /// The address went back to the pool after the monitoring window (nothing was paid).
    pub(crate) released: bool,
    /// Events emitted so far for this invoice (each event carries its number).
    pub(crate) sequence: u64,
    /// SHA-256 of the creating request, to tell a retry from a conflicting request.
    pub(crate) request_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) monitoring_until: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RefundStatus {
    AwaitingAddress,
    AwaitingPayment,
    Completed,
}

/// A refund the merchant pays from their own wallet; paywatch watches its destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RefundRecord {
    pub(crate) id: Uuid,
    pub(crate) invoice_id: Uuid,
    pub(crate) store: String,
    pub(crate) asset: String,
    pub(crate) chain: String,
    pub(crate) decimals: u8,
    /// Base units.
    pub(crate) amount: String,
    /// `original` or `current`, as the merchant stated it.
    pub(crate) rate_policy: String,
    pub(crate) reason: Option<String>,
    pub(crate) address: Option<String>,
    pub(crate) payment_uri: Option<String>,
    pub(crate) watch_id: Option<Uuid>,
    pub(crate) status: RefundStatus,
    /// The payment that completed it.
    pub(crate) txid: Option<String>,
    /// SHA-256 (hex) of the one-time claim token; the token itself is never stored.
    pub(crate) claim_token_sha256: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) claim_expires_at: Option<OffsetDateTime>,
    pub(crate) required_confirmations: u32,
    pub(crate) request_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DeliveryStatus {
    Pending,
    Delivered,
    /// Given up: a permanent failure, the schedule ran out, or the endpoint was disabled.
    Failed,
}

/// One try at delivering an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Attempt {
    pub(crate) n: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) at: OffsetDateTime,
    pub(crate) http_status: Option<u16>,
    pub(crate) latency_ms: u64,
    /// `ack`, `retry`, `fail`, `disable`.
    pub(crate) verdict: String,
    pub(crate) error: Option<String>,
    /// The start of the response body.
    pub(crate) response: Option<String>,
}

/// An event on its way to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DeliveryRecord {
    pub(crate) endpoint: Uuid,
    pub(crate) seq: u64,
    pub(crate) event_id: Uuid,
    pub(crate) event_type: String,
    /// Events of one subject (an invoice, a payment) are delivered in order.
    pub(crate) subject: String,
    pub(crate) status: DeliveryStatus,
    pub(crate) attempts: Vec<Attempt>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) next_attempt_at: Option<OffsetDateTime>,
}
