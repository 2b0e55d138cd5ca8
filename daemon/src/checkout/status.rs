//! What the public checkout routes show of an invoice: [`PublicStatus`], made from the API's
//! invoice view with everything only a store key may read left out (metadata, the refund
//! email, the store id, rates' sources, payments' txids). `GET /i/{id}/status` answers it,
//! `GET /i/{id}/events` streams it, and the page is rendered from it.

use paywatch_plugin_api::events::{Exception, Invoice, InvoiceStatus, Refund, RefundStatus};
use serde::{Deserialize, Serialize};

/// What the customer is told, derived from the invoice's status, exception and payments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PageState {
    /// Nothing paid yet: pay one of the methods.
    Awaiting,
    /// Paid in full, waiting for confirmations.
    Seen,
    /// Some paid, less than due: send the remainder.
    Underpaid,
    /// Paid in full with the required confirmations (settled).
    Paid,
    /// Expired with nothing paid.
    Expired,
    /// Expired after part of the price was paid: the shop will contact the customer.
    ExpiredPartial,
    /// A payment arrived after expiry: the shop will contact the customer.
    PaidLate,
    /// Cancelled by the shop (or invalid).
    Cancelled,
}

impl PageState {
    /// Every state, in documentation order.
    #[cfg(test)]
    pub(crate) const ALL: [PageState; 8] = [
        Self::Awaiting,
        Self::Seen,
        Self::Underpaid,
        Self::Paid,
        Self::Expired,
        Self::ExpiredPartial,
        Self::PaidLate,
        Self::Cancelled,
    ];

    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Awaiting => "awaiting",
            Self::Seen => "seen",
            Self::Underpaid => "underpaid",
            Self::Paid => "paid",
            Self::Expired => "expired",
            Self::ExpiredPartial => "expired_partial",
            Self::PaidLate => "paid_late",
            Self::Cancelled => "cancelled",
        }
    }

    /// Something is still to pay: the page offers the methods (amounts, QR codes, wallet
    /// links) and the countdown. Once paid in full (`seen`, waiting for confirmations) it does
    /// not: a customer scanning a code then would pay twice.
    pub(crate) const fn takes_payment(self) -> bool {
        matches!(self, Self::Awaiting | Self::Underpaid)
    }

    /// No payment can change it any more (the page stops refreshing itself).
    pub(crate) const fn is_final(self) -> bool {
        matches!(self, Self::Paid | Self::Expired | Self::ExpiredPartial | Self::PaidLate | Self::Cancelled)
    }
}

/// One way to pay, as the customer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct PublicMethod {
    pub(crate) asset: String,
    pub(crate) chain: String,
    /// Where to pay. Empty, as `payment_uri` and `qr` are, while nothing is to pay
    /// ([`PageState::takes_payment`]).
    pub(crate) address: String,
    /// Still due in this asset (the remainder after a partial payment).
    pub(crate) amount_due: String,
    pub(crate) amount_paid: String,
    /// BIP21 / EIP-681 URI for `amount_due`: what the QR code holds and "open in wallet" opens.
    pub(crate) payment_uri: String,
    /// Path of this method's QR code (SVG) under the pages' base, changing with the URI:
    /// `/i/{id}/qr/{n}.svg?v=…`.
    pub(crate) qr: String,
}

/// An invoice as its checkout page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct PublicStatus {
    pub(crate) id: String,
    /// The store's display name (`stores[].name`, its id by default).
    pub(crate) store_name: String,
    pub(crate) order_id: String,
    pub(crate) state: PageState,
    pub(crate) status: InvoiceStatus,
    pub(crate) exception: Exception,
    /// The price's currency (ISO 4217 code or asset id) and the price, paid and due in it.
    pub(crate) currency: String,
    pub(crate) amount: String,
    pub(crate) paid: String,
    pub(crate) due: String,
    /// Confirmations of the least confirmed counted payment still short of the required ones
    /// (0 while in the mempool); the required ones.
    pub(crate) confirmations: u32,
    pub(crate) required_confirmations: u32,
    /// RFC 3339.
    pub(crate) expires_at: String,
    /// Where the customer goes back to the shop (http or https only), if the shop gave one.
    pub(crate) redirect_url: Option<String>,
    /// The ways to pay; in the shop's order.
    pub(crate) methods: Vec<PublicMethod>,
    /// Events emitted for the invoice so far.
    pub(crate) sequence: u64,
    /// Grows with every change the page is sent (an outbox sequence number): a stream never
    /// sends an older status after a newer one.
    pub(crate) version: u64,
}

