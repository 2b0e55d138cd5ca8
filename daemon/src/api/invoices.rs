//! `/v1/invoices` and `/v1/refunds`: payment requests, their refunds, and the customer's claim.

use super::auth::StoreId;
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Path, Query};
use super::{blocking, AppState};
use crate::db::InvoiceStatus;
use crate::events::views::{self, Sorted};
use crate::invoices::{LockedRate, NewInvoice, NewRefund, PaymentCursor, Pricing, Refundability};
use crate::rates::Rates;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use paywatch_plugin_api::events::{Invoice, Payment, Refund};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The largest claim body: `{"address": …}` with an address of any real length fits many
/// times over; the route is public, so nothing bigger is read.
pub(super) const MAX_CLAIM_BODY: usize = 1024;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateInvoice {
    /// The price's currency: an ISO 4217 code (`USD`, `EUR`, `JPY`…) or a configured asset id
    /// (`BTC`). Give this or `asset`.
    currency: Option<String>,
    /// The older name of `currency`, for an invoice priced in an asset (and, without
    /// `payment_methods`, paid only in it).
    asset: Option<String>,
    /// In the currency's unit, as a decimal string with at most its decimals, e.g. `"25.00"`,
    /// `"1500"` (JPY), `"0.0015"` (BTC).
    amount: String,
    /// Asset ids the customer may pay with, each with its own address and rate (default: every
    /// asset the store can receive; with `asset`, that asset only).
    payment_methods: Option<Vec<String>>,
    /// The shop's order id: one invoice per order (a retry with the same terms returns it).
    order_id: String,
    description: Option<String>,
    /// Any JSON object (at most 8 KiB), returned as given.
    #[schema(value_type = Object)]
    metadata: Option<Value>,
    /// Seconds until expiry (default: the store's `invoice_expiry_secs`).
    expires_in: Option<u64>,
    /// Confirmations required to settle (default: the store's `speed`).
    confirmations: Option<u32>,
    /// Instead of `confirmations`: `high` (0), `medium` (1), `low_medium` (2), `low` (6).
    speed: Option<String>,
    /// Accepted underpayment in percent, 0 to 50 (default: the store's).
    payment_tolerance_percent: Option<f64>,
    refund_email: Option<String>,
    /// Where the checkout page sends the customer back to the shop: once paid (after a few
    /// seconds), and by its "back to the shop" link at any time. http or https.
    redirect_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InvoicePage {
    #[schema(value_type = Vec<Invoice>)]
    items: Vec<Sorted<Invoice>>,
    /// Pass as `after` for the next page; absent on the last page.
    next: Option<Uuid>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct InvoiceQuery {
    order_id: Option<String>,
    /// new, processing, settled, expired, invalid
    status: Option<String>,
    /// 1 to 1000, default 100.
    limit: Option<usize>,
    /// The `next` of the previous page (a page may hold fewer matches than `limit`).
    after: Option<Uuid>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct PaymentsQuery {
    /// 1 to 1000, default 100.
    limit: Option<usize>,
    /// The `next` of the previous page (`TXID:OUTPUT`).
    after: Option<String>,
}

/// An invoice's payments, each as the `data` of its `payment.*` events.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InvoicePaymentPage {
    items: Vec<Payment>,
    /// Pass as `after` for the next page (`TXID:OUTPUT`); absent on the last page (a page may
    /// hold fewer than `limit`).
    next: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateRefund {
    /// How it is priced: `rate_then` (a value in the invoice's currency at the method's locked
    /// rate), `current_rate` (a value in the currency at today's rate), `fiat` (a stated amount
    /// in the currency at today's rate), `overpaid` (what was paid beyond the price and not
    /// refunded yet, at the locked rate) or `custom` (a crypto amount). Default: `custom` when
    /// `amount` is given.
    variant: Option<String>,
    /// In the invoice's currency (`rate_then`, `current_rate`: default all still refundable;
    /// `fiat`: required), or in the asset's unit (`custom`: required). Its value is at most
    /// what is still refundable.
    amount: Option<String>,
    /// The payment method's asset to refund in (default: the method whose refundable payments
    /// are worth the most).
    asset: Option<String>,
    /// The share the merchant keeps as a fee, 0 to 100 (at most 2 decimals): the crypto sent is
    /// reduced by it, the refund's full value is settled.
    #[schema(value_type = Option<String>, example = "2.5")]
    subtract_percent: Option<Percent>,
    /// Where to send it; without it, the response has a one-time `claim_token` for the customer.
    address: Option<String>,
    /// `original` or `current`, recorded as given (default `current` for `current_rate` and
    /// `fiat`, else `original`): the price risk is the merchant's decision.
    rate_policy: Option<String>,
    reason: Option<String>,
}

/// A percent as a JSON number (`2.5`) or string (`"2.5"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Percent {
    Text(String),
    Number(serde_json::Number),
}

impl Percent {
    fn text(self) -> String {
        match self {
            Percent::Text(s) => s,
            Percent::Number(n) => n.to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RefundList {
    #[schema(value_type = Vec<Refund>)]
    items: Vec<Sorted<Refund>>,
}

/// What an invoice can still refund (`POST /v1/invoices/{id}/refunds` takes at most
/// `refundable_value`), and the payments that do not count toward it. Values in the invoice's
/// currency (exact decimals); amounts in the first payment method's asset (`asset`, at its
/// locked rate, rounded down) with `_base` twins in base units: for an invoice priced in its
/// asset, the same figures.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Refundable {
    invoice_id: Uuid,
    asset: String,
    /// The invoice's currency, in which the `_value` fields are.
    currency: String,
    /// `received_value` less `refunded_value` (zero when a reorg took back more than was
    /// refunded).
    refundable_value: String,
    /// What the payments first seen by the invoice's expiry, with its required confirmations
    /// (at least 1), are worth at the methods' locked rates.
    received_value: String,
    /// What the invoice's refunds settled, whatever their status.
    refunded_value: String,
    /// `refundable_value` in `asset`.
    refundable: String,
    refundable_base: String,
    /// `received_value` in `asset`.
    received: String,
    received_base: String,
    /// `refunded_value` in `asset`.
    refunded: String,
    refunded_base: String,
    /// Per payment method: what its payments that count add up to.
    methods: Vec<RefundableMethod>,
    /// Payments first seen after the invoice's expiry: not refundable through the invoice.
    late: Vec<Payment>,
    /// Payments first seen by expiry that do not have the confirmations yet: refundable once
    /// they do.
    unconfirmed: Vec<Payment>,
}

/// One payment method's refundable payments.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RefundableMethod {
    asset: String,
    /// In the asset's unit.
    received: String,
    received_base: String,
}

impl From<Refundability> for Refundable {
    fn from(r: Refundability) -> Self {
        let d = r.invoice.decimals;
        let (available, received, refunded) = (r.available_value(), r.received_value(), r.refunded_value());
        let first = |v| r.in_first_method(v);
        Self {
            invoice_id: r.invoice.id,
            asset: r.invoice.asset.clone(),
            currency: r.invoice.currency.clone(),
            refundable_value: r.decimal(available),
            received_value: r.decimal(received),
            refunded_value: r.decimal(refunded),
            refundable: first(available).to_units_string(d),
            refundable_base: first(available).to_string(),
            received: first(received).to_units_string(d),
            received_base: first(received).to_string(),
            refunded: first(refunded).to_units_string(d),
            refunded_base: first(refunded).to_string(),
            methods: r
                .invoice
                .methods
                .iter()
                .zip(&r.received)
                .map(|(m, a)| RefundableMethod {
                    asset: m.asset.clone(),
                    received: a.to_units_string(m.decimals),
                    received_base: a.to_string(),
                })
                .collect(),
            late: r.late.iter().map(views::payment).collect(),
            unconfirmed: r.unconfirmed.iter().map(views::payment).collect(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClaimRefund {
    address: String,
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else { return Ok(None) };
    let s = v.to_str().map_err(|_| ApiError::bad_request("Idempotency-Key is not visible ASCII"))?.trim();
    if s.is_empty() || s.len() > MAX_IDEMPOTENCY_KEY {
        return Err(ApiError::bad_request(format!("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters")));
    }
    Ok(Some(s.to_string()))
}

/// Create an invoice: a fresh address, the amount, a payment URI and an expiry.
#[utoipa::path(post, path = "/v1/invoices", tag = "invoices", request_body = CreateInvoice,
    security(("api_key" = [])), params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = Invoice), (status = 200, body = Invoice, description = "this request (order id or idempotency key) already made it"),
        (status = 409, body = ErrorBody, description = "the order id or idempotency key was used with other terms (`order_conflict`, `idempotency_conflict`), another request has been creating it for 30 s (`creation_in_progress`), or the store has as many watches as its `max_watches`, invoices' addresses included (`quota_exceeded`)"),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody, description = "no free address")))]
pub(crate) async fn create(
    State(st): State<AppState>,
    StoreId(store): StoreId,
    headers: HeaderMap,
    Json(req): Json<CreateInvoice>,
) -> Result<(StatusCode, Json<Sorted<Invoice>>), ApiError> {
    let key = idempotency_key(&headers)?;
    let (currency, by_asset) = match (req.currency, req.asset) {
        (Some(c), None) => (c, false),
        (None, Some(a)) => (a, true),
        (Some(_), Some(_)) => return Err(ApiError::invalid("invalid_field", "give currency or asset, not both")),
        (None, None) => return Err(ApiError::invalid("invalid_field", "currency (or asset) is required")),
    };
    let new = NewInvoice {
        currency,
        by_asset,
        payment_methods: req.payment_methods,
        amount: req.amount,
        order_id: req.order_id,
        description: req.description,
        metadata: req.metadata,
        expires_in: req.expires_in,
        confirmations: req.confirmations,
        speed: req.speed,
        payment_tolerance_percent: req.payment_tolerance_percent,
        refund_email: req.refund_email,
        redirect_url: req.redirect_url,
        gateway: None,
    };
    let svc = st.invoices().clone();
    // A retry is answered from what the first request made, whatever the rates do now; a new
    // invoice asks the rates of its methods first (outside the invoice lock: it may wait for a
    // source), then is made at them.
    let (s, n, k) = (store.clone(), new.clone(), key.clone());
    let pricing = blocking(move || match svc.existing(&s, &n, k.as_deref())? {
        Some(inv) => Ok::<_, crate::invoices::InvoiceError>(Err(svc.view(&inv)?)),
        None => Ok(Ok(svc.pricing(&s, &n)?)),
    })
    .await??;
    let pricing = match pricing {
        Err(existing) => return Ok((StatusCode::OK, Json(Sorted(existing)))),
        Ok(p) => p,
    };
    let locked = lock_rates(st.rates(), &store, &pricing).await?;
    let svc = st.invoices().clone();
    let (view, created) = blocking(move || {
        let (inv, created) = svc.create(&store, new, &pricing, &locked, key.as_deref())?;
        // A new invoice has no payment yet (its addresses were not watched): no read for them.
        let view = if created { svc.view_new(&inv) } else { svc.view(&inv)? };
        Ok::<_, crate::invoices::InvoiceError>((view, created))
    })
    .await??;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(Sorted(view))))
}

