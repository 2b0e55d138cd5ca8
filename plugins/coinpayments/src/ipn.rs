//! One IPN: its fields (in CoinPayments' order), the form encoding and the signature.

use hmac::{Hmac, Mac};
use paywatch_plugin_api::events::{Invoice, InvoiceStatus};
use serde_json::Value;
use sha2::{Digest, Sha256, Sha512};

/// CoinPayments' numeric status of an invoice and its text: `-1` expired or cancelled, `0`
/// waiting for (the rest of) the funds, `1` paid in full and confirming, `100` complete.
/// Shops ship at `>= 100`. `2` (queued for nightly payout) is never sent: paywatch pays out
/// nothing, the coins are already in the merchant's wallet at `100`.
pub fn status(s: InvoiceStatus) -> (i32, &'static str) {
    match s {
        InvoiceStatus::New => (0, "Waiting for buyer funds..."),
        InvoiceStatus::Processing => (1, "Funds received, waiting for confirmations..."),
        InvoiceStatus::Settled => (100, "Complete"),
        InvoiceStatus::Expired => (-1, "Cancelled / Timed Out"),
        InvoiceStatus::Invalid => (-1, "Cancelled"),
    }
}

/// `ipn_id`: 32 hex digits from the invoice id and the event's sequence number (the same for
/// every retry of one notification, different for the next one).
pub fn ipn_id(invoice_id: &str, sequence: u64) -> String {
    let digest = Sha256::digest(format!("paywatch-coinpayments-ipn:{invoice_id}:{sequence}").as_bytes());
    hex::encode(&digest[..16])
}

/// Hex HMAC-SHA512 of `body` keyed with `secret`: the `HMAC` header.
pub fn sign(secret: &[u8], body: &str) -> String {
    let mut mac = Hmac::<Sha512>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// `k=v&…` as PHP's `http_build_query` writes it (CoinPayments' backend is PHP): letters,
/// digits and `-_.` as they are, a space as `+`, every other byte as `%XX` (uppercase).
pub fn form_encode(fields: &[(&'static str, String)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    fields.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

/// An IPN for one invoice event.
#[derive(Debug, Clone, PartialEq)]
pub struct Ipn {
    /// The transaction's `ipn_url`.
    pub url: String,
    /// `ipn_id`.
    pub id: String,
    /// The numeric status.
    pub status: i32,
    /// The form's fields, in order.
    pub fields: Vec<(&'static str, String)>,
}

impl Ipn {
    /// The IPN of `invoice`, when it is a CoinPayments transaction with an `ipn_url`.
    pub fn of(invoice: &Invoice, merchant_id: &str) -> Option<Ipn> {
        let g = &invoice.gateway.as_ref().filter(|g| g.kind == "coinpayments")?.data;
        let url = g.get("ipn_url").and_then(Value::as_str).filter(|u| !u.is_empty())?.to_string();
        let text = |k: &str| g.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let (status, status_text) = status(invoice.status);
        let id = ipn_id(&invoice.id, invoice.sequence);
        let confirms = invoice.least_confirmations();
        let fields = vec![
            ("ipn_version", "1.0".to_string()),
            ("ipn_id", id.clone()),
            ("ipn_mode", "hmac".to_string()),
            ("merchant", merchant_id.to_string()),
            ("ipn_type", "api".to_string()),
            ("txn_id", invoice.id.clone()),
            ("status", status.to_string()),
            ("status_text", status_text.to_string()),
            ("currency1", invoice.currency.clone()),
            ("currency2", invoice.asset.clone()),
            ("amount1", invoice.amount.clone()),
            // The amount of the coin asked at creation (the invoice's first, and only, method).
            ("amount2", invoice.amount_due.clone()),
            // paywatch takes no fee.
            ("fee", "0".to_string()),
            ("buyer_name", text("buyer_name")),
            ("email", text("buyer_email")),
            ("item_name", text("item_name")),
            ("item_number", text("item_number")),
            ("invoice", text("invoice")),
            ("custom", text("custom")),
            ("received_amount", invoice.amount_paid.clone()),
            ("received_confirms", confirms.to_string()),
        ];
        Some(Ipn { url, id, status, fields })
    }
}
