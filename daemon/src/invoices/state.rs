//! How invoices and refunds follow their payments and the clock: the indexer's payment hook
//! (in the same batch as the payments), and the timer tick (expiry, end of monitoring).

use super::machine::{evaluate, transition_events, Overflow, Paid, State, Terms};
use super::payments::{concern, emit, overlay};
use super::refundable::{completed, Owed};
use super::{Invoices, TIMER_MONITORING_END};
use crate::db::{Batch, Db, DbError, InvoiceRecord, PaymentRecord, RefundStatus};
use crate::events::{self, EventKind};
use crate::index::{HookGuard, PaymentHook};
use std::collections::{BTreeMap, BTreeSet};
use time::OffsetDateTime;
use uuid::Uuid;

pub(super) fn terms(i: &InvoiceRecord) -> Result<Terms, DbError> {
    Ok(Terms {
        due: i.due()?,
        tolerance_bp: i.tolerance_bp,
        required: i.required_confirmations,
        expires_at: i.expires_at,
        monitoring_until: i.monitoring_until,
        cancelled: i.cancelled,
        min_payment: i.min_payment()?,
    })
}

fn paid(p: &PaymentRecord) -> Result<Paid, DbError> {
    Ok(Paid { amount: p.base_amount()?, status: p.status, confirmations: p.confirmations, first_seen: p.first_seen })
}

impl PaymentHook for Invoices {
    fn contribute(&self, db: &Db, batch: &mut Batch<'_>, changed: &[PaymentRecord]) -> Result<HookGuard<'_>, DbError> {
        let guard = self.lock();
        let mut invoices: BTreeMap<Uuid, Vec<&PaymentRecord>> = BTreeMap::new();
        let mut refunds: BTreeSet<Uuid> = BTreeSet::new();
        for p in changed {
            if let Some(w) = db.watch(p.watch_id)? {
                if let Some(i) = w.invoice {
                    invoices.entry(i).or_default().push(p);
                }
                if let Some(r) = w.refund {
                    refunds.insert(r);
                }
            }
        }
        let now = self.now();
        for (id, ps) in invoices {
            // Dust changes nothing: a flood of it is recorded by the indexer and costs the
            // invoice no read of its payments and no event.
            let Some(inv) = db.invoice(id)? else { continue };
            if concern(&inv, &terms(&inv)?, &ps)? {
                self.reevaluate(batch, inv, &ps, now)?;
            }
        }
        let mut seen = BTreeSet::new();
        for id in refunds {
            if !seen.contains(&id) {
                seen.extend(self.refund_progress(db, batch, id, changed)?);
            }
        }
        Ok(Some(guard))
    }
}

impl Invoices {
    /// A watch's payments in one asset, every one of them: an EVM address receives the native
    /// coin and every token, but an invoice or refund counts only its own asset.
    pub(super) fn asset_payments(&self, watch: Uuid, asset: &str) -> Result<Vec<PaymentRecord>, DbError> {
        let mut all = self.db().watch_payments(watch, usize::MAX)?;
        all.retain(|p| p.asset == asset);
        Ok(all)
    }

    /// Recomputes an invoice with `changed` payments (not yet stored) over its stored ones, at
    /// `now`; adds the new state and its events to the batch when anything changed. Returns the
    /// invoice as it now is.
    pub(super) fn reevaluate(
        &self,
        batch: &mut Batch<'_>,
        mut inv: InvoiceRecord,
        changed: &[&PaymentRecord],
        now: OffsetDateTime,
    ) -> Result<InvoiceRecord, DbError> {
        let stored = self.asset_payments(inv.watch_id, &inv.asset)?;
        let changed: Vec<&PaymentRecord> = changed.iter().copied().filter(|p| p.asset == inv.asset).collect();
        // The stored payments first, in their order, then the new ones (`overlay`).
        let mut before: Vec<Option<Paid>> = stored.iter().map(|p| paid(p).map(Some)).collect::<Result<_, _>>()?;
        let current = overlay(stored, &changed);
        before.resize(current.len(), None);
        let after: Vec<Paid> = current.iter().map(paid).collect::<Result<_, _>>()?;
        let t = terms(&inv)?;
        let old =
            State { status: inv.status, exception: inv.exception, paid: inv.paid()?, confirmed: inv.confirmed()? };
        let new = match evaluate(&t, &after, now) {
            Ok(new) => new,
            Err(Overflow) => {
                // No total to store or compare: the invoice keeps its state (the payments are
                // recorded all the same), and the operator hears of it.
                tracing::error!(invoice = %inv.id, store = %inv.store, asset = %inv.asset, payments = after.len(),
                    "the invoice's payments add up to more than 2^256 - 1 base units; it keeps its state");
                return Ok(inv);
            }
        };
        let events = transition_events(&t, &old, &new, &before, &after);
        if new == old && events.is_empty() {
            return Ok(inv);
        }
        inv.status = new.status;
        inv.exception = new.exception;
        inv.amount_paid = new.paid.to_string();
        inv.amount_confirmed = new.confirmed.to_string();
        inv.updated_at = now;
        emit(batch, &mut inv, &current, &events)?;
        batch.put_invoice(&inv)?;
        Ok(inv)
    }