/// The rate of each method that needs one (an asset other than the currency), as the store's
/// rules give it now: `503 rate_unavailable` naming the pair and every source tried when one
/// has none.
pub(super) async fn lock_rates(
    rates: &Rates,
    store: &str,
    pricing: &Pricing,
) -> Result<HashMap<String, LockedRate>, ApiError> {
    let mut locked = HashMap::new();
    for asset in pricing.to_price() {
        let rate = rate_of(rates, store, asset, &pricing.currency, pricing.is_asset).await?;
        locked.insert(asset.to_string(), rate);
    }
    Ok(locked)
}

/// What one unit of `asset` is worth in `currency` (an ISO code, or an asset id when
/// `is_asset`) by the store's rules now, pairs written in rate codes.
async fn rate_of(
    rates: &Rates,
    store: &str,
    asset: &str,
    currency: &str,
    is_asset: bool,
) -> Result<LockedRate, ApiError> {
    let code = |asset: &str| rates.code_of_asset(asset).map_or_else(|| asset.to_uppercase(), str::to_string);
    let quote = if is_asset { code(currency) } else { currency.to_string() };
    let r = rates.rate(store, &code(asset), &quote).await?;
    Ok(LockedRate { rate: r.value.to_string(), source: r.source, at: r.at })
}

