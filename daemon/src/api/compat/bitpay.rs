//! The bitpay API (filled in by its issue-18 branch).

use super::super::AppState;
use axum::Router;

/// The bitpay routes.
pub(super) fn router() -> Router<AppState> {
    Router::new()
}
