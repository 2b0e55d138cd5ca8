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

/// The latest [`RECENT_PAYMENTS`] of `payments` at or above `min_payment`, oldest first (by
/// first seen, then txid and output).
pub(super) fn recent(payments: &[PaymentRecord], min_payment: Amount) -> Result<Vec<&PaymentRecord>, DbError> {
    let mut countable = Vec::new();
    for p in payments {
        if p.base_amount()? >= min_payment {
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
) -> Result<(), DbError> {
    let recent = recent(payments, inv.min_payment()?)?;
    for e in events {
        inv.sequence += 1;
        let shown = InvoicePayments { recent: &recent, count: payments.len(), cause: e.cause.map(|i| &payments[i]) };
        batch.push_event(events::invoice(e.kind, inv, shown));
    }
    Ok(())
}

/// An event no payment caused (creation, a cancellation).
pub(super) fn uncaused(kind: EventKind) -> Transition {
    Transition { kind, cause: None }
}

/// Whether any of an update's payments can change the invoice: one in its asset and not dust.
/// Dust and other assets' payments are recorded by the indexer and change nothing here.
pub(super) fn concern(inv: &InvoiceRecord, terms: &Terms, changed: &[&PaymentRecord]) -> Result<bool, DbError> {
    for p in changed.iter().filter(|p| p.asset == inv.asset) {
        if !terms.is_dust(p.base_amount()?) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A page of an invoice's payments, and the payment (txid, output) the next page starts after
/// when there may be more.
#[derive(Debug)]
pub(crate) struct PaymentsPage {
    pub(crate) items: Vec<PaymentRecord>,
    pub(crate) next: Option<(String, u32)>,
}

impl Invoices {
    /// The invoice as events and the API show it: the latest payments that can count and the
    /// count of all.
    pub(crate) fn view(&self, inv: &InvoiceRecord) -> Result<Invoice, InvoiceError> {
        let payments = self.asset_payments(inv.watch_id, &inv.asset)?;
        let recent = recent(&payments, inv.min_payment()?)?;
        Ok(crate::events::views::invoice(inv, InvoicePayments { recent: &recent, count: payments.len(), cause: None }))
    }

    /// A page of an invoice's payments in its asset, dust included, in txid and output order
    /// after the payment `after` (txid, output), and where the next page starts when there may
    /// be more (a page may hold fewer than `limit`: payments of other assets to an EVM address
    /// are skipped).
    pub(crate) fn payments_page(
        &self,
        store: &str,
        id: Uuid,
        after: Option<(&str, u32)>,
        limit: usize,
    ) -> Result<PaymentsPage, InvoiceError> {
        let inv = self.get(store, id)?.ok_or_else(|| InvoiceError::NotFound(format!("invoice {id}")))?;
        let after = after.map(|(txid, index)| (inv.chain.as_str(), txid, index));
        let mut page = self.db().watch_payments_after(inv.watch_id, after, limit)?;
        let next = (page.len() == limit).then(|| page.last().map(|p| (p.txid.clone(), p.index))).flatten();
        page.retain(|p| p.asset == inv.asset);
        Ok(PaymentsPage { items: page, next })
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
        let shown = recent(&all, Amount::from(546u64)).unwrap();
        assert_eq!(txids(&shown), ["real5", "real6", "real7", "real8", "real9"]);
        // Ties in first seen by txid; fewer than five: all of them.
        let few = [p("b", 600, 5), p("a", 600, 5), p("c", 1, 1)];
        assert_eq!(txids(&recent(&few, Amount::from(546u64)).unwrap()), ["a", "b"]);
        // No minimum: dust is a payment like any other.
        assert_eq!(txids(&recent(&few, Amount::ZERO).unwrap()), ["c", "a", "b"]);
        // A stored amount that does not read is an error, never skipped.
        let mut bad = p("x", 1, 1);
        bad.amount_base = "-1".into();
        assert!(recent(&[bad], Amount::ZERO).is_err());
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
