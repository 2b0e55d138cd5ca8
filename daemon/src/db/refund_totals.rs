//! An invoice's refunds as running totals: how many it has and what they add up to, stored
//! beside the invoice (`invoice_index`, `R` ‖ invoice id) and changed in the batch that adds a
//! refund, so a new refund reads one record instead of every earlier refund. An invoice whose
//! refunds were all made before the totals existed (schema ≤ 6) has none: they are summed from
//! its refunds when read, and stored with its next refund.

use super::schema::*;
use super::*;
use serde::{Deserialize, Serialize};

/// Every refund of one invoice, whatever its status (a refund's value never changes and a
/// refund is never deleted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RefundTotals {
    pub(crate) count: u32,
    /// The sum of the refunds' values, in the invoice's value units (`invoices::value`: the
    /// integer count of `10^-scale` currency units). For an invoice priced in its own asset
    /// these are its base units, so the totals stored before schema 8 (base units of that
    /// asset, the only kind of invoice there was) read the same. A sum past 2^256 − 1 is that
    /// (it only ever limits what can be refunded).
    pub(crate) amount: Amount,
}

/// As stored: the value units, a decimal string, as every stored amount.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    count: u32,
    amount: String,
}

impl RefundTotals {
    pub(crate) const NONE: RefundTotals = RefundTotals { count: 0, amount: Amount::ZERO };

    /// With one more refund of `amount`.
    fn plus(self, amount: Amount) -> RefundTotals {
        RefundTotals {
            count: self.count.saturating_add(1),
            amount: self.amount.checked_add(amount).unwrap_or(Amount::MAX),
        }
    }
}

fn totals_key(invoice: Uuid) -> Vec<u8> {
    let mut k = vec![tag::REFUND_TOTALS];
    k.extend_from_slice(invoice.as_bytes());
    k
}

impl Db {
    /// The invoice's refund totals: stored, or summed from its refunds when it has none stored
    /// (refunds made before schema 7, or none at all). Those refunds are of invoices priced in
    /// their asset (schema 8 brought other currencies, and every refund since stores totals):
    /// their base units are their value units.
    pub(crate) fn refund_totals(&self, invoice: Uuid) -> Result<RefundTotals, DbError> {
        let k = totals_key(invoice);
        match self.db.get_cf(self.cf(CF_INVOICE_INDEX), &k)? {
            Some(raw) => {
                let s: Stored = decode(CF_INVOICE_INDEX, &k, &raw)?;
                let amount = stored_amount(CF_INVOICE_INDEX, &k, "amount", &s.amount)?;
                Ok(RefundTotals { count: s.count, amount })
            }
            None => {
                self.invoice_refunds(invoice)?.iter().try_fold(RefundTotals::NONE, |t, r| Ok(t.plus(r.base_amount()?)))
            }
        }
    }
}

impl Batch<'_> {
    /// Adds a new refund (never one already stored: see [`Batch::put_refund`] for changes) with
    /// its invoice's totals, `before` being the totals without it and `units` its value in the
    /// invoice's value units; returns the new totals.
    pub(crate) fn add_refund(
        &mut self,
        r: &RefundRecord,
        units: Amount,
        before: RefundTotals,
    ) -> Result<RefundTotals, DbError> {
        let after = before.plus(units);
        let v = Stored { count: after.count, amount: after.amount.to_string() };
        let v = serde_json::to_vec(&v).map_err(|e| DbError::Encode(e, CF_INVOICE_INDEX))?;
        self.put_refund(r)?;
        self.put_raw(CF_INVOICE_INDEX, &totals_key(r.invoice_id), &v);
        Ok(after)
    }
}

impl Batch<'_> {
    /// Takes a rejected refund's value (`units`) off its invoice's totals (`before`, with it);
    /// the count stays (it counts every refund made, whatever became of it).
    pub(crate) fn take_off_refund(
        &mut self,
        invoice: Uuid,
        units: Amount,
        before: RefundTotals,
    ) -> Result<RefundTotals, DbError> {
        let after =
            RefundTotals { count: before.count, amount: before.amount.checked_sub(units).unwrap_or(Amount::ZERO) };
        let v = Stored { count: after.count, amount: after.amount.to_string() };
        let v = serde_json::to_vec(&v).map_err(|e| DbError::Encode(e, CF_INVOICE_INDEX))?;
        self.put_raw(CF_INVOICE_INDEX, &totals_key(invoice), &v);
        Ok(after)
    }
}

#[cfg(test)]
mod tests;
