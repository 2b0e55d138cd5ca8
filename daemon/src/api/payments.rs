//! Payments the chain followers found: per watch, and per transaction, in the one payment
//! view (`paywatch_plugin_api::events::Payment`) that `payment.*` events carry too.

use super::auth::StoreId;
use super::error::{ApiError, ErrorBody};
use super::extract::Path;
use super::{blocking, AppState};
use crate::events::views;
use axum::extract::State;
use axum::Json;
use paywatch_plugin_api::events::Payment;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// Most payments one response lists.
const MAX_ITEMS: usize = 10_000;

/// Payments, each as the `data` of its `payment.*` events.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PaymentList {
    items: Vec<Payment>,
}

/// Payments to one of this store's watches.
#[utoipa::path(get, path = "/v1/watches/{id}/payments", tag = "payments", security(("api_key" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = PaymentList), (status = 404, body = ErrorBody)))]
pub(crate) async fn of_watch(
    State(st): State<AppState>,
    StoreId(store): StoreId,
    Path(id): Path<Uuid>,
) -> Result<Json<PaymentList>, ApiError> {
    let db = st.db().clone();
    let found = blocking(move || match db.watch(id)? {
        Some(w) if w.store == store => db.watch_payments(id, MAX_ITEMS).map(Some),
        _ => Ok(None),
    })
    .await?
    .map_err(ApiError::internal)?;
    let items = found.ok_or_else(|| ApiError::not_found(format!("watch {id}")))?;
    Ok(Json(PaymentList { items: items.iter().map(views::payment).collect() }))
}

/// This store's payments in one transaction.
#[utoipa::path(get, path = "/v1/payments/{chain}/{txid}", tag = "payments", security(("api_key" = [])),
    params(("chain" = String, Path), ("txid" = String, Path)),
    responses((status = 200, body = PaymentList), (status = 404, body = ErrorBody)))]
pub(crate) async fn of_tx(
    State(st): State<AppState>,
    StoreId(store): StoreId,
    Path((chain, txid)): Path<(String, String)>,
) -> Result<Json<PaymentList>, ApiError> {
    if txid.len() > 128 {
        return Err(ApiError::invalid("invalid_field", format!("txid of {} characters is too long", txid.len())));
    }
    let db = st.db().clone();
    let (c, t) = (chain.clone(), txid.to_ascii_lowercase());
    let all = blocking(move || db.tx_payments(&c, &t)).await?.map_err(ApiError::internal)?;
    let items: Vec<Payment> = all.iter().filter(|p| p.store == store).map(views::payment).collect();
    if items.is_empty() {
        return Err(ApiError::not_found(format!("payment {txid} on chain {chain:?}")));
    }
    Ok(Json(PaymentList { items }))
}