impl PublicStatus {
    /// The public part of `view` (the API's invoice view, with its recent payments).
    pub(crate) fn new(view: &Invoice, store_name: &str, redirect_url: Option<&str>, version: u64) -> Self {
        let state = state_of(view);
        // Where to pay only while something is to pay: once paid in full a code scanned would
        // pay twice, and an expired invoice's address goes back to its pool (another
        // customer's, later).
        let pay = state.takes_payment();
        let methods = view
            .payment_methods
            .iter()
            .enumerate()
            .map(|(n, m)| PublicMethod {
                asset: m.asset.clone(),
                chain: m.chain.clone(),
                address: if pay { m.address.clone() } else { String::new() },
                amount_due: m.amount_due.clone(),
                amount_paid: m.amount_paid.clone(),
                payment_uri: if pay { m.payment_uri.clone() } else { String::new() },
                qr: if pay {
                    format!("/i/{}/qr/{n}.svg?v={}", view.id, qr_version(&m.payment_uri))
                } else {
                    String::new()
                },
            })
            .collect();
        let confirmations = view
            .payments
            .iter()
            .filter(|p| !p.is_final)
            .map(|p| p.confirmations)
            .min()
            .unwrap_or(if view.status == InvoiceStatus::Settled { view.required_confirmations } else { 0 });
        PublicStatus {
            id: view.id.clone(),
            store_name: store_name.to_string(),
            order_id: view.order_id.clone(),
            state,
            status: view.status,
            exception: view.exception,
            currency: view.currency.clone(),
            amount: view.amount.clone(),
            paid: view.paid.clone(),
            due: view.due.clone(),
            confirmations,
            required_confirmations: view.required_confirmations,
            expires_at: view.expires_at.clone(),
            redirect_url: redirect_url.map(str::to_string),
            methods,
            sequence: view.sequence,
            version,
        }
    }
}

/// What the customer is told about `view`.
fn state_of(view: &Invoice) -> PageState {
    match view.status {
        InvoiceStatus::Settled => PageState::Paid,
        InvoiceStatus::Processing => PageState::Seen,
        InvoiceStatus::Invalid => PageState::Cancelled,
        InvoiceStatus::Expired if view.exception == Exception::PaidLate => PageState::PaidLate,
        InvoiceStatus::Expired if is_zero(&view.paid) => PageState::Expired,
        InvoiceStatus::Expired => PageState::ExpiredPartial,
        InvoiceStatus::New if is_zero(&view.paid) => PageState::Awaiting,
        InvoiceStatus::New => PageState::Underpaid,
    }
}

fn is_zero(decimal: &str) -> bool {
    decimal.chars().all(|c| c == '0' || c == '.')
}

/// A short stable tag of a payment URI, so a QR code's path changes when its URI does (and a
/// browser's cached image is never a stale amount).
fn qr_version(uri: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(uri.as_bytes())[..6])
}

/// A refund as its claim page (`/r/{token}`) shows it: what the customer gets back, in what,
/// and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PublicRefund {
    pub(crate) store_name: String,
    pub(crate) order_id: String,
    /// In the asset's unit, e.g. `"0.0005"`.
    pub(crate) amount: String,
    pub(crate) asset: String,
    pub(crate) status: RefundStatus,
    /// The address the customer gave, once given.
    pub(crate) address: Option<String>,
    /// Until when the link can be used (RFC 3339), while it can.
    pub(crate) claim_expires_at: Option<String>,
}

impl PublicRefund {
    pub(crate) fn new(r: &Refund, store_name: &str, order_id: &str) -> Self {
        PublicRefund {
            store_name: store_name.to_string(),
            order_id: order_id.to_string(),
            amount: r.amount.clone(),
            asset: r.asset.clone(),
            status: r.status,
            address: r.address.clone(),
            claim_expires_at: r.claim_expires_at.clone(),
        }
    }
}

/// What became of an address the customer submitted on the claim page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClaimOutcome {
    /// Taken: the shop now pays the refund to it.
    Accepted,
    /// Refused; `code` is the API's error code (`invalid_address`, `claim_locked`…), `message`
    /// the reason (the currency plugin's words for a bad address, in English).
    Refused { code: String, message: String },
}
