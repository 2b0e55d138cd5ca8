//! CoinGate's integer ids in the `compat` column family: its SDKs read an order's and a
//! refund's `id` as an integer (the Python SDK's models say `id: int`), so each CoinGate order
//! gets the next number and a row to its invoice, each refund likewise. Keys, under the
//! `coingate` gateway (numbers as 20 zero-padded digits, so a prefix scan is in creation
//! order), JSON values:
//!
//! * `seq/order`, `seq/refund`: the last number given;
//! * `order/{n}`: `{"store", "invoice"}`;
//! * `store/{store}/{n}`: the invoice (a store's orders, for the list);
//! * `checkout/{n}`: the asset a checkout call chose;
//! * `refund/{order}/{r}`: the refund.
//!
//! A number is taken (and written) before its invoice is made: a creation that then fails
//! leaves a gap, as CoinGate's own ids have.

use super::error::CgError;
use crate::api::AppState;
use serde_json::{json, Value};
use std::sync::Mutex;
use uuid::Uuid;

/// One number at a time (the read-increment-write of a sequence).
static SEQ: Mutex<()> = Mutex::new(());

const GATEWAY: &str = "coingate";

/// Most orders one store's list reads.
const MAX_LIST: usize = 100_000;

fn key(parts: &[&str]) -> Vec<u8> {
    parts.join("/").into_bytes()
}

fn num(n: u64) -> String {
    format!("{n:020}")
}

fn internal(e: impl std::fmt::Display) -> CgError {
    crate::api::error::ApiError::internal(e).into()
}

fn next(st: &AppState, which: &str) -> Result<u64, CgError> {
    let _one = SEQ.lock().unwrap_or_else(|p| p.into_inner());
    let k = key(&["seq", which]);
    let n = st.db().compat_get::<u64>(GATEWAY, &k).map_err(internal)?.unwrap_or(0) + 1;
    let mut b = st.db().batch();
    b.compat_put(GATEWAY, &k, &n).map_err(internal)?;
    st.db().write(b).map_err(internal)?;
    Ok(n)
}

/// The next order number.
pub(super) fn next_order(st: &AppState) -> Result<u64, CgError> {
    next(st, "order")
}

/// Order `n` is `invoice` of `store`.
pub(super) fn link_order(st: &AppState, store: &str, n: u64, invoice: Uuid) -> Result<(), CgError> {
    let mut b = st.db().batch();
    b.compat_put(GATEWAY, &key(&["order", &num(n)]), &json!({"store": store, "invoice": invoice})).map_err(internal)?;
    b.compat_put(GATEWAY, &key(&["store", store, &num(n)]), &invoice).map_err(internal)?;
    st.db().write(b).map_err(internal)
}

/// The invoice of order `n`, if it is `store`'s.
pub(super) fn order_invoice(st: &AppState, store: &str, n: u64) -> Result<Option<Uuid>, CgError> {
    let Some(v) = st.db().compat_get::<Value>(GATEWAY, &key(&["order", &num(n)])).map_err(internal)? else {
        return Ok(None);
    };
    if v["store"].as_str() != Some(store) {
        return Ok(None);
    }
    Ok(v["invoice"].as_str().and_then(|s| Uuid::parse_str(s).ok()))
}

/// A store's orders, oldest first.
pub(super) fn store_orders(st: &AppState, store: &str) -> Result<Vec<(u64, Uuid)>, CgError> {
    let prefix = key(&["store", store, ""]);
    numbered(st.db().compat_scan::<Uuid>(GATEWAY, &prefix, MAX_LIST).map_err(internal)?, prefix.len())
}

/// The asset a checkout call chose for order `n`.
pub(super) fn chosen(st: &AppState, n: u64) -> Result<Option<String>, CgError> {
    st.db().compat_get::<String>(GATEWAY, &key(&["checkout", &num(n)])).map_err(internal)
}

pub(super) fn choose(st: &AppState, n: u64, asset: &str) -> Result<(), CgError> {
    let mut b = st.db().batch();
    b.compat_put(GATEWAY, &key(&["checkout", &num(n)]), &asset).map_err(internal)?;
    st.db().write(b).map_err(internal)
}

/// A new refund number for `refund` of order `n`.
pub(super) fn link_refund(st: &AppState, n: u64, refund: Uuid) -> Result<u64, CgError> {
    let r = next(st, "refund")?;
    let mut b = st.db().batch();
    b.compat_put(GATEWAY, &key(&["refund", &num(n), &num(r)]), &refund).map_err(internal)?;
    st.db().write(b).map_err(internal)?;
    Ok(r)
}

/// Order `n`'s refunds, oldest first.
pub(super) fn order_refunds(st: &AppState, n: u64) -> Result<Vec<(u64, Uuid)>, CgError> {
    let prefix = key(&["refund", &num(n), ""]);
    numbered(st.db().compat_scan::<Uuid>(GATEWAY, &prefix, MAX_LIST).map_err(internal)?, prefix.len())
}

/// Rows keyed `…/{number}` as (number, value).
fn numbered(rows: Vec<(Vec<u8>, Uuid)>, skip: usize) -> Result<Vec<(u64, Uuid)>, CgError> {
    rows.into_iter()
        .map(|(k, v)| Ok((String::from_utf8_lossy(&k[skip..]).parse::<u64>().map_err(internal)?, v)))
        .collect()
}
