//! `/v1/events`: the store's outbox, in order, with long-polling.

use super::auth::StoreId;
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Query};
use super::AppState;
use crate::db::EventRecord;
use crate::events::views;
use axum::extract::State;
use paywatch_plugin_api::events::Event;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// Longest long-poll.
pub(crate) const MAX_WAIT_SECS: u64 = 60;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsQuery {
    /// Return events with `seq` greater than this (default 0).
    after: Option<u64>,
    /// 1 to 1000, default 100.
    limit: Option<usize>,
    /// Seconds to wait for a first event when there is none yet (0 to 60).
    wait: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventPage {
    events: Vec<Event>,
    /// Pass as `after` next time.
    next: u64,
}

/// This store's events after `after`, in order; long-polls up to `wait` seconds. A request
/// that would wait while its store has `max_long_polls` waiting already (or the server its
/// `max_long_polls`) is answered `429 rate_limited` with `Retry-After` at once.
#[utoipa::path(get, path = "/v1/events", tag = "events", security(("api_key" = [])),
    params(EventsQuery), responses((status = 200, body = EventPage), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "too many long-polls waiting: retry after Retry-After seconds")))]
pub(crate) async fn list(
    State(st): State<AppState>,
    StoreId(store): StoreId,
    Query(q): Query<EventsQuery>,
) -> Result<Json<EventPage>, ApiError> {
    let after = q.after.unwrap_or(0);
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid("invalid_field", format!("limit {limit} is not in 1..={MAX_LIMIT}")));
    }
    let wait = q.wait.unwrap_or(0);
    if wait > MAX_WAIT_SECS {
        return Err(ApiError::invalid("invalid_field", format!("wait {wait} is more than {MAX_WAIT_SECS} seconds")));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    let mut seq_rx = st.db().subscribe_store(&store);
    let mut shutdown = st.shutdown_signal();
    // Held while waiting, given back on every way out (the client leaving drops this future).
    let mut slot = None;
    loop {
        seq_rx.borrow_and_update();
        let events = read(&st, &store, after, limit).await?;
        if !events.is_empty() || wait == 0 {
            return Ok(page(events, after));
        }
        if slot.is_none() {
            slot = Some(st.long_polls().take(&store)?);
        }
        tokio::select! {
            changed = seq_rx.changed() => if changed.is_err() { return Ok(page(events, after)) },
            _ = tokio::time::sleep_until(deadline) => return Ok(page(events, after)),
            _ = shutdown.wait_for(|s| *s) => return Ok(page(events, after)),
        }
    }
}

async fn read(st: &AppState, store: &str, after: u64, limit: usize) -> Result<Vec<EventRecord>, ApiError> {
    let s = st.db().clone();
    let store = store.to_string();
    tokio::task::spawn_blocking(move || s.store_events(&store, after, limit))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

fn page(events: Vec<EventRecord>, after: u64) -> Json<EventPage> {
    let next = events.last().map_or(after, |e| e.seq);
    Json(EventPage { events: events.iter().map(views::event).collect(), next })
}
