//! The RocksDB schema: column-family names, key codecs and the schema version.
//! `docs/schema.md` documents this file; change both together.
//!
//! Integers in keys are big-endian so that iteration order is numeric order. Variable-length
//! strings in keys are prefixed with their length (one byte; names are at most 64 bytes), so
//! one prefix never runs into another.

use uuid::Uuid;

/// Bumped on every incompatible change of a CF, key or value layout.
pub(crate) const SCHEMA_VERSION: u32 = 11;
/// Versions this one opens by adding what it lacks (v1 → … → v4 only added column families
/// and optional fields; v5 added events' `subject`, derived on read for older events; v6 keys
/// address pools by receive source and reads the older pools as legacy ones, see [`tag`]; v7
/// keeps an invoice's refund totals, summed from its refunds when absent; v8 prices invoices
/// in a currency with payment methods and refunds by variant, with refund totals in the
/// invoice's value units: older invoices and refunds read with defaults, priced in their asset
/// at rate 1, whose value units are their base units, so nothing is rewritten; v9 adds an
/// invoice's optional `redirect_url`, absent in older ones; v10 adds an invoice's optional
/// `gateway` (made through a gateway-compatible API) and the `compat` column family; v11 adds
/// the `admin` column family (stores and API keys made at run time) and a refund's optional
/// `approval`). A version that would not keep what
/// this one keeps (v6 adding a refund without its totals, v7 adding one without its value or
/// reading a USD invoice's totals as base units, v8 rewriting an invoice without its
/// `redirect_url`, v9 one without its `gateway`, v10 knowing no run-time store or key, or a
/// refund awaiting approval) cannot open a store this one wrote.
pub(crate) const UPGRADABLE_FROM: [u32; 10] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

pub(crate) const CF_META: &str = "meta";
pub(crate) const CF_WATCHES: &str = "watches";
pub(crate) const CF_WATCH_KEYS: &str = "watch_keys";
pub(crate) const CF_STORE_WATCHES: &str = "store_watches";
pub(crate) const CF_OUTBOX: &str = "outbox";
pub(crate) const CF_STORE_EVENTS: &str = "store_events";
pub(crate) const CF_PAYMENTS: &str = "payments";
pub(crate) const CF_WATCH_PAYMENTS: &str = "watch_payments";
pub(crate) const CF_LIVE_PAYMENTS: &str = "live_payments";
pub(crate) const CF_BLOCKS: &str = "blocks";
pub(crate) const CF_INVOICES: &str = "invoices";
pub(crate) const CF_INVOICE_INDEX: &str = "invoice_index";
pub(crate) const CF_ADDRESSES: &str = "addresses";
pub(crate) const CF_REFUNDS: &str = "refunds";
pub(crate) const CF_ENDPOINTS: &str = "endpoints";
pub(crate) const CF_DELIVERIES: &str = "deliveries";
pub(crate) const CF_PENDING_DELIVERIES: &str = "pending_deliveries";
/// State of the gateway-compatible APIs that is not an invoice (BitPay tokens and pairing
/// codes, …): keys begin with the gateway's name and a `/` (see [`compat_key`]).
pub(crate) const CF_COMPAT: &str = "compat";
/// What the admin API makes at run time: stores (`store/` ‖ id) and API keys (`key/` ‖ key
/// id), see [`admin_key`].
pub(crate) const CF_ADMIN: &str = "admin";

/// Every column family of this schema version.
pub(crate) const ALL_CFS: [&str; 19] = [
    CF_META,
    CF_WATCHES,
    CF_WATCH_KEYS,
    CF_STORE_WATCHES,
    CF_OUTBOX,
    CF_STORE_EVENTS,
    CF_PAYMENTS,
    CF_WATCH_PAYMENTS,
    CF_LIVE_PAYMENTS,
    CF_BLOCKS,
    CF_INVOICES,
    CF_INVOICE_INDEX,
    CF_ADDRESSES,
    CF_REFUNDS,
    CF_ENDPOINTS,
    CF_DELIVERIES,
    CF_PENDING_DELIVERIES,
    CF_COMPAT,
    CF_ADMIN,
];

/// `compat`: gateway ‖ `/` ‖ the gateway's own key. Each gateway's keys are its own; the
/// prefix keeps them apart.
pub(crate) fn compat_key(gateway: &str, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(gateway.len() + 1 + key.len());
    k.extend_from_slice(gateway.as_bytes());
    k.push(b'/');
    k.extend_from_slice(key);
    k
}

/// `admin`: kind ‖ `/` ‖ id (`store/shop1`, `key/key_…`).
pub(crate) fn admin_key(kind: &str, id: &str) -> Vec<u8> {
    compat_key(kind, id.as_bytes())
}

/// `meta` key of an endpoint's dispatch cursor (the last outbox seq it has taken in).
pub(crate) fn cursor_key(endpoint: Uuid) -> Vec<u8> {
    let mut k = b"dispatch_cursor/".to_vec();
    k.extend_from_slice(endpoint.as_bytes());
    k
}

