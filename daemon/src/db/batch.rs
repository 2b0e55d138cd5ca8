//! Typed batches: every state change of one update goes into one batch, written atomically.

use super::invoices::free_key;
use super::{
    BlockRecord, DeliveryRecord, DeliveryStatus, EndpointRecord, EventRecord, InvoiceRecord, PaymentRecord,
    RefundRecord, SourceId, WatchRecord,
};

use super::schema::*;
use super::{Db, DbError};
use rocksdb::WriteBatch;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

/// An event to append (made by `crate::events`); its sequence number is assigned when the
/// batch commits.
#[derive(Debug, Clone)]
pub(crate) struct NewEvent {
    pub(crate) kind: paywatch_plugin_api::events::EventKind,
    pub(crate) store: String,
    pub(crate) subject: String,
    pub(crate) data: Value,
}

impl NewEvent {
    pub(super) fn into_record(self, seq: u64) -> EventRecord {
        EventRecord {
            seq,
            id: Uuid::now_v7(),
            kind: self.kind,
            store: self.store,
            subject: self.subject,
            created_at: OffsetDateTime::now_utc(),
            data: self.data,
        }
    }
}

/// A set of writes applied all together or not at all by [`Db::write`].
pub(crate) struct Batch<'a> {
    pub(super) db: &'a Db,
    pub(super) wb: WriteBatch,
    events: Vec<NewEvent>,
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").field("ops", &self.wb.len()).field("events", &self.events.len()).finish()
    }
}

impl<'a> Batch<'a> {
    pub(super) fn new(db: &'a Db) -> Self {
        Self { db, wb: WriteBatch::default(), events: Vec::new() }
    }

    pub(super) fn into_parts(self) -> (WriteBatch, Vec<NewEvent>) {
        (self.wb, self.events)
    }

    /// Inserts or replaces a watch with all its index entries.
    pub(crate) fn put_watch(&mut self, w: &WatchRecord) -> Result<(), DbError> {
        let v = serde_json::to_vec(w).map_err(|e| DbError::Encode(e, CF_WATCHES))?;
        self.wb.put_cf(self.db.cf(CF_WATCHES), watch_key(w.id), v);
        self.wb.put_cf(self.db.cf(CF_WATCH_KEYS), watch_keys_key(&w.chain, &w.key, w.id), []);
        self.wb.put_cf(self.db.cf(CF_STORE_WATCHES), store_watches_key(&w.store, w.id), []);
        Ok(())
    }

    /// Deletes a watch and all its index entries.
    pub(crate) fn delete_watch(&mut self, w: &WatchRecord) {
        self.wb.delete_cf(self.db.cf(CF_WATCHES), watch_key(w.id));
        self.wb.delete_cf(self.db.cf(CF_WATCH_KEYS), watch_keys_key(&w.chain, &w.key, w.id));
        self.wb.delete_cf(self.db.cf(CF_STORE_WATCHES), store_watches_key(&w.store, w.id));
    }

    /// Inserts or replaces a payment; `live` (pending, or confirmed below its target) keeps it
    /// in the chain's live index that the indexer loads at start.
    pub(crate) fn put_payment(&mut self, p: &PaymentRecord, live: bool) -> Result<(), DbError> {
        let key = payment_key(&p.chain, &p.txid, p.index, p.watch_id);
        let v = serde_json::to_vec(p).map_err(|e| DbError::Encode(e, CF_PAYMENTS))?;
        self.wb.put_cf(self.db.cf(CF_PAYMENTS), &key, v);
        self.wb.put_cf(self.db.cf(CF_WATCH_PAYMENTS), watch_payments_key(p.watch_id, &key), []);
        match live {
            true => self.wb.put_cf(self.db.cf(CF_LIVE_PAYMENTS), &key, []),
            false => self.wb.delete_cf(self.db.cf(CF_LIVE_PAYMENTS), &key),
        }
        Ok(())
    }

    /// Records a connected block (with its undo data) at `height`.
    pub(crate) fn put_block(&mut self, chain: &str, height: u64, b: &BlockRecord) -> Result<(), DbError> {
        let v = serde_json::to_vec(b).map_err(|e| DbError::Encode(e, CF_BLOCKS))?;
        self.wb.put_cf(self.db.cf(CF_BLOCKS), block_key(chain, height), v);
        Ok(())
    }

    pub(crate) fn delete_block(&mut self, chain: &str, height: u64) {
        self.wb.delete_cf(self.db.cf(CF_BLOCKS), block_key(chain, height));
    }

    /// Forgets blocks below `height` (out of the reorg window).
    pub(crate) fn delete_blocks_below(&mut self, chain: &str, height: u64) {
        self.wb.delete_range_cf(self.db.cf(CF_BLOCKS), block_key(chain, 0), block_key(chain, height));
    }

    /// Inserts or replaces an invoice with its order-id and listing entries.
    pub(crate) fn put_invoice(&mut self, i: &InvoiceRecord) -> Result<(), DbError> {
        let v = serde_json::to_vec(i).map_err(|e| DbError::Encode(e, CF_INVOICES))?;
        self.wb.put_cf(self.db.cf(CF_INVOICES), i.id.as_bytes(), v);
        let idx = self.db.cf(CF_INVOICE_INDEX);
        self.wb.put_cf(idx, tagged(tag::ORDER, &i.store, i.order_id.as_bytes()), i.id.as_bytes());
        self.wb.put_cf(idx, tagged(tag::STORE, &i.store, i.id.as_bytes()), []);
        Ok(())
    }