/// One invoice of this store.
#[utoipa::path(get, path = "/v1/invoices/{id}", tag = "invoices", security(("api_key" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Invoice), (status = 404, body = ErrorBody)))]
pub(crate) async fn get(
    State(st): State<AppState>,
    StoreId(store): StoreId,
    Path(id): Path<Uuid>,
) -> Result<Json<Sorted<Invoice>>, ApiError> {
    let svc = st.invoices().clone();
    let view = blocking(move || match svc.get(&store, id)? {
        Some(inv) => svc.view(&inv).map(Some),
        None => Ok(None),
    })
    .await??;
    view.map(|v| Json(Sorted(v))).ok_or_else(|| ApiError::not_found(format!("invoice {id}")))
}

/// This store's invoices in creation order, by order id and status.
#[utoipa::path(get, path = "/v1/invoices", tag = "invoices", security(("api_key" = [])),
    params(InvoiceQuery), responses((status = 200, body = InvoicePage)))]
pub(crate) async fn list(
    State(st): State<AppState>,
    StoreId(store): StoreId,
    Query(q): Query<InvoiceQuery>,
) -> Result<Json<InvoicePage>, ApiError> {
    let limit = super::page_limit(q.limit)?;
    let status = match q.status.as_deref() {
        Some(s) => Some(InvoiceStatus::parse(s).ok_or_else(|| {
            ApiError::invalid(
                "invalid_field",
                format!("status {s:?} is not new, processing, settled, expired or invalid"),
            )
        })?),
        None => None,
    };
    let svc = st.invoices().clone();
    let (items, next) = blocking(move || {
        let (list, next) = svc.list(&store, q.order_id.as_deref(), status, q.after, limit)?;
        list.iter().map(|i| svc.view(i).map(Sorted)).collect::<Result<Vec<_>, _>>().map(|v| (v, next))
    })
    .await??;
    Ok(Json(InvoicePage { items, next }))
}

