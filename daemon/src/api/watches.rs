//! `/v1/watches`: addresses a store watches.

use super::auth::StoreId;
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Path, Query};
use super::{blocking, AppState};
use crate::db::WatchRecord;
use crate::index::NewWatch;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Most watches in one batch request.
pub(crate) const MAX_BATCH: usize = 1000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateWatch {
    /// A configured chain name, e.g. `btc`.
    chain: String,
    address: String,
    /// Free text for the store, at most 256 characters.
    label: Option<String>,
    /// Confirmation target; defaults to the chain's `confirmations`.
    confirmations: Option<u32>,
}

impl From<CreateWatch> for NewWatch {
    fn from(c: CreateWatch) -> Self {
        NewWatch { chain: c.chain, address: c.address, label: c.label, confirmations: c.confirmations }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateWatches {
    /// At most 1000; all are created or none.
    watches: Vec<CreateWatch>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Watch {
    id: Uuid,
    chain: String,
    /// The address as the chain's plugin normalizes it.
    address: String,
    /// Canonical key in hex (what scanning matches).
    key: String,
    label: Option<String>,
    confirmations: u32,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    /// The invoice this address was handed out for, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    invoice: Option<Uuid>,
    /// The refund this address is the destination of, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    refund: Option<Uuid>,
}

impl From<WatchRecord> for Watch {
    fn from(w: WatchRecord) -> Self {
        Watch {
            id: w.id,
            chain: w.chain,
            address: w.address,
            key: hex::encode(w.key),
            label: w.label,
            confirmations: w.confirmations,
            created_at: w.created_at,
            invoice: w.invoice,
            refund: w.refund,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WatchList {
    watches: Vec<Watch>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WatchPage {
    items: Vec<Watch>,
    /// Pass as `after` for the next page; absent on the last page.
    next: Option<Uuid>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    /// 1 to 1000, default 100.
    limit: Option<usize>,
    /// The `next` of the previous page.
    after: Option<Uuid>,
}

/// Watch one address.
#[utoipa::path(post, path = "/v1/watches", tag = "watches", request_body = CreateWatch,
    security(("api_key" = [])),
    responses((status = 201, body = Watch),
        (status = 409, body = ErrorBody, description = "already watched by this store (`duplicate_watch`), or the store has as many watches as its `max_watches` (`quota_exceeded`)"),
        (status = 422, body = ErrorBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(crate) async fn create(
    State(st): State<AppState>,
    StoreId(store): StoreId,
    Json(req): Json<CreateWatch>,
) -> Result<(StatusCode, Json<Watch>), ApiError> {
    super::address_len("address", &req.address)?;
    let svc = st.watches().clone();
    let mut created = blocking(move || svc.create(&store, vec![req.into()])).await??;
    st.metrics().watches_created.inc();
    Ok((StatusCode::CREATED, Json(created.remove(0).into())))
}

/// Watch up to 1000 addresses at once, all or none.
#[utoipa::path(post, path = "/v1/watches/batch", tag = "watches", request_body = CreateWatches,
    security(("api_key" = [])),
    responses((status = 201, body = WatchList),
        (status = 409, body = ErrorBody, description = "an address already watched by this store or twice in the batch (`duplicate_watch`), or the batch would take the store past its `max_watches` (`quota_exceeded`)"),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn create_batch(
    State(st): State<AppState>,
    StoreId(store): StoreId,
    Json(req): Json<CreateWatches>,
) -> Result<(StatusCode, Json<WatchList>), ApiError> {
    let n = req.watches.len();
    if n == 0 || n > MAX_BATCH {
        return Err(ApiError::invalid("invalid_field", format!("watches has {n} entries, expected 1 to {MAX_BATCH}")));
    }
    for (i, w) in req.watches.iter().enumerate() {
        super::address_len(&format!("watches[{i}].address"), &w.address)?;
    }
    let svc = st.watches().clone();
    let new = req.watches.into_iter().map(NewWatch::from).collect();
    let created = blocking(move || svc.create(&store, new)).await??;
    st.metrics().watches_created.inc_by(created.len() as u64);
    Ok((StatusCode::CREATED, Json(WatchList { watches: created.into_iter().map(Watch::from).collect() })))
}

/// One watch of this store.
#[utoipa::path(get, path = "/v1/watches/{id}", tag = "watches", security(("api_key" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Watch), (status = 404, body = ErrorBody)))]
pub(crate) async fn get(
    State(st): State<AppState>,
    StoreId(store): StoreId,
    Path(id): Path<Uuid>,
) -> Result<Json<Watch>, ApiError> {
    let svc = st.watches().clone();
    let w = blocking(move || svc.get(&store, id)).await??;
    w.map(|w| Json(w.into())).ok_or_else(|| ApiError::not_found(format!("watch {id}")))
}

/// This store's watches in creation order, paged.
#[utoipa::path(get, path = "/v1/watches", tag = "watches", security(("api_key" = [])),
    params(PageQuery), responses((status = 200, body = WatchPage)))]
pub(crate) async fn list(
    State(st): State<AppState>,
    StoreId(store): StoreId,
    Query(q): Query<PageQuery>,
) -> Result<Json<WatchPage>, ApiError> {
    let limit = super::page_limit(q.limit)?;
    let svc = st.watches().clone();
    let items = blocking(move || svc.list(&store, q.after, limit)).await??;
    let next = (items.len() == limit).then(|| items.last().map(|w| w.id)).flatten();
    Ok(Json(WatchPage { items: items.into_iter().map(Watch::from).collect(), next }))
}

/// Stop watching.
#[utoipa::path(delete, path = "/v1/watches/{id}", tag = "watches", security(("api_key" = [])),
    params(("id" = Uuid, Path)), responses((status = 204), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the watch belongs to an invoice or refund")))]
pub(crate) async fn delete(
    State(st): State<AppState>,
    StoreId(store): StoreId,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    let svc = st.watches().clone();
    match blocking(move || svc.delete(&store, id)).await?? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::not_found(format!("watch {id}"))),
    }
}