/// `deliveries` and `pending_deliveries`: endpoint id ‖ seq (u64 BE).
pub(crate) fn delivery_key(endpoint: Uuid, seq: u64) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..16].copy_from_slice(endpoint.as_bytes());
    k[16..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// `meta` key of the schema version (value: u32 BE).
pub(crate) const META_SCHEMA_VERSION: &[u8] = b"schema_version";

fn push_name(out: &mut Vec<u8>, name: &str) {
    debug_assert!(name.len() <= u8::MAX as usize, "names are validated to 64 bytes");
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
}

/// `watches`: watch id (16 bytes) → watch record.
pub(crate) fn watch_key(id: Uuid) -> [u8; 16] {
    *id.as_bytes()
}

/// `watch_keys`: len(chain) ‖ chain ‖ len(key) ‖ canonical key ‖ watch id → empty.
/// One canonical key may be watched by several stores; the prefix finds them all.
pub(crate) fn watch_keys_prefix(chain: &str, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + chain.len() + key.len() + 16);
    push_name(&mut out, chain);
    out.push(key.len().min(u8::MAX as usize) as u8);
    out.extend_from_slice(key);
    out
}

pub(crate) fn watch_keys_key(chain: &str, key: &[u8], id: Uuid) -> Vec<u8> {
    let mut out = watch_keys_prefix(chain, key);
    out.extend_from_slice(id.as_bytes());
    out
}

/// The chain's prefix in `watch_keys`, to load a chain's whole watch set.
pub(crate) fn watch_keys_chain_prefix(chain: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + chain.len());
    push_name(&mut out, chain);
    out
}

/// Splits a `watch_keys` key into (canonical key, watch id) given its chain prefix length.
pub(crate) fn decode_watch_keys_key(chain_prefix_len: usize, k: &[u8]) -> Option<(&[u8], Uuid)> {
    let rest = k.get(chain_prefix_len..)?;
    let (&len, rest) = rest.split_first()?;
    let (key, id) = rest.split_at_checked(len as usize)?;
    Some((key, Uuid::from_slice(id).ok()?))
}

/// `store_watches`: len(store) ‖ store ‖ watch id → empty. Watch ids are UUIDv7, so this
/// iterates a store's watches in creation order (the API's paging order).
pub(crate) fn store_watches_key(store: &str, id: Uuid) -> Vec<u8> {
    let mut out = store_prefix(store);
    out.extend_from_slice(id.as_bytes());
    out
}

/// The store of a `store_watches` key.
pub(crate) fn decode_store_watches_key(k: &[u8]) -> Option<&str> {
    let (&len, rest) = k.split_first()?;
    let (store, id) = rest.split_at_checked(len as usize)?;
    (id.len() == 16).then_some(())?;
    std::str::from_utf8(store).ok()
}

pub(crate) fn store_prefix(store: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + store.len() + 16);
    push_name(&mut out, store);
    out
}

/// `outbox`: seq (u64 BE) → event.
pub(crate) fn outbox_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

pub(crate) fn decode_seq(k: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(k.try_into().ok()?))
}

/// `store_events`: len(store) ‖ store ‖ seq (u64 BE) → empty: a store's events in order.
pub(crate) fn store_events_key(store: &str, seq: u64) -> Vec<u8> {
    let mut out = store_prefix(store);
    out.extend_from_slice(&seq.to_be_bytes());
    out
}

/// `payments` (and `live_payments`): len(chain) ‖ chain ‖ len(txid) ‖ txid ‖ index (u32 BE) ‖
/// watch id → payment. One output paying a key several stores watch is one payment per watch.
pub(crate) fn payment_key(chain: &str, txid: &str, index: u32, watch: Uuid) -> Vec<u8> {
    let mut out = payment_tx_prefix(chain, txid);
    out.extend_from_slice(&index.to_be_bytes());
    out.extend_from_slice(watch.as_bytes());
    out
}

/// Every payment of one transaction.
pub(crate) fn payment_tx_prefix(chain: &str, txid: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + chain.len() + txid.len() + 20);
    push_name(&mut out, chain);
    push_name(&mut out, txid);
    out
}

/// A chain's prefix in `payments`, `live_payments` and `blocks`.
pub(crate) fn chain_prefix(chain: &str) -> Vec<u8> {
    watch_keys_chain_prefix(chain)
}

/// `watch_payments`: watch id ‖ payment key → empty: a watch's payments.
pub(crate) fn watch_payments_key(watch: Uuid, payment_key: &[u8]) -> Vec<u8> {
    let mut out = watch.as_bytes().to_vec();
    out.extend_from_slice(payment_key);
    out
}

/// `blocks`: len(chain) ‖ chain ‖ height (u64 BE) → block record (hash, parent, undo).
pub(crate) fn block_key(chain: &str, height: u64) -> Vec<u8> {
    let mut out = chain_prefix(chain);
    out.extend_from_slice(&height.to_be_bytes());
    out
}

