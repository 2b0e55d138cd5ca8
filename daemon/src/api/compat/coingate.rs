//! The coingate API (filled in by its issue-18 branch).

use super::super::AppState;
use axum::Router;

/// The coingate routes.
pub(super) fn router() -> Router<AppState> {
    Router::new()
}