    /// Remembers what an idempotency key of a store was used for.
    pub(crate) fn put_idempotency(&mut self, store: &str, key: &str, request_hash: &str, id: Uuid) {
        let v = serde_json::json!({"hash": request_hash, "id": id}).to_string();
        self.wb.put_cf(self.db.cf(CF_INVOICE_INDEX), tagged(tag::IDEMPOTENCY, store, key.as_bytes()), v);
    }

    /// Asks for invoice `id` to be re-evaluated at unix time `at` (`kind`: what for).
    pub(crate) fn put_timer(&mut self, at: i64, id: Uuid, kind: u8) {
        self.wb.put_cf(self.db.cf(CF_INVOICE_INDEX), timer_key(at, id), [kind]);
    }

    pub(crate) fn delete_timer(&mut self, at: i64, id: Uuid) {
        self.wb.delete_cf(self.db.cf(CF_INVOICE_INDEX), timer_key(at, id));
    }

    /// The next index to derive (or take from the address list) of a receive source of a
    /// store's asset.
    pub(crate) fn put_next_index(&mut self, store: &str, asset: &str, source: &SourceId, next: u32) {
        self.wb.put_cf(self.db.cf(CF_ADDRESSES), pool_key(tag::NEXT, store, asset, &source.0), next.to_be_bytes());
    }

    /// An address that may be handed out again: in its source's pool, or in the legacy pool
    /// when its source is unknown (an invoice made before schema 6).
    pub(crate) fn put_free_address(
        &mut self,
        store: &str,
        asset: &str,
        source: Option<&SourceId>,
        index: u32,
        address: &str,
    ) {
        self.wb.put_cf(self.db.cf(CF_ADDRESSES), free_key(store, asset, source, index), address.as_bytes());
    }

    pub(crate) fn delete_free_address(&mut self, store: &str, asset: &str, source: Option<&SourceId>, index: u32) {
        self.wb.delete_cf(self.db.cf(CF_ADDRESSES), free_key(store, asset, source, index));
    }

    /// Inserts or replaces a refund (and its invoice's link to it).
    pub(crate) fn put_refund(&mut self, r: &RefundRecord) -> Result<(), DbError> {
        let v = serde_json::to_vec(r).map_err(|e| DbError::Encode(e, CF_REFUNDS))?;
        self.wb.put_cf(self.db.cf(CF_REFUNDS), r.id.as_bytes(), v);
        let mut link = vec![tag::REFUND];
        link.extend_from_slice(r.invoice_id.as_bytes());
        link.extend_from_slice(r.id.as_bytes());
        self.wb.put_cf(self.db.cf(CF_INVOICE_INDEX), link, []);
        Ok(())
    }

    /// A claim token (by its SHA-256) → the refund it may give an address to.
    pub(crate) fn put_claim(&mut self, token_sha256: &[u8; 32], refund: Uuid) {
        let mut k = vec![tag::CLAIM];
        k.extend_from_slice(token_sha256);
        self.wb.put_cf(self.db.cf(CF_INVOICE_INDEX), k, refund.as_bytes());
    }

    pub(crate) fn put_endpoint(&mut self, e: &EndpointRecord) -> Result<(), DbError> {
        let v = serde_json::to_vec(e).map_err(|err| DbError::Encode(err, CF_ENDPOINTS))?;
        self.wb.put_cf(self.db.cf(CF_ENDPOINTS), e.id.as_bytes(), v);
        Ok(())
    }

    /// Deletes an endpoint, its cursor, deliveries and pending entries.
    pub(crate) fn delete_endpoint(&mut self, id: Uuid) {
        self.wb.delete_cf(self.db.cf(CF_ENDPOINTS), id.as_bytes());
        self.wb.delete_cf(self.db.cf(CF_META), cursor_key(id));
        for cf in [CF_DELIVERIES, CF_PENDING_DELIVERIES] {
            self.wb.delete_range_cf(self.db.cf(cf), delivery_key(id, 0), delivery_key(id, u64::MAX));
            self.wb.delete_cf(self.db.cf(cf), delivery_key(id, u64::MAX));
        }
    }

    /// Inserts or replaces a delivery, keeping the pending index in step.
    pub(crate) fn put_delivery(&mut self, d: &DeliveryRecord) -> Result<(), DbError> {
        let k = delivery_key(d.endpoint, d.seq);
        let v = serde_json::to_vec(d).map_err(|err| DbError::Encode(err, CF_DELIVERIES))?;
        self.wb.put_cf(self.db.cf(CF_DELIVERIES), k, v);
        match d.status {
            DeliveryStatus::Pending => self.wb.put_cf(self.db.cf(CF_PENDING_DELIVERIES), k, []),
            _ => self.wb.delete_cf(self.db.cf(CF_PENDING_DELIVERIES), k),
        }
        Ok(())
    }

    /// The last outbox seq an endpoint has taken in.
    pub(crate) fn put_cursor(&mut self, endpoint: Uuid, seq: u64) {
        self.wb.put_cf(self.db.cf(CF_META), cursor_key(endpoint), seq.to_be_bytes());
    }

    /// A value of a record kept by another file of `db` (its key and encoding are its own).
    pub(super) fn put_raw(&mut self, cf: &'static str, key: &[u8], value: &[u8]) {
        self.wb.put_cf(self.db.cf(cf), key, value);
    }

    /// Appends an event to the outbox (and the store's event index).
    pub(crate) fn push_event(&mut self, e: NewEvent) {
        self.events.push(e);
    }
}
