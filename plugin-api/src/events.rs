//! The events paywatch emits and the resources they carry, one type each: what the REST API
//! returns, what an event's `data` holds, and what a platform plugin reads in
//! [`RenderRequest::event`](crate::messages::RenderRequest::event).
//!
//! ```
//! use paywatch_plugin_api::events::{Event, EventKind};
//! # let json = serde_json::json!({"seq": 1, "id": "0190c1d2-0000-7000-8000-000000000000",
//! #   "type": "refund.created", "store": "shop1", "created_at": "2026-01-01T00:00:00Z",
//! #   "data": {"id": "r1", "invoice_id": "i1", "store": "shop1", "asset": "BTC",
//! #     "amount": "0.1", "amount_base": "10000000", "rate_policy": "original", "reason": null,
//! #     "status": "awaiting_address", "address": null, "payment_uri": null,
//! #     "required_confirmations": 1, "txid": null, "claim_expires_at": null,
//! #     "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}});
//! let event: Event = serde_json::from_value(json).unwrap();
//! assert_eq!(event.kind(), Some(EventKind::RefundCreated));
//! let refund = event.refund().unwrap().expect("a refund event carries a refund");
//! assert_eq!(refund.amount, "0.1");
//! ```
//!
//! Wire names are part of the contract: fields are only ever added. A plugin built against an
//! older SDK ignores fields it does not know, and keeps forwarding `data` as it came (it is a
//! [`serde_json::Value`] in [`Event`]); an event type it does not know has no [`EventKind`].
//! With the `openapi` feature every type also derives `utoipa::ToSchema` (the daemon's
//! OpenAPI document uses them).

use serde::{Deserialize, Serialize};
use serde_json::Value;

macro_rules! event_kinds {
    ($($(#[$doc:meta])* $name:ident = $wire:literal,)*) => {
        /// Every event type paywatch emits. The wire name is [`EventKind::as_str`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventKind {
            $($(#[$doc])* $name,)*
        }

        impl EventKind {
            /// Every kind, in documentation order.
            pub const ALL: &'static [EventKind] = &[$(EventKind::$name,)*];

            /// The wire name, e.g. `"invoice.settled"`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(EventKind::$name => $wire,)*
                }
            }
        }
    };
}

event_kinds! {
    /// An invoice was created (data: [`Invoice`]).
    InvoiceCreated = "invoice.created",
    /// A payment to the invoice was seen (mempool or block).
    InvoicePaymentDetected = "invoice.payment_detected",
    /// A payment the invoice counted was reversed by a reorg, dropped or replaced.
    InvoicePaymentReversed = "invoice.payment_reversed",
    /// Paid in full, waiting for confirmations.
    InvoiceProcessing = "invoice.processing",
    /// Paid in full with the required confirmations: ship the goods.
    InvoiceSettled = "invoice.settled",
    /// Expired without being paid in full.
    InvoiceExpired = "invoice.expired",
    /// Cancelled by the shop, or a payment it counted went away for good.
    InvoiceInvalid = "invoice.invalid",
    /// A payment arrived after expiry (recorded, `exception` = `paid_late`).
    InvoicePaidLate = "invoice.paid_late",
    /// A payment to a watched address was seen (data: [`Payment`]).
    PaymentDetected = "payment.detected",
    /// A payment gained a confirmation (`final` once it has the required ones).
    PaymentConfirmed = "payment.confirmed",
    /// A payment's block left the best chain.
    PaymentReversed = "payment.reversed",
    /// A pending payment left the mempool without being mined.
    PaymentDropped = "payment.dropped",
    /// A conflicting transaction spent one of the payment's inputs.
    PaymentReplaced = "payment.replaced",
    /// A refund was created (data: [`Refund`]).
    RefundCreated = "refund.created",
    /// The customer gave the refund's destination address.
    RefundAddressSubmitted = "refund.address_submitted",
    /// The refund was paid with the required confirmations.
    RefundCompleted = "refund.completed",
    /// A refund above its store's `refund_approval_above` was approved by a second key: it
    /// can now be claimed or paid.
    RefundApproved = "refund.approved",
    /// A refund awaiting approval was rejected: it will never be paid, and its value no longer
    /// counts against what the invoice can refund.
    RefundRejected = "refund.rejected",
    /// A test callback (`POST /v1/endpoints/{id}/test`); never stored.
    Ping = "ping",
}

/// What an event is about: the resource in its `data`, and what orders deliveries (events of
/// one invoice, one refund or one payment are delivered in order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `invoice.*`: data is an [`Invoice`].
    Invoice,
    /// `payment.*`: data is a [`Payment`].
    Payment,
    /// `refund.*`: data is a [`Refund`].
    Refund,
    /// `ping`: data is `{message, endpoint}`.
    Ping,
}

