//! Address pools: where an invoice's address comes from, and where it goes when released.
//!
//! Every receive source (a store's descriptor, xpub or address list for an asset) has a pool
//! of its own, keyed by the source's identity ([`source_id`]: what it derives): its next index and the addresses
//! released back to it. An invoice remembers its source, so a released address goes back to
//! the pool it came from, and after a store's source changes in the config, addresses of the
//! old one are never handed out again (they are if the old source comes back).
//!
//! Stores written before schema 6 kept one pool per store and asset: its counter is where a
//! source without one of its own starts, and its released addresses are reused only when the
//! current source gives that very address at that index (the others are dropped).

use super::{AssetInfo, InvoiceError, Invoices, StorePolicy};
use crate::config::ReceiveConfig;
use crate::db::{Batch, Db, DbError, InvoiceRecord, SourceId};
use crate::index::UnstagedWatch;
use paywatch_plugin_api::messages::{self as m, currency_method};
use sha2::Digest;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// Addresses skipped at most when the next ones are already watched by the store (a list is
/// walked to its end).
const MAX_SKIPS: u32 = 1000;
/// Legacy free addresses checked against the current source per allocation.
const LEGACY_BATCH: usize = 64;

/// The identity of a receive source. A descriptor or extended key is known by what it derives
/// (SHA-256 of its first two addresses' keys), so one source spelled two ways (a checksum
/// added, a bare key and the descriptor it stands for, key origin info) keeps one pool and one
/// counter; a list by its addresses' text in order (trimmed).
fn source_id(receive: &ReceiveConfig, src: &dyn Source) -> Result<SourceId, InvoiceError> {
    let mut h = sha2::Sha256::new();
    match receive {
        ReceiveConfig::Descriptor(_) | ReceiveConfig::Xpub(_) => {
            h.update("derived");
            for index in 0..2 {
                if let Some((_, key)) = src.at(index)? {
                    h.update(format!("\n{}", hex::encode(key)));
                }
            }
        }
        ReceiveConfig::Addresses(list) => {
            h.update("addresses");
            for a in list {
                h.update(format!("\n{}", a.trim()));
            }
        }
    }
    Ok(SourceId(h.finalize().into()))
}

/// What allocations hold between handing an address out and their batch being written (an
/// invoice is written outside the invoice lock, so another allocation may run meanwhile): each
/// source's next index as handed out, the released addresses taken, and each receive source's
/// identity (it never changes while the daemon runs, and takes two derivations to compute).
#[derive(Debug, Default)]
pub(super) struct Pending {
    inner: Mutex<PendingInner>,
    /// Each counter's highest value written, held while a batch that moved counters is written:
    /// batches are written in any order (the one that handed out the lower index may go last),
    /// so each stores its counters at least this high and the stored counter never goes back.
    /// (Event-bearing batches are written one at a time anyway, under the database's commit
    /// lock: this costs no concurrency.)
    written: Mutex<HashMap<Counter, u32>>,
}

#[derive(Debug, Default)]
struct PendingInner {
    source_ids: HashMap<(String, String), SourceId>,
    next: HashMap<(String, String, SourceId), u32>,
    /// Ranges given up while a later one was still in flight, by counter: end → start. When
    /// the counter comes back down to a range's end it goes on back to its start, so failures
    /// in any order leave no gap (one below an index written stays, as it must).
    given_up: HashMap<Counter, HashMap<u32, u32>>,
    taken: HashSet<Taken>,
}

/// A released address taken by a batch not written yet: store, asset, its pool, its index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Taken(String, String, Option<SourceId>, u32);

type Counter = (String, String, SourceId);

/// What one batch's allocations hold until it is written: the released addresses taken and the
/// counters moved (from, to). Given back with [`Pending::settle`].
#[derive(Debug, Default)]
pub(super) struct Held {
    taken: Vec<Taken>,
    moved: Vec<(Counter, u32, u32)>,
}

