//! Payments the chain followers found: per watch, and per transaction.

use super::auth::StoreId;
use super::error::{ApiError, ErrorBody};
use super::extract::Path;
use super::{blocking, AppState};
use crate::db::{PaymentRecord, PaymentStatus};
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// Most payments one response lists.
const MAX_ITEMS: usize = 10_000;

/// One output paying a watched address (the `data` of `payment.*` events).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Payment {
    watch_id: Uuid,
    chain: String,
    asset: String,
    address: String,
    txid: String,
    /// Output index (Bitcoin) or log index (EVM).
    index: u32,
    /// In the asset's unit, e.g. `"1.5"`.
    amount: String,
    /// In base units, e.g. `"150000000"`.
    amount_base: String,
    #[schema(value_type = String, example = "confirmed")]
    status: PaymentStatusName,
    confirmations: u32,
    required_confirmations: u32,
    /// Reached `required_confirmations` on the best chain.
    #[serde(rename = "final")]
    is_final: bool,
    block_height: Option<u64>,
    block_hash: Option<String>,
    /// The conflicting transaction, when `replaced`.
    replaced_by: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    first_seen: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    updated_at: OffsetDateTime,
}

/// `pending | confirmed | reversed | dropped | replaced`.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub(crate) struct PaymentStatusName(PaymentStatus);

impl From<PaymentRecord> for Payment {
    fn from(p: PaymentRecord) -> Self {
        Payment {
            watch_id: p.watch_id,
            chain: p.chain,
            asset: p.asset,
            address: p.address,
            txid: p.txid,
            index: p.index,
            amount: p.amount,
            amount_base: p.amount_base,
            status: PaymentStatusName(p.status),
            confirmations: p.confirmations,
            required_confirmations: p.required_confirmations,
            is_final: p.is_final,
            block_height: p.block_height,
            block_hash: p.block_hash,
            replaced_by: p.replaced_by,
            first_seen: p.first_seen,
            updated_at: p.updated_at,
        }
    }
}

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
    Ok(Json(PaymentList { items: items.into_iter().map(Payment::from).collect() }))
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
    let items: Vec<Payment> = all.into_iter().filter(|p| p.store == store).map(Payment::from).collect();
    if items.is_empty() {
        return Err(ApiError::not_found(format!("payment {txid} on chain {chain:?}")));
    }
    Ok(Json(PaymentList { items }))
}