impl EventKind {
    /// The kind with this wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == s)
    }

    /// What the event's `data` is.
    pub const fn family(self) -> Family {
        use EventKind::*;
        match self {
            InvoiceCreated
            | InvoicePaymentDetected
            | InvoicePaymentReversed
            | InvoiceProcessing
            | InvoiceSettled
            | InvoiceExpired
            | InvoiceInvalid
            | InvoicePaidLate => Family::Invoice,
            PaymentDetected | PaymentConfirmed | PaymentReversed | PaymentDropped | PaymentReplaced => Family::Payment,
            RefundCreated | RefundAddressSubmitted | RefundCompleted | RefundApproved | RefundRejected => {
                Family::Refund
            }
            Ping => Family::Ping,
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `kind == "invoice.settled"` compares the wire name.
impl PartialEq<&str> for EventKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for EventKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown event type {s:?}")))
    }
}

/// An immutable, numbered event, as the API lists it and platform plugins receive it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// The store's outbox position (0 for a test `ping`).
    pub seq: u64,
    /// Stable across redeliveries (a UUID; the `webhook-id`).
    #[cfg_attr(feature = "openapi", schema(format = Uuid))]
    pub id: String,
    /// The wire name of its [`EventKind`] (kept as a string so an older plugin can forward an
    /// event type it does not know).
    #[serde(rename = "type")]
    pub event_type: String,
    /// The store (merchant) it belongs to.
    pub store: String,
    /// RFC 3339.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    /// The full current state of its subject: an [`Invoice`], [`Payment`] or [`Refund`].
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: Value,
}

impl Event {
    /// Its kind, when this SDK knows the type.
    pub fn kind(&self) -> Option<EventKind> {
        EventKind::parse(&self.event_type)
    }

    /// The invoice of an `invoice.*` event (`None` for other kinds).
    pub fn invoice(&self) -> Result<Option<Invoice>, serde_json::Error> {
        self.data_of(Family::Invoice)
    }

    /// The payment of a `payment.*` event (`None` for other kinds).
    pub fn payment(&self) -> Result<Option<Payment>, serde_json::Error> {
        self.data_of(Family::Payment)
    }

    /// The refund of a `refund.*` event (`None` for other kinds).
    pub fn refund(&self) -> Result<Option<Refund>, serde_json::Error> {
        self.data_of(Family::Refund)
    }

    fn data_of<T: serde::de::DeserializeOwned>(&self, family: Family) -> Result<Option<T>, serde_json::Error> {
        match self.kind() {
            Some(k) if k.family() == family => T::deserialize(&self.data).map(Some),
            _ => Ok(None),
        }
    }
}

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
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

/// One output (or token transfer) paying one watched address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Payment {
    /// The watch it pays (a UUID).
    #[cfg_attr(feature = "openapi", schema(format = Uuid))]
    pub watch_id: String,
    /// The store whose watch it is.
    pub store: String,
    /// The chain's configured name.
    pub chain: String,
    /// The asset id, e.g. `BTC`, `USDT`.
    pub asset: String,
    /// The watched address, as its currency plugin prints it.
    pub address: String,
    /// The transaction id (hash), lowercase hex.
    pub txid: String,
    /// Output index (Bitcoin) or log index (EVM; 4294967295 for a transaction's own value).
    pub index: u32,
    /// In the asset's unit, e.g. `"1.5"`.
    pub amount: String,
    /// In base units, e.g. `"150000000"`.
    pub amount_base: String,
    /// Where it stands.
    pub status: PaymentStatus,
    /// Blocks on top of (and including) its block; 0 while pending.
    pub confirmations: u32,
    /// The watch's target.
    pub required_confirmations: u32,
    /// Reached `required_confirmations` on the best chain.
    #[serde(rename = "final")]
    pub is_final: bool,
    /// The block it is in, while confirmed.
    pub block_height: Option<u64>,
    /// The block it is in, while confirmed.
    pub block_hash: Option<String>,
    /// The conflicting transaction, when `replaced`.
    pub replaced_by: Option<String>,
    /// RFC 3339.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub first_seen: String,
    /// RFC 3339.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub updated_at: String,
}

