//! CoinGate's integer ids in the `compat` column family: its SDKs read an order's and a
//! refund's `id` as an integer (the Python SDK's models say `id: int`), so each CoinGate order
//! gets the next number of its store and a row to its invoice, each refund likewise. Numbers
//! are per store: with one counter for all, a store would read from the gaps between its own
//! ids how many orders the other stores took, and when. Keys, under the `coingate` gateway
//! (store ids have no `/`; numbers as 20 zero-padded digits, so a prefix scan is in creation
//! order), JSON values:
//!
//! * `seq/{store}/order`, `seq/{store}/refund`: the last number the store gave;
//! * `store/{store}/{n}`: the invoice of the store's order `n` (also the list);
//! * `checkout/{store}/{n}`: the asset a checkout call chose;
//! * `refund/{store}/{order}/{r}`: the refund.
//!
//! A number is taken (and written) before its invoice is made: a creation that then fails
//! leaves a gap, as CoinGate's own ids have.

use super::error::CgError;
use crate::api::AppState;
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

fn next(st: &AppState, store: &str, which: &str) -> Result<u64, CgError> {
    let _one = SEQ.lock().unwrap_or_else(|p| p.into_inner());
    let k = key(&["seq", store, which]);
    let n = st.db().compat_get::<u64>(GATEWAY, &k).map_err(internal)?.unwrap_or(0) + 1;
    let mut b = st.db().batch();
    b.compat_put(GATEWAY, &k, &n).map_err(internal)?;
    st.db().write(b).map_err(internal)?;
    Ok(n)
}

/// The store's next order number.
pub(super) fn next_order(st: &AppState, store: &str) -> Result<u64, CgError> {
    next(st, store, "order")
}

/// Order `n` of `store` is `invoice`.
pub(super) fn link_order(st: &AppState, store: &str, n: u64, invoice: Uuid) -> Result<(), CgError> {
    let mut b = st.db().batch();
    b.compat_put(GATEWAY, &key(&["store", store, &num(n)]), &invoice).map_err(internal)?;
    st.db().write(b).map_err(internal)
}

/// The invoice of `store`'s order `n`.
pub(super) fn order_invoice(st: &AppState, store: &str, n: u64) -> Result<Option<Uuid>, CgError> {
    st.db().compat_get::<Uuid>(GATEWAY, &key(&["store", store, &num(n)])).map_err(internal)
}

/// A store's orders, oldest first.
pub(super) fn store_orders(st: &AppState, store: &str) -> Result<Vec<(u64, Uuid)>, CgError> {
    let prefix = key(&["store", store, ""]);
    numbered(st.db().compat_scan::<Uuid>(GATEWAY, &prefix, MAX_LIST).map_err(internal)?, prefix.len())
}

/// The asset a checkout call chose for `store`'s order `n`.
pub(super) fn chosen(st: &AppState, store: &str, n: u64) -> Result<Option<String>, CgError> {
    st.db().compat_get::<String>(GATEWAY, &key(&["checkout", store, &num(n)])).map_err(internal)
}

pub(super) fn choose(st: &AppState, store: &str, n: u64, asset: &str) -> Result<(), CgError> {
    let mut b = st.db().batch();
    b.compat_put(GATEWAY, &key(&["checkout", store, &num(n)]), &asset).map_err(internal)?;
    st.db().write(b).map_err(internal)
}

/// A new refund number of `store` for `refund` of its order `n`.
pub(super) fn link_refund(st: &AppState, store: &str, n: u64, refund: Uuid) -> Result<u64, CgError> {
    let r = next(st, store, "refund")?;
    let mut b = st.db().batch();
    b.compat_put(GATEWAY, &key(&["refund", store, &num(n), &num(r)]), &refund).map_err(internal)?;
    st.db().write(b).map_err(internal)?;
    Ok(r)
}

/// The refunds of `store`'s order `n`, oldest first.
pub(super) fn order_refunds(st: &AppState, store: &str, n: u64) -> Result<Vec<(u64, Uuid)>, CgError> {
    let prefix = key(&["refund", store, &num(n), ""]);
    numbered(st.db().compat_scan::<Uuid>(GATEWAY, &prefix, MAX_LIST).map_err(internal)?, prefix.len())
}

/// Rows keyed `…/{number}` as (number, value).
fn numbered(rows: Vec<(Vec<u8>, Uuid)>, skip: usize) -> Result<Vec<(u64, Uuid)>, CgError> {
    rows.into_iter()
        .map(|(k, v)| Ok((String::from_utf8_lossy(&k[skip..]).parse::<u64>().map_err(internal)?, v)))
        .collect()
}
