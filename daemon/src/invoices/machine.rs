//! The invoice status machine: pure functions of an invoice's terms, its payments and the
//! clock. No storage, no I/O: unit- and property-tested against a naive reference.
//!
//! Status `new → processing → settled`, or `expired` / `invalid`; exception `none`,
//! `paid_partial`, `paid_over`, `paid_late`. An invoice has one or more payment methods (an
//! asset each, at a rate locked at creation); a payment is worth its amount times its
//! method's rate, exactly ([`Valuation`]), and the invoice adds up what its payments are worth
//! in its currency, whatever methods they came by. Settled only when the payments seen before
//! expiry that have the required confirmations reach `price × (1 − tolerance)`. Everything is
//! recomputed from the payments, so a reorg that takes a payment away moves the invoice back.
//! Amounts are [`Amount`]s (up to 2^256 − 1 base units), values are 512-bit and every product
//! and sum is checked: payments that add up to more are an [`Overflow`], never a wrapped total.
//!
//! Dust: a payment below its method's `min_payment` is recorded (the indexer's payment events
//! report it) but is not the invoice's: it adds to no total, makes no exception, invalidates
//! nothing and causes no event here.

use super::value::{Valuation, Value};
use crate::db::PaymentStatus;
pub(crate) use crate::db::{Exception, InvoiceStatus};
use crate::events::EventKind;
use paywatch_plugin_api::amount::Amount;
use time::OffsetDateTime;

/// What was agreed when the invoice was created: the price and the methods' rates (the
/// valuation), amounts in base units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Terms {
    pub(crate) valuation: Valuation,
    /// Underpayment accepted, in basis points (100 = 1 %).
    pub(crate) tolerance_bp: u32,
    pub(crate) required: u32,
    pub(crate) expires_at: OffsetDateTime,
    /// Payments first seen after this are not the invoice's any more.
    pub(crate) monitoring_until: OffsetDateTime,
    pub(crate) cancelled: bool,
    /// Per method: payments below this are dust, never the invoice's.
    pub(crate) min_payment: Vec<Amount>,
}

/// One payment to one of the invoice's addresses, as the indexer has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Paid {
    /// The method (index into the terms' methods) whose address it paid.
    pub(crate) method: usize,
    pub(crate) amount: Amount,
    pub(crate) status: PaymentStatus,
    pub(crate) confirmations: u32,
    pub(crate) first_seen: OffsetDateTime,
}

/// The invoice's computed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct State {
    pub(crate) status: InvoiceStatus,
    pub(crate) exception: Exception,
    /// What every payment still standing (pending or confirmed) is worth, late ones included.
    pub(crate) paid: Value,
    /// Those of them with the required confirmations.
    pub(crate) confirmed: Value,
}

/// The payments are worth more than a value can be (2^512 units): only a token that states
/// absurd transfers gets there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Overflow;

impl Terms {
    /// The price, as a value.
    pub(crate) fn price(&self) -> Value {
        self.valuation.price()
    }

    /// `price × (1 − tolerance)`, rounded up: what must arrive. Exact for any price.
    pub(crate) fn threshold(&self) -> Value {
        let keep = 10_000 - self.tolerance_bp.min(10_000);
        self.price().mul_bp_ceil(keep)
    }

    /// What method `method` asks for while `remaining` is still due (base units, rounded up):
    /// never less than the method's `min_payment` when anything is due, since a payment below
    /// it is dust that the invoice never counts (a URI asking for less could not be paid).
    pub(crate) fn due(&self, method: usize, remaining: Value) -> Amount {
        let due = self.valuation.due_base(method, remaining);
        match (remaining.is_zero(), self.min_payment.get(method)) {
            (false, Some(min)) => due.max(*min),
            _ => due,
        }
    }

    /// Below its method's `min_payment`: recorded, never the invoice's.
    pub(crate) fn is_dust(&self, method: usize, amount: Amount) -> bool {
        self.min_payment.get(method).is_none_or(|m| amount < *m)
    }

    fn dust(&self, p: &Paid) -> bool {
        self.is_dust(p.method, p.amount)
    }

    /// Whether a payment counts toward the invoice (not dust, standing, seen in time).
    pub(crate) fn counts(&self, p: &Paid) -> bool {
        !self.dust(p)
            && p.first_seen <= self.monitoring_until
            && matches!(p.status, PaymentStatus::Pending | PaymentStatus::Confirmed)
    }

    fn confirmed(&self, p: &Paid) -> bool {
        self.counts(p)
            && (self.required == 0 || (p.status == PaymentStatus::Confirmed && p.confirmations >= self.required))
    }

    fn on_time(&self, p: &Paid) -> bool {
        p.first_seen <= self.expires_at
    }
}