/// An invoice's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    /// Waiting for payment.
    New,
    /// Paid in full, waiting for confirmations.
    Processing,
    /// Paid in full with the required confirmations.
    Settled,
    /// Not paid in full before expiry.
    Expired,
    /// Cancelled, or a counted payment went away for good.
    Invalid,
}

impl InvoiceStatus {
    /// Every status.
    pub const ALL: [InvoiceStatus; 5] = [Self::New, Self::Processing, Self::Settled, Self::Expired, Self::Invalid];

    /// The wire name, e.g. `"settled"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Processing => "processing",
            Self::Settled => "settled",
            Self::Expired => "expired",
            Self::Invalid => "invalid",
        }
    }

    /// The status with this wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// What is unusual about an invoice's payments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Exception {
    /// Nothing.
    None,
    /// Less than due (beyond the tolerance) was paid.
    PaidPartial,
    /// More than due was paid.
    PaidOver,
    /// A payment arrived after expiry.
    PaidLate,
}

/// A payment request and its payments. Amounts in the asset's unit as decimal strings, with
/// `_base` twins in base units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invoice {
    /// A UUID.
    #[cfg_attr(feature = "openapi", schema(format = Uuid))]
    pub id: String,
    /// The store (merchant) it belongs to.
    pub store: String,
    /// The shop's order id (unique per store).
    pub order_id: String,
    /// The asset it is paid in.
    pub asset: String,
    /// The asset's chain.
    pub chain: String,
    /// Where it stands.
    pub status: InvoiceStatus,
    /// What is unusual about its payments.
    pub exception: Exception,
    /// e.g. `"0.0015"`.
    pub amount_due: String,
    /// Counted payments, confirmed or not.
    pub amount_paid: String,
    /// Counted payments with the required confirmations.
    pub amount_confirmed: String,
    /// `amount_due` in base units.
    pub amount_due_base: String,
    /// `amount_paid` in base units.
    pub amount_paid_base: String,
    /// `amount_confirmed` in base units.
    pub amount_confirmed_base: String,
    /// Accepted underpayment, in percent.
    pub payment_tolerance_percent: f64,
    /// Where to pay.
    pub address: String,
    /// BIP21 / EIP-681 URI with the amount due.
    pub payment_uri: String,
    /// Confirmations a payment needs to count as confirmed.
    pub required_confirmations: u32,
    /// The shop's text.
    pub description: Option<String>,
    /// The shop's JSON, returned as given.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<Value>,
    /// Where the customer wants refund news.
    pub refund_email: Option<String>,
    /// RFC 3339.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    /// RFC 3339.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub expires_at: String,
    /// Payments after expiry are still recorded until then (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub monitoring_until: String,
    /// RFC 3339.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub updated_at: String,
    /// Events emitted so far for this invoice; each event's data carries its number.
    pub sequence: u64,
    /// The latest payments that can count (at or above `min_payment`), oldest first: at most
    /// a few, so an event stays small whatever is sent to the address. Every payment is in
    /// `GET /v1/invoices/{id}/payments`, and in the totals.
    pub payments: Vec<Payment>,
    /// Every payment to its address in its asset, dust included (what
    /// `GET /v1/invoices/{id}/payments` lists). 0 from a paywatch before it existed.
    #[serde(default)]
    pub payments_count: u64,
    /// The payment whose change caused this event: the one detected or reversed, or for a
    /// status change the last payment that changed it; `null` when the clock or the shop caused
    /// it (`invoice.created`, `invoice.expired`, a cancellation) and in API responses.
    #[serde(default)]
    pub payment: Option<Payment>,
    /// Payments below this are dust: recorded (and reported by `payment.*` events), never the
    /// invoice's. In the asset's unit.
    #[serde(default)]
    pub min_payment: String,
    /// `min_payment` in base units.
    #[serde(default)]
    pub min_payment_base: String,
    /// The price's currency: an ISO 4217 code (`USD`) or an asset id (an invoice priced in its
    /// asset). Empty from a paywatch before it existed: `asset`.
    #[serde(default)]
    pub currency: String,
    /// The price, in `currency` (e.g. `"25.00"`).
    #[serde(default)]
    pub amount: String,
    /// What the counted payments are worth in `currency`, exactly (each at its method's locked
    /// rate), confirmed or not.
    #[serde(default)]
    pub paid: String,
    /// Those of them with the required confirmations.
    #[serde(default)]
    pub confirmed: String,
    /// What is still to pay in `currency`: `amount` less `paid`, `"0…"` when paid in full.
    #[serde(default)]
    pub due: String,
    /// The ways to pay it: an asset each, with its own address, locked rate and what is still
    /// due in it. The first is the one `asset`, `address`, `amount_due` and `payment_uri`
    /// describe (those keep their meaning from single-asset invoices: the first amount due).
    #[serde(default)]
    pub payment_methods: Vec<PaymentMethod>,
    /// The customer's payment page (`/i/{id}` under the daemon's `checkout.public_url`):
    /// redirect the buyer there. Empty from a paywatch before it existed.
    #[serde(default)]
    pub checkout_url: String,
    /// Where the page sends the customer back to the shop (once paid, and by its "back to the
    /// shop" link), as the shop gave it.
    #[serde(default)]
    pub redirect_url: Option<String>,
    /// Made through a gateway-compatible API (`/bitpay`, `/coingate`, `/coinpayments`): that
    /// gateway's name and its own fields of the invoice (the shop's order id, callback URL and
    /// data…), which the gateway's platform plugin renders callbacks from. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<InvoiceGateway>,
}