impl Pending {
    fn lock(&self) -> std::sync::MutexGuard<'_, PendingInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn source_id(
        &self,
        (store, asset): (&str, &str),
        make: impl FnOnce() -> Result<SourceId, InvoiceError>,
    ) -> Result<SourceId, InvoiceError> {
        let key = (store.to_string(), asset.to_string());
        if let Some(id) = self.lock().source_ids.get(&key) {
            return Ok(*id);
        }
        let id = make()?;
        self.lock().source_ids.insert(key, id);
        Ok(id)
    }

    /// Takes a released address unless another batch took it; `false` when one did.
    fn take(&self, t: &Taken) -> bool {
        self.lock().taken.insert(t.clone())
    }

    /// The batch that holds these was written (`written`), or given up: the released addresses
    /// it took are the database's to say now; a counter it moved and nobody moved further goes
    /// back when it was given up, so a refused invoice leaves no gap in the derivation.
    pub(super) fn settle(&self, held: Held, written: bool) {
        let mut p = self.lock();
        for t in &held.taken {
            p.taken.remove(t);
        }
        if !written {
            for (counter, from, to) in held.moved.into_iter().rev() {
                let p = &mut *p;
                let given_up = p.given_up.entry(counter.clone()).or_default();
                given_up.insert(to, from);
                let Some(next) = p.next.get_mut(&counter) else { continue };
                while let Some(start) = given_up.remove(&*next) {
                    *next = start;
                }
            }
        }
    }

    /// Writes a batch holding these allocations, each counter it moved stored no lower than one
    /// written before, then settles them.
    pub(super) fn write(&self, db: &Db, mut batch: Batch<'_>, held: Held) -> Result<(), DbError> {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        for (counter @ (store, asset, source), _, to) in &held.moved {
            let top = written.get(counter).copied().unwrap_or(0).max(*to);
            batch.put_next_index(store, asset, source, top);
        }
        let result = db.write(batch);
        if result.is_ok() {
            for (counter, _, to) in &held.moved {
                let top = written.entry(counter.clone()).or_default();
                *top = (*top).max(*to);
            }
        }
        drop(written);
        self.settle(held, result.is_ok());
        result
    }

    /// The next index to derive: the database's, or past the last handed out.
    fn next(&self, key: &Counter, stored: u32) -> u32 {
        let mut p = self.lock();
        let n = p.next.entry(key.clone()).or_default();
        *n = (*n).max(stored);
        *n
    }

    /// Moves a counter to `to` (from `from`, what it was for this allocation).
    fn hand_out(&self, key: Counter, from: u32, to: u32, held: &mut Held) {
        let mut p = self.lock();
        let p = &mut *p;
        let n = p.next.entry(key.clone()).or_default();
        if *n < from {
            // Given back below `from` since this allocation read it: still a range to go back
            // over should this one be given up too.
            p.given_up.entry(key.clone()).or_default().insert(from, *n);
        }
        *n = (*n).max(to);
        held.moved.push((key, from, to));
    }
}

/// An address handed out for an invoice.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Allocated {
    pub(super) index: u32,
    pub(super) address: String,
    /// Its canonical key.
    pub(super) key: Vec<u8>,
    pub(super) source: SourceId,
}

/// What allocation asks of a receive source and the store (the currency plugin and the watch
/// set in the daemon).
pub(super) trait Source {
    /// The address (normalized) and its key at an index; `None` past the end of a list.
    fn at(&self, index: u32) -> Result<Option<(String, Vec<u8>)>, InvoiceError>;
    /// A stored address, normalized, with its key.
    fn parse(&self, address: &str) -> Result<(String, Vec<u8>), InvoiceError>;
    /// Whether the store already watches the key.
    fn watched(&self, key: &[u8]) -> Result<bool, InvoiceError>;
}

/// A fresh address of a store's receive source for an asset (in `batch`): one released to that
/// source's pool first, else a legacy released one the source gives at its index, else the
/// source's next index; addresses the store already watches (or is writing a watch of) are
/// skipped, and so are those other batches not written yet took (`pending`). What it takes is
/// added to `held`: settle it with `pending` once the batch is written or given up.
pub(super) fn allocate(
    db: &Db,
    batch: &mut Batch<'_>,
    (store, asset): (&str, &str),
    receive: &ReceiveConfig,
    src: &dyn Source,
    pending: &Pending,
    held: &mut Held,
) -> Result<Allocated, InvoiceError> {
    let source = pending.source_id((store, asset), || source_id(receive, src))?;
    for (index, address) in db.free_addresses(store, asset, Some(&source), LEGACY_BATCH)? {
        let t = Taken(store.to_string(), asset.to_string(), Some(source), index);
        if !pending.take(&t) {
            continue;
        }
        batch.delete_free_address(store, asset, Some(&source), index);
        held.taken.push(t);
        let (address, key) = src.parse(&address)?;
        if !src.watched(&key)? {
            return Ok(Allocated { index, address, key, source });
        }
        break;
    }
    for (index, address) in db.free_addresses(store, asset, None, LEGACY_BATCH)? {
        let t = Taken(store.to_string(), asset.to_string(), None, index);
        if !pending.take(&t) {
            continue;
        }
        batch.delete_free_address(store, asset, None, index);
        held.taken.push(t);
        match src.at(index)? {
            Some((a, key)) if a == address && !src.watched(&key)? => {
                return Ok(Allocated { index, address: a, key, source });
            }
            _ => tracing::info!(store, asset, index, %address,
                "a released address of an earlier receive source is not reused"),
        }
    }
    let counter = (store.to_string(), asset.to_string(), source);
    let from = pending.next(&counter, db.next_index(store, asset, &source)?);
    let mut next = from;
    let skips = match receive {
        ReceiveConfig::Addresses(list) => list.len() as u32,
        _ => MAX_SKIPS,
    };
    for _ in 0..skips {
        let Some((address, key)) = src.at(next)? else { break };
        let index = next;
        next += 1;
        if !src.watched(&key)? {
            batch.put_next_index(store, asset, &source, next);
            pending.hand_out(counter, from, next, held);
            return Ok(Allocated { index, address, key, source });
        }
    }
    let why = match receive {
        ReceiveConfig::Addresses(list) => format!("all {} configured addresses are in use", list.len()),
        _ => format!("the next {MAX_SKIPS} addresses are all watched already"),
    };
    Err(InvoiceError::NoFreeAddress { store: store.to_string(), asset: asset.to_string(), why })
}

