//! API errors: JSON `{"error": {"code", "message"}}` with the right status.

use crate::dispatch::DispatchError;
use crate::index::WatchError;
use crate::invoices::InvoiceError;
use crate::rates::RateError;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Seconds for `Retry-After` (a `429`).
    retry_after: Option<u64>,
}

/// The error body of every failed request.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_address`.
    code: &'static str,
    /// Human-readable explanation naming the offending value.
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None }
    }

    /// `429`: the client is over a rate limit for `wait` more.
    pub(crate) fn rate_limited(wait: std::time::Duration) -> Self {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let message = format!("too many requests from this address; retry in {secs} s");
        Self { retry_after: Some(secs), ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message) }
    }

    /// `429 rate_limited` because a quota of waiting requests is full (`message` says which):
    /// try again in `retry_after_secs`.
    pub(crate) fn quota_full(message: String, retry_after_secs: u64) -> Self {
        let message = format!("{message}; retry in {retry_after_secs} s");
        let e = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
        Self { retry_after: Some(retry_after_secs), ..e }
    }

    /// Seconds for `Retry-After`, when the client should wait (a `429`).
    pub(crate) fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    /// The stable code, e.g. `invalid_address` (the claim page chooses its words by it).
    pub(crate) fn code(&self) -> &'static str {
        self.code
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or invalid API key (use Authorization: Bearer <key>)",
        )
    }

    pub(crate) fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    pub(crate) fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(crate) fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error serving a request");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; see the daemon log")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { code: self.code, message: self.message } };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        resp
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        use JsonRejection::*;
        match &r {
            JsonDataError(e) => Self::invalid("invalid_body", format!("invalid request body: {}", e.body_text())),
            JsonSyntaxError(e) => {
                Self::new(StatusCode::BAD_REQUEST, "malformed_json", format!("malformed JSON: {}", e.body_text()))
            }
            MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected Content-Type: application/json",
            ),
            BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", r.body_text())
            }
            BytesRejection(_) if caused_by::<super::limits::BodyTimedOut>(&r) => Self::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                "the request body did not arrive in time (server.body_read_timeout_secs)",
            ),
            _ => Self::bad_request(r.body_text()),
        }
    }
}

/// Whether an error of type `E` is somewhere in `e`'s chain of sources.
fn caused_by<E: std::error::Error + 'static>(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if err.is::<E>() {
            return true;
        }
        next = err.source();
    }
    false
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::bad_request(format!("invalid query: {}", r.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        Self::bad_request(format!("invalid path: {}", r.body_text()))
    }
}

impl From<WatchError> for ApiError {
    fn from(e: WatchError) -> Self {
        Self::from_inner(&e, &e)
    }
}

impl ApiError {
    /// Status and code from the innermost error, message from the outer one (it has the index).
    fn from_inner(outer: &WatchError, inner: &WatchError) -> Self {
        let msg = outer.to_string();
        match inner {
            WatchError::UnknownChain(_) => Self::invalid("unknown_chain", msg),
            WatchError::InvalidAddress { .. } => Self::invalid("invalid_address", msg),
            WatchError::CodecUnavailable { .. } => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "plugin_unavailable", msg)
            }
            WatchError::LabelTooLong(_) | WatchError::TooManyConfirmations(_) => Self::invalid("invalid_field", msg),
            WatchError::Duplicate { .. } | WatchError::RepeatedInBatch { .. } => {
                Self::new(StatusCode::CONFLICT, "duplicate_watch", msg)
            }
            WatchError::Owned { .. } => Self::new(StatusCode::CONFLICT, "watch_owned", msg),
            WatchError::Quota { .. } => Self::new(StatusCode::CONFLICT, "quota_exceeded", msg),
            WatchError::InBatch { source, .. } => Self::from_inner(outer, source),
            WatchError::Db(e) => Self::internal(e),
        }
    }
}

impl From<InvoiceError> for ApiError {
    fn from(e: InvoiceError) -> Self {
        use InvoiceError as E;
        let msg = e.to_string();
        match e {
            E::UnknownAsset(_) => Self::invalid("unknown_asset", msg),
            E::NoReceiveConfig { .. } => Self::invalid("no_receive_config", msg),
            E::InvalidField(_) => Self::invalid("invalid_field", msg),
            E::AboveMaximum { .. } => Self::invalid("amount_too_large", msg),
            E::BelowMinPayment { .. } => Self::invalid("amount_below_min_payment", msg),
            E::InvalidAddress(_) => Self::invalid("invalid_address", msg),
            E::OrderConflict { .. } => Self::new(StatusCode::CONFLICT, "order_conflict", msg),
            E::IdempotencyConflict(_) => Self::new(StatusCode::CONFLICT, "idempotency_conflict", msg),
            E::NotFound(what) => Self::not_found(what),
            E::NotCancellable { .. } => Self::new(StatusCode::CONFLICT, "not_cancellable", msg),
            E::RefundQuota { .. } => Self::new(StatusCode::CONFLICT, "quota_exceeded", msg),
            E::RefundTooLarge { .. } => Self::invalid("refund_too_large", msg),
            E::StillOpen { .. } => Self::new(StatusCode::CONFLICT, "invoice_open", msg),
            E::NoFreeAddress { .. } => Self::new(StatusCode::SERVICE_UNAVAILABLE, "no_free_address", msg),
            E::ClaimExpired(_) => Self::new(StatusCode::GONE, "claim_expired", msg),
            E::ClaimLocked(_) => Self::new(StatusCode::GONE, "claim_locked", msg),
            E::Plugin(_) => Self::new(StatusCode::SERVICE_UNAVAILABLE, "plugin_unavailable", msg),
            E::NoRate { .. } => Self::new(StatusCode::SERVICE_UNAVAILABLE, "rate_unavailable", msg),
            E::StillCreating { .. } => Self::new(StatusCode::CONFLICT, "creation_in_progress", msg),
            E::NotAwaitingApproval { .. } => Self::new(StatusCode::CONFLICT, "not_awaiting_approval", msg),
            E::SecondKeyRequired { .. } => Self::new(StatusCode::FORBIDDEN, "second_key_required", msg),
            E::Db(e) => Self::internal(e),
            E::Watch(w) => w.into(),
        }
    }
}

impl From<DispatchError> for ApiError {
    fn from(e: DispatchError) -> Self {
        let msg = e.to_string();
        match e {
            DispatchError::NotFound(what) => Self::not_found(what),
            DispatchError::Invalid(_) => Self::invalid("invalid_field", msg),
            DispatchError::Forbidden(_) => Self::invalid("forbidden_address", msg),
            DispatchError::FromConfig(_) => Self::new(StatusCode::CONFLICT, "from_config", msg),
            DispatchError::Quota { .. } => Self::new(StatusCode::CONFLICT, "quota_exceeded", msg),
            DispatchError::Db(e) => Self::internal(e),
        }
    }
}

impl From<RateError> for ApiError {
    /// `503 rate_unavailable`: no source gave a usable rate (the message names each source
    /// tried and why) or the rules cannot give one; `422 invalid_currency` for a malformed code.
    fn from(e: RateError) -> Self {
        let msg = e.to_string();
        match e {
            RateError::BadCode(_) => Self::invalid("invalid_currency", msg),
            RateError::Unavailable { .. } | RateError::Cycle { .. } | RateError::TooDeep { .. } => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "rate_unavailable", msg)
            }
        }
    }
}
