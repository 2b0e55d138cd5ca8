//! Records → their wire views (`paywatch_plugin_api::events`): the one shape of each resource
//! in API responses, in events' `data` and in what platform plugins read. Amounts go out in
//! the asset's unit with `_base` twins in base units; times as RFC 3339.
//!
//! Key order: invoices, refunds and every event's `data` have always gone out with their keys
//! sorted (they were JSON objects); [`sorted`] keeps them so, byte for byte. Payments listed by
//! the payments API keep their field order.

use crate::db::{EventRecord, InvoiceRecord, MethodRecord, PaymentRecord, RefundRecord};
use paywatch_plugin_api::amount::format_base_units;
use paywatch_plugin_api::events::{Event, Invoice, InvoiceGateway, Payment, PaymentMethod, Refund};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn unit(base: &str, decimals: u8) -> String {
    format_base_units(base, decimals).unwrap_or_else(|_| base.to_string())
}

/// RFC 3339, as every time on the wire.
pub(crate) fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// A view as a JSON object with sorted keys (see the module docs).
pub(crate) fn sorted(view: &impl serde::Serialize) -> Value {
    serde_json::to_value(view).expect("wire views encode")
}

/// A view that serializes with its keys sorted, as [`sorted`] (API responses).
#[derive(Debug)]
pub(crate) struct Sorted<T>(pub(crate) T);

impl<T: serde::Serialize> serde::Serialize for Sorted<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        sorted(&self.0).serialize(s)
    }
}

pub(crate) fn payment(p: &PaymentRecord) -> Payment {
    Payment {
        watch_id: p.watch_id.to_string(),
        store: p.store.clone(),
        chain: p.chain.clone(),
        asset: p.asset.clone(),
        address: p.address.clone(),
        txid: p.txid.clone(),
        index: p.index,
        amount: p.amount.clone(),
        amount_base: p.amount_base.clone(),
        status: p.status,
        confirmations: p.confirmations,
        required_confirmations: p.required_confirmations,
        is_final: p.is_final,
        block_height: p.block_height,
        block_hash: p.block_hash.clone(),
        replaced_by: p.replaced_by.clone(),
        first_seen: ts(p.first_seen),
        updated_at: ts(p.updated_at),
    }
}

/// What an invoice's view shows of its payments (chosen by `invoices`): the latest few that can
/// count, how many there are in all, and the one that caused the event.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InvoicePayments<'a> {
    /// Oldest first.
    pub(crate) recent: &'a [&'a PaymentRecord],
    /// Every payment to the address in the invoice's asset, dust included.
    pub(crate) count: usize,
    /// `None` in API responses and for events the clock or the shop caused.
    pub(crate) cause: Option<&'a PaymentRecord>,
}

/// The invoice's view; `checkout` is the base of its page's URL (`checkout.public_url`).
pub(crate) fn invoice(i: &InvoiceRecord, payments: InvoicePayments<'_>, checkout: &str) -> Invoice {
    Invoice {
        id: i.id.to_string(),
        store: i.store.clone(),
        order_id: i.order_id.clone(),
        asset: i.asset.clone(),
        chain: i.chain.clone(),
        status: i.status,
        exception: i.exception,
        amount_due: unit(&i.amount_due, i.decimals),
        amount_paid: unit(&i.amount_paid, i.decimals),
        amount_confirmed: unit(&i.amount_confirmed, i.decimals),
        amount_due_base: i.amount_due.clone(),
        amount_paid_base: i.amount_paid.clone(),
        amount_confirmed_base: i.amount_confirmed.clone(),
        payment_tolerance_percent: i.tolerance_bp as f64 / 100.0,
        address: i.address.clone(),
        payment_uri: i.payment_uri.clone(),
        required_confirmations: i.required_confirmations,
        description: i.description.clone(),
        metadata: i.metadata.clone(),
        refund_email: i.refund_email.clone(),
        created_at: ts(i.created_at),
        expires_at: ts(i.expires_at),
        monitoring_until: ts(i.monitoring_until),
        updated_at: ts(i.updated_at),
        sequence: i.sequence,
        payments: payments.recent.iter().map(|p| payment(p)).collect(),
        payments_count: payments.count as u64,
        payment: payments.cause.map(payment),
        min_payment: unit(&i.min_payment, i.decimals),
        min_payment_base: i.min_payment.clone(),
        currency: i.currency.clone(),
        amount: i.price.clone(),
        paid: i.value_paid.clone(),
        confirmed: i.value_confirmed.clone(),
        due: i.value_due.clone(),
        payment_methods: i.methods.iter().map(method).collect(),
        checkout_url: format!("{checkout}/i/{}", i.id),
        redirect_url: i.redirect_url.clone(),
        gateway: i.gateway.as_ref().map(|g| InvoiceGateway { kind: g.kind.clone(), data: g.data.clone() }),
    }
}