/// The state of an invoice with these terms and payments at `now`, or [`Overflow`] when the
/// payments that count add up to more than an amount can be.
pub(crate) fn evaluate(t: &Terms, payments: &[Paid], now: OffsetDateTime) -> Result<State, Overflow> {
    let worth = |p: &Paid| t.valuation.value(p.method, p.amount);
    let sum = |f: &dyn Fn(&Paid) -> bool| {
        let values: Option<Vec<Value>> = payments.iter().filter(|p| f(p)).map(worth).collect();
        values.and_then(Value::checked_sum).ok_or(Overflow)
    };
    let paid = sum(&|p| t.counts(p))?;
    let confirmed = sum(&|p| t.confirmed(p))?;
    let paid_on_time = sum(&|p| t.counts(p) && t.on_time(p))?;
    let confirmed_on_time = sum(&|p| t.confirmed(p) && t.on_time(p))?;
    let late = payments.iter().any(|p| t.counts(p) && !t.on_time(p));
    let failed_on_time = payments.iter().any(|p| {
        !t.dust(p)
            && t.on_time(p)
            && matches!(p.status, PaymentStatus::Dropped | PaymentStatus::Replaced | PaymentStatus::Reversed)
    });
    let threshold = t.threshold();
    let status = if t.cancelled {
        InvoiceStatus::Invalid
    } else if paid_on_time >= threshold && !threshold.is_zero() {
        if confirmed_on_time >= threshold {
            InvoiceStatus::Settled
        } else {
            InvoiceStatus::Processing
        }
    } else if now <= t.expires_at {
        InvoiceStatus::New
    } else if failed_on_time {
        InvoiceStatus::Invalid
    } else {
        InvoiceStatus::Expired
    };
    let exception = match status {
        InvoiceStatus::Processing | InvoiceStatus::Settled if paid_over(t, payments, paid) => Exception::PaidOver,
        InvoiceStatus::Processing | InvoiceStatus::Settled => Exception::None,
        _ if late => Exception::PaidLate,
        _ if !paid_on_time.is_zero() => Exception::PaidPartial,
        _ => Exception::None,
    };
    Ok(State { status, exception, paid, confirmed })
}

/// Paid more than the price by at least one base unit of a method that paid: a method's amount
/// due is rounded up to a whole base unit, so paying exactly what was asked is worth up to one
/// base unit more than the price, which is not an overpayment. For an invoice priced in its own
/// asset (one base unit is one unit of value) this is `paid > price`.
fn paid_over(t: &Terms, payments: &[Paid], paid: Value) -> bool {
    let one = Amount::from(1u64);
    let slack = payments.iter().filter(|p| t.counts(p)).filter_map(|p| t.valuation.value(p.method, one)).max();
    paid > t.price() && slack.is_some_and(|s| paid.saturating_sub(t.price()) >= s)
}

/// One event of a transition, with the payment that caused it: an index into the new payments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Transition {
    pub(crate) kind: EventKind,
    /// The detected or reversed payment; for a status or `paid_late` event, the last payment
    /// whose counting or confirmation changed (`None` when only the clock moved).
    pub(crate) cause: Option<usize>,
}

/// `transition == "invoice.settled"` compares the kind's wire name.
impl PartialEq<&str> for Transition {
    fn eq(&self, other: &&str) -> bool {
        self.kind == *other
    }
}

/// The events that moving from `old` to `new` means, in order: payments first (detected per
/// newly counted payment, reversed per payment that stopped counting or lost its
/// confirmations), then the status, then `paid_late`. Dust never counts, so it causes none.
pub(crate) fn transition_events(
    t: &Terms,
    old: &State,
    new: &State,
    old_payments: &[Option<Paid>],
    new_payments: &[Paid],
) -> Vec<Transition> {
    let mut out = Vec::new();
    let mut last_change = None;
    for (i, (before, after)) in old_payments.iter().zip(new_payments).enumerate() {
        let was = before.as_ref().is_some_and(|p| t.counts(p));
        let was_confirmed = before.as_ref().is_some_and(|p| t.confirmed(p));
        if was != t.counts(after) || was_confirmed != t.confirmed(after) {
            last_change = Some(i);
        }
        if !was && t.counts(after) {
            out.push(Transition { kind: EventKind::InvoicePaymentDetected, cause: Some(i) });
        } else if (was && !t.counts(after)) || (was_confirmed && !t.confirmed(after)) {
            out.push(Transition { kind: EventKind::InvoicePaymentReversed, cause: Some(i) });
        }
    }
    let status = |kind| Transition { kind, cause: last_change };
    if old.status != new.status {
        match new.status {
            InvoiceStatus::Processing => out.push(status(EventKind::InvoiceProcessing)),
            InvoiceStatus::Settled => out.push(status(EventKind::InvoiceSettled)),
            InvoiceStatus::Expired => out.push(status(EventKind::InvoiceExpired)),
            InvoiceStatus::Invalid => out.push(status(EventKind::InvoiceInvalid)),
            InvoiceStatus::New => {}
        }
    }
    if new.exception == Exception::PaidLate && old.exception != Exception::PaidLate {
        out.push(status(EventKind::InvoicePaidLate));
    }
    out
}

#[cfg(test)]
mod tests;
