//! CoinGate's error shape, `{"message", "reason", "errors"}` with its HTTP statuses
//! (<https://developer.coingate.com/docs/common-errors>): clients pick their exception by
//! `reason` (the Python SDK's `BadAuthTokenException`, `OrderNotFoundException`…).

use crate::api::error::ApiError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub(super) struct CgError {
    status: StatusCode,
    reason: &'static str,
    message: String,
    errors: Vec<String>,
    retry_after: Option<String>,
}

impl CgError {
    fn new(status: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        Self { status, reason, message: message.into(), errors: Vec::new(), retry_after: None }
    }

    /// `401 BadAuthToken`: no `Authorization: Token …`, or one no store has.
    pub(super) fn bad_token(why: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "BadAuthToken", format!("Auth Token is not valid: {why}"))
    }

    /// `404 OrderNotFound`.
    pub(super) fn order_not_found(id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "OrderNotFound", format!("Order {id} not found"))
    }

    /// `404 RefundNotFound`.
    pub(super) fn refund_not_found(id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "RefundNotFound", format!("Refund {id} not found"))
    }

    /// `404 PageNotFound`: no such route, or no store has `[stores.coingate]`.
    pub(super) fn page_not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "PageNotFound", what)
    }

    /// `422 OrderIsNotValid` with what is wrong.
    pub(super) fn order_invalid(errors: Vec<String>) -> Self {
        Self { errors, ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "OrderIsNotValid", "Order is not valid") }
    }

    /// `422 RefundIsNotValid` with what is wrong.
    pub(super) fn refund_invalid(errors: Vec<String>) -> Self {
        Self { errors, ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "RefundIsNotValid", "Refund is not valid") }
    }

    /// `400 BadRequest`: a body that does not parse.
    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// A paywatch error in CoinGate's words: `422` (and other refusals of the request) as the
    /// resource's "is not valid" with paywatch's message in `errors`; rate limits as
    /// `RateLimitException`; the rest by status.
    pub(super) fn from_api(e: ApiError, invalid: fn(Vec<String>) -> CgError) -> Self {
        let status = e.status();
        let message = e.message().to_string();
        match status.as_u16() {
            400 | 409 | 422 => invalid(vec![message]),
            404 => Self::page_not_found(message),
            429 => Self {
                retry_after: e.retry_after().map(|s| s.to_string()),
                ..Self::new(status, "RateLimitException", message)
            },
            500 => Self::new(status, "InternalServerError", message),
            // No rate for the price's currency now (every source named): worth a retry.
            _ if e.code() == "rate_unavailable" => Self::new(status, "RateUnavailable", message),
            _ => Self::new(status, "ServiceUnavailable", message),
        }
    }
}

impl IntoResponse for CgError {
    fn into_response(self) -> Response {
        let body = json!({"message": self.message, "reason": self.reason, "errors": self.errors});
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(v) = self.retry_after.and_then(|s| s.parse().ok()) {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        resp
    }
}

impl From<ApiError> for CgError {
    fn from(e: ApiError) -> Self {
        Self::from_api(e, CgError::order_invalid)
    }
}

impl From<crate::invoices::InvoiceError> for CgError {
    fn from(e: crate::invoices::InvoiceError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<tokio::task::JoinError> for CgError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::internal(e).into()
    }
}
