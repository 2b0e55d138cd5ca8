//! `/v1/admin/…` (admin key): stores made, changed and retired at run time, and every store's
//! API keys with their scopes. The registry (`stores`) validates and applies each change.

use super::auth::Admin;
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Path};
use super::{blocking, AppState};
use crate::stores::StoreError;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;
use utoipa::ToSchema;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let m = e.to_string();
        match e {
            StoreError::Invalid(_) => ApiError::invalid("invalid_store", m),
            StoreError::InvalidKey(_) => ApiError::invalid("invalid_key", m),
            StoreError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", m),
            StoreError::Exists(_) | StoreError::FromConfig(_) | StoreError::Retired(_) | StoreError::Conflict(_) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", m)
            }
            StoreError::Db(e) => ApiError::internal(e),
        }
    }
}

/// A store (`origin`: `config` or `api`; `status`: `active` or `retired`; `spec`: a run-time
/// store's keys as given).
#[derive(Debug, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub(crate) struct Store(Value);

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StoreList {
    #[schema(value_type = Vec<Object>)]
    items: Vec<Value>,
}

/// Make a store: the keys of a config file's `[[stores]]` table as JSON (`id`, `name`,
/// `receive`, `speed`, `rates`, `refund_approval_above`, quotas…), without `api_key`,
/// `endpoints` or gateway tables. Its receive sources are checked through their plugins. It
/// takes invoices at once; make it a key with `POST /v1/admin/stores/{id}/keys`.
#[utoipa::path(post, path = "/v1/admin/stores", tag = "admin", security(("api_key" = [])),
    request_body(content = Object),
    responses((status = 201, body = Store), (status = 409, body = ErrorBody, description = "the id is taken"),
        (status = 422, body = ErrorBody, description = "every problem, with its key path")))]
pub(crate) async fn create_store(
    State(st): State<AppState>,
    _admin: Admin,
    Json(spec): Json<Value>,
) -> Result<(StatusCode, Json<Store>), ApiError> {
    let stores = st.stores().clone();
    let view = blocking(move || stores.create_store(spec, OffsetDateTime::now_utc())).await??;
    Ok((StatusCode::CREATED, Json(Store(view.0))))
}

/// Every store, the config file's and the run-time ones, retired ones too.
#[utoipa::path(get, path = "/v1/admin/stores", tag = "admin", security(("api_key" = [])),
    responses((status = 200, body = StoreList)))]
pub(crate) async fn list_stores(State(st): State<AppState>, _admin: Admin) -> Json<StoreList> {
    Json(StoreList { items: st.stores().list().into_iter().map(|v| v.0).collect() })
}

#[utoipa::path(get, path = "/v1/admin/stores/{id}", tag = "admin", security(("api_key" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Store), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_store(
    State(st): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<Store>, ApiError> {
    Ok(Json(Store(st.stores().view(&id)?.0)))
}

/// Change a run-time store: the keys given replace the spec's (`null` removes one), and the
/// whole is validated again and applied at once. A config file's store is changed there.
#[utoipa::path(patch, path = "/v1/admin/stores/{id}", tag = "admin", security(("api_key" = [])),
    params(("id" = String, Path)), request_body(content = Object),
    responses((status = 200, body = Store), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "a config file's or a retired store"), (status = 422, body = ErrorBody)))]
pub(crate) async fn update_store(
    State(st): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
    Json(patch): Json<Value>,
) -> Result<Json<Store>, ApiError> {
    let stores = st.stores().clone();
    let view = blocking(move || stores.update_store(&id, patch, OffsetDateTime::now_utc())).await??;
    Ok(Json(Store(view.0)))
}

/// Retire a run-time store: its keys stop working and its endpoints are disabled; its
/// invoices, payments and events stay, readable with the admin key (`Paywatch-Store` header).
#[utoipa::path(post, path = "/v1/admin/stores/{id}/retire", tag = "admin", security(("api_key" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Store), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn retire_store(
    State(st): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<Store>, ApiError> {
    let stores = st.stores().clone();
    let view = blocking(move || stores.retire_store(&id, OffsetDateTime::now_utc())).await??;
    Ok(Json(Store(view.0)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateKey {
    /// What the key is for (`"checkout server"`), 1 to 100 characters.
    label: String,
    /// `invoices:read`, `invoices:create`, `invoices:cancel`, `refunds:write`,
    /// `refunds:approve`, `endpoints:manage`, `events:read`, `watches:read`, `watches:write`,
    /// `rates:read`, `gateways:manage`; or `["*"]` for every one.
    scopes: Vec<String>,
    /// RFC 3339; absent: the key does not expire.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    expires_at: Option<OffsetDateTime>,
}

/// A key as listed (never the key itself).
#[derive(Debug, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub(crate) struct ApiKey(Value);

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KeyList {
    #[schema(value_type = Vec<Object>)]
    items: Vec<Value>,
}

/// Make a key for a store: the answer's `key` is shown this once (the daemon keeps its
/// SHA-256).
#[utoipa::path(post, path = "/v1/admin/stores/{id}/keys", tag = "admin", security(("api_key" = [])),
    params(("id" = String, Path)), request_body = CreateKey,
    responses((status = 201, body = ApiKey, description = "the key's fields and `key`, shown once"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "a retired store"),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn create_key(
    State(st): State<AppState>,
    _admin: Admin,
    Path(store): Path<String>,
    Json(req): Json<CreateKey>,
) -> Result<(StatusCode, Json<ApiKey>), ApiError> {
    let scopes = crate::stores::parse_scopes(&req.scopes).map_err(|m| ApiError::invalid("invalid_key", m))?;
    let stores = st.stores().clone();
    let made =
        blocking(move || stores.create_key(&store, &req.label, scopes, req.expires_at, OffsetDateTime::now_utc()))
            .await??;
    let mut view = made.view;
    view["key"] = json!(made.key);
    Ok((StatusCode::CREATED, Json(ApiKey(view))))
}

/// A store's keys made through the admin API (revoked ones too), with their last use.
#[utoipa::path(get, path = "/v1/admin/stores/{id}/keys", tag = "admin", security(("api_key" = [])),
    params(("id" = String, Path)), responses((status = 200, body = KeyList), (status = 404, body = ErrorBody)))]
pub(crate) async fn list_keys(
    State(st): State<AppState>,
    _admin: Admin,
    Path(store): Path<String>,
) -> Result<Json<KeyList>, ApiError> {
    let stores = st.stores().clone();
    let items = blocking(move || stores.keys_of(&store)).await??;
    Ok(Json(KeyList { items }))
}

/// Revoke a key: the next request with it is refused.
#[utoipa::path(delete, path = "/v1/admin/keys/{id}", tag = "admin", security(("api_key" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ApiKey), (status = 404, body = ErrorBody)))]
pub(crate) async fn revoke_key(
    State(st): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<ApiKey>, ApiError> {
    let stores = st.stores().clone();
    let view = blocking(move || stores.revoke_key(&id, OffsetDateTime::now_utc())).await??;
    Ok(Json(ApiKey(view)))
}
