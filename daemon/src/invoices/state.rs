//! How invoices and refunds follow their payments and the clock: the indexer's payment hook
//! (in the same batch as the payments), and the timer tick (expiry, end of monitoring).

use super::machine::{evaluate, transition_events, Overflow, Paid, State, Terms};
use super::payments::{concern, emit, overlay};
use super::refundable::{completed, Owed};
use super::value::{MethodRate, Valuation, Value};
use super::{Invoices, TIMER_MONITORING_END};
use crate::db::{Batch, Db, DbError, InvoiceRecord, PaymentRecord, RefundStatus};
use crate::events::{self, EventKind};
use crate::index::{HookGuard, PaymentHook};
use paywatch_plugin_api::amount::Amount;
use std::collections::{BTreeMap, BTreeSet};
use time::OffsetDateTime;
use uuid::Uuid;

/// An invoice's price and locked rates as one unit of value.
pub(super) fn valuation(i: &InvoiceRecord) -> Result<Valuation, DbError> {
    let rates: Vec<MethodRate<'_>> =
        i.methods.iter().map(|m| MethodRate { decimals: m.decimals, rate: &m.rate }).collect();
    let v =
        Valuation::new(&i.price, i.currency_decimals, &rates).map_err(|e| i.corrupt(format!("price or rates: {e}")))?;
    Ok(v.shown(shown_decimals(i)))
}

/// A fiat price shows its minor units (`"25.00"`); a price in an asset no trailing zeros
/// (`"0.0015"`), as asset amounts always were.
pub(super) fn shown_decimals(i: &InvoiceRecord) -> u8 {
    match crate::rates::minor_units(&i.currency) {
        Some(d) if !i.methods.iter().any(|m| m.asset == i.currency) => d,
        _ => 0,
    }
}

pub(super) fn terms(i: &InvoiceRecord) -> Result<Terms, DbError> {
    Ok(Terms {
        valuation: valuation(i)?,
        tolerance_bp: i.tolerance_bp,
        required: i.required_confirmations,
        expires_at: i.expires_at,
        monitoring_until: i.monitoring_until,
        cancelled: i.cancelled,
        min_payment: i.methods.iter().map(|m| m.min_payment(i.id)).collect::<Result<_, _>>()?,
    })
}

/// A payment of the invoice as the machine sees it; `None` when it is not the invoice's (another
/// asset to one of its addresses).
pub(super) fn paid(inv: &InvoiceRecord, p: &PaymentRecord) -> Result<Option<Paid>, DbError> {
    let Some(method) = inv.method_of(p.watch_id, &p.asset) else {
        return Ok(None);
    };
    let (amount, status, confirmations, first_seen) = (p.base_amount()?, p.status, p.confirmations, p.first_seen);
    Ok(Some(Paid { method, amount, status, confirmations, first_seen }))
}

/// A stored value (a decimal in the invoice's currency) read back.
fn stored_value(v: &Valuation, inv: &InvoiceRecord, field: &str, text: &str) -> Result<Value, DbError> {
    v.parse_value(text).map_err(|e| inv.corrupt(format!("{field}: {e}")))
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

    /// Every payment to the invoice's addresses in their methods' assets (an EVM address
    /// receives the native coin and every token, but a method counts only its own asset), by
    /// method.
    pub(super) fn invoice_payments(&self, inv: &InvoiceRecord) -> Result<Vec<PaymentRecord>, DbError> {
        let mut all = Vec::new();
        for m in &inv.methods {
            all.extend(self.asset_payments(m.watch_id, &m.asset)?);
        }
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
        let stored = self.invoice_payments(&inv)?;
        let mut mine = Vec::new();
        for p in changed {
            if paid(&inv, p)?.is_some() {
                mine.push(*p);
            }
        }
        let machine = |ps: &[PaymentRecord]| -> Result<Vec<Paid>, DbError> {
            ps.iter().map(|p| paid(&inv, p).map(|x| x.expect("only the invoice's payments"))).collect()
        };
        // The stored payments first, in their order, then the new ones (`overlay`).
        let mut before: Vec<Option<Paid>> = machine(&stored)?.into_iter().map(Some).collect();
        let current = overlay(stored, &mine);
        before.resize(current.len(), None);
        let after = machine(&current)?;
        let t = terms(&inv)?;
        let old = State {
            status: inv.status,
            exception: inv.exception,
            paid: stored_value(&t.valuation, &inv, "value_paid", &inv.value_paid)?,
            confirmed: stored_value(&t.valuation, &inv, "value_confirmed", &inv.value_confirmed)?,
        };
        let new = match evaluate(&t, &after, now) {
            Ok(new) => new,
            Err(Overflow) => {
                // No total to store or compare: the invoice keeps its state (the payments are
                // recorded all the same), and the operator hears of it.
                tracing::error!(invoice = %inv.id, store = %inv.store, currency = %inv.currency, payments = after.len(),
                    "the invoice's payments are worth more than 2^512 units; it keeps its state");
                return Ok(inv);
            }
        };
        let events = transition_events(&t, &old, &new, &before, &after);
        if new == old && events.is_empty() {
            return Ok(inv);
        }
        inv.status = new.status;
        inv.exception = new.exception;
        self.record_totals(&mut inv, &t, &new, &after);
        inv.updated_at = now;
        emit(batch, &mut inv, &current, &events, &self.checkout_base())?;
        batch.put_invoice(&inv)?;
        Ok(inv)
    }

    /// Writes a new state's totals onto the invoice: its worth in the currency, in the first
    /// method's asset (`amount_paid`, `amount_confirmed`), and per method what was paid to it
    /// and what is still due (the remainder of the price in that asset, rounded up, with its
    /// payment URI).
    fn record_totals(&self, inv: &mut InvoiceRecord, t: &Terms, new: &State, payments: &[Paid]) {
        let v = &t.valuation;
        inv.value_paid = v.to_decimal(new.paid);
        inv.value_confirmed = v.to_decimal(new.confirmed);
        inv.value_due = v.to_decimal(t.price().saturating_sub(new.paid));
        inv.amount_paid = v.floor_base(0, new.paid).to_string();
        inv.amount_confirmed = v.floor_base(0, new.confirmed).to_string();
        let remaining = t.price().saturating_sub(new.paid);
        let label = inv.order_id.clone();
        let description = inv.description.clone();
        for (i, m) in inv.methods.iter_mut().enumerate() {
            let mine = payments.iter().filter(|p| p.method == i && t.counts(p)).map(|p| p.amount);
            m.amount_paid = Amount::checked_sum(mine).unwrap_or(Amount::MAX).to_string();
            let due = t.due(i, remaining).to_string();
            if due == m.amount_due {
                continue;
            }
            m.amount_due = due;
            // Nothing due: the last URI stays (a wallet must not be asked for zero).
            if remaining.is_zero() {
                continue;
            }
            match self
                .asset(&m.asset)
                .and_then(|a| self.payment_uri(a, &m.address, &m.amount_due, &label, description.as_deref()))
            {
                Ok(uri) => m.payment_uri = uri,
                Err(e) => tracing::warn!(invoice = %inv.id, asset = %m.asset, error = %e,
                    "no payment uri for the amount still due; the method keeps its last one"),
            }
        }
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
