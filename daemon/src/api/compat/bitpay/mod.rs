//! The BitPay-compatible API under `/bitpay` (docs/compat.md): invoices, pairing and rates as
//! BitPay's clients (its Python SDK, btcpay-python, the WooCommerce and Magento plugins) call
//! them. Answers are `{"data": …}` (with `facade` for invoices), errors `{"error": message}`
//! with a 4xx/5xx status, which both `bitpay.clients.response_parser` and btcpay-python's
//! `raise_for_status` read as failures.
//!
//! Authentication is the token: `pos` tokens alone; `merchant` tokens with the request signed
//! by the key the token was paired with (`sign.rs`). A store without `[stores.bitpay]` is
//! answered 404, as if its tokens did not exist.

mod invoices;
pub(crate) mod pairing;
mod rates;
mod sign;
pub(crate) mod tokens;

use crate::api::{blocking, AppState};
use axum::http::{Extensions, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;
use tokens::{TokenRecord, TOKENS};

pub(crate) use pairing::{approve_code, make_code};

/// The routes, nested under `/bitpay`. `public` limits the routes that take no token
/// (pairing requests, rates) per client, as every other public route is
/// (`server.public_per_second`, `public_burst`).
pub(super) fn router(public: &crate::api::limits::PublicLimit) -> Router<AppState> {
    use crate::api::limits::public_layer;
    let tokens = || post(pairing::tokens).layer(public_layer(public.clone()));
    let all_rates = || get(rates::all).layer(public_layer(public.clone()));
    Router::new()
        .route("/invoices", post(invoices::create))
        .route("/invoices/", post(invoices::create))
        .route("/invoices/{id}", get(invoices::get))
        .route("/tokens", tokens())
        .route("/tokens/", tokens())
        .route("/rates", all_rates())
        .route("/rates/", all_rates())
        .route("/rates/{base}", get(rates::of_base).layer(public_layer(public.clone())))
        .route("/rates/{base}/{quote}", get(rates::pair).layer(public_layer(public.clone())))
        .fallback(|| async { BpError::new(StatusCode::NOT_FOUND, "route not found") })
        .method_not_allowed_fallback(|| async { BpError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed") })
}

/// BitPay's error: `{"error": message}`.
#[derive(Debug)]
pub(crate) struct BpError {
    status: StatusCode,
    message: String,
    /// `Retry-After` seconds (a `429`).
    retry_after: Option<u64>,
}

impl BpError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), retry_after: None }
    }

    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for BpError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(json!({ "error": self.message }))).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        resp
    }
}

/// paywatch's own errors, in BitPay's shape: a refused field is a `400` (BitPay's status for
/// every validation error), the rest keep their status.
impl From<crate::api::error::ApiError> for BpError {
    fn from(e: crate::api::error::ApiError) -> Self {
        let status = match e.status() {
            StatusCode::UNPROCESSABLE_ENTITY | StatusCode::CONFLICT => StatusCode::BAD_REQUEST,
            s => s,
        };
        Self { retry_after: e.retry_after(), ..Self::new(status, e.message().to_string()) }
    }
}

impl From<tokens::PairError> for BpError {
    fn from(e: tokens::PairError) -> Self {
        match e {
            tokens::PairError::Db(_) => {
                tracing::error!(error = %e, "bitpay tokens");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
            tokens::PairError::TooManyPending => Self::new(StatusCode::TOO_MANY_REQUESTS, e.to_string()),
            e => Self::bad_request(e.to_string()),
        }
    }
}

/// The caller a token (and, for `merchant`, a signature) proves.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) store: String,
    pub(crate) token: String,
    pub(crate) record: TokenRecord,
}

/// The full URLs the client may have signed: the request as it reached us, under `http` and
/// `https` (a TLS listener or a TLS-terminating proxy in front). The host is the `Host` header
/// (HTTP/1.1), else the URI's authority (HTTP/2's `:authority`: no `Host` header there).
fn signed_urls(headers: &HeaderMap, uri: &Uri) -> Vec<String> {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .unwrap_or_default();
    let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    ["http", "https"].iter().map(|s| format!("{s}://{host}{pq}")).collect()
}