fn method(m: &MethodRecord) -> PaymentMethod {
    PaymentMethod {
        asset: m.asset.clone(),
        chain: m.chain.clone(),
        address: m.address.clone(),
        amount_due: unit(&m.amount_due, m.decimals),
        amount_due_base: m.amount_due.clone(),
        amount_paid: unit(&m.amount_paid, m.decimals),
        amount_paid_base: m.amount_paid.clone(),
        rate: m.rate.clone(),
        rate_source: m.rate_source.clone(),
        rate_at: ts(m.rate_at),
        payment_uri: m.payment_uri.clone(),
    }
}

/// A refund as the API and its events show it (never the claim token or its hash).
pub(crate) fn refund(r: &RefundRecord) -> Refund {
    Refund {
        id: r.id.to_string(),
        invoice_id: r.invoice_id.to_string(),
        store: r.store.clone(),
        asset: r.asset.clone(),
        amount: unit(&r.amount, r.decimals),
        amount_base: r.amount.clone(),
        rate_policy: r.rate_policy.clone(),
        reason: r.reason.clone(),
        status: r.status,
        address: r.address.clone(),
        payment_uri: r.payment_uri.clone(),
        required_confirmations: r.required_confirmations,
        txid: r.txid.clone(),
        claim_expires_at: r.claim_expires_at.map(ts),
        created_at: ts(r.created_at),
        updated_at: ts(r.updated_at),
        claim_token: None,
        claim_path: None,
        claim_url: None,
        variant: r.variant.clone(),
        currency: r.currency.clone(),
        value: r.value.clone(),
        rate: r.rate.clone(),
        rate_source: r.rate_source.clone(),
        rate_at: r.rate_at.map(ts).unwrap_or_default(),
        subtract_percent: r.subtract_percent.clone(),
        approval: r.approval.as_ref().map(|a| paywatch_plugin_api::events::RefundApproval {
            threshold: format!("{} {}", a.threshold, r.currency),
            requested_by: a.requested_by.clone(),
            decided_by: a.decided_by.clone(),
            decided_at: a.decided_at.map(ts),
        }),
    }
}

