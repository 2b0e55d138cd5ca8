//! CoinGate API v2 (<https://developer.coingate.com>), under `/coingate`: the routes a shop's
//! CoinGate SDK or plugin calls (`{base}/v2/orders`…, and `{base}/api/v2/…`, the prefix of
//! CoinGate's newer documentation), with `Authorization: Token …` (or `Bearer …`, as its PHP
//! library sends it) holding a store's `[stores.coingate] api_token`. Orders are paywatch
//! invoices (`compat::create`) whose `gateway.data` keeps CoinGate's fields; their integer ids
//! live in the `compat` column family (`ids.rs`). Callbacks are the `coingate` platform
//! plugin's. Bodies are form-encoded or JSON (`body.rs`); errors are CoinGate's (`error.rs`).

mod body;
mod error;
mod ids;
mod order;
mod refunds;

use super::super::{blocking, AppState};
use crate::db::GatewayRecord;
use crate::invoices::NewInvoice;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use body::Fields;
use error::CgError;
use order::Refunds;
use paywatch_plugin_api::events::Invoice;
use serde_json::{json, Value};
use time::OffsetDateTime;

const KIND: &str = "coingate";
const MAX_TITLE: usize = 150;
const MAX_DESCRIPTION: usize = 500;
const MAX_PER_PAGE: usize = 100;
/// Longest callback token a shop may give (CoinGate's own are 30 characters).
const MAX_TOKEN: usize = 255;

pub(super) fn router() -> Router<AppState> {
    let v2 = || {
        Router::new()
            .route("/orders", post(create).get(list))
            .route("/orders/{id}", get(read))
            .route("/orders/{id}/checkout", post(checkout))
            .route("/orders/{id}/refunds", post(refunds::create).get(refunds::list))
            .route("/orders/{order_id}/refunds/{id}", get(refunds::read))
            .route("/rates/merchant/{from}/{to}", get(rate))
            .route("/ping", get(ping))
            .route("/auth/test", get(auth_test))
    };
    Router::new().nest("/v2", v2()).nest("/api/v2", v2()).fallback(no_route)
}

async fn no_route(State(st): State<AppState>) -> CgError {
    if enabled(&st) {
        CgError::page_not_found("Page not found")
    } else {
        CgError::page_not_found("the CoinGate API is not enabled for any store ([stores.coingate])")
    }
}

fn enabled(st: &AppState) -> bool {
    st.gateways().any_coingate()
}

/// The store whose `[stores.coingate] api_token` the request carries (every store's token is
/// compared, in constant time).
#[derive(Debug)]
struct Shop(String);

impl FromRequestParts<AppState> for Shop {
    type Rejection = CgError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, CgError> {
        if !enabled(st) {
            return Err(CgError::page_not_found("the CoinGate API is not enabled for any store ([stores.coingate])"));
        }
        let presented = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            (scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer")).then(|| token.trim())
        });
        let Some(presented) = presented else {
            return Err(refused(st, parts, "no Authorization: Token header"));
        };
        // Every store's token is compared (constant time, against its SHA-256), no early exit.
        let found = st.gateways().coingate_store(presented).map(str::to_string);
        found.map(Shop).ok_or_else(|| refused(st, parts, "unknown token"))
    }
}

/// A refused authentication, counted per client like the API's: `401 BadAuthToken`, or past
/// `server.auth_failure_burst` `429 RateLimitException`.
fn refused(st: &AppState, parts: &Parts, why: &str) -> CgError {
    let e = super::auth_failed(st, &parts.extensions);
    if e.status() == StatusCode::TOO_MANY_REQUESTS {
        e.into()
    } else {
        CgError::bad_token(why)
    }
}

/// An http(s) URL of at most 2000 bytes, or why not.
fn check_url(name: &str, url: &str, errors: &mut Vec<String>) {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 2000
        && url::Url::parse(url).is_ok();
    if !ok {
        errors.push(format!("{name} {url:?} is not an http(s) URL"));
    }
}

