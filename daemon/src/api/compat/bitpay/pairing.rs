//! Pairing: `POST /bitpay/tokens` (the client's half) and `POST /v1/bitpay/pairing-codes`,
//! `POST /v1/bitpay/pairing-codes/{code}/approve` (the operator's half, with the store's
//! paywatch API key).

use super::tokens::{Issued, PairError, TOKENS};
use super::BpError;
use crate::api::auth::StoreId;
use crate::api::error::ApiError;
use crate::api::extract::{Json as PwJson, Path};
use crate::api::{blocking, AppState};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A client's pairing request (BitPay's names).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenReq {
    /// The client's SIN.
    id: Option<String>,
    pairing_code: Option<String>,
    facade: Option<String>,
    label: Option<String>,
}

/// A SIN: base58, as BitPay's key utilities print it (35 characters; a little slack).
fn check_sin(sin: &str) -> Result<(), BpError> {
    let ok = (20..=64).contains(&sin.len()) && bs58::decode(sin).into_vec().is_ok();
    if ok {
        Ok(())
    } else {
        Err(BpError::bad_request(format!("id {:?} is not a client id (SIN)", sin.chars().take(64).collect::<String>())))
    }
}

fn check_label(label: &Option<String>) -> Result<(), BpError> {
    match label {
        Some(l) if l.chars().count() > 60 || l.chars().any(char::is_control) => {
            Err(BpError::bad_request("label must be at most 60 characters, no control characters"))
        }
        _ => Ok(()),
    }
}

/// `POST /bitpay/tokens`: `{id, pairingCode}` claims an operator's code; `{id, facade}` asks
/// for a token the operator approves by the code answered.
pub(super) async fn tokens(
    State(st): State<AppState>,
    ext: axum::http::Extensions,
    body: Bytes,
) -> Result<Json<Value>, BpError> {
    let req: TokenReq = serde_json::from_slice(&body)
        .map_err(|e| BpError::bad_request(format!("the body is not a token request: {e}")))?;
    if let Some(sin) = &req.id {
        check_sin(sin)?;
    }
    check_label(&req.label)?;
    let db = st.db().clone();
    let issued: Issued = match req.pairing_code {
        Some(code) => {
            let sin = req.id.clone();
            // A wrong code is a failed authentication (codes are guessed like keys): counted
            // against the client's budget, `429` past it.
            match blocking(move || TOKENS.claim(&db, &code, sin)).await? {
                Err(e @ PairError::UnknownCode(_)) => {
                    return Err(super::refused(&st, &ext, StatusCode::BAD_REQUEST, e.to_string()))
                }
                r => r?,
            }
        }
        None => {
            let facade = req.facade.unwrap_or_else(|| "merchant".into());
            if facade == "merchant" && req.id.is_none() {
                return Err(BpError::bad_request("a merchant token needs the client's id (SIN)"));
            }
            let ttl = super::request_ttl(&st).ok_or_else(|| BpError::new(StatusCode::NOT_FOUND, "route not found"))?;
            let (sin, label) = (req.id.clone(), req.label.clone());
            blocking(move || TOKENS.request(&db, &facade, sin, label, ttl)).await??
        }
    };
    let mut t = json!({
        "token": issued.token,
        "facade": issued.record.facade,
        "dateCreated": issued.record.created_at * 1000,
        "policies": match &issued.record.sin {
            Some(sin) => json!([{"policy": "id", "method": "require", "params": [sin]}]),
            None => json!([]),
        },
    });
    if let Some(label) = &issued.record.label {
        t["label"] = json!(label);
    }
    if let Some((code, expires)) = issued.code {
        t["pairingCode"] = json!(code);
        t["pairingExpiration"] = json!(expires * 1000);
    }
    Ok(Json(json!({ "data": [t] })))
}

/// `POST /v1/bitpay/pairing-codes`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewCode {
    /// `pos` or `merchant`.
    facade: String,
    /// Shown to the client with its token.
    label: Option<String>,
}

/// A pairing code the client sends with its id to `POST /bitpay/tokens`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CodeView {
    /// 7 characters, single use.
    pairing_code: String,
    facade: String,
    /// Unix seconds.
    expires_at: i64,
}

/// An approved client request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Approved {
    /// The token's id (what invoices' `gateway.data.token_id` name).
    token_id: String,
    facade: String,
    /// The client's SIN, when it gave one.
    client_id: Option<String>,
}

fn not_enabled() -> ApiError {
    ApiError::not_found("the store's BitPay API ([stores.bitpay])")
}

/// Makes a pairing code for this store's BitPay clients.
#[utoipa::path(post, path = "/v1/bitpay/pairing-codes", tag = "bitpay", security(("api_key" = [])),
    request_body = NewCode, responses((status = 201, body = CodeView)))]
pub(crate) async fn make_code(
    State(st): State<AppState>,
    StoreId(store): StoreId,
    PwJson(req): PwJson<NewCode>,
) -> Result<(StatusCode, PwJson<CodeView>), ApiError> {
    let ttl = super::bitpay_of(&st, &store).ok_or_else(not_enabled)?.pairing_code_secs;
    check_label(&req.label).map_err(|e| ApiError::invalid("invalid_field", e.message()))?;
    let (db, facade) = (st.db().clone(), req.facade.clone());
    let (code, expires_at) = blocking(move || TOKENS.make_code(&db, &store, &facade, req.label, ttl))
        .await?
        .map_err(|e| ApiError::invalid("invalid_field", e.to_string()))?;
    Ok((StatusCode::CREATED, PwJson(CodeView { pairing_code: code, facade: req.facade, expires_at })))
}

/// Approves a client's pairing request: its token acts for this store from now on.
#[utoipa::path(post, path = "/v1/bitpay/pairing-codes/{code}/approve", tag = "bitpay", security(("api_key" = [])),
    params(("code" = String, Path)), responses((status = 200, body = Approved), (status = 404)))]
pub(crate) async fn approve_code(
    State(st): State<AppState>,
    StoreId(store): StoreId,
    ext: axum::http::Extensions,
    Path(code): Path<String>,
) -> Result<PwJson<Approved>, ApiError> {
    super::bitpay_of(&st, &store).ok_or_else(not_enabled)?;
    let db = st.db().clone();
    let token = blocking(move || TOKENS.approve(&db, &store, &code)).await?.map_err(|e| match e {
        // Another tenant's client's code, guessed, would pair that client with this store:
        // a wrong code counts against this client's budget (`429` past it) as a wrong key does.
        PairError::UnknownCode(c) => match crate::api::compat::auth_failed(&st, &ext) {
            e if e.status() == StatusCode::TOO_MANY_REQUESTS => e,
            _ => ApiError::not_found(format!("pairing code {c:?}")),
        },
        e => ApiError::invalid("invalid_field", e.to_string()),
    })?;
    Ok(PwJson(Approved { token_id: token.id, facade: token.facade, client_id: token.sin }))
}
