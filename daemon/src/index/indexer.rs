//! The indexer: the single writer of one chain's payments. A follower hands it connected and
//! disconnected blocks and mempool transactions (as the currency plugins' scan replies); each
//! becomes one RocksDB batch holding the payments, the block's undo data, the cursor (the
//! block record itself) and the outbox events, so a crash at any instant leaves a state to
//! resume from without losing or inventing anything.
//!
//! Payment lifecycle: pending → confirmed(height, hash) → final at the watch's confirmation
//! target; or reversed (its block was disconnected; pending again if the transaction comes
//! back), dropped (left the mempool unmined), replaced (a conflicting spend was seen: a pending
//! payment's inputs are watched by the opaque outpoint keys its plugin gave, compared as bytes).

use super::watchset::ChainSet;
use crate::db::{Batch, BlockRecord, Db, DbError, NewEvent, PaymentRecord, PaymentRef, PaymentStatus, WatchRecord};
use crate::events::{self, EventKind};
use paywatch_plugin_api::amount::format_base_units;
use paywatch_plugin_api::messages::{Hex, Match, ScanReply};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, MutexGuard};
use time::OffsetDateTime;

#[derive(Debug, thiserror::Error)]
pub(crate) enum IndexError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("block {height} {hash} (parent {prev}) does not extend the local tip {tip}")]
    NotOnTip { height: u64, hash: String, prev: String, tip: String },
    #[error("cannot disconnect block {height}: the block below it is out of the recorded window")]
    WindowExhausted { height: u64 },
}

impl IndexError {
    /// The store refused a write for want of space (see [`DbError::is_disk_full`]).
    pub(crate) fn is_disk_full(&self) -> bool {
        matches!(self, IndexError::Db(e) if e.is_disk_full())
    }
}

/// What payment changes mean elsewhere (invoices, refunds): given the batch of an update and
/// the payments it changes, adds its own changes and events to it. The indexer then writes the
/// batch, so everything one update causes is one write, made by the indexer.
pub(crate) trait PaymentHook: Send + Sync + std::fmt::Debug {
    /// The returned guard is held until the batch is written: what the hook read to decide
    /// its changes cannot change in between.
    fn contribute(&self, db: &Db, batch: &mut Batch<'_>, changed: &[PaymentRecord]) -> Result<HookGuard<'_>, DbError>;
}

/// What a [`PaymentHook`] holds while the indexer writes (its lock, if it has one).
pub(crate) type HookGuard<'a> = Option<MutexGuard<'a, ()>>;

/// No hook: the batch is written as it is (tests of the indexer and followers alone).
#[cfg(test)]
#[derive(Debug)]
pub(crate) struct PlainWrites;

#[cfg(test)]
impl PaymentHook for PlainWrites {
    fn contribute(&self, _: &Db, _: &mut Batch<'_>, _: &[PaymentRecord]) -> Result<HookGuard<'_>, DbError> {
        Ok(None)
    }
}

/// A block of the local best chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlockRef {
    pub(crate) height: u64,
    pub(crate) hash: String,
}

/// Per asset: its decimals (to format amounts).
pub(crate) type Decimals = HashMap<String, u8>;

#[derive(Debug)]
pub(crate) struct Indexer {
    chain: String,
    db: Arc<Db>,
    set: Arc<ChainSet>,
    reorg_window: u32,
    decimals: Decimals,
    hook: Arc<dyn PaymentHook>,
    /// Pending payments and confirmed ones below their target.
    live: HashMap<PaymentRef, PaymentRecord>,
    /// The recorded blocks (reorg window), by height; the last is the tip (the cursor).
    blocks: BTreeMap<u64, BlockRecord>,
}

/// One update being built: its events and changed payments, written as one batch.
#[derive(Default)]
struct Update {
    changed: Vec<(Option<PaymentRecord>, PaymentRecord)>,
    events: Vec<NewEvent>,
}

impl Update {
    fn current(&self, r: &PaymentRef) -> Option<&PaymentRecord> {
        self.changed
            .iter()
            .rev()
            .map(|(_, n)| n)
            .find(|n| n.txid == r.txid && n.index == r.index && n.watch_id == r.watch)
    }

