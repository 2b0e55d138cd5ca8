//! The wire shapes of invoices and refunds (events' `data` and API bodies). Amounts in the
//! asset's unit as decimal strings, with `_base` twins in base units.

use crate::db::{InvoiceRecord, PaymentRecord, RefundRecord};
use paywatch_plugin_api::amount::format_base_units;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;

fn unit(base: &str, decimals: u8) -> String {
    format_base_units(base, decimals).unwrap_or_else(|_| base.to_string())
}

fn ts(t: time::OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// `{id, store, order_id, asset, status, exception, amount_due, amount_paid, amount_confirmed,
/// address, payment_uri, expires_at, required_confirmations, sequence, payments: [...]}` and
/// more.
pub(crate) fn invoice_json(i: &InvoiceRecord, payments: &[PaymentRecord]) -> Value {
    json!({
        "id": i.id,
        "store": i.store,
        "order_id": i.order_id,
        "asset": i.asset,
        "chain": i.chain,
        "status": i.status,
        "exception": i.exception,
        "amount_due": unit(&i.amount_due, i.decimals),
        "amount_paid": unit(&i.amount_paid, i.decimals),
        "amount_confirmed": unit(&i.amount_confirmed, i.decimals),
        "amount_due_base": i.amount_due,
        "amount_paid_base": i.amount_paid,
        "amount_confirmed_base": i.amount_confirmed,
        "payment_tolerance_percent": i.tolerance_bp as f64 / 100.0,
        "address": i.address,
        "payment_uri": i.payment_uri,
        "required_confirmations": i.required_confirmations,
        "description": i.description,
        "metadata": i.metadata,
        "refund_email": i.refund_email,
        "created_at": ts(i.created_at),
        "expires_at": ts(i.expires_at),
        "monitoring_until": ts(i.monitoring_until),
        "updated_at": ts(i.updated_at),
        "sequence": i.sequence,
        "payments": payments.iter().map(PaymentRecord::to_wire).collect::<Vec<_>>(),
    })
}

/// A refund as the API and its events show it (never the claim token or its hash).
pub(crate) fn refund_json(r: &RefundRecord) -> Value {
    json!({
        "id": r.id,
        "invoice_id": r.invoice_id,
        "store": r.store,
        "asset": r.asset,
        "amount": unit(&r.amount, r.decimals),
        "amount_base": r.amount,
        "rate_policy": r.rate_policy,
        "reason": r.reason,
        "status": r.status,
        "address": r.address,
        "payment_uri": r.payment_uri,
        "required_confirmations": r.required_confirmations,
        "txid": r.txid,
        "claim_expires_at": r.claim_expires_at.map(ts),
        "created_at": ts(r.created_at),
        "updated_at": ts(r.updated_at),
    })
}
