//! An invoice's payments: every one of them is read and counted (no cap can hide one from the
//! totals), its views show the latest few that can count with a count of all (so an event's
//! size is bounded whatever is sent to the address), and the API pages the full list.

use super::machine::{Terms, Transition};
use super::{InvoiceError, Invoices};
use crate::db::{Batch, DbError, InvoiceRecord, PaymentRecord};
use crate::events::views::InvoicePayments;
use crate::events::{self, EventKind};
use paywatch_plugin_api::amount::Amount;
use paywatch_plugin_api::events::Invoice;
use std::collections::HashMap;
use uuid::Uuid;

/// Payments an invoice's view lists: the latest that can count. A payment is about 570 bytes
/// of JSON, so with the one that caused it an invoice event stays under about 5 KB (beside the
/// shop's own description and metadata), whatever is sent to the address.
pub(super) const RECENT_PAYMENTS: usize = 5;

/// The latest [`RECENT_PAYMENTS`] of `payments` at or above their method's `min_payment`
/// (`min_payment` of each), oldest first (by first seen, then txid and output).
pub(super) fn recent(
    payments: &[PaymentRecord],
    min_payment: impl Fn(&PaymentRecord) -> Result<Amount, DbError>,
) -> Result<Vec<&PaymentRecord>, DbError> {
    let mut countable = Vec::new();
    for p in payments {
        if p.base_amount()? >= min_payment(p)? {
            countable.push(p);
        }
    }
    countable.sort_by(|a, b| (a.first_seen, &a.txid, a.index).cmp(&(b.first_seen, &b.txid, b.index)));
    Ok(countable.split_off(countable.len().saturating_sub(RECENT_PAYMENTS)))
}

/// A watch's stored payments with this update's changes (not stored yet) laid over them: the
/// stored ones in their order (a changed one replaced), then the new ones.
pub(super) fn overlay(mut stored: Vec<PaymentRecord>, changed: &[&PaymentRecord]) -> Vec<PaymentRecord> {
    let mut at: HashMap<(String, u32, Uuid), usize> =
        stored.iter().enumerate().map(|(i, p)| ((p.txid.clone(), p.index, p.watch_id), i)).collect();
    for c in changed {
        match at.get(&(c.txid.clone(), c.index, c.watch_id)) {
            Some(&i) => stored[i] = (*c).clone(),
            None => {
                at.insert((c.txid.clone(), c.index, c.watch_id), stored.len());
                stored.push((*c).clone());
            }
        }
    }
    stored
}

/// Appends the invoice's events, each with the next per-invoice sequence number, the latest
/// payments, the count of all of `payments`, and the payment that caused it.
pub(super) fn emit(
    batch: &mut Batch<'_>,
    inv: &mut InvoiceRecord,
    payments: &[PaymentRecord],
    events: &[Transition],
    checkout: &str,
) -> Result<(), DbError> {
    let recent = recent(payments, minimum(inv))?;
    for e in events {
        inv.sequence += 1;
        let shown = InvoicePayments { recent: &recent, count: payments.len(), cause: e.cause.map(|i| &payments[i]) };
        batch.push_event(events::invoice(e.kind, inv, shown, checkout));
    }
    Ok(())
}

/// The `min_payment` of a payment's method (a payment of no method of the invoice is never
/// shown: the largest amount).
pub(super) fn minimum(inv: &InvoiceRecord) -> impl Fn(&PaymentRecord) -> Result<Amount, DbError> + '_ {
    |p| match inv.method_of(p.watch_id, &p.asset).map(|i| &inv.methods[i]) {
        Some(m) => m.min_payment(inv.id),
        None => Ok(Amount::MAX),
    }
}

/// An event no payment caused (creation, a cancellation).
pub(super) fn uncaused(kind: EventKind) -> Transition {
    Transition { kind, cause: None }
}

/// Whether any of an update's payments can change the invoice: one in a method's asset to that
/// method's address and not dust. Dust and other assets' payments are recorded by the indexer
/// and change nothing here.
pub(super) fn concern(inv: &InvoiceRecord, terms: &Terms, changed: &[&PaymentRecord]) -> Result<bool, DbError> {
    for p in changed {
        if let Some(paid) = super::state::paid(inv, p)? {
            if !terms.is_dust(paid.method, paid.amount) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Where a page of an invoice's payments starts: after this payment (txid, output) of this
/// method. Written `TXID:OUTPUT` for the first method (as before invoices had several) and
/// `METHOD:TXID:OUTPUT` for the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PaymentCursor {
    pub(crate) method: usize,
    pub(crate) txid: String,
    pub(crate) index: u32,
}

impl PaymentCursor {
    /// A cursor as `next` wrote it; `None` when it is not one.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let mut parts = text.rsplitn(3, ':');
        let index = parts.next()?.parse().ok()?;
        let txid = parts.next()?;
        let method = parts.next().map(|m| m.parse().ok()).unwrap_or(Some(0))?;
        (!txid.is_empty() && txid.len() <= 128).then(|| Self { method, txid: txid.to_string(), index })
    }
}

impl std::fmt::Display for PaymentCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.method {
            0 => write!(f, "{}:{}", self.txid, self.index),
            m => write!(f, "{m}:{}:{}", self.txid, self.index),
        }
    }
}