/// Cancel an invoice nothing was paid to (it becomes `invalid`).
#[utoipa::path(post, path = "/v1/invoices/{id}/cancel", tag = "invoices", security(("api_key" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Invoice), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn cancel(
    State(st): State<AppState>,
    StoreId(store): StoreId,
    Path(id): Path<Uuid>,
) -> Result<Json<Sorted<Invoice>>, ApiError> {
    let svc = st.invoices().clone();
    let view = blocking(move || svc.cancel(&store, id).and_then(|inv| svc.view(&inv))).await??;
    Ok(Json(Sorted(view)))
}

/// `TXID:OUTPUT` (or `METHOD:TXID:OUTPUT`), as `next` gives it.
fn payment_cursor(after: &str) -> Result<PaymentCursor, ApiError> {
    PaymentCursor::parse(after).ok_or_else(|| {
        ApiError::invalid("invalid_field", format!("after {after:?} is not a TXID:OUTPUT of a page's next"))
    })
}

/// Every payment to an invoice's addresses in their methods' assets, dust included, method by
/// method in txid and output order: the full list an invoice's `payments` (the latest few) and
/// `payments_count` sum up.
#[utoipa::path(get, path = "/v1/invoices/{id}/payments", tag = "invoices", security(("api_key" = [])),
    params(("id" = Uuid, Path), PaymentsQuery),
    responses((status = 200, body = InvoicePaymentPage), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn payments_of(
    State(st): State<AppState>,
    StoreId(store): StoreId,
    Path(id): Path<Uuid>,
    Query(q): Query<PaymentsQuery>,
) -> Result<Json<InvoicePaymentPage>, ApiError> {
    let limit = super::page_limit(q.limit)?;
    let after = q.after.as_deref().map(payment_cursor).transpose()?;
    let svc = st.invoices().clone();
    let page = blocking(move || svc.payments_page(&store, id, after, limit)).await??;
    let items = page.items.iter().map(views::payment).collect();
    Ok(Json(InvoicePaymentPage { items, next: page.next.map(|c| c.to_string()) }))
}

/// Refund (part of) what was paid. The merchant pays it from their own wallet.
#[utoipa::path(post, path = "/v1/invoices/{id}/refunds", tag = "refunds", request_body = CreateRefund,
    security(("api_key" = [])), params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = Refund), (status = 200, body = Refund), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the idempotency key was used with other terms (`idempotency_conflict`); the invoice has as many refunds as its store's `max_refunds_per_invoice`, or the store as many watches as its `max_watches` (`quota_exceeded`)"),
        (status = 422, body = ErrorBody)),
    description = "A refund whose value is above the store's `refund_approval_above` for the invoice's currency is made \
        `awaiting_approval`: its address is not watched and its claim link does not work until a second key approves it \
        (`POST /v1/refunds/{id}/approve`).")]