    fn set(&mut self, old: Option<PaymentRecord>, new: PaymentRecord, event: Option<EventKind>) {
        if let Some(kind) = event {
            self.emit(kind, &new);
        }
        self.changed.push((old, new));
    }

    fn emit(&mut self, kind: EventKind, p: &PaymentRecord) {
        self.events.push(events::payment(kind, p));
    }
}

/// A confirmed payment whose block left the best chain.
fn reversed(p: &PaymentRecord) -> PaymentRecord {
    PaymentRecord {
        status: PaymentStatus::Reversed,
        block_height: None,
        block_hash: None,
        confirmations: 0,
        is_final: false,
        updated_at: OffsetDateTime::now_utc(),
        ..p.clone()
    }
}

fn is_live(p: &PaymentRecord) -> bool {
    p.status == PaymentStatus::Pending || (p.status == PaymentStatus::Confirmed && !p.is_final)
}

fn pref(p: &PaymentRecord) -> PaymentRef {
    PaymentRef { txid: p.txid.clone(), index: p.index, watch: p.watch_id }
}

impl Indexer {
    /// Loads the chain's recorded blocks and live payments, and watches the pending ones' spends.
    pub(crate) fn load(
        chain: &str,
        db: Arc<Db>,
        set: Arc<ChainSet>,
        reorg_window: u32,
        decimals: Decimals,
        hook: Arc<dyn PaymentHook>,
    ) -> Result<Self, DbError> {
        let blocks = db.blocks(chain)?.into_iter().collect();
        let live: HashMap<_, _> = db.live_payments(chain)?.into_iter().map(|p| (pref(&p), p)).collect();
        let me = Self { chain: chain.to_string(), db, set, reorg_window, decimals, hook, live, blocks };
        for p in me.live.values().filter(|p| p.status == PaymentStatus::Pending) {
            me.watch_spends(&p.outpoint_keys, true);
        }
        Ok(me)
    }

    pub(crate) fn tip(&self) -> Option<BlockRef> {
        self.blocks.last_key_value().map(|(h, b)| BlockRef { height: *h, hash: b.hash.clone() })
    }

    /// The recorded hash at `height`, if it is in the window.
    pub(crate) fn hash_at(&self, height: u64) -> Option<&str> {
        self.blocks.get(&height).map(|b| b.hash.as_str())
    }

    /// The chain this indexer writes.
    pub(crate) fn chain(&self) -> &str {
        &self.chain
    }

    /// The recorded blocks, (height, hash), lowest first.
    pub(crate) fn recorded(&self) -> impl DoubleEndedIterator<Item = (u64, &str)> {
        self.blocks.iter().map(|(h, b)| (*h, b.hash.as_str()))
    }

    /// The lowest recorded height.
    pub(crate) fn lowest(&self) -> Option<u64> {
        self.blocks.first_key_value().map(|(h, _)| *h)
    }

    /// Txids of pending payments.
    #[cfg(test)]
    pub(crate) fn pending_txids(&self) -> HashSet<String> {
        self.live.values().filter(|p| p.status == PaymentStatus::Pending).map(|p| p.txid.clone()).collect()
    }

    /// First start: the block to follow from (not scanned itself).
    pub(crate) fn start_at(&mut self, height: u64, hash: &str, prev: &str) -> Result<(), IndexError> {
        let rec = BlockRecord { hash: hash.to_string(), prev: prev.to_string(), undo: Vec::new() };
        let mut batch = self.db.batch();
        batch.put_block(&self.chain, height, &rec)?;
        self.db.write(batch)?;
        self.blocks.insert(height, rec);
        Ok(())
    }

