//! `GET /bitpay/rates[/{base}[/{quote}]]`: BitPay's rate table (`[{code, name, rate}]`, how
//! many `code` one `base` is worth; base BTC by default), from the store's own rate rules, the
//! rates its invoices would lock now. BitPay's rates are public: the store is the one of the
//! `token` query parameter, or the only store with `[stores.bitpay]`.

use super::tokens::TOKENS;
use super::{refused, BpError};
use crate::api::{blocking, AppState};
use axum::extract::{OriginalUri, Path, State};
use axum::http::{Extensions, StatusCode};
use axum::Json;
use serde_json::{json, Value};

/// The quotes a full table tries (each one the store's rules cannot give is left out).
const QUOTES: [(&str, &str); 12] = [
    ("USD", "US Dollar"),
    ("EUR", "Eurozone Euro"),
    ("GBP", "Pound Sterling"),
    ("JPY", "Japanese Yen"),
    ("CAD", "Canadian Dollar"),
    ("AUD", "Australian Dollar"),
    ("CNY", "Chinese Yuan"),
    ("CHF", "Swiss Franc"),
    ("SEK", "Swedish Krona"),
    ("NZD", "New Zealand Dollar"),
    ("KRW", "South Korean Won"),
    ("BRL", "Brazilian Real"),
];

fn name_of(code: &str) -> String {
    QUOTES.iter().find(|(c, _)| *c == code).map_or_else(|| code.to_string(), |(_, n)| n.to_string())
}

fn check_code(code: &str) -> Result<String, BpError> {
    let up = code.to_ascii_uppercase();
    if (2..=16).contains(&up.len()) && up.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(up)
    } else {
        Err(BpError::bad_request(format!(
            "currency {:?} is not a currency code",
            code.chars().take(20).collect::<String>()
        )))
    }
}

/// The store whose rates are asked.
async fn store_of(st: &AppState, ext: &Extensions, uri: &axum::http::Uri) -> Result<String, BpError> {
    let token = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned());
    if let Some(t) = token.filter(|t| !t.is_empty() && t.len() <= 128) {
        let db = st.db().clone();
        let rec = blocking(move || TOKENS.lookup(&db, &t)).await??;
        let store =
            rec.and_then(|r| r.store).ok_or_else(|| refused(st, ext, StatusCode::UNAUTHORIZED, "invalid token"))?;
        return match super::bitpay_of(st, &store) {
            Some(_) => Ok(store),
            None => Err(refused(st, ext, StatusCode::NOT_FOUND, "invalid token")),
        };
    }
    let stores = st.gateways().bitpay_stores();
    match stores.as_slice() {
        [one] => Ok(one.to_string()),
        [] => Err(BpError::new(StatusCode::NOT_FOUND, "route not found")),
        _ => Err(BpError::bad_request("several stores take BitPay requests here: pass your token (?token=…)")),
    }
}

/// The rate of `base` in `quote` as BitPay shows it, or `None` when the store has none.
async fn rate(st: &AppState, store: &str, base: &str, quote: &str) -> Option<Value> {
    let r = st.rates().rate(store, base, quote).await.ok()?;
    let rate: f64 = r.value.to_string().parse().ok()?;
    Some(json!({"code": quote, "name": name_of(quote), "rate": rate}))
}

async fn table(st: &AppState, store: &str, base: &str) -> Vec<Value> {
    let asks = QUOTES.iter().filter(|(q, _)| *q != base).map(|(q, _)| rate(st, store, base, q));
    futures::future::join_all(asks).await.into_iter().flatten().collect()
}

pub(super) async fn all(
    State(st): State<AppState>,
    OriginalUri(uri): OriginalUri,
    ext: Extensions,
) -> Result<Json<Value>, BpError> {
    let store = store_of(&st, &ext, &uri).await?;
    // btcpay-python asks `/rates/?cryptoCode=BTC`.
    let base = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "cryptoCode")
        .map(|(_, v)| check_code(&v))
        .transpose()?
        .unwrap_or_else(|| "BTC".into());
    Ok(Json(json!({ "data": table(&st, &store, &base).await })))
}

pub(super) async fn of_base(
    State(st): State<AppState>,
    OriginalUri(uri): OriginalUri,
    ext: Extensions,
    Path(base): Path<String>,
) -> Result<Json<Value>, BpError> {
    let base = check_code(&base)?;
    let store = store_of(&st, &ext, &uri).await?;
    Ok(Json(json!({ "data": table(&st, &store, &base).await })))
}

pub(super) async fn pair(
    State(st): State<AppState>,
    OriginalUri(uri): OriginalUri,
    ext: Extensions,
    Path((base, quote)): Path<(String, String)>,
) -> Result<Json<Value>, BpError> {
    let (base, quote) = (check_code(&base)?, check_code(&quote)?);
    let store = store_of(&st, &ext, &uri).await?;
    match rate(&st, &store, &base, &quote).await {
        Some(r) => Ok(Json(json!({ "data": r }))),
        None => Err(BpError::new(StatusCode::NOT_FOUND, format!("no rate for {base}/{quote}"))),
    }
}