/// A currency code as CoinGate writes them (`EUR`, `BTC`, `USDT`).
fn currency_code(name: &str, code: &str, errors: &mut Vec<String>) -> String {
    let up = code.to_ascii_uppercase();
    let ok = (2..=16).contains(&up.len()) && up.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !ok {
        errors.push(format!("{name} {code:?} is not a currency code"));
    }
    up
}

/// A fresh callback token, as CoinGate makes them (30 characters of A-Z a-z 0-9 - _).
fn new_token() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::thread_rng();
    (0..30).map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char).collect()
}

/// `POST /v2/orders`: a paywatch invoice priced in `price_currency`, payable with every
/// method the store receives, its CoinGate fields kept in `gateway.data`.
async fn create(
    State(st): State<AppState>,
    Shop(store): Shop,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, CgError> {
    let f = Fields::parse(&headers, &body)?;
    let mut errors = Vec::new();
    let price = f.required("price_amount", &mut errors).map(str::to_string);
    if let Some(p) = price.as_deref().filter(|p| !paywatch_plugin_api::text::is_plain_positive_decimal(p)) {
        errors.push(format!("Price amount {p:?} is not a positive number"));
    }
    let currency = f.required("price_currency", &mut errors).map(|c| currency_code("price_currency", c, &mut errors));
    let receive = f.get("receive_currency").map(|c| currency_code("receive_currency", c, &mut errors));
    for (name, max) in [("title", MAX_TITLE), ("description", MAX_DESCRIPTION)] {
        if let Some(t) = f.get(name).filter(|t| t.chars().count() > max) {
            errors.push(format!("{name} is longer than {max} characters ({})", t.chars().count()));
        }
    }
    if let Some(t) = f.get("token").filter(|t| t.len() > MAX_TOKEN) {
        errors.push(format!("token is longer than {MAX_TOKEN} bytes ({})", t.len()));
    }
    for name in ["callback_url", "cancel_url", "success_url"] {
        if let Some(u) = f.get(name) {
            check_url(name, u, &mut errors);
        }
    }
    if !errors.is_empty() {
        return Err(CgError::order_invalid(errors));
    }
    if let Some(url) = f.get("callback_url") {
        st.dispatcher()
            .check_destination(&store, url)
            .await
            .map_err(|e| CgError::order_invalid(vec![format!("callback_url: {e}")]))?;
    }
    let (price, currency) = (price.unwrap_or_default(), currency.unwrap_or_default());
    // The number, the invoice and the link between them are made by a task of their own: a
    // client gone mid-request drops this handler's future, which must not stop between the
    // invoice and its number (the invoice would be no readable order, its callbacks naming an
    // id the shop's read-back cannot find).
    let made = tokio::spawn(make_order(st, store, f, price, currency, receive));
    made.await?.map(|o| Json(Value::Object(o)).into_response())
}

/// Takes the next order number, makes the invoice and links them; the order as answered at
/// creation (with its token).
async fn make_order(
    st: AppState,
    store: String,
    f: Fields,
    price: String,
    currency: String,
    receive: Option<String>,
) -> Result<serde_json::Map<String, Value>, CgError> {
    let id = {
        let (st, store) = (st.clone(), store.clone());
        blocking(move || ids::next_order(&st, &store)).await??
    };
    let token = f.get("token").map_or_else(new_token, str::to_string);
    let mut data = json!({"id": id, "order_id": f.get("order_id"), "token": token,
        "receive_currency": receive.as_deref().unwrap_or(order::DO_NOT_CONVERT)});
    for k in ["callback_url", "cancel_url", "success_url", "title", "description"] {
        data[k] = json!(f.get(k));
    }
    let description = match (f.get("title"), f.get("description")) {
        (Some(t), Some(d)) => Some(format!("{t}\n{d}")),
        (t, d) => t.or(d).map(str::to_string),
    };
    let new = NewInvoice {
        currency,
        amount: price,
        order_id: f.get("order_id").map_or_else(|| format!("coingate-{id}"), str::to_string),
        description,
        refund_email: f.get("purchaser_email").map(str::to_string),
        redirect_url: f.get("success_url").map(str::to_string),
        ..NewInvoice::default()
    };
    let inv = super::create(&st, &store, new, GatewayRecord { kind: KIND.into(), data: data.clone() }).await?;
    let (svc, s2, invoice_id) = (st.invoices().clone(), st.clone(), inv.id);
    let view = blocking(move || {
        ids::link_order(&s2, &store, id, invoice_id)?;
        Ok::<_, CgError>(svc.view(&inv)?)
    })
    .await??;
    let mut o = order::order(&view, &data, Refunds::None);
    o.insert("token".into(), json!(token));
    Ok(o)
}

/// An order of this store: its invoice's view, `gateway.data` (with the checkout's choice) and
/// refunds.
async fn load(st: &AppState, store: &str, id: &str) -> Result<(Invoice, Value, Refunds), CgError> {
    let n: u64 = id.parse().map_err(|_| CgError::order_not_found(id))?;
    let (st, store) = (st.clone(), store.to_string());
    let id = id.to_string();
    blocking(move || {
        let Some(invoice_id) = ids::order_invoice(&st, &store, n)? else { return Err(CgError::order_not_found(&id)) };
        let svc = st.invoices();
        let inv = svc.get(&store, invoice_id)?.ok_or_else(|| CgError::order_not_found(&id))?;
        let mut data = inv.gateway.as_ref().map(|g| g.data.clone()).unwrap_or_else(|| json!({"id": n}));
        if let Some(asset) = ids::chosen(&st, &store, n)? {
            data["pay_currency"] = json!(asset);
        }
        let refunds = svc.refunds_of(&store, invoice_id)?;
        let state = if refunds.is_empty() {
            Refunds::None
        } else {
            let left = svc.refundable(&store, invoice_id)?;
            Refunds::of(&refunds, left.available_value().is_zero())
        };
        Ok((svc.view(&inv)?, data, state))
    })
    .await?
}

/// `GET /v2/orders/{id}`.
async fn read(State(st): State<AppState>, Shop(store): Shop, Path(id): Path<String>) -> Result<Json<Value>, CgError> {
    let (view, data, refunds) = load(&st, &store, &id).await?;
    Ok(Json(Value::Object(order::order(&view, &data, refunds))))
}

/// `GET /v2/orders`: `per_page` (1 to 100, default 100), `page` (from 1), `sort`
/// (`created_at_desc`, the default, or `created_at_asc`), `created_at[from]`,
/// `created_at[to]` (`YYYY-MM-DD`, inclusive).
async fn list(State(st): State<AppState>, Shop(store): Shop, RawQuery(q): RawQuery) -> Result<Json<Value>, CgError> {
    let q: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(q.unwrap_or_default().as_bytes()).into_owned().collect();
    let num = |k: &str, default: usize| -> Result<usize, CgError> {
        match q.get(k).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| CgError::bad_request(format!("{k} {v:?} is not a number"))),
        }
    };
    let per_page = num("per_page", MAX_PER_PAGE)?.clamp(1, MAX_PER_PAGE);
    let page = num("page", 1)?.max(1);
    let desc = match q.get("sort").map(String::as_str) {
        None | Some("") | Some("created_at_desc") => true,
        Some("created_at_asc") => false,
        Some(other) => {
            return Err(CgError::bad_request(format!("sort {other:?} is not created_at_asc or created_at_desc")))
        }
    };
    let (from, to) = (q.get("created_at[from]").cloned(), q.get("created_at[to]").cloned());
    let (st2, store2) = (st.clone(), store.clone());
    // The store's order numbers in the order asked, those made in the dates asked (read from
    // their invoices only when dates are asked); then only the page's orders are loaded.
    let numbers = blocking(move || {
        let mut all = ids::store_orders(&st2, &store2)?;
        if desc {
            all.reverse();
        }
        if from.is_none() && to.is_none() {
            return Ok::<_, CgError>(all.into_iter().map(|(n, _)| n).collect::<Vec<_>>());
        }
        let mut kept = Vec::new();
        for (n, invoice) in all {
            let Some(inv) = st2.invoices().get(&store2, invoice)? else { continue };
            let day = inv.created_at.date().to_string(); // YYYY-MM-DD
            let after_from = from.as_deref().is_none_or(|f| day.as_str() >= f);
            if after_from && to.as_deref().is_none_or(|t| day.as_str() <= t) {
                kept.push(n);
            }
        }
        Ok(kept)
    })
    .await??;
    let total = numbers.len();
    let mut orders = Vec::new();
    for n in numbers.into_iter().skip((page - 1).saturating_mul(per_page)).take(per_page) {
        let (view, data, refunds) = load(&st, &store, &n.to_string()).await?;
        orders.push(Value::Object(order::order(&view, &data, refunds)));
    }
    Ok(Json(json!({
        "current_page": page, "per_page": per_page, "total_orders": total,
        "total_pages": total.div_ceil(per_page), "orders": orders,
    })))
}

