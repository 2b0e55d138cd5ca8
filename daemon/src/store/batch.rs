//! Typed batches: every state change of one update goes into one batch, written atomically.

use super::records::{BlockRecord, EventRecord, PaymentRecord, WatchRecord};
use super::schema::*;
use super::{Store, StoreError};
use rocksdb::WriteBatch;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

/// An event to append; its sequence number is assigned when the batch commits.
#[derive(Debug, Clone)]
pub(crate) struct NewEvent {
    pub(crate) kind: String,
    pub(crate) store: String,
    pub(crate) data: Value,
}

impl NewEvent {
    pub(super) fn into_record(self, seq: u64) -> EventRecord {
        EventRecord {
            seq,
            id: Uuid::now_v7(),
            kind: self.kind,
            store: self.store,
            created_at: OffsetDateTime::now_utc(),
            data: self.data,
        }
    }
}

/// A set of writes applied all together or not at all by [`Store::write`].
pub(crate) struct Batch<'a> {
    store: &'a Store,
    wb: WriteBatch,
    events: Vec<NewEvent>,
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").field("ops", &self.wb.len()).field("events", &self.events.len()).finish()
    }
}

impl<'a> Batch<'a> {
    pub(super) fn new(store: &'a Store) -> Self {
        Self { store, wb: WriteBatch::default(), events: Vec::new() }
    }

    pub(super) fn into_parts(self) -> (WriteBatch, Vec<NewEvent>) {
        (self.wb, self.events)
    }

    /// Inserts or replaces a watch with all its index entries.
    pub(crate) fn put_watch(&mut self, w: &WatchRecord) -> Result<(), StoreError> {
        let v = serde_json::to_vec(w).map_err(|e| StoreError::Encode(e, CF_WATCHES))?;
        self.wb.put_cf(self.store.cf(CF_WATCHES), watch_key(w.id), v);
        self.wb.put_cf(self.store.cf(CF_WATCH_KEYS), watch_keys_key(&w.chain, &w.key, w.id), []);
        self.wb.put_cf(self.store.cf(CF_STORE_WATCHES), store_watches_key(&w.store, w.id), []);
        Ok(())
    }

    /// Deletes a watch and all its index entries.
    pub(crate) fn delete_watch(&mut self, w: &WatchRecord) {
        self.wb.delete_cf(self.store.cf(CF_WATCHES), watch_key(w.id));
        self.wb.delete_cf(self.store.cf(CF_WATCH_KEYS), watch_keys_key(&w.chain, &w.key, w.id));
        self.wb.delete_cf(self.store.cf(CF_STORE_WATCHES), store_watches_key(&w.store, w.id));
    }

    /// Inserts or replaces a payment; `live` (pending, or confirmed below its target) keeps it
    /// in the chain's live index that the indexer loads at start.
    pub(crate) fn put_payment(&mut self, p: &PaymentRecord, live: bool) -> Result<(), StoreError> {
        let key = payment_key(&p.chain, &p.txid, p.index, p.watch_id);
        let v = serde_json::to_vec(p).map_err(|e| StoreError::Encode(e, CF_PAYMENTS))?;
        self.wb.put_cf(self.store.cf(CF_PAYMENTS), &key, v);
        self.wb.put_cf(self.store.cf(CF_WATCH_PAYMENTS), watch_payments_key(p.watch_id, &key), []);
        match live {
            true => self.wb.put_cf(self.store.cf(CF_LIVE_PAYMENTS), &key, []),
            false => self.wb.delete_cf(self.store.cf(CF_LIVE_PAYMENTS), &key),
        }
        Ok(())
    }

    /// Records a connected block (with its undo data) at `height`.
    pub(crate) fn put_block(&mut self, chain: &str, height: u64, b: &BlockRecord) -> Result<(), StoreError> {
        let v = serde_json::to_vec(b).map_err(|e| StoreError::Encode(e, CF_BLOCKS))?;
        self.wb.put_cf(self.store.cf(CF_BLOCKS), block_key(chain, height), v);
        Ok(())
    }

    pub(crate) fn delete_block(&mut self, chain: &str, height: u64) {
        self.wb.delete_cf(self.store.cf(CF_BLOCKS), block_key(chain, height));
    }

    /// Forgets blocks below `height` (out of the reorg window).
    pub(crate) fn delete_blocks_below(&mut self, chain: &str, height: u64) {
        self.wb.delete_range_cf(self.store.cf(CF_BLOCKS), block_key(chain, 0), block_key(chain, height));
    }

    /// Appends an event to the outbox (and the store's event index).
    pub(crate) fn push_event(&mut self, e: NewEvent) {
        self.events.push(e);
    }
}