impl Invoice {
    /// Confirmations of the least confirmed payment it shows that still counts (pending or
    /// confirmed); 0 before any.
    pub fn least_confirmations(&self) -> u32 {
        self.payments
            .iter()
            .filter(|p| matches!(p.status, PaymentStatus::Pending | PaymentStatus::Confirmed))
            .map(|p| p.confirmations)
            .min()
            .unwrap_or(0)
    }
}

/// The gateway-compatible API an invoice was made through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvoiceGateway {
    /// `bitpay`, `coingate` or `coinpayments`.
    pub kind: String,
    /// The gateway's own fields of the invoice, as that gateway's API was given them.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: Value,
}

/// One way to pay an invoice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaymentMethod {
    /// The asset id, e.g. `BTC`.
    pub asset: String,
    /// Its chain.
    pub chain: String,
    /// This method's own address.
    pub address: String,
    /// Still due in this asset: the rest of the price at the locked rate, rounded up to a
    /// whole base unit (e.g. `"0.00038911"`).
    pub amount_due: String,
    /// `amount_due` in base units.
    pub amount_due_base: String,
    /// Paid to this address in this asset and counted (in the asset's unit).
    pub amount_paid: String,
    /// `amount_paid` in base units.
    pub amount_paid_base: String,
    /// `currency` per one unit of the asset, locked at creation (exact decimal; `"1"` when the
    /// invoice is priced in this asset).
    pub rate: String,
    /// Where the rate came from (`same_asset` for the invoice's own asset).
    pub rate_source: String,
    /// When the source quoted it (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub rate_at: String,
    /// BIP21 / EIP-681 URI for `amount_due` (the last one when nothing is due).
    pub payment_uri: String,
}

/// A refund's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Above its store's `refund_approval_above`: waiting for a second key to approve it
    /// (`POST /v1/refunds/{id}/approve`) before it can be claimed or paid.
    AwaitingApproval,
    /// Rejected while awaiting approval: never to be paid.
    Rejected,
    /// Waiting for the customer to claim it with an address.
    AwaitingAddress,
    /// Waiting for the merchant's payment to the address.
    AwaitingPayment,
    /// Paid with the required confirmations.
    Completed,
}