/// `POST /v2/orders/{id}/checkout`: `pay_currency` picks the payment method (every method is
/// already watched: the choice only decides what the order shows); the order is then
/// `pending`.
async fn checkout(
    State(st): State<AppState>,
    Shop(store): Shop,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, CgError> {
    let f = Fields::parse(&headers, &body)?;
    let mut errors = Vec::new();
    let pay = f.required("pay_currency", &mut errors).map(str::to_string);
    let (view, mut data, refunds) = load(&st, &store, &id).await?;
    let Some(pay) = pay else { return Err(CgError::order_invalid(errors)) };
    let Some(method) = view.payment_methods.iter().find(|m| m.asset.eq_ignore_ascii_case(&pay)) else {
        let offered: Vec<&str> = view.payment_methods.iter().map(|m| m.asset.as_str()).collect();
        return Err(CgError::order_invalid(vec![format!(
            "pay_currency {pay:?} is not one of this order's: {}",
            offered.join(", ")
        )]));
    };
    let status = order::status(&view, refunds, None);
    if !matches!(status, "new" | "pending") {
        return Err(CgError::order_invalid(vec![format!("order {id} is {status}: its pay currency is set")]));
    }
    let (asset, st2, n) = (method.asset.clone(), st.clone(), id.parse::<u64>().unwrap_or_default());
    blocking(move || ids::choose(&st2, &store, n, &asset)).await??;
    data["pay_currency"] = json!(method.asset);
    Ok(Json(Value::Object(order::order(&view, &data, refunds))))
}

/// `GET /v2/rates/merchant/{from}/{to}`: the rate this store's invoices would use now, as
/// CoinGate answers it (the number as text; empty when there is none).
async fn rate(State(st): State<AppState>, Shop(store): Shop, Path((from, to)): Path<(String, String)>) -> Response {
    let rates = st.rates();
    let code =
        |c: &str| rates.code_of_asset(&c.to_ascii_uppercase()).map_or_else(|| c.to_ascii_uppercase(), str::to_string);
    let text = match rates.rate(&store, &code(&from), &code(&to)).await {
        Ok(r) => r.value.to_string(),
        Err(_) => String::new(),
    };
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

/// `GET /v2/ping`: public, as CoinGate's.
async fn ping(State(st): State<AppState>) -> Result<Json<Value>, CgError> {
    if !enabled(&st) {
        return Err(CgError::page_not_found("the CoinGate API is not enabled for any store ([stores.coingate])"));
    }
    let now = OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    Ok(Json(json!({"ping": "pong", "time": now})))
}

/// `GET /v2/auth/test`: whether the token is good (CoinGate's plugins check it on save).
async fn auth_test(Shop(_): Shop) -> Json<Value> {
    Json(json!(true))
}