/// A page of an invoice's payments, and where the next page starts when there may be more.
#[derive(Debug)]
pub(crate) struct PaymentsPage {
    pub(crate) items: Vec<PaymentRecord>,
    pub(crate) next: Option<PaymentCursor>,
}

impl Invoices {
    /// The invoice as events and the API show it: the latest payments that can count and the
    /// count of all.
    /// The view of an invoice just made: nothing could be paid to it before it was written
    /// (the followers did not watch its addresses), so it has no payment to read.
    pub(crate) fn view_new(&self, inv: &InvoiceRecord) -> Invoice {
        let shown = InvoicePayments { recent: &[], count: 0, cause: None };
        crate::events::views::invoice(inv, shown, &self.checkout_base())
    }

    pub(crate) fn view(&self, inv: &InvoiceRecord) -> Result<Invoice, InvoiceError> {
        let payments = self.invoice_payments(inv)?;
        let recent = recent(&payments, minimum(inv))?;
        let shown = InvoicePayments { recent: &recent, count: payments.len(), cause: None };
        Ok(crate::events::views::invoice(inv, shown, &self.checkout_base()))
    }

    /// A page of an invoice's payments, method by method (each in its asset, dust included,
    /// in txid and output order) after `after`, and where the next page starts when there may
    /// be more (a page may hold fewer than `limit`: payments of other assets to an EVM address
    /// are skipped).
    pub(crate) fn payments_page(
        &self,
        store: &str,
        id: Uuid,
        after: Option<PaymentCursor>,
        limit: usize,
    ) -> Result<PaymentsPage, InvoiceError> {
        let inv = self.get(store, id)?.ok_or_else(|| InvoiceError::NotFound(format!("invoice {id}")))?;
        let (first, mut after) = match after {
            Some(c) => (c.method, Some((c.txid, c.index))),
            None => (0, None),
        };
        let mut items = Vec::new();
        let mut room = limit;
        for (i, m) in inv.methods.iter().enumerate().skip(first) {
            let from = after.take();
            let from = from.as_ref().map(|(txid, index)| (m.chain.as_str(), txid.as_str(), *index));
            let page = self.db().watch_payments_after(m.watch_id, from, room)?;
            let full = page.len() == room;
            let next = page.last().map(|p| PaymentCursor { method: i, txid: p.txid.clone(), index: p.index });
            room -= page.len();
            items.extend(page.into_iter().filter(|p| p.asset == m.asset));
            if full {
                return Ok(PaymentsPage { items, next });
            }
        }
        Ok(PaymentsPage { items, next: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::PaymentStatus;

    fn p(txid: &str, amount: u64, seen: i64) -> PaymentRecord {
        PaymentRecord::sample(Uuid::nil(), txid, 0, amount, seen)
    }

    fn txids(ps: &[&PaymentRecord]) -> Vec<String> {
        ps.iter().map(|p| p.txid.clone()).collect()
    }

    #[test]
    fn recent_is_the_latest_few_that_can_count_oldest_first() {
        // Ten real payments among a flood of dust, in no particular order.
        let mut all: Vec<PaymentRecord> = (0..2000).map(|i| p(&format!("dust{i:04}"), 100, 10 + i)).collect();
        all.extend((0..10).rev().map(|i| p(&format!("real{i}"), 1000, 1000 * i)));
        let min = |m: u64| move |_: &PaymentRecord| Ok(Amount::from(m));
        let shown = recent(&all, min(546)).unwrap();
        assert_eq!(txids(&shown), ["real5", "real6", "real7", "real8", "real9"]);
        // Ties in first seen by txid; fewer than five: all of them.
        let few = [p("b", 600, 5), p("a", 600, 5), p("c", 1, 1)];
        assert_eq!(txids(&recent(&few, min(546)).unwrap()), ["a", "b"]);
        // No minimum: dust is a payment like any other.
        assert_eq!(txids(&recent(&few, min(0)).unwrap()), ["c", "a", "b"]);
        // A stored amount that does not read is an error, never skipped.
        let mut bad = p("x", 1, 1);
        bad.amount_base = "-1".into();
        assert!(recent(&[bad], min(0)).is_err());
    }

    #[test]
    fn payment_cursors_read_back_and_the_first_methods_keep_their_old_form() {
        let c = PaymentCursor { method: 0, txid: "ab".into(), index: 3 };
        assert_eq!(c.to_string(), "ab:3");
        assert_eq!(PaymentCursor::parse("ab:3"), Some(c));
        let c = PaymentCursor { method: 2, txid: "cd".into(), index: 0 };
        assert_eq!(c.to_string(), "2:cd:0");
        assert_eq!(PaymentCursor::parse("2:cd:0"), Some(c));
        for bad in ["", "ab", ":3", "ab:x", "x:ab:3", "ab:-1"] {
            assert_eq!(PaymentCursor::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn overlay_replaces_changed_payments_and_appends_new_ones_once() {
        let stored = vec![p("a", 1, 1), p("b", 2, 2)];
        let b2 = PaymentRecord { status: PaymentStatus::Confirmed, ..p("b", 2, 2) };
        let c = p("c", 3, 3);
        let c2 = PaymentRecord { confirmations: 1, ..p("c", 3, 3) };
        let got = overlay(stored, &[&b2, &c, &c2]);
        assert_eq!(got, [p("a", 1, 1), b2, c2]);
    }
}