pub(crate) async fn create_refund(
    State(st): State<AppState>,
    caller: crate::stores::Caller,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(req): Json<CreateRefund>,
) -> Result<(StatusCode, Json<Sorted<Refund>>), ApiError> {
    let key = idempotency_key(&headers)?;
    let store = caller.store;
    if let Some(a) = &req.address {
        super::address_len("address", a)?;
    }
    let new = NewRefund {
        variant: req.variant,
        amount: req.amount,
        asset: req.asset,
        subtract_percent: req.subtract_percent.map(Percent::text),
        address: req.address,
        rate_policy: req.rate_policy,
        reason: req.reason,
        priced_asset: None,
        requested_by: Some(caller.key_id),
    };
    let (svc, shop, k) = (st.invoices().clone(), store.clone(), key.clone());
    let (pair, mut new) = blocking(move || {
        let pair = svc.refund_needs_rate(&shop, id, &new, k.as_deref());
        (pair, new)
    })
    .await?;
    // Today's rate of the refund's asset when its variant needs one (`current_rate`, `fiat`),
    // for the asset it was asked for (the refund is then made in that one).
    let today = match pair? {
        None => None,
        Some((asset, currency)) => {
            let is_asset = st.invoices().is_asset(&currency);
            let rate = rate_of(st.rates(), &store, &asset, &currency, is_asset).await?;
            new.priced_asset = Some(asset);
            Some(rate)
        }
    };
    let svc = st.invoices().clone();
    let done = blocking(move || svc.create_refund(&store, id, new, today, key.as_deref())).await??;
    let mut body = views::refund(&done.refund);
    if let Some(token) = done.claim_token {
        body.claim_path = Some(format!("/v1/refunds/claim/{token}"));
        body.claim_url = Some(format!("{}/r/{token}", st.invoices().checkout_base()));
        body.claim_token = Some(token);
    }
    let status = if done.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(Sorted(body))))
}

/// An invoice's refunds.
#[utoipa::path(get, path = "/v1/invoices/{id}/refunds", tag = "refunds", security(("api_key" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = RefundList), (status = 404, body = ErrorBody)))]
pub(crate) async fn refunds_of(
    State(st): State<AppState>,
    StoreId(store): StoreId,
    Path(id): Path<Uuid>,
) -> Result<Json<RefundList>, ApiError> {
    let svc = st.invoices().clone();
    let list = blocking(move || svc.refunds_of(&store, id)).await??;
    Ok(Json(RefundList { items: list.iter().map(|r| Sorted(views::refund(r))).collect() }))
}

/// What an invoice can still refund: confirmed payments made by its expiry, less its refunds;
/// late and unconfirmed payments listed apart.
#[utoipa::path(get, path = "/v1/invoices/{id}/refundable", tag = "refunds", security(("api_key" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Refundable), (status = 404, body = ErrorBody)))]
pub(crate) async fn refundable(
    State(st): State<AppState>,
    StoreId(store): StoreId,
    Path(id): Path<Uuid>,
) -> Result<Json<Refundable>, ApiError> {
    let svc = st.invoices().clone();
    let r = blocking(move || svc.refundable(&store, id)).await??;
    Ok(Json(r.into()))
}

/// One refund of this store.
#[utoipa::path(get, path = "/v1/refunds/{id}", tag = "refunds", security(("api_key" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Refund), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_refund(
    State(st): State<AppState>,
    StoreId(store): StoreId,
    Path(id): Path<Uuid>,
) -> Result<Json<Sorted<Refund>>, ApiError> {
    let svc = st.invoices().clone();
    let r = blocking(move || svc.refund(&store, id)).await??;
    r.map(|r| Json(Sorted(views::refund(&r)))).ok_or_else(|| ApiError::not_found(format!("refund {id}")))
}

/// The customer gives the refund's address (no API key: the one-time token is the proof).
#[utoipa::path(post, path = "/v1/refunds/claim/{token}", tag = "refunds", request_body = ClaimRefund,
    params(("token" = String, Path)),
    responses((status = 200, body = Refund), (status = 404, body = ErrorBody, description = "unknown or used token"),
        (status = 409, body = ErrorBody, description = "the store has as many watches as its `max_watches` (`quota_exceeded`)"),
        (status = 410, body = ErrorBody, description = "the token expired (`claim_expired`) or was locked after 5 refused addresses (`claim_locked`)"),
        (status = 413, body = ErrorBody, description = "a body over 1 KiB"), (status = 422, body = ErrorBody)))]
pub(crate) async fn claim(
    State(st): State<AppState>,
    Path(token): Path<String>,
    Json(req): Json<ClaimRefund>,
) -> Result<Json<Sorted<Refund>>, ApiError> {
    super::address_len("address", &req.address)?;
    let svc = st.invoices().clone();
    let r = blocking(move || svc.claim_refund(&token, &req.address)).await??;
    Ok(Json(Sorted(views::refund(&r))))
}
