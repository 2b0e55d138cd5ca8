//! The coinpayments API (filled in by its issue-18 branch).

use super::super::AppState;
use axum::Router;

/// The coinpayments routes.
pub(super) fn router() -> Router<AppState> {
    Router::new()
}