/// A refund the merchant pays from their own wallet; paywatch watches its destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Refund {
    /// A UUID.
    #[cfg_attr(feature = "openapi", schema(format = Uuid))]
    pub id: String,
    /// The refunded invoice.
    #[cfg_attr(feature = "openapi", schema(format = Uuid))]
    pub invoice_id: String,
    /// The store (merchant) it belongs to.
    pub store: String,
    /// The invoice's asset.
    pub asset: String,
    /// In the asset's unit.
    pub amount: String,
    /// In base units.
    pub amount_base: String,
    /// `original` or `current`, as the merchant stated it.
    pub rate_policy: String,
    /// The merchant's text.
    pub reason: Option<String>,
    /// Where it stands.
    pub status: RefundStatus,
    /// The destination, once known.
    pub address: Option<String>,
    /// A payment URI for the merchant's wallet, once the address is known.
    pub payment_uri: Option<String>,
    /// Confirmations the refund payment needs.
    pub required_confirmations: u32,
    /// The payment that completed it.
    pub txid: Option<String>,
    /// Until when the claim link works (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub claim_expires_at: Option<String>,
    /// RFC 3339.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    /// RFC 3339.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub updated_at: String,
    /// Only in the response that created it without an address: the one-time claim token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_token: Option<String>,
    /// Only with `claim_token`: the claim route's path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_path: Option<String>,
    /// Only with `claim_token`: the customer's claim page (`/r/{token}` under the daemon's
    /// `checkout.public_url`): send the customer this link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_url: Option<String>,
    /// How it was priced: `rate_then`, `current_rate`, `fiat`, `overpaid` or `custom` (refunds
    /// made before variants existed: `custom`).
    #[serde(default)]
    pub variant: String,
    /// The invoice's currency (an ISO 4217 code or an asset id), in which `value` is.
    #[serde(default)]
    pub currency: String,
    /// What it settles of the invoice, an exact decimal in `currency`: counted against what
    /// the invoice can refund (the full value, whatever the merchant keeps).
    #[serde(default)]
    pub value: String,
    /// `currency` per one unit of `asset` used to convert (the method's locked rate, or
    /// today's; `"1"` when the asset is the currency).
    #[serde(default)]
    pub rate: String,
    /// Where the rate came from (`same_asset` when the asset is the currency).
    #[serde(default)]
    pub rate_source: String,
    /// When the source quoted it (RFC 3339).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub rate_at: String,
    /// The share (percent) the merchant kept as a fee: `amount` is what was left after it.
    #[serde(default)]
    pub subtract_percent: Option<String>,
    /// Present when the refund needed a second key's approval (its value was above the store's
    /// `refund_approval_above` for its currency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<RefundApproval>,
}

/// The second key's approval a large refund needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefundApproval {
    /// The store's threshold for the refund's currency, which its value is above.
    pub threshold: String,
    /// The id of the key that made the refund (`key_…`, or `config` for the config file's).
    pub requested_by: String,
    /// The key that approved or rejected it; absent while it waits.
    #[serde(default)]
    pub decided_by: Option<String>,
    /// When (RFC 3339).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub decided_at: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_their_wire_names() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(*k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
            assert_eq!(serde_json::from_value::<EventKind>(k.as_str().into()).unwrap(), *k);
            let family = k.as_str().split('.').next().unwrap();
            let expected = match family {
                "invoice" => Family::Invoice,
                "payment" => Family::Payment,
                "refund" => Family::Refund,
                _ => Family::Ping,
            };
            assert_eq!(k.family(), expected, "{k}");
        }
        assert!(serde_json::from_value::<EventKind>("invoice.nope".into()).is_err());
    }

    #[test]
    fn an_unknown_type_is_kept_and_has_no_data_view() {
        let e: Event = serde_json::from_value(serde_json::json!({"seq": 3, "id": "x", "type": "invoice.future",
            "store": "s", "created_at": "t", "data": {"id": "i"}}))
        .unwrap();
        assert_eq!(e.kind(), None);
        assert_eq!(e.event_type, "invoice.future");
        assert!(e.invoice().unwrap().is_none());
    }

    #[test]
    fn an_invoice_from_before_payments_count_still_reads() {
        // As a paywatch sent invoices before `payments_count`, `payment` and `min_payment`.
        let data = serde_json::json!({"id": "i", "store": "s", "order_id": "o", "asset": "BTC", "chain": "btc",
            "status": "new", "exception": "none", "amount_due": "1", "amount_paid": "0", "amount_confirmed": "0",
            "amount_due_base": "100000000", "amount_paid_base": "0", "amount_confirmed_base": "0",
            "payment_tolerance_percent": 0.0, "address": "a", "payment_uri": "bitcoin:a", "required_confirmations": 1,
            "description": null, "metadata": null, "refund_email": null, "created_at": "t", "expires_at": "t",
            "monitoring_until": "t", "updated_at": "t", "sequence": 1, "payments": []});
        let e = Event {
            seq: 1,
            id: "x".into(),
            event_type: "invoice.created".into(),
            store: "s".into(),
            created_at: "t".into(),
            data,
        };
        let i = e.invoice().unwrap().expect("an invoice event");
        assert_eq!((i.payments_count, i.payment, i.min_payment.as_str()), (0, None, ""));
    }
}