    /// Connects a block on top of the tip.
    pub(crate) fn connect(&mut self, height: u64, hash: &str, prev: &str, scan: ScanReply) -> Result<(), IndexError> {
        crate::faults::before_connect(&self.chain, height);
        if let Some(tip) = self.tip() {
            if tip.height + 1 != height || tip.hash != prev {
                return Err(IndexError::NotOnTip {
                    height,
                    hash: hash.into(),
                    prev: prev.into(),
                    tip: format!("{} {}", tip.height, tip.hash),
                });
            }
        }
        let mut up = Update::default();
        let mut undo = Vec::new();
        for m in &scan.matches {
            for (w, r) in self.watches_of(m)? {
                let old = self.current(&up, &r)?;
                if old.as_ref().is_some_and(|o| o.block_hash.as_deref() == Some(hash)) {
                    // Already counted in this block (kept by a rewind below it, or twice in one
                    // scan): nothing to emit, but the block's undo must name it, or its block
                    // leaving the chain would never reverse it.
                    if !undo.contains(&r) {
                        undo.push(r);
                    }
                    continue;
                }
                let mut p = self.seen_again(&old, &w, m);
                p.status = PaymentStatus::Confirmed;
                p.block_height = Some(height);
                p.block_hash = Some(hash.to_string());
                p.confirmations = 1;
                p.is_final = p.required_confirmations <= 1;
                p.replaced_by = None;
                p.updated_at = OffsetDateTime::now_utc();
                // Seen for the first time, or again after a reversal, drop or replacement
                // without a mempool sighting in between (EVM chains have none).
                if old.as_ref().is_none_or(|o| !matches!(o.status, PaymentStatus::Pending | PaymentStatus::Confirmed)) {
                    up.emit(EventKind::PaymentDetected, &p);
                }
                up.set(old, p, Some(EventKind::PaymentConfirmed));
                undo.push(r);
            }
        }
        self.replacements(&mut up, &scan)?;
        self.advance_confirmations(&mut up, height, true);
        let rec = BlockRecord { hash: hash.to_string(), prev: prev.to_string(), undo };
        let db = self.db.clone();
        let mut batch = db.batch();
        batch.put_block(&self.chain, height, &rec)?;
        let keep_from = height.saturating_sub(self.reorg_window as u64);
        if self.lowest().is_some_and(|l| l < keep_from) {
            batch.delete_blocks_below(&self.chain, keep_from);
        }
        self.commit(batch, up)?;
        self.blocks.insert(height, rec);
        self.blocks.retain(|h, _| *h >= keep_from);
        Ok(())
    }

    /// Disconnects the tip block: reverses what it confirmed. Returns the new tip.
    pub(crate) fn disconnect_tip(&mut self) -> Result<BlockRef, IndexError> {
        let (height, rec) = self.blocks.last_key_value().map(|(h, r)| (*h, r.clone())).expect("a tip exists");
        if !self.blocks.contains_key(&(height.wrapping_sub(1))) {
            return Err(IndexError::WindowExhausted { height });
        }
        let mut up = Update::default();
        for r in &rec.undo {
            let Some(old) = self.current(&up, r)? else { continue };
            if old.block_hash.as_deref() != Some(rec.hash.as_str()) {
                continue;
            }
            let p = reversed(&old);
            up.set(Some(old), p, Some(EventKind::PaymentReversed));
        }
        // Payments below keep their blocks; their confirmation count drops by one (no event:
        // counts only rise in events, and rise again as blocks are connected).
        self.advance_confirmations(&mut up, height - 1, false);
        let db = self.db.clone();
        let mut batch = db.batch();
        batch.delete_block(&self.chain, height);
        self.commit(batch, up)?;
        self.blocks.remove(&height);
        Ok(self.tip().expect("the block below is recorded"))
    }

    /// A transaction seen in the mempool.
    pub(crate) fn mempool_tx(&mut self, scan: ScanReply) -> Result<(), IndexError> {
        let mut up = Update::default();
        for m in &scan.matches {
            for (w, r) in self.watches_of(m)? {
                let old = self.current(&up, &r)?;
                if let Some(o) =
                    old.as_ref().filter(|o| matches!(o.status, PaymentStatus::Pending | PaymentStatus::Confirmed))
                {
                    // Pending since before plugins handed outpoint keys back: learn them now
                    // (no event: they are not part of the payment's wire shape).
                    if o.status == PaymentStatus::Pending && o.outpoint_keys.is_empty() && !m.outpoint_keys.is_empty() {
                        let p = self.seen_again(&old, &w, m);
                        up.set(old, p, None);
                    }
                    continue;
                }
                let mut p = self.seen_again(&old, &w, m);
                p.status = PaymentStatus::Pending;
                p.confirmations = 0;
                p.is_final = p.required_confirmations == 0;
                p.replaced_by = None;
                p.updated_at = OffsetDateTime::now_utc();
                up.set(old, p, Some(EventKind::PaymentDetected));
            }
        }
        self.replacements(&mut up, &scan)?;
        if up.changed.is_empty() {
            return Ok(());
        }
        let db = self.db.clone();
        self.commit(db.batch(), up)
    }

