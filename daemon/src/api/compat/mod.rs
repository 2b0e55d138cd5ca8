//! The gateway-compatible APIs (`docs/compat.md`): BitPay's under `/bitpay`, CoinGate's v2
//! under `/coingate`, CoinPayments' `api.php` under `/coinpayments`, so that a shop's existing
//! plugin or SDK works by changing its base URL and keys. Each gateway's module authenticates
//! its clients its own way (against the store's `[stores.<gateway>]` credentials), speaks its
//! shapes and statuses, and makes paywatch invoices through [`create`]; its callbacks are the
//! gateway's platform plugin's, sent by the dispatcher from the store's gateway endpoint.
//! A store that has not enabled a gateway does not exist for that gateway's routes.

pub(super) mod bitpay;
mod coingate;
pub(super) mod coinpayments;

use super::error::ApiError;
use super::AppState;
use crate::config::{BitpayConfig, CoinpaymentsConfig, Config, StoreGateways};
use crate::db::{GatewayRecord, InvoiceRecord};
use crate::invoices::NewInvoice;
use axum::Router;

pub(super) use bitpay::{approve_code as bitpay_approve_code, make_code as bitpay_make_code};

/// Largest gateway fields kept on an invoice (they are in every event of it).
const MAX_GATEWAY_DATA: usize = 8 * 1024;
/// Order ids tried for one invoice before giving up (`1042`, `1042-2`, … `1042-64`).
const MAX_ORDER_SUFFIX: u32 = 64;
/// Longest order id a gateway client may give (paywatch's own allow 128; room for a suffix).
pub(super) const MAX_GATEWAY_ORDER_ID: usize = 100;

/// Each store's gateway tables, to find the store a gateway's credential belongs to.
#[derive(Debug)]
pub(crate) struct Gateways {
    stores: Vec<(String, StoreGateways)>,
}

impl Gateways {
    pub(crate) fn new(config: &Config) -> Self {
        Self { stores: config.stores.iter().map(|s| (s.id.clone(), s.gateways.clone())).collect() }
    }

    /// The store's BitPay table, if the store exists and answers BitPay.
    pub(super) fn bitpay(&self, store: &str) -> Option<&BitpayConfig> {
        self.stores.iter().find(|(id, _)| id == store)?.1.bitpay.as_ref()
    }

    /// The stores that answer BitPay, in config order.
    pub(super) fn bitpay_stores(&self) -> Vec<&str> {
        self.stores.iter().filter(|(_, g)| g.bitpay.is_some()).map(|(id, _)| id.as_str()).collect()
    }

    /// The store whose CoinGate `api_token` this is: every store's is checked, each in
    /// constant time.
    pub(super) fn coingate_store(&self, presented: &str) -> Option<&str> {
        let mut found = None;
        for (id, g) in &self.stores {
            if g.coingate.as_ref().is_some_and(|c| c.api_token.matches(presented)) && found.is_none() {
                found = Some(id.as_str());
            }
        }
        found
    }

    /// Whether any store answers CoinGate (none: its routes are all `404`).
    pub(super) fn any_coingate(&self) -> bool {
        self.stores.iter().any(|(_, g)| g.coingate.is_some())
    }

    /// Whether any store answers CoinPayments (none: its API answers `404`).
    pub(super) fn any_coinpayments(&self) -> bool {
        self.stores.iter().any(|(_, g)| g.coinpayments.is_some())
    }

    /// The store whose CoinPayments `public_key` this is (a public value: compared plainly),
    /// with its table.
    pub(super) fn coinpayments_store(&self, public_key: &str) -> Option<(&str, &CoinpaymentsConfig)> {
        self.stores.iter().find_map(|(id, g)| {
            g.coinpayments.as_ref().filter(|c| c.public_key == public_key).map(|c| (id.as_str(), c))
        })
    }
}

/// Counts a failed authentication of a gateway's client against the same per-client budget
/// as the API's keys (`server.auth_failures_per_minute`, `auth_failure_burst`): `401`, or
/// `429` with its `Retry-After` past the budget; the gateway answers it in its own shape.
pub(super) fn auth_failed(st: &AppState, ext: &axum::http::Extensions) -> ApiError {
    st.auth_failures().fail(ext)
}

/// Every gateway's routes, each under its prefix; `public` limits those that take no
/// credential per client.
pub(super) fn router(public: &super::limits::PublicLimit) -> Router<AppState> {
    Router::new()
        .nest("/bitpay", bitpay::router(public))
        .nest("/coingate", coingate::router())
        .nest("/coinpayments", coinpayments::router())
}

/// Makes a paywatch invoice for a gateway's request: `new` as the gateway's fields map onto
/// paywatch's (price, currency, methods, description, expiry, speed, redirect), `gateway` its
/// own fields of the invoice. Gateways allow several invoices for one order (a customer who
/// comes back after one expired), paywatch does not: the invoice's `order_id` is the
/// gateway's order id (`new.order_id`, or the gateway's name when empty) when this store has
/// no invoice of that id yet, else that id with the first free suffix `-2`, `-3`…; the
/// gateway's own order id stays in `gateway.data` for its views. `new.gateway` is set here.
pub(super) async fn create(
    st: &AppState,
    store: &str,
    mut new: NewInvoice,
    gateway: GatewayRecord,
) -> Result<InvoiceRecord, ApiError> {
    if gateway.data.to_string().len() > MAX_GATEWAY_DATA {
        let m = format!("the request's gateway fields take more than {MAX_GATEWAY_DATA} bytes");
        return Err(ApiError::invalid("invalid_field", m));
    }
    let base = match new.order_id.trim() {
        "" => gateway.kind.clone(),
        id if id.len() > MAX_GATEWAY_ORDER_ID => {
            let m = format!("order id is longer than {MAX_GATEWAY_ORDER_ID} bytes");
            return Err(ApiError::invalid("invalid_field", m));
        }
        id => id.to_string(),
    };
    new.gateway = Some(gateway);
    new.order_id = base.clone();
    let svc = st.invoices().clone();
    let (s, n) = (store.to_string(), new.clone());
    let pricing = super::blocking(move || svc.pricing(&s, &n)).await??;
    let locked = super::invoices::lock_rates(st.rates(), store, &pricing).await?;
    for n in 1..=MAX_ORDER_SUFFIX {
        new.order_id = if n == 1 { base.clone() } else { format!("{base}-{n}") };
        let (svc, db) = (st.invoices().clone(), st.db().clone());
        let (s, req, p, l) = (store.to_string(), new.clone(), pricing.clone(), locked.clone());
        let made = super::blocking(move || {
            if db.invoice_by_order(&s, req.order_id.trim())?.is_some() {
                return Ok(None);
            }
            // Another request may take the id between the look and the write: then `create`
            // answers with that invoice (same request hash) or a conflict, and the next suffix
            // is tried.
            match svc.create(&s, req, &p, &l, None) {
                Ok((inv, true)) => Ok(Some(inv)),
                Ok((_, false)) | Err(crate::invoices::InvoiceError::OrderConflict { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await??;
        if let Some(inv) = made {
            return Ok(inv);
        }
    }
    let m = format!("order {base:?} has {MAX_ORDER_SUFFIX} invoices already");
    Err(ApiError::new(axum::http::StatusCode::CONFLICT, "order_conflict", m))
}
