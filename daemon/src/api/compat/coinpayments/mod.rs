//! `POST /coinpayments/api.php`: CoinPayments' `api.php` API (version 1), enough of it for the
//! shops and libraries that take payments with it: `create_transaction`, `get_tx_info`,
//! `get_tx_info_multi`, `rates` and `get_basic_info` (see `docs/compat.md`).
//!
//! A command is a form-encoded POST (`version=1`, `key` = the store's public key, `cmd`,
//! `format=json`, the command's fields, optionally `nonce`) with an `HMAC` header: the hex
//! HMAC-SHA512 of the raw body keyed with the store's private key (`[stores.coinpayments]`).
//! The public key picks the store. Every answer is HTTP 200 with CoinPayments' envelope:
//! `{"error": "ok", "result": …}`, or `{"error": "<message>", "result": []}`; a client over its
//! budget of failed authentications gets the API's `429`.

mod commands;
mod form;
mod nonce;
mod stores;

use crate::api::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use form::Form;
use serde_json::{json, Value};
pub(in crate::api) use stores::Stores;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/api.php", post(api))
}

/// A refused command: CoinPayments' error envelope, or (too many failed authentications) the
/// API's own `429`.
#[derive(Debug)]
enum Refusal {
    Says(String),
    Limited(Response),
}

impl<T: Into<String>> From<T> for Refusal {
    fn from(m: T) -> Self {
        Refusal::Says(m.into())
    }
}

async fn api(State(st): State<AppState>, ext: Extensions, headers: HeaderMap, body: Bytes) -> Response {
    if !st.gateways().any_coinpayments() {
        let message = "the CoinPayments API is not enabled for any store ([stores.coinpayments])";
        return (StatusCode::NOT_FOUND, Json(json!({"error": message, "result": []}))).into_response();
    }
    match handle(&st, &ext, &headers, &body).await {
        Ok(result) => Json(json!({"error": "ok", "result": result})).into_response(),
        Err(Refusal::Says(message)) => Json(json!({"error": message, "result": []})).into_response(),
        Err(Refusal::Limited(r)) => r,
    }
}

async fn handle(st: &AppState, ext: &Extensions, headers: &HeaderMap, body: &[u8]) -> Result<Value, Refusal> {
    let form = Form::parse(body);
    // Authentication first: nothing about the command is said to an unsigned request.
    let failed = |message: &str| {
        let refused = super::auth_failed(st, ext);
        if refused.status() == StatusCode::TOO_MANY_REQUESTS {
            Refusal::Limited(refused.into_response())
        } else {
            Refusal::Says(message.to_string())
        }
    };
    let key = form.get("key").ok_or_else(|| failed("No public key passed"))?;
    let (store, keys) = st.gateways().coinpayments_store(key).ok_or_else(|| failed("Invalid API public key passed"))?;
    let store = store.to_string();
    let hmac = headers.get("hmac").and_then(|v| v.to_str().ok()).filter(|v| !v.trim().is_empty());
    let hmac = hmac.ok_or_else(|| failed("No HMAC signature sent."))?;
    if !form::hmac_matches(keys.private_key.expose(), body, hmac) {
        return Err(failed("HMAC signature does not match"));
    }
    match form.get("version") {
        Some("1") => {}
        Some(v) => return Err(format!("Invalid API version {:?}: paywatch speaks version 1", form::cut(v)).into()),
        None => return Err("Invalid API version - no version passed".into()),
    }
    if let Some(f) = form.get("format").filter(|f| *f != "json") {
        return Err(format!("Invalid format {:?}: paywatch answers json only", form::cut(f)).into());
    }
    if let Some(n) = form.get("nonce") {
        let (db, s, n) = (st.db().clone(), store.clone(), n.to_string());
        let accepted = crate::api::blocking(move || nonce::accept(&nonce::DbKv(&db), &s, &n))
            .await
            .map_err(|_| "internal error checking the nonce".to_string())?;
        match accepted {
            Ok(()) => {}
            Err(nonce::Refused::Malformed) => {
                return Err("Invalid nonce: a whole number of at most 20 digits".into());
            }
            Err(nonce::Refused::Replayed) => return Err("Nonce already used (a replayed request?)".into()),
            Err(nonce::Refused::Storage(e)) => {
                tracing::error!(store, "coinpayments nonce: {e}");
                return Err("internal error checking the nonce".into());
            }
        }
    }
    let cmd = form.get("cmd").ok_or("No command given")?;
    match cmd {
        "create_transaction" => commands::create_transaction(st, &store, &form).await,
        "get_tx_info" => commands::get_tx_info(st, &store, &form).await,
        "get_tx_info_multi" => commands::get_tx_info_multi(st, &store, &form).await,
        "rates" => commands::rates(st, &store).await,
        "get_basic_info" => Ok(commands::basic_info(&store, &keys.merchant_id)),
        other => Err(format!(
            "Unsupported command {:?}: paywatch answers create_transaction, get_tx_info, get_tx_info_multi, rates and get_basic_info",
            form::cut(other)
        )
        .into()),
    }
}
