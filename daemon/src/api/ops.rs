//! Operator routes: `/health` (no key) and `/metrics` (admin key), and the OpenAPI document.

use super::auth::{Admin, AnyKey};
use super::error::ApiError;
use super::AppState;
use crate::health::HealthReport;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;

/// Per-component status. 200 while usable (`ok` or `degraded`), 503 when `down`. Without the
/// admin key: statuses only; with it, each component's detail and the version too.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, body = HealthReport), (status = 503, body = HealthReport)))]
pub(crate) async fn health(State(st): State<AppState>, admin: Result<Admin, ApiError>) -> impl IntoResponse {
    let report = st.health().report();
    let report = if admin.is_ok() { report } else { report.statuses_only() };
    let status = if report.is_down() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    (status, axum::Json(report))
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(("api_key" = [])),
    responses((status = 200, content_type = "text/plain", body = String), (status = 401)))]
pub(crate) async fn metrics(State(st): State<AppState>, _admin: Admin) -> impl IntoResponse {
    st.metrics().outbox_last_seq.set(*st.db().subscribe_seq().borrow());
    for (store, n) in st.long_polls().waiting() {
        st.metrics().set_long_polls_waiting(&store, n);
    }
    st.metrics().checkout_streams.set(st.streams().open() as i64);
    st.metrics().checkout_invoices.set(st.checkout().open().0 as i64);
    let (held, memtables, budget) = st.db().memory();
    st.metrics().rocksdb_memory.set(held as i64);
    st.metrics().rocksdb_memtables.set(memtables as i64);
    st.metrics().rocksdb_memory_budget.set(budget as i64);
    let disk = st.db().disk();
    st.metrics().rocksdb_sst.set(disk.sst as i64);
    st.metrics().rocksdb_wal.set(disk.wal as i64);
    st.metrics().rocksdb_live.set(disk.live as i64);
    match st.metrics().render() {
        Ok(text) => ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
            .into_response(),
        Err(e) => super::error::ApiError::internal(e).into_response(),
    }
}

/// This API's OpenAPI 3.1 document.
pub(crate) async fn openapi(_key: AnyKey) -> impl IntoResponse {
    axum::Json(super::openapi::document())
}
