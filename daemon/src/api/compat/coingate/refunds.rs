//! CoinGate's order refunds onto paywatch refunds: `POST /v2/orders/{id}/refunds` (`amount` in
//! the order's price currency, refunded at the rate the customer paid at: paywatch's
//! `rate_then`; `address`, or none for a claim link the customer opens; `reason`), the order's
//! refunds and one refund. The merchant pays a refund from their own wallet, as with every
//! paywatch refund: it is `pending` until paywatch sees that payment confirmed, then
//! `completed`. CoinGate's `currency_id`, `platform_id` and `ledger_account_id` name its own
//! balances and are not read: the refund is in the method the order was paid with most.

use super::super::super::{address_len, blocking, AppState};
use super::body::Fields;
use super::error::CgError;
use super::{ids, order, Shop};
use crate::events::views;
use crate::invoices::NewRefund;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use paywatch_plugin_api::events::{InvoiceStatus, Refund, RefundStatus};
use serde_json::{json, Value};

/// A refund as CoinGate's `Refund` object (and the list's entries, which name the address
/// `crypto_address`).
fn refund_object(order: u64, id: u64, r: &Refund) -> Value {
    let currency = json!({"id": 1, "title": r.asset, "symbol": r.asset});
    let status = match r.status {
        RefundStatus::Completed => "completed",
        RefundStatus::AwaitingApproval | RefundStatus::AwaitingAddress | RefundStatus::AwaitingPayment => "pending",
        RefundStatus::Rejected => "rejected",
    };
    json!({
        "id": id,
        "request_amount": r.value,
        "request_currency": {"id": 1, "symbol": r.currency},
        "refund_amount": r.amount,
        "address": r.address.clone().unwrap_or_default(),
        "crypto_address": r.address,
        "memo": null,
        "crypto_address_memo": null,
        "status": status,
        "reason": r.reason,
        "created_at": r.created_at,
        "order": {"id": order},
        "refund_currency": {"id": 1, "title": r.asset, "symbol": r.asset, "platform": {"id": 1, "title": r.asset}},
        "transactions": r.txid.iter().map(|t| json!({"txid": t})).collect::<Vec<_>>(),
        "ledger_account": {"id": r.asset, "currency": currency},
        "claim_url": r.claim_url,
    })
}

fn order_number(id: &str) -> Result<u64, CgError> {
    id.parse().map_err(|_| CgError::order_not_found(id))
}

/// `POST /v2/orders/{id}/refunds`.
pub(super) async fn create(
    State(st): State<AppState>,
    Shop(store): Shop,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, CgError> {
    let n = order_number(&id)?;
    let f = Fields::parse(&headers, &body)?;
    let mut errors = Vec::new();
    let amount = f.required("amount", &mut errors).map(str::to_string);
    if let Some(a) = amount.as_deref().filter(|a| !paywatch_plugin_api::text::is_plain_positive_decimal(a)) {
        errors.push(format!("Amount {a:?} is not a positive number"));
    }
    if let Some(a) = f.get("address") {
        if let Err(e) = address_len("address", a) {
            errors.push(e.message().to_string());
        }
    }
    if !errors.is_empty() {
        return Err(CgError::refund_invalid(errors));
    }
    let new = NewRefund {
        variant: Some("rate_then".into()),
        amount,
        address: f.get("address").map(str::to_string),
        reason: f.get("reason").map(str::to_string),
        // The store's CoinGate token made it: a large one waits for a key of the store.
        requested_by: Some("coingate".into()),
        ..NewRefund::default()
    };
    let checkout = st.invoices().checkout_base();
    let st2 = st.clone();
    let (rid, view) = blocking(move || {
        let invoice = ids::order_invoice(&st2, &store, n)?.ok_or_else(|| CgError::order_not_found(&n.to_string()))?;
        // Only an order that takes no more payment (CoinGate refunds paid orders only): an open
        // one keeps counting what a refund gave back, so the customer could then pay the rest
        // of the price and the order would be called back `paid` for less than its price.
        if let Some(inv) = st2.invoices().get(&store, invoice)? {
            if matches!(inv.status, InvoiceStatus::New | InvoiceStatus::Processing) {
                let status = order::status(&st2.invoices().view(&inv)?, order::Refunds::None, None);
                return Err(CgError::refund_invalid(vec![format!(
                    "order {n} is {status}: it can be refunded once it is paid, expired or invalid"
                )]));
            }
        }
        let done = st2
            .invoices()
            .create_refund(&store, invoice, new, None, None)
            .map_err(|e| CgError::from_api(e.into(), CgError::refund_invalid))?;
        let rid = ids::link_refund(&st2, &store, n, done.refund.id)?;
        let mut view = views::refund(&done.refund);
        if let Some(token) = done.claim_token {
            view.claim_url = Some(format!("{checkout}/r/{token}"));
        }
        Ok::<_, CgError>((rid, view))
    })
    .await??;
    Ok(Json(refund_object(n, rid, &view)))
}

/// The refunds of an order of this store, in creation order, with their CoinGate ids.
fn refunds_of(st: &AppState, store: &str, n: u64) -> Result<Vec<(u64, Refund)>, CgError> {
    let invoice = ids::order_invoice(st, store, n)?.ok_or_else(|| CgError::order_not_found(&n.to_string()))?;
    let mut out = Vec::new();
    for (rid, uuid) in ids::order_refunds(st, store, n)? {
        if let Some(r) = st.invoices().refund(store, uuid)?.filter(|r| r.invoice_id == invoice) {
            out.push((rid, views::refund(&r)));
        }
    }
    Ok(out)
}

/// `GET /v2/orders/{id}/refunds` (one page: an order has at most its store's
/// `max_refunds_per_invoice`).
pub(super) async fn list(
    State(st): State<AppState>,
    Shop(store): Shop,
    Path(id): Path<String>,
) -> Result<Json<Value>, CgError> {
    let n = order_number(&id)?;
    let list = blocking(move || refunds_of(&st, &store, n)).await??;
    let refunds: Vec<Value> = list.iter().map(|(rid, r)| refund_object(n, *rid, r)).collect();
    Ok(Json(json!({
        "current_page": 1, "per_page": refunds.len().max(1), "total_refunds": refunds.len(),
        "total_pages": 1, "refunds": refunds,
    })))
}

/// `GET /v2/orders/{order_id}/refunds/{id}`.
pub(super) async fn read(
    State(st): State<AppState>,
    Shop(store): Shop,
    Path((order, id)): Path<(String, String)>,
) -> Result<Json<Value>, CgError> {
    let n = order_number(&order)?;
    let list = blocking(move || refunds_of(&st, &store, n)).await??;
    let found = list.iter().find(|(rid, _)| rid.to_string() == id);
    found.map(|(rid, r)| Json(refund_object(n, *rid, r))).ok_or_else(|| CgError::refund_not_found(&id))
}