    /// A refund's destination was paid: every refund of the store to that address is checked
    /// against what the address received (`refundable::completed`), with `changed` (not stored
    /// yet) laid over the stored payments; those now covered complete. Returns the refunds
    /// checked.
    fn refund_progress(
        &self,
        db: &Db,
        batch: &mut Batch<'_>,
        id: Uuid,
        changed: &[PaymentRecord],
    ) -> Result<Vec<Uuid>, DbError> {
        let Some(watch) = db.refund(id)?.and_then(|r| r.watch_id) else { return Ok(vec![id]) };
        let Some(w) = db.watch(watch)? else { return Ok(vec![id]) };
        let mut group = Vec::new();
        for other in db.watch_ids_for_key(&w.chain, &w.key)? {
            let Some(ow) = db.watch(other)?.filter(|o| o.store == w.store) else { continue };
            if let Some(r) = ow.refund.map(|r| db.refund(r)).transpose()?.flatten() {
                group.push(r);
            }
        }
        group.sort_by_key(|r| r.id); // UUIDv7: oldest first
        let mut payments = Vec::new();
        let mut owed = Vec::with_capacity(group.len());
        for r in &group {
            let Some(watch) = r.watch_id else { continue };
            let mine: Vec<&PaymentRecord> = changed.iter().filter(|p| p.watch_id == watch).collect();
            payments.extend(
                overlay(self.asset_payments(watch, &r.asset)?, &mine).into_iter().filter(|p| p.asset == r.asset),
            );
            owed.push(Owed {
                id: r.id,
                asset: r.asset.clone(),
                watch,
                amount: r.base_amount()?,
                required_confirmations: r.required_confirmations,
                completed: r.status == RefundStatus::Completed,
            });
        }
        let done = completed(&owed, &payments)?;
        for (o, txid) in owed.iter().zip(done) {
            let Some(mut r) = group.iter().find(|r| r.id == o.id).cloned() else { continue };
            if r.status == RefundStatus::Completed || txid.is_none() {
                continue;
            }
            r.status = RefundStatus::Completed;
            r.txid = txid;
            r.updated_at = self.now();
            batch.put_refund(&r)?;
            batch.push_event(events::refund(EventKind::RefundCompleted, &r));
        }
        Ok(group.iter().map(|r| r.id).chain([id]).collect())
    }

    /// Runs the timers that are due: expiry (the status may change with no payment), and the
    /// end of monitoring (an unpaid invoice's address goes back to the pool). Runs at start too,
    /// so an invoice that expired while the daemon was down expires then.
    pub(crate) fn tick(&self) -> Result<usize, DbError> {
        let _guard = self.lock();
        let now = self.now();
        let due = self.db().due_timers(now.unix_timestamp())?;
        if due.is_empty() {
            return Ok(0);
        }
        let db = self.db().clone();
        let mut batch = db.batch();
        // Each invoice once, even when several of its timers are due (after downtime).
        let mut by_invoice: BTreeMap<Uuid, bool> = BTreeMap::new();
        for (at, id, kind) in &due {
            batch.delete_timer(*at, *id);
            *by_invoice.entry(*id).or_default() |= *kind == TIMER_MONITORING_END;
        }
        let mut unstaged = Vec::new();
        for (id, monitoring_ended) in by_invoice {
            let Some(inv) = db.invoice(id)? else { continue };
            let inv = self.reevaluate(&mut batch, inv, &[], now)?;
            if monitoring_ended {
                unstaged.extend(self.release(&mut batch, inv)?);
            }
        }
        db.write(batch)?;
        unstaged.into_iter().for_each(|u| u.commit());
        Ok(due.len())
    }
}