/// A store's receive source for an asset through the asset's currency plugin.
struct PluginSource<'a> {
    invoices: &'a Invoices,
    store: &'a str,
    asset: &'a AssetInfo,
    receive: &'a ReceiveConfig,
}

impl Source for PluginSource<'_> {
    fn at(&self, index: u32) -> Result<Option<(String, Vec<u8>)>, InvoiceError> {
        match self.receive {
            ReceiveConfig::Descriptor(source) | ReceiveConfig::Xpub(source) => {
                self.invoices.derive(self.asset, source, index).map(Some)
            }
            ReceiveConfig::Addresses(list) => list.get(index as usize).map(|a| self.parse(a)).transpose(),
        }
    }

    fn parse(&self, address: &str) -> Result<(String, Vec<u8>), InvoiceError> {
        self.invoices.parse(self.asset, address)
    }

    fn watched(&self, key: &[u8]) -> Result<bool, InvoiceError> {
        Ok(self.invoices.inner.watches.watched_by(self.store, &self.asset.chain, key)?)
    }
}

impl Invoices {
    /// A fresh address of the store's current receive source for an asset ([`allocate`]).
    pub(super) fn allocate(
        &self,
        batch: &mut Batch<'_>,
        store: &str,
        asset_id: &str,
        asset: &AssetInfo,
        policy: &StorePolicy,
        held: &mut Held,
    ) -> Result<Allocated, InvoiceError> {
        let receive = policy
            .receive
            .get(asset_id)
            .ok_or_else(|| InvoiceError::NoReceiveConfig { store: store.to_string(), asset: asset_id.to_string() })?;
        let src = PluginSource { invoices: self, store, asset, receive };
        allocate(self.db(), batch, (store, asset_id), receive, &src, &self.inner.pending, held)
    }

    fn derive(&self, asset: &AssetInfo, source: &str, index: u32) -> Result<(String, Vec<u8>), InvoiceError> {
        let req = m::DeriveRequest { source: source.to_string(), branch: 0, start: index, count: 1 };
        let reply: m::DeriveReply = asset
            .plugin
            .call(currency_method::DERIVE_ADDRESSES, &req)
            // Never the source in an answer to the API (a pasted private key would go with it).
            .map_err(|e| InvoiceError::Plugin(crate::config::scrub_source(&e.to_string(), source)))?;
        let d = reply.addresses.into_iter().next().ok_or_else(|| InvoiceError::Plugin("derived no address".into()))?;
        Ok((d.address, d.key.0))
    }

    /// After the monitoring window: each address of the invoice that received nothing (a method
    /// the customer did not use, or the whole invoice when nothing was paid) stops being
    /// watched and goes back to the pool of the source it came from; an address anything was
    /// sent to (dust included) stays watched. The watches deleted, to commit once the batch is
    /// written (their places in the store's quota are then free).
    pub(super) fn release(
        &self,
        batch: &mut Batch<'_>,
        mut inv: InvoiceRecord,
    ) -> Result<Vec<UnstagedWatch<'_>>, DbError> {
        if inv.released {
            return Ok(Vec::new());
        }
        let mut unstaged = Vec::new();
        let mut idle = Vec::new();
        for m in &inv.methods {
            if !idle.contains(&m.watch_id) && self.db().watch_payments(m.watch_id, 1)?.is_empty() {
                idle.push(m.watch_id);
                if let Some(w) = self.db().watch(m.watch_id)? {
                    unstaged.push(self.inner.watches.unstage(batch, &w));
                }
            }
        }
        for m in inv.methods.iter().filter(|m| idle.contains(&m.watch_id)) {
            if let Some(index) = m.address_index {
                batch.put_free_address(&inv.store, &m.asset, m.address_source.as_ref(), index, &m.address);
            }
        }
        inv.released = true;
        batch.put_invoice(&inv)?;
        Ok(unstaged)
    }
}

#[cfg(test)]
mod tests;