    /// Pending payments whose transaction is not in `mempool` (taken at the current tip) were
    /// dropped.
    pub(crate) fn drop_missing(&mut self, mempool: &HashSet<String>) -> Result<usize, IndexError> {
        let mut up = Update::default();
        for p in self.live.values().filter(|p| p.status == PaymentStatus::Pending && !mempool.contains(&p.txid)) {
            let mut n = p.clone();
            n.status = PaymentStatus::Dropped;
            n.is_final = false;
            n.updated_at = OffsetDateTime::now_utc();
            up.set(Some(p.clone()), n, Some(EventKind::PaymentDropped));
        }
        let n = up.changed.len();
        if n > 0 {
            let db = self.db.clone();
            self.commit(db.batch(), up)?;
        }
        Ok(n)
    }

    /// Pending payments one of whose inputs another transaction spends are replaced by it. The
    /// spend names the input by the key the payment's own match gave (opaque bytes, compared as
    /// they are); a spend without one (a plugin that gives no keys) matches nothing.
    fn replacements(&self, up: &mut Update, scan: &ScanReply) -> Result<(), IndexError> {
        for s in scan.watched_spends.iter().filter(|s| !s.outpoint_key.0.is_empty()) {
            let victims: Vec<PaymentRef> = self
                .live
                .values()
                .filter(|p| {
                    p.status == PaymentStatus::Pending && p.txid != s.txid && p.outpoint_keys.contains(&s.outpoint_key)
                })
                .map(pref)
                .collect();
            for r in victims {
                let Some(old) = self.current(up, &r)? else { continue };
                if old.status != PaymentStatus::Pending {
                    continue;
                }
                let mut p = old.clone();
                p.status = PaymentStatus::Replaced;
                p.replaced_by = Some(s.txid.clone());
                p.is_final = false;
                p.updated_at = OffsetDateTime::now_utc();
                up.set(Some(old), p, Some(EventKind::PaymentReplaced));
            }
        }
        Ok(())
    }

    /// Recomputes live confirmed payments' counts for a tip at `height`; emits an event for
    /// each that rose (when `emit`).
    fn advance_confirmations(&self, up: &mut Update, height: u64, emit: bool) {
        let mut rising: Vec<&PaymentRecord> = self
            .live
            .values()
            .filter(|p| p.status == PaymentStatus::Confirmed && up.current(&pref(p)).is_none())
            .collect();
        rising.sort_by(|a, b| (a.block_height, &a.txid, a.index).cmp(&(b.block_height, &b.txid, b.index)));
        for p in rising {
            let Some(bh) = p.block_height.filter(|bh| *bh <= height) else { continue };
            let confs = (height - bh + 1).min(u32::MAX as u64) as u32;
            if confs == p.confirmations {
                continue;
            }
            let mut n = p.clone();
            n.confirmations = confs;
            n.is_final = confs >= n.required_confirmations;
            n.updated_at = OffsetDateTime::now_utc();
            let event = (emit && confs > p.confirmations).then_some(EventKind::PaymentConfirmed);
            up.set(Some(p.clone()), n, event);
        }
    }