/// An event as the API lists it and platform plugins receive it (not its stored subject).
pub(crate) fn event(e: &EventRecord) -> Event {
    Event {
        seq: e.seq,
        id: e.id.to_string(),
        event_type: e.kind.as_str().to_string(),
        store: e.store.clone(),
        created_at: ts(e.created_at),
        data: e.data.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Exception, InvoiceStatus, PaymentStatus, RefundStatus};
    use serde_json::json;
    use uuid::Uuid;

    fn at(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(s).unwrap()
    }

    fn a_payment() -> PaymentRecord {
        PaymentRecord {
            watch_id: Uuid::nil(),
            store: "shop1".into(),
            chain: "btc".into(),
            asset: "BTC".into(),
            address: "bcrt1q".into(),
            txid: "ab".into(),
            index: 1,
            amount: "0.0015".into(),
            amount_base: "150000".into(),
            status: PaymentStatus::Confirmed,
            confirmations: 2,
            required_confirmations: 2,
            is_final: true,
            block_height: Some(7),
            block_hash: Some("cd".into()),
            replaced_by: None,
            first_seen: at(0),
            updated_at: at(60),
            outpoint_keys: vec![],
        }
    }

    /// The shape every earlier release sent (built by hand, as `json!` did): views must not drift.
    #[test]
    fn views_keep_the_wire_shapes() {
        let p = a_payment();
        let want_payment = json!({"watch_id": Uuid::nil(), "store": "shop1", "chain": "btc", "asset": "BTC",
            "address": "bcrt1q", "txid": "ab", "index": 1, "amount": "0.0015", "amount_base": "150000",
            "status": "confirmed", "confirmations": 2, "required_confirmations": 2, "final": true,
            "block_height": 7, "block_hash": "cd", "replaced_by": null,
            "first_seen": "1970-01-01T00:00:00Z", "updated_at": "1970-01-01T00:01:00Z"});
        assert_eq!(sorted(&payment(&p)), want_payment);
        // The stored record is the view plus `outpoint_keys`.
        let mut stored = serde_json::to_value(&p).unwrap();
        stored.as_object_mut().unwrap().remove("outpoint_keys");
        assert_eq!(stored, want_payment);

        let i = InvoiceRecord {
            id: Uuid::nil(),
            store: "shop1".into(),
            order_id: "o1".into(),
            asset: "BTC".into(),
            chain: "btc".into(),
            description: None,
            metadata: Some(json!({"k": 1})),
            refund_email: None,
            decimals: 8,
            amount_due: "150000".into(),
            amount_paid: "150000".into(),
            amount_confirmed: "0".into(),
            min_payment: "546".into(),
            tolerance_bp: 50,
            required_confirmations: 2,
            address: "bcrt1q".into(),
            address_index: Some(0),
            address_source: None,
            watch_id: Uuid::nil(),
            payment_uri: "bitcoin:bcrt1q?amount=0.0015".into(),
            status: InvoiceStatus::Processing,
            exception: Exception::None,
            cancelled: false,
            released: false,
            sequence: 3,
            request_hash: "h".into(),
            created_at: at(0),
            expires_at: at(900),
            monitoring_until: at(1800),
            updated_at: at(60),
            currency: String::new(),
            currency_decimals: 0,
            price: String::new(),
            value_paid: String::new(),
            value_confirmed: String::new(),
            value_due: String::new(),
            methods: Vec::new(),
            redirect_url: Some("https://shop.example/o1".into()),
            gateway: None,
        }
        .upgraded(); // made before currencies: priced in its asset, one method at rate 1
        let want = json!({"id": Uuid::nil(), "store": "shop1", "order_id": "o1", "asset": "BTC", "chain": "btc",
            "status": "processing", "exception": "none", "amount_due": "0.0015", "amount_paid": "0.0015",
            "amount_confirmed": "0", "amount_due_base": "150000", "amount_paid_base": "150000",
            "amount_confirmed_base": "0", "payment_tolerance_percent": 0.5, "address": "bcrt1q",
            "payment_uri": "bitcoin:bcrt1q?amount=0.0015", "required_confirmations": 2, "description": null,
            "metadata": {"k": 1}, "refund_email": null, "created_at": "1970-01-01T00:00:00Z",
            "expires_at": "1970-01-01T00:15:00Z", "monitoring_until": "1970-01-01T00:30:00Z",
            "updated_at": "1970-01-01T00:01:00Z", "sequence": 3, "payments": [want_payment],
            "payments_count": 2001, "payment": want_payment, "min_payment": "0.00000546", "min_payment_base": "546"});
        // Priced in its asset: one method at rate 1, nothing left due.
        let method = json!({"asset": "BTC", "chain": "btc", "address": "bcrt1q", "amount_due": "0",
            "amount_due_base": "0", "amount_paid": "0.0015", "amount_paid_base": "150000", "rate": "1",
            "rate_source": "same_asset", "rate_at": "1970-01-01T00:00:00Z",
            "payment_uri": "bitcoin:bcrt1q?amount=0.0015"});
        let mut want = want;
        for (k, v) in [
            ("currency", json!("BTC")),
            ("amount", json!("0.0015")),
            ("paid", json!("0.0015")),
            ("confirmed", json!("0")),
            ("due", json!("0")),
            ("payment_methods", json!([method])),
            ("checkout_url", json!("https://pay.example/i/00000000-0000-0000-0000-000000000000")),
            ("redirect_url", json!("https://shop.example/o1")),
        ] {
            want[k] = v;
        }
        let shown = InvoicePayments { recent: &[&p], count: 2001, cause: Some(&p) };
        let got = sorted(&invoice(&i, shown, "https://pay.example"));
        assert_eq!(got, want);
        assert_eq!(got.to_string(), want.to_string(), "keys sorted as before");
        // As the API shows it: no payment caused it.
        let mut want_api = want.clone();
        want_api["payment"] = Value::Null;
        assert_eq!(sorted(&invoice(&i, InvoicePayments { cause: None, ..shown }, "https://pay.example")), want_api);

        let r = RefundRecord {
            id: Uuid::nil(),
            invoice_id: Uuid::nil(),
            store: "shop1".into(),
            asset: "BTC".into(),
            chain: "btc".into(),
            decimals: 8,
            amount: "1000".into(),
            rate_policy: "original".into(),
            reason: None,
            address: None,
            payment_uri: None,
            watch_id: None,
            status: RefundStatus::AwaitingAddress,
            txid: None,
            claim_token_sha256: Some("secret".into()),
            claim_expires_at: Some(at(60)),
            claim_failures: 2,
            required_confirmations: 1,
            request_hash: "h".into(),
            created_at: at(0),
            updated_at: at(0),
            variant: String::new(),
            currency: String::new(),
            value: String::new(),
            rate: String::new(),
            rate_source: String::new(),
            rate_at: None,
            subtract_percent: None,
            approval: None,
        };
        // A refund from before variants: read as `custom` at rate 1 in its asset.
        let r = r.upgraded();
        let want = json!({"id": Uuid::nil(), "invoice_id": Uuid::nil(), "store": "shop1", "asset": "BTC",
            "amount": "0.00001", "amount_base": "1000", "rate_policy": "original", "reason": null,
            "status": "awaiting_address", "address": null, "payment_uri": null, "required_confirmations": 1,
            "txid": null, "claim_expires_at": "1970-01-01T00:01:00Z", "created_at": "1970-01-01T00:00:00Z",
            "updated_at": "1970-01-01T00:00:00Z", "variant": "custom", "currency": "BTC", "value": "0.00001",
            "rate": "1", "rate_source": "same_asset", "rate_at": "1970-01-01T00:00:00Z", "subtract_percent": null});
        let got = sorted(&refund(&r));
        assert_eq!(got, want);
        assert_eq!(got.to_string(), want.to_string(), "keys sorted as before");
        // A refund of a USD invoice at today's rate, the merchant keeping 2.5 %.
        let usd = RefundRecord {
            amount: "243750".into(),
            variant: "current_rate".into(),
            currency: "USD".into(),
            value: "100.00".into(),
            rate: "40000".into(),
            rate_source: "coinbase".into(),
            rate_at: Some(at(30)),
            subtract_percent: Some("2.5".into()),
            approval: None,
            ..r
        };
        let got = sorted(&refund(&usd));
        let mut want_usd = want.clone();
        for (k, v) in [
            ("amount", "0.0024375"),
            ("amount_base", "243750"),
            ("variant", "current_rate"),
            ("currency", "USD"),
            ("value", "100.00"),
            ("rate", "40000"),
            ("rate_source", "coinbase"),
            ("rate_at", "1970-01-01T00:00:30Z"),
            ("subtract_percent", "2.5"),
        ] {
            want_usd[k] = json!(v);
        }
        assert_eq!(got, want_usd);
        assert_eq!(got.to_string(), want_usd.to_string());
    }
}