/// A failed authentication, counted against the client's budget as the API's keys are
/// (`server.auth_failures_per_minute`): `401` saying `message`, or `429` past the budget.
pub(crate) fn refused(st: &AppState, ext: &Extensions, status: StatusCode, message: impl Into<String>) -> BpError {
    let e = super::auth_failed(st, ext);
    if e.status() == StatusCode::TOO_MANY_REQUESTS {
        BpError::from(e)
    } else {
        BpError::new(status, message)
    }
}

/// Checks `token` (and the signature of a `merchant` one over the URL and `body`); the caller.
pub(crate) async fn authenticate(
    st: &AppState,
    ext: &Extensions,
    headers: &HeaderMap,
    uri: &Uri,
    token: Option<&str>,
    body: &str,
) -> Result<Caller, BpError> {
    let unauthorized = |m: String| refused(st, ext, StatusCode::UNAUTHORIZED, m);
    let token = token.filter(|t| !t.is_empty()).ok_or_else(|| unauthorized("this endpoint requires a token".into()))?;
    if token.len() > 128 {
        return Err(unauthorized("invalid token".into()));
    }
    let (db, t) = (st.db().clone(), token.to_string());
    let record = blocking(move || TOKENS.lookup(&db, &t)).await??;
    let record = record.ok_or_else(|| unauthorized("invalid token".into()))?;
    let Some(store) = record.store.clone() else {
        // Asked for by a client, not yet approved: say so, the shop's admin asks the operator.
        let m = "this token's pairing code is not approved yet: the operator approves it (POST \
                 /v1/bitpay/pairing-codes/{code}/approve, or `paywatch bitpay approve CODE`)";
        return Err(unauthorized(m.into()));
    };
    if bitpay_of(st, &store).is_none() {
        return Err(refused(st, ext, StatusCode::NOT_FOUND, "invalid token"));
    }
    if record.facade == "merchant" {
        let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        let (Some(identity), Some(signature)) = (header("x-identity"), header("x-signature")) else {
            return Err(unauthorized("a merchant token's requests must be signed (x-identity, x-signature)".into()));
        };
        let messages: Vec<String> = signed_urls(headers, uri).into_iter().map(|u| u + body).collect();
        let refs: Vec<&str> = messages.iter().map(String::as_str).collect();
        let sin = sign::verify(identity, signature, &refs).map_err(|e| unauthorized(e.to_string()))?;
        if record.sin.as_deref() != Some(sin.as_str()) {
            return Err(unauthorized(format!("the signing key {sin} is not the one this token was paired with")));
        }
    }
    Ok(Caller { store, token: token.to_string(), record })
}

/// The store's `[stores.bitpay]`, if it has one.
pub(crate) fn bitpay_of<'a>(st: &'a AppState, store: &str) -> Option<&'a crate::config::BitpayConfig> {
    st.gateways().bitpay(store)
}

/// How long a client's pairing request waits for the operator: the shortest
/// `pairing_code_secs` of the stores with `[stores.bitpay]` (the store is not known yet).
fn request_ttl(st: &AppState) -> Option<u64> {
    st.gateways().bitpay_stores().iter().filter_map(|s| bitpay_of(st, s)).map(|b| b.pairing_code_secs).min()
}

/// BitPay's times: unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Review of issue 18: over HTTP/2 (what curl, and so BitPay's PHP SDK in the WooCommerce
    /// and Magento plugins, speaks to an https server offering it) the host is the request's
    /// `:authority`, in its URI, and there is no `Host` header: the URL the client signed must
    /// still be the one checked.
    #[test]
    fn the_signed_url_of_an_http2_request_has_its_authority() {
        let uri: Uri = "https://pay.example.com/bitpay/invoices/1?token=t".parse().unwrap();
        let urls = signed_urls(&HeaderMap::new(), &uri);
        assert!(urls.contains(&"https://pay.example.com/bitpay/invoices/1?token=t".to_string()), "{urls:?}");
        let mut h1 = HeaderMap::new();
        h1.insert("host", "127.0.0.1:8080".parse().unwrap());
        let urls = signed_urls(&h1, &"/bitpay/invoices".parse().unwrap());
        assert_eq!(urls, ["http://127.0.0.1:8080/bitpay/invoices", "https://127.0.0.1:8080/bitpay/invoices"]);
    }
}
