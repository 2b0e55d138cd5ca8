//! CoinGate's integer ids in the `compat` column family: its SDKs read an order's and a
//! refund's `id` as an integer (the Python SDK's models say `id: int`), so each CoinGate order
//! gets the next number and a row to its invoice, each refund likewise. Keys (numbers as 20
//! zero-padded digits, so a prefix scan is in creation order):
//!
//! * `coingate/seq/order`, `coingate/seq/refund`: the last number given;
//! * `coingate/order/{n}`: `{"store", "invoice"}`;
//! * `coingate/store/{store}/{n}`: the invoice (a store's orders, for the list);
//! * `coingate/checkout/{n}`: the asset a checkout call chose;
//! * `coingate/refund/{order}/{r}`: the refund.
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

fn key(parts: &[&str]) -> Vec<u8> {
    format!("coingate/{}", parts.join("/")).into_bytes()
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
    let last = match st.db().compat_get(&k).map_err(internal)? {
        Some(v) => String::from_utf8_lossy(&v).parse::<u64>().map_err(internal)?,
        None => 0,
    };
    let n = last + 1;
    let mut b = st.db().batch();
    b.compat_put(&k, n.to_string().as_bytes());
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
    b.compat_put(&key(&["order", &num(n)]), json!({"store": store, "invoice": invoice}).to_string().as_bytes());
    b.compat_put(&key(&["store", store, &num(n)]), invoice.to_string().as_bytes());
    st.db().write(b).map_err(internal)
}

/// The invoice of order `n`, if it is `store`'s.
pub(super) fn order_invoice(st: &AppState, store: &str, n: u64) -> Result<Option<Uuid>, CgError> {
    let Some(raw) = st.db().compat_get(&key(&["order", &num(n)])).map_err(internal)? else { return Ok(None) };
    let v: Value = serde_json::from_slice(&raw).map_err(internal)?;
    if v["store"].as_str() != Some(store) {
        return Ok(None);
    }
    Ok(v["invoice"].as_str().and_then(|s| Uuid::parse_str(s).ok()))
}

/// A store's orders, oldest first.
pub(super) fn store_orders(st: &AppState, store: &str) -> Result<Vec<(u64, Uuid)>, CgError> {
    let prefix = key(&["store", store, ""]);
    let rows = st.db().compat_scan(&prefix).map_err(internal)?;
    let mut out = Vec::new();
    for (k, v) in rows {
        let n = String::from_utf8_lossy(&k[prefix.len()..]).parse::<u64>().map_err(internal)?;
        let id = Uuid::parse_str(&String::from_utf8_lossy(&v)).map_err(internal)?;
        out.push((n, id));
    }
    Ok(out)
}

/// The asset a checkout call chose for order `n`.
pub(super) fn chosen(st: &AppState, n: u64) -> Result<Option<String>, CgError> {
    let v = st.db().compat_get(&key(&["checkout", &num(n)])).map_err(internal)?;
    Ok(v.map(|v| String::from_utf8_lossy(&v).into_owned()))
}

pub(super) fn choose(st: &AppState, n: u64, asset: &str) -> Result<(), CgError> {
    let mut b = st.db().batch();
    b.compat_put(&key(&["checkout", &num(n)]), asset.as_bytes());
    st.db().write(b).map_err(internal)
}

/// A new refund number for `refund` of order `n`.
pub(super) fn link_refund(st: &AppState, n: u64, refund: Uuid) -> Result<u64, CgError> {
    let r = next(st, "refund")?;
    let mut b = st.db().batch();
    b.compat_put(&key(&["refund", &num(n), &num(r)]), refund.to_string().as_bytes());
    st.db().write(b).map_err(internal)?;
    Ok(r)
}

/// Order `n`'s refunds, oldest first.
pub(super) fn order_refunds(st: &AppState, n: u64) -> Result<Vec<(u64, Uuid)>, CgError> {
    let prefix = key(&["refund", &num(n), ""]);
    let mut out = Vec::new();
    for (k, v) in st.db().compat_scan(&prefix).map_err(internal)? {
        let r = String::from_utf8_lossy(&k[prefix.len()..]).parse::<u64>().map_err(internal)?;
        out.push((r, Uuid::parse_str(&String::from_utf8_lossy(&v)).map_err(internal)?));
    }
    Ok(out)
}