    /// Writes the update; only then changes memory (a failed write leaves memory as stored).
    fn commit(&mut self, mut batch: Batch<'_>, up: Update) -> Result<(), IndexError> {
        for (_, p) in &up.changed {
            batch.put_payment(p, is_live(p))?;
        }
        for e in up.events {
            batch.push_event(e);
        }
        let changed: Vec<PaymentRecord> = up.changed.iter().map(|(_, p)| p.clone()).collect();
        let held = self.hook.contribute(&self.db, &mut batch, &changed)?;
        self.db.write(batch)?;
        drop(held);
        for (_, new) in up.changed {
            // Spends are watched exactly while the live map holds the payment as pending.
            let watched = |p: &PaymentRecord| (p.status == PaymentStatus::Pending).then(|| p.outpoint_keys.clone());
            let before = self.live.get(&pref(&new)).and_then(watched);
            let after = watched(&new);
            if before != after {
                if let Some(keys) = before {
                    self.watch_spends(&keys, false);
                }
                if let Some(keys) = after {
                    self.watch_spends(&keys, true);
                }
            }
            if is_live(&new) {
                self.live.insert(pref(&new), new);
            } else {
                self.live.remove(&pref(&new));
            }
        }
        Ok(())
    }

    /// Watches (or stops watching) a pending payment's inputs: the plugin's outpoint keys, as
    /// `is_watched_spend` will be asked them.
    fn watch_spends(&self, keys: &[Hex], on: bool) {
        for k in keys {
            match on {
                true => self.set.watch_spend(&k.0),
                false => self.set.unwatch_spend(&k.0),
            }
        }
    }

    /// The payment as this update, memory or the database has it.
    fn current(&self, up: &Update, r: &PaymentRef) -> Result<Option<PaymentRecord>, DbError> {
        if let Some(p) = up.current(r).or_else(|| self.live.get(r)) {
            return Ok(Some(p.clone()));
        }
        self.db.payment(&self.chain, r)
    }

    /// The watches a match pays (a key several stores watch pays each of them).
    fn watches_of(&self, m: &Match) -> Result<Vec<(WatchRecord, PaymentRef)>, DbError> {
        let mut out = Vec::new();
        for id in self.db.watch_ids_for_key(&self.chain, &m.key.0)? {
            if let Some(w) = self.db.watch(id)? {
                out.push((w, PaymentRef { txid: m.txid.clone(), index: m.index, watch: id }));
            }
        }
        Ok(out)
    }

    /// The payment `m` makes to `w` as last recorded, or a new one; one recorded before plugins
    /// handed outpoint keys back learns them from `m`.
    fn seen_again(&self, old: &Option<PaymentRecord>, w: &WatchRecord, m: &Match) -> PaymentRecord {
        match old {
            Some(o) if o.outpoint_keys.is_empty() => PaymentRecord { outpoint_keys: outpoint_keys(m), ..o.clone() },
            Some(o) => o.clone(),
            None => self.new_payment(w, m),
        }
    }

    fn new_payment(&self, w: &WatchRecord, m: &Match) -> PaymentRecord {
        let decimals = self.decimals.get(&m.asset).copied().unwrap_or(0);
        let now = OffsetDateTime::now_utc();
        PaymentRecord {
            watch_id: w.id,
            store: w.store.clone(),
            chain: self.chain.clone(),
            asset: m.asset.clone(),
            address: w.address.clone(),
            txid: m.txid.clone(),
            index: m.index,
            amount: format_base_units(&m.amount_base, decimals).unwrap_or_else(|_| m.amount_base.clone()),
            amount_base: m.amount_base.clone(),
            status: PaymentStatus::Pending,
            confirmations: 0,
            required_confirmations: w.confirmations,
            is_final: false,
            block_height: None,
            block_hash: None,
            replaced_by: None,
            first_seen: now,
            updated_at: now,
            outpoint_keys: outpoint_keys(m),
        }
    }
}

impl Drop for Indexer {
    /// Stops watching the spends of the pending payments this indexer watched: a follower
    /// restarted after a failure loads a new indexer, which watches them again.
    fn drop(&mut self) {
        for p in self.live.values().filter(|p| p.status == PaymentStatus::Pending) {
            self.watch_spends(&p.outpoint_keys, false);
        }
    }
}

/// The outpoint keys of what a match's transaction spends, as the host watches them (an empty
/// key would be the "any watched?" question, never an outpoint).
fn outpoint_keys(m: &Match) -> Vec<Hex> {
    m.outpoint_keys.iter().filter(|k| !k.0.is_empty()).cloned().collect()
}

mod rewind;
#[cfg(test)]
mod tests;
