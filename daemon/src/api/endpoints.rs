//! `/v1/endpoints`: where a store's callbacks go, their delivery log, redelivery and a test ping.

use super::auth::StoreId;
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Path, Query};
use super::{blocking, AppState};
use crate::dispatch::{check_params, DeliveryView, EndpointChange, NewEndpoint};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateEndpoint {
    /// A loaded platform plugin: `webhook`, `woocommerce`, …
    plugin: String,
    url: String,
    /// `whsec_…` (write-only: never returned).
    secret: Option<String>,
    /// Several secrets during a rotation, newest first (write-only).
    secrets: Option<Vec<String>>,
    /// `whsk_…` for `v1a` Ed25519 signatures (write-only).
    ed25519_secret_key: Option<String>,
    /// Event types or patterns like `invoice.*`; empty or absent: every event.
    #[serde(default)]
    events: Vec<String>,
    enabled: Option<bool>,
    /// The plugin's own keys (e.g. woocommerce's `consumer_key`, `consumer_secret`, `status_map`).
    #[schema(value_type = Object)]
    params: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateEndpoint {
    url: Option<String>,
    secret: Option<String>,
    secrets: Option<Vec<String>>,
    ed25519_secret_key: Option<String>,
    events: Option<Vec<String>>,
    /// `true` re-enables an endpoint its receiver disabled (410).
    enabled: Option<bool>,
    #[schema(value_type = Object)]
    params: Option<Map<String, Value>>,
}

/// An endpoint (secrets never shown: `has_secret`, `secret_params` name the ones set).
#[derive(Debug, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub(crate) struct Endpoint(Value);

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EndpointList {
    #[schema(value_type = Vec<Object>)]
    items: Vec<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeliveryList {
    #[schema(value_type = Vec<Object>)]
    items: Vec<DeliveryView>,
    /// Pass as `after` for the next page.
    next: Option<u64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeliveryQuery {
    /// Deliveries of events after this seq.
    after: Option<u64>,
    limit: Option<usize>,
}

fn secrets_into(
    config: &mut Map<String, Value>,
    secret: Option<String>,
    secrets: Option<Vec<String>>,
    ed: Option<String>,
) {
    if let Some(s) = secret {
        config.insert("secret".into(), s.into());
    }
    if let Some(s) = secrets {
        config.insert("secrets".into(), s.into());
    }
    if let Some(k) = ed {
        config.insert("ed25519_secret_key".into(), k.into());
    }
}

/// Add a callback endpoint. Loopback/private addresses are refused unless allowlisted.
#[utoipa::path(post, path = "/v1/endpoints", tag = "endpoints", request_body = CreateEndpoint, security(("api_key" = [])),
    responses((status = 201, body = Endpoint),
        (status = 409, body = ErrorBody, description = "the store has as many endpoints as its `max_endpoints` (`quota_exceeded`)"),
        (status = 422, body = ErrorBody)))]
pub(crate) async fn create(
    State(st): State<AppState>,
    StoreId(store): StoreId,
    Json(req): Json<CreateEndpoint>,
) -> Result<(StatusCode, Json<Endpoint>), ApiError> {
    let d = st.dispatcher().clone();
    d.check_destination(&store, &req.url).await?;
    let mut config = req.params.unwrap_or_default();
    check_params(&config)?;
    secrets_into(&mut config, req.secret, req.secrets, req.ed25519_secret_key);
    let new = NewEndpoint { plugin: req.plugin, url: req.url, events: req.events, enabled: req.enabled, config };
    let e = blocking({
        let d = d.clone();
        move || d.create_endpoint(&store, new)
    })
    .await??;
    Ok((StatusCode::CREATED, Json(Endpoint(d.endpoint_json(&e)))))
}

/// This store's endpoints.
#[utoipa::path(get, path = "/v1/endpoints", tag = "endpoints", security(("api_key" = [])),
    responses((status = 200, body = EndpointList)))]
pub(crate) async fn list(State(st): State<AppState>, StoreId(store): StoreId) -> Result<Json<EndpointList>, ApiError> {
    let d = st.dispatcher().clone();
    let list = blocking({
        let d = d.clone();
        move || d.endpoints(&store)
    })
    .await??;
    Ok(Json(EndpointList { items: list.iter().map(|e| d.endpoint_json(e)).collect() }))
}