/// `invoice_index` keys start with a tag byte naming the index.
pub(crate) mod tag {
    /// `o` ‖ len(store) ‖ store ‖ order id → invoice id.
    pub(crate) const ORDER: u8 = b'o';
    /// `s` ‖ len(store) ‖ store ‖ invoice id → empty: a store's invoices in creation order.
    pub(crate) const STORE: u8 = b's';
    /// `k` ‖ len(store) ‖ store ‖ idempotency key → `{hash, id}`.
    pub(crate) const IDEMPOTENCY: u8 = b'k';
    /// `t` ‖ unix seconds (u64 BE) ‖ invoice id → timer kind: what to re-evaluate when.
    pub(crate) const TIMER: u8 = b't';
    /// `r` ‖ invoice id ‖ refund id → empty: an invoice's refunds.
    pub(crate) const REFUND: u8 = b'r';
    /// `c` ‖ SHA-256 of a claim token → refund id.
    pub(crate) const CLAIM: u8 = b'c';
    /// `R` ‖ invoice id → `{count, amount}`: the invoice's refunds, as running totals (since
    /// schema 7; summed from the `r` entries when absent).
    pub(crate) const REFUND_TOTALS: u8 = b'R';
    /// `addresses`: `N` ‖ len(store) ‖ store ‖ len(asset) ‖ asset ‖ source (32) → the source's
    /// next derivation/list index.
    pub(crate) const NEXT: u8 = b'N';
    /// `addresses`: `F` ‖ len(store) ‖ store ‖ len(asset) ‖ asset ‖ source (32) ‖ index
    /// (u32 BE) → an address of that source free for reuse.
    pub(crate) const FREE: u8 = b'F';
    /// `addresses`, written by schema ≤ 5 only: `n` ‖ len(store) ‖ store ‖ len(asset) ‖ asset →
    /// the next index every source of the store's asset shared then (where a source without a
    /// counter of its own starts).
    pub(crate) const LEGACY_NEXT: u8 = b'n';
    /// `addresses`, written by schema ≤ 5 (and by releases of invoices made then): `f` ‖
    /// len(store) ‖ store ‖ len(asset) ‖ asset ‖ index (u32 BE) → an address of an unknown
    /// source free for reuse (reused only when the current source gives it at that index).
    pub(crate) const LEGACY_FREE: u8 = b'f';
}

/// A tagged key: tag ‖ len(store) ‖ store ‖ rest.
pub(crate) fn tagged(tag: u8, store: &str, rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + store.len() + rest.len());
    out.push(tag);
    push_name(&mut out, store);
    out.extend_from_slice(rest);
    out
}

/// tag ‖ len(store) ‖ store ‖ len(asset) ‖ asset (the `addresses` CF).
pub(crate) fn store_asset(tag: u8, store: &str, asset: &str) -> Vec<u8> {
    let mut out = tagged(tag, store, &[]);
    push_name(&mut out, asset);
    out
}

/// tag ‖ len(store) ‖ store ‖ len(asset) ‖ asset ‖ source (an address pool's keys).
pub(crate) fn pool_key(tag: u8, store: &str, asset: &str, source: &[u8; 32]) -> Vec<u8> {
    let mut out = store_asset(tag, store, asset);
    out.extend_from_slice(source);
    out
}

/// `t` ‖ unix seconds ‖ invoice id.
pub(crate) fn timer_key(at: i64, id: Uuid) -> Vec<u8> {
    let mut out = vec![tag::TIMER];
    out.extend_from_slice(&(at.max(0) as u64).to_be_bytes());
    out.extend_from_slice(id.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_endian_sequence_keys_sort_numerically() {
        let mut keys: Vec<_> = [256u64, 1, u64::MAX, 255, 0].iter().map(|s| outbox_key(*s)).collect();
        keys.sort();
        let seqs: Vec<_> = keys.iter().map(|k| decode_seq(k).unwrap()).collect();
        assert_eq!(seqs, vec![0, 1, 255, 256, u64::MAX]);
    }

    #[test]
    fn length_prefixes_keep_names_apart() {
        // "ab" + key "c…" must not share a prefix with "abc" + key "…".
        let id = Uuid::now_v7();
        let a = watch_keys_key("ab", b"cd", id);
        assert!(!a.starts_with(&watch_keys_chain_prefix("abc")));
        let p = watch_keys_chain_prefix("ab");
        assert_eq!(decode_watch_keys_key(p.len(), &a), Some((&b"cd"[..], id)));
        assert!(!store_watches_key("shop1", id).starts_with(&store_prefix("shop")));
        assert_eq!(decode_store_watches_key(&store_watches_key("shop1", id)), Some("shop1"));
        assert_eq!(decode_store_watches_key(&store_prefix("shop1")), None);
    }

    #[test]
    fn payment_keys_round_trip_and_group_by_transaction() {
        let w = Uuid::now_v7();
        let k = payment_key("btc", "ab", 7, w);
        assert!(k.starts_with(&payment_tx_prefix("btc", "ab")));
        assert!(k.ends_with(w.as_bytes()));
        assert!(payment_key("btc", "ab", 256, w) > payment_key("btc", "ab", 255, w));
        assert!(!payment_key("btc", "abc", 0, w).starts_with(&payment_tx_prefix("btc", "ab")));
        assert!(block_key("btc", 256) > block_key("btc", 255));
    }
}