/// One endpoint.
#[utoipa::path(get, path = "/v1/endpoints/{id}", tag = "endpoints", security(("api_key" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Endpoint), (status = 404, body = ErrorBody)))]
pub(crate) async fn get(
    State(st): State<AppState>,
    StoreId(store): StoreId,
    Path(id): Path<Uuid>,
) -> Result<Json<Endpoint>, ApiError> {
    let d = st.dispatcher().clone();
    let e = blocking({
        let d = d.clone();
        move || d.endpoint(&store, id)
    })
    .await??;
    Ok(Json(Endpoint(d.endpoint_json(&e))))
}

/// Change an endpoint (config-file endpoints: only `enabled`).
#[utoipa::path(patch, path = "/v1/endpoints/{id}", tag = "endpoints", request_body = UpdateEndpoint,
    security(("api_key" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Endpoint), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn update(
    State(st): State<AppState>,
    StoreId(store): StoreId,
    Path(id): Path<Uuid>,
    Json(req): Json<UpdateEndpoint>,
) -> Result<Json<Endpoint>, ApiError> {
    let d = st.dispatcher().clone();
    if let Some(url) = &req.url {
        d.check_destination(&store, url).await?;
    }
    let mut config = req.params.unwrap_or_default();
    check_params(&config)?;
    secrets_into(&mut config, req.secret, req.secrets, req.ed25519_secret_key);
    let change = EndpointChange { url: req.url, events: req.events, enabled: req.enabled, config };
    let e = blocking({
        let d = d.clone();
        move || d.update_endpoint(&store, id, change)
    })
    .await??;
    Ok(Json(Endpoint(d.endpoint_json(&e))))
}

/// Remove an endpoint and its delivery log.
#[utoipa::path(delete, path = "/v1/endpoints/{id}", tag = "endpoints", security(("api_key" = [])),
    params(("id" = Uuid, Path)), responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn delete(
    State(st): State<AppState>,
    StoreId(store): StoreId,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    let d = st.dispatcher().clone();
    blocking(move || d.delete_endpoint(&store, id)).await??;
    Ok(StatusCode::NO_CONTENT)
}

/// Every delivery to an endpoint with all its attempts.
#[utoipa::path(get, path = "/v1/endpoints/{id}/deliveries", tag = "endpoints", security(("api_key" = [])),
    params(("id" = Uuid, Path), DeliveryQuery), responses((status = 200, body = DeliveryList), (status = 404, body = ErrorBody)))]
pub(crate) async fn deliveries(
    State(st): State<AppState>,
    StoreId(store): StoreId,
    Path(id): Path<Uuid>,
    Query(q): Query<DeliveryQuery>,
) -> Result<Json<DeliveryList>, ApiError> {
    let limit = super::page_limit(q.limit)?;
    let d = st.dispatcher().clone();
    let list = blocking(move || d.deliveries(&store, id, q.after.unwrap_or(0), limit)).await??;
    let next = (list.len() == limit).then(|| list.last().map(|d| d.seq)).flatten();
    Ok(Json(DeliveryList { items: list.into_iter().map(DeliveryView::from).collect(), next }))
}

/// Send an event again to every endpoint of this store that takes it.
#[utoipa::path(post, path = "/v1/events/{seq}/redeliver", tag = "endpoints", security(("api_key" = [])),
    params(("seq" = u64, Path)), responses((status = 202, body = Object), (status = 404, body = ErrorBody)))]
pub(crate) async fn redeliver(
    State(st): State<AppState>,
    StoreId(store): StoreId,
    Path(seq): Path<u64>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let d = st.dispatcher().clone();
    let ids = blocking(move || d.redeliver(&store, seq)).await??;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({"seq": seq, "endpoints": ids}))))
}

/// Send a signed `ping` to an endpoint now and say how it went.
#[utoipa::path(post, path = "/v1/endpoints/{id}/test", tag = "endpoints", security(("api_key" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub(crate) async fn test(
    State(st): State<AppState>,
    StoreId(store): StoreId,
    Path(id): Path<Uuid>,
) -> Result<Json<Value>, ApiError> {
    let out = st.dispatcher().test(&store, id).await?;
    // Status and a generic reason only: the response body would make this route a way to read
    // whatever answers at the URL, and error chains name the addresses a name resolved to.
    if let Some(e) = &out.error {
        tracing::info!(endpoint = %id, error = %e, "endpoint test failed");
    }
    let verdict = crate::dispatch::verdict_name(&out.verdict);
    let reason = match (verdict, out.http_status) {
        ("ack", _) => "acknowledged",
        (_, Some(_)) => "the endpoint answered with a status its plugin does not accept",
        (_, None) => "no answer: the address is refused, unreachable, or the request failed (see the daemon log)",
    };
    Ok(Json(serde_json::json!({
        "verdict": verdict, "reason": reason,
        "http_status": out.http_status, "latency_ms": out.latency_ms,
    })))
}
