//! The two money rules of refunds, pure functions of payment records (unit-tested below):
//!
//! * **What an invoice can refund**: per payment method, its payments of the method's asset to
//!   the method's address first seen by the invoice's expiry, with its required confirmations
//!   (at least 1: money that may still vanish is never refunded). Payments first seen after
//!   expiry (`late`) and those still short of their confirmations (`unconfirmed`) are listed
//!   apart, never dropped silently. Dust (below the method's `min_payment`) is not the
//!   invoice's money and is in no list. The cap is in value ([`Funds`]): what those payments
//!   are worth at the methods' locked rates, less the values of the invoice's refunds; a
//!   refund is priced by its variant ([`price`]), its crypto amount rounded down.
//! * **What completes a refund**: payments of the refund's asset to the refund's address (the
//!   payments recorded on its watch) with the refund's confirmations. Refunds of a store to one
//!   address share what it receives: refunds already completed keep what completed them, then
//!   the oldest refund still owed goes first. One payment never completes two refunds, and a
//!   payment seen before a refund's address was watched is not that refund's.

use super::value::{lock_rate, parse_decimal, MethodRate, Valuation, Value};
use super::LockedRate;
use crate::db::{DbError, InvoiceRecord, PaymentRecord, PaymentStatus};
use paywatch_plugin_api::amount::Amount;
use std::collections::BTreeMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// An invoice's payments sorted by whether they can be refunded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Received<'a> {
    /// The sum of the refundable ones.
    pub(crate) amount: Amount,
    /// First seen after the invoice's expiry (pending or confirmed).
    pub(crate) late: Vec<&'a PaymentRecord>,
    /// First seen by expiry, short of the required confirmations.
    pub(crate) unconfirmed: Vec<&'a PaymentRecord>,
}

/// What of `payments` the invoice can refund through its method `method` (its first is the
/// one the invoice's top-level `asset` and `watch_id` describe). Payments that failed (dropped,
/// replaced, reversed) are no money and dust is not the invoice's: both are in no list.
pub(crate) fn received<'a>(
    inv: &InvoiceRecord,
    method: usize,
    payments: &'a [PaymentRecord],
) -> Result<Received<'a>, DbError> {
    let m = &inv.methods[method];
    let min = m.min_payment(inv.id)?;
    let mut counted = Vec::new();
    let (mut late, mut unconfirmed) = (Vec::new(), Vec::new());
    let required = inv.required_confirmations.max(1);
    for p in payments.iter().filter(|p| p.asset == m.asset && p.watch_id == m.watch_id) {
        if !matches!(p.status, PaymentStatus::Pending | PaymentStatus::Confirmed) || p.base_amount()? < min {
            continue;
        }
        if p.first_seen > inv.expires_at {
            late.push(p);
        } else if p.status == PaymentStatus::Confirmed && p.confirmations >= required {
            counted.push(p.base_amount()?);
        } else {
            unconfirmed.push(p);
        }
    }
    // Only ever compared with and reduced by refunds: a sum past 2^256 − 1 base units (a token
    // stating absurd transfers) is capped there.
    let amount = Amount::checked_sum(counted).unwrap_or(Amount::MAX);
    Ok(Received { amount, late, unconfirmed })
}

/// How a refund is priced (`POST /v1/invoices/{id}/refunds` `variant`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Variant {
    /// A value in the currency at the method's locked rate.
    RateThen,
    /// A value in the currency (by default all still refundable) at today's rate.
    CurrentRate,
    /// A stated amount in the currency at today's rate.
    Fiat,
    /// What was paid beyond the price and not refunded yet, at the locked rate.
    Overpaid,
    /// A crypto amount in the method's asset (its value at the locked rate is counted).
    Custom,
}

impl Variant {
    pub(crate) const ALL: [Variant; 5] =
        [Variant::RateThen, Variant::CurrentRate, Variant::Fiat, Variant::Overpaid, Variant::Custom];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Variant::RateThen => "rate_then",
            Variant::CurrentRate => "current_rate",
            Variant::Fiat => "fiat",
            Variant::Overpaid => "overpaid",
            Variant::Custom => "custom",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Variant> {
        Self::ALL.into_iter().find(|v| v.as_str() == text)
    }

    /// Priced at today's rate (which the caller fetches).
    pub(crate) fn needs_today(self) -> bool {
        matches!(self, Variant::CurrentRate | Variant::Fiat)
    }
}

/// What an invoice has to refund, in value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Funds<'a> {
    pub(crate) valuation: &'a Valuation,
    /// Per method (the invoice's order): its refundable payments ([`received`]), base units.
    pub(crate) received: &'a [Amount],
    /// What the invoice's refunds settled so far (their values).
    pub(crate) refunded: Value,
}

impl Funds<'_> {
    /// What the refundable payments are worth at the locked rates; `None` past 2^512 units.
    pub(crate) fn received_value(&self) -> Option<Value> {
        let values = self.received.iter().enumerate().map(|(i, a)| self.valuation.value(i, *a));
        values.collect::<Option<Vec<_>>>().and_then(Value::checked_sum)
    }

    /// The method whose refundable payments are worth the most (the first of equals): where a
    /// refund goes when the merchant names no asset.
    pub(crate) fn richest(&self) -> usize {
        let worth = |i: usize| self.valuation.value(i, self.received[i]);
        (0..self.received.len()).fold(0, |best, i| if worth(i) > worth(best) { i } else { best })
    }
}

/// A refund as asked, its method chosen.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ask<'a> {
    pub(crate) variant: Variant,
    pub(crate) method: usize,
    /// In the invoice's currency, or in the method's asset for [`Variant::Custom`]; `None`:
    /// all still refundable (`rate_then`, `current_rate`).
    pub(crate) amount: Option<&'a str>,
    /// The merchant's share kept, in basis points (at most 10 000).
    pub(crate) subtract_bp: u32,
}

/// A refund priced: what it settles and what is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Priced {
    /// Counted against what the invoice can refund (the full value, whatever is kept).
    pub(crate) value: Value,
    /// Currency units per unit of the asset used: the method's locked rate or today's.
    pub(crate) rate: LockedRate,
    /// `value` at `rate` in base units, rounded down.
    pub(crate) gross: Amount,
    /// What is sent: `gross` less the merchant's share, rounded down.
    pub(crate) amount: Amount,
}

/// Why a refund cannot be priced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    Invalid(String),
    /// Worth more than is refundable.
    TooLarge(Box<Excess>),
    /// The variant needs today's rate and none was given.
    NoRate,
}

/// A refund worth more than is refundable: `asked` is `None` when all was asked and nothing is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Excess {
    pub(crate) asked: Option<Value>,
    pub(crate) available: Value,
}

impl Refusal {
    fn too_large(asked: Option<Value>, available: Value) -> Refusal {
        Refusal::TooLarge(Box::new(Excess { asked, available }))
    }
}

/// A refund of `inv` priced by its variant. Crypto amounts round down to base units (a refund
/// never sends more than its value); values in the currency are exact.
pub(crate) fn price(
    inv: &InvoiceRecord,
    funds: &Funds<'_>,
    ask: &Ask<'_>,
    today: Option<&LockedRate>,
) -> Result<Priced, Refusal> {
    let v = funds.valuation;
    let m = &inv.methods[ask.method];
    let invalid = |s: String| Refusal::Invalid(s);
    let received =
        funds.received_value().ok_or_else(|| invalid("the payments are worth more than 2^512 units".into()))?;
    let available = received.saturating_sub(funds.refunded);
    let locked = LockedRate { rate: m.rate.clone(), source: m.rate_source.clone(), at: m.rate_at };
    let in_currency = |text: &str| -> Result<Value, Refusal> {
        let bad = |e: String| invalid(format!("amount: {e} (in {}, {} decimals)", inv.currency, inv.currency_decimals));
        let (_, decimals) = parse_decimal(text).map_err(|e| bad(e.to_string()))?;
        if decimals > u32::from(inv.currency_decimals) {
            return Err(bad(format!("{text:?} has too many decimals")));
        }
        let value = v.parse_value(text).map_err(|e| bad(e.to_string()))?;
        match value.is_zero() {
            true => Err(invalid(format!("amount {text:?} must be more than zero"))),
            false => Ok(value),
        }
    };
    let asked = |default: Option<Value>| -> Result<Value, Refusal> {
        match (ask.amount, default) {
            (Some(a), _) => in_currency(a),
            (None, Some(all)) => Ok(all),
            (None, None) => Err(invalid(format!("amount is required for a {} refund", ask.variant.as_str()))),
        }
    };
    let (value, rate, gross) = match ask.variant {
        Variant::RateThen => {
            let value = asked(Some(available))?;
            (value, locked, v.floor_base(ask.method, value))
        }
        Variant::CurrentRate | Variant::Fiat => {
            let value = asked((ask.variant == Variant::CurrentRate).then_some(available))?;
            let today = today.ok_or(Refusal::NoRate)?;
            let rate = lock_rate(&today.rate)
                .ok_or_else(|| invalid(format!("today's rate {:?} is not a positive decimal", today.rate)))?;
            let gross = at_rate(inv, v, ask.method, &rate, value)?;
            (value, LockedRate { rate, ..today.clone() }, gross)
        }
        Variant::Overpaid => {
            let excess = received.saturating_sub(v.price()).saturating_sub(funds.refunded);
            if excess.is_zero() {
                return Err(invalid(format!(
                    "nothing to refund as overpaid: the confirmed payments by expiry are worth {} {}, the price is {} and {} was refunded",
                    v.to_decimal(received), inv.currency, v.to_decimal(v.price()), v.to_decimal(funds.refunded)
                )));
            }
            (excess, locked, v.floor_base(ask.method, excess))
        }
        Variant::Custom => {
            let text = ask.amount.ok_or_else(|| invalid("amount is required for a custom refund".into()))?;
            let amount = Amount::parse_units(text, m.decimals).map_err(|e| invalid(format!("amount: {e}")))?;
            if amount.is_zero() {
                return Err(invalid(format!("amount {text:?} must be more than zero")));
            }
            let value = v.value(ask.method, amount).ok_or_else(|| invalid(format!("amount {text:?} is too large")))?;
            (value, locked, amount)
        }
    };
    if value.is_zero() {
        return Err(Refusal::too_large(None, available));
    }
    if value > available {
        return Err(Refusal::too_large(Some(value), available));
    }
    if gross.is_zero() {
        return Err(invalid(format!(
            "a refund of {} {} is worth less than one base unit of {} at {}",
            v.to_decimal(value),
            inv.currency,
            m.asset,
            rate.rate
        )));
    }
    let kept = 10_000u32.saturating_sub(ask.subtract_bp.min(10_000));
    let amount = gross.checked_mul_bp(kept).unwrap_or(Amount::ZERO);
    if amount.is_zero() {
        return Err(invalid("subtract_percent leaves nothing to send".into()));
    }
    Ok(Priced { value, rate, gross, amount })
}

/// `value` in base units of method `method` at another rate than its locked one, rounded
/// down: the invoice's valuation with that rate as one more method (whose scale holds every
/// value of the invoice's exactly).
fn at_rate(inv: &InvoiceRecord, v: &Valuation, method: usize, rate: &str, value: Value) -> Result<Amount, Refusal> {
    let mut rates: Vec<MethodRate<'_>> =
        inv.methods.iter().map(|m| MethodRate { decimals: m.decimals, rate: &m.rate }).collect();
    rates.push(MethodRate { decimals: inv.methods[method].decimals, rate });
    let with_today = Valuation::new(&inv.price, inv.currency_decimals, &rates)
        .map_err(|e| Refusal::Invalid(format!("today's rate: {e}")))?;
    let value = with_today
        .parse_value(&v.to_decimal(value))
        .map_err(|e| Refusal::Invalid(format!("value at today's rate: {e}")))?;
    Ok(with_today.floor_base(rates.len() - 1, value))
}

/// A refund at its destination, as completion sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owed {
    pub(crate) id: Uuid,
    pub(crate) asset: String,
    /// The watch of its address: the payments recorded on it are the ones to its address.
    pub(crate) watch: Uuid,
    pub(crate) amount: Amount,
    pub(crate) required_confirmations: u32,
    /// Completed already: it keeps first call on the payments that completed it.
    pub(crate) completed: bool,
}

impl Owed {
    fn takes(&self, p: &PaymentRecord) -> bool {
        p.asset == self.asset
            && p.watch_id == self.watch
            && p.status == PaymentStatus::Confirmed
            && p.confirmations >= self.required_confirmations.max(1)
    }
}

/// Which of the refunds to one address (given oldest first) `payments` (the records on their
/// watches) complete: per refund, the txid of the last payment it took once its amount is
/// covered, else `None`. Each payment (one output, recorded once per watch) is taken in the
/// order it was first seen: by the completed refunds that take it, then by the oldest refunds
/// still owed that take it, until it is shared out.
pub(crate) fn completed(refunds: &[Owed], payments: &[PaymentRecord]) -> Result<Vec<Option<String>>, DbError> {
    // One entry per output, with its records on each watch.
    let mut outputs: BTreeMap<(&str, u32), (OffsetDateTime, Vec<&PaymentRecord>)> = BTreeMap::new();
    for p in payments {
        let e = outputs.entry((p.txid.as_str(), p.index)).or_insert((p.first_seen, Vec::new()));
        e.0 = e.0.min(p.first_seen);
        e.1.push(p);
    }
    let mut order: Vec<_> = outputs.into_iter().collect();
    order.sort_by(|((tx_a, i_a), (seen_a, _)), ((tx_b, i_b), (seen_b, _))| {
        (seen_a, tx_a, i_a).cmp(&(seen_b, tx_b, i_b))
    });
    let mut owed: Vec<Amount> = refunds.iter().map(|r| r.amount).collect();
    let mut last: Vec<Option<&str>> = vec![None; refunds.len()];
    let mut turn: Vec<usize> = (0..refunds.len()).collect();
    turn.sort_by_key(|i| !refunds[*i].completed); // stable: oldest first within each
    for ((txid, _), (_, records)) in order {
        let mut left = records[0].base_amount()?;
        for &i in &turn {
            let r = &refunds[i];
            if left.is_zero() {
                break;
            }
            if owed[i].is_zero() || !records.iter().any(|p| r.takes(p)) {
                continue;
            }
            let take = left.min(owed[i]);
            owed[i] = owed[i].saturating_sub(take);
            left = left.saturating_sub(take);
            last[i] = Some(txid);
        }
    }
    Ok(owed.iter().zip(last).map(|(o, t)| t.filter(|_| o.is_zero()).map(str::to_string)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Exception, InvoiceStatus};
    use time::Duration;

    fn t0() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn invoice(required: u32) -> InvoiceRecord {
        InvoiceRecord {
            id: Uuid::now_v7(),
            store: "shop".into(),
            order_id: "o".into(),
            asset: "BTC".into(),
            chain: "btc".into(),
            description: None,
            metadata: None,
            refund_email: None,
            decimals: 8,
            amount_due: "1000".into(),
            amount_paid: "0".into(),
            amount_confirmed: "0".into(),
            min_payment: "0".into(),
            tolerance_bp: 0,
            required_confirmations: required,
            address: "addr".into(),
            address_index: Some(0),
            address_source: None,
            watch_id: Uuid::now_v7(),
            payment_uri: "bitcoin:addr".into(),
            status: InvoiceStatus::New,
            exception: Exception::None,
            cancelled: false,
            released: false,
            sequence: 0,
            request_hash: String::new(),
            created_at: t0(),
            expires_at: t0() + Duration::minutes(15),
            monitoring_until: t0() + Duration::days(1),
            updated_at: t0(),
            currency: String::new(),
            currency_decimals: 0,
            price: String::new(),
            value_paid: String::new(),
            value_confirmed: String::new(),
            value_due: String::new(),
            methods: Vec::new(),
            redirect_url: None,
            gateway: None,
        }
    }

    /// What the invoice (as a pre-schema-8 record, read as one method at rate 1) can refund.
    fn recv<'a>(inv: &InvoiceRecord, ps: &'a [PaymentRecord]) -> Received<'a> {
        received(&inv.clone().upgraded(), 0, ps).unwrap()
    }

    /// A payment of `amount` base units to `watch`, first seen `minutes` after t0.
    fn pay(
        watch: Uuid,
        txid: &str,
        amount: u64,
        status: PaymentStatus,
        confirmations: u32,
        minutes: i64,
    ) -> PaymentRecord {
        PaymentRecord {
            watch_id: watch,
            store: "shop".into(),
            chain: "btc".into(),
            asset: "BTC".into(),
            address: "addr".into(),
            txid: txid.into(),
            index: 0,
            amount: String::new(),
            amount_base: amount.to_string(),
            status,
            confirmations,
            required_confirmations: 0,
            is_final: false,
            block_height: None,
            block_hash: None,
            replaced_by: None,
            first_seen: t0() + Duration::minutes(minutes),
            updated_at: t0(),
            outpoint_keys: Vec::new(),
        }
    }

    fn base(n: u64) -> Amount {
        Amount::from_base_str(&n.to_string()).unwrap()
    }

    fn txids(ps: &[&PaymentRecord]) -> Vec<String> {
        ps.iter().map(|p| p.txid.clone()).collect()
    }

    use PaymentStatus::{Confirmed, Dropped, Pending, Replaced, Reversed};

    #[test]
    fn only_confirmed_payments_by_expiry_are_refundable_and_the_others_are_listed() {
        let inv = invoice(2);
        let w = inv.watch_id;
        let ps = [
            pay(w, "ok", 100, Confirmed, 2, 1),
            pay(w, "at-expiry", 10, Confirmed, 3, 15),
            pay(w, "short", 20, Confirmed, 1, 2),
            pay(w, "mempool", 40, Pending, 0, 3),
            pay(w, "late", 1000, Confirmed, 6, 16),
            pay(w, "late-mempool", 2000, Pending, 0, 20),
        ];
        let r = recv(&inv, &ps);
        assert_eq!(r.amount, base(110));
        assert_eq!(txids(&r.unconfirmed), ["short", "mempool"]);
        assert_eq!(txids(&r.late), ["late", "late-mempool"]);
    }

    #[test]
    fn an_invoice_that_needs_no_confirmation_refunds_only_mined_payments() {
        let inv = invoice(0);
        let w = inv.watch_id;
        let ps = [pay(w, "mined", 100, Confirmed, 1, 1), pay(w, "mempool", 40, Pending, 0, 1)];
        let r = recv(&inv, &ps);
        assert_eq!((r.amount, txids(&r.unconfirmed)), (base(100), vec!["mempool".to_string()]));
    }

    #[test]
    fn failed_payments_other_assets_and_other_watches_are_not_the_invoices_money() {
        let inv = invoice(1);
        let w = inv.watch_id;
        let mut token = pay(w, "token", 500, Confirmed, 1, 1);
        token.asset = "TOK".into();
        let ps = [
            pay(w, "dropped", 1, Dropped, 0, 1),
            pay(w, "replaced", 2, Replaced, 0, 1),
            pay(w, "reversed", 4, Reversed, 0, 1),
            pay(Uuid::now_v7(), "elsewhere", 8, Confirmed, 1, 1),
            token,
        ];
        let r = recv(&inv, &ps);
        assert_eq!(r, Received { amount: Amount::ZERO, late: vec![], unconfirmed: vec![] });
    }

    #[test]
    fn dust_is_not_the_invoices_money_to_refund() {
        let mut inv = invoice(1);
        inv.min_payment = "546".into();
        let w = inv.watch_id;
        let ps = [
            pay(w, "dust", 545, Confirmed, 1, 1),
            pay(w, "late-dust", 1, Confirmed, 1, 20),
            pay(w, "real", 546, Confirmed, 1, 1),
        ];
        let r = recv(&inv, &ps);
        assert_eq!(r, Received { amount: base(546), late: vec![], unconfirmed: vec![] });
    }

    fn owed(watch: Uuid, amount: u64, required: u32) -> Owed {
        let id = Uuid::now_v7();
        Owed {
            id,
            asset: "BTC".into(),
            watch,
            amount: base(amount),
            required_confirmations: required,
            completed: false,
        }
    }

    fn done(r: &[Owed], ps: &[PaymentRecord]) -> Vec<Option<String>> {
        completed(r, ps).unwrap()
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[test]
    fn a_refund_completes_with_its_confirmations_not_before() {
        let w = Uuid::now_v7();
        let r = [owed(w, 100, 2)];
        assert_eq!(done(&r, &[pay(w, "a", 100, Pending, 0, 1)]), [None]);
        assert_eq!(done(&r, &[pay(w, "a", 100, Confirmed, 1, 1)]), [None]);
        assert_eq!(done(&r, &[pay(w, "a", 100, Confirmed, 2, 1)]), [some("a")]);
        // Zero confirmations asked still means mined.
        let r0 = [owed(w, 100, 0)];
        assert_eq!(done(&r0, &[pay(w, "a", 100, Pending, 0, 1)]), [None]);
        assert_eq!(done(&r0, &[pay(w, "a", 100, Confirmed, 1, 1)]), [some("a")]);
    }

    #[test]
    fn only_the_refunds_asset_to_its_address_counts() {
        let w = Uuid::now_v7();
        let r = [owed(w, 100, 1)];
        let mut token = pay(w, "token", 100, Confirmed, 1, 1);
        token.asset = "TOK".into();
        assert_eq!(done(&r, std::slice::from_ref(&token)), [None], "another asset to the address");
        assert_eq!(done(&r, &[pay(Uuid::now_v7(), "x", 100, Confirmed, 1, 1)]), [None], "another address");
        assert_eq!(done(&r, &[pay(w, "failed", 100, Reversed, 0, 1)]), [None], "a reversed payment");
        // Payments add up; the refund names the one that completed it.
        let ps = [token, pay(w, "a", 60, Confirmed, 1, 1), pay(w, "b", 40, Confirmed, 1, 2)];
        assert_eq!(done(&r, &ps), [some("b")]);
    }

    #[test]
    fn one_payment_never_completes_two_refunds_to_one_address() {
        let (w1, w2) = (Uuid::now_v7(), Uuid::now_v7());
        let r = [owed(w1, 100, 1), owed(w2, 100, 1)];
        // Both watches record the one payment: the older refund takes it.
        let ps = [pay(w1, "a", 100, Confirmed, 1, 5), pay(w2, "a", 100, Confirmed, 1, 5)];
        assert_eq!(done(&r, &ps), [some("a"), None]);
        // A second payment completes the second refund.
        let more = [ps.to_vec(), vec![pay(w1, "b", 100, Confirmed, 1, 6), pay(w2, "b", 100, Confirmed, 1, 6)]].concat();
        assert_eq!(done(&r, &more), [some("a"), some("b")]);
        // One payment of both amounts completes both.
        let both = [pay(w1, "c", 200, Confirmed, 1, 5), pay(w2, "c", 200, Confirmed, 1, 5)];
        assert_eq!(done(&r, &both), [some("c"), some("c")]);
        // Amounts are shared out oldest refund first, whatever the order of the payments.
        let r = [owed(w1, 200, 1), owed(w2, 100, 1)];
        let split = |a: u64, b: u64| {
            let (x, y) = (pay(w1, "x", a, Confirmed, 1, 5), pay(w1, "y", b, Confirmed, 1, 6));
            vec![x.clone(), PaymentRecord { watch_id: w2, ..x }, y.clone(), PaymentRecord { watch_id: w2, ..y }]
        };
        assert_eq!(done(&r, &split(100, 100)), [some("y"), None]);
        assert_eq!(done(&r, &split(150, 150)), [some("y"), some("y")]);
    }

    #[test]
    fn a_payment_seen_before_the_refunds_address_was_watched_is_not_that_refunds() {
        let (w1, w2) = (Uuid::now_v7(), Uuid::now_v7());
        let r = [owed(w1, 100, 1), owed(w2, 100, 1)];
        // Only the older refund's watch existed when 300 arrived: the newer one gets nothing.
        assert_eq!(done(&r, &[pay(w1, "early", 300, Confirmed, 1, 1)]), [some("early"), None]);
    }

    #[test]
    fn each_refund_waits_for_its_own_confirmations() {
        let (w1, w2) = (Uuid::now_v7(), Uuid::now_v7());
        let r = [owed(w1, 100, 6), owed(w2, 100, 1)];
        // Two confirmations: enough for the newer refund only, so it takes the payment.
        let ps = [pay(w1, "a", 100, Confirmed, 2, 1), pay(w2, "a", 100, Confirmed, 1, 1)];
        assert_eq!(done(&r, &ps), [None, some("a")]);
        // Once completed it keeps it: six confirmations later the older refund is still owed.
        let r = [r[0].clone(), Owed { completed: true, ..r[1].clone() }];
        let ps = [pay(w1, "a", 100, Confirmed, 6, 1), pay(w2, "a", 100, Confirmed, 1, 1)];
        assert_eq!(done(&r, &ps), [None, some("a")]);
    }

    // Refund variants. A 100 USD invoice payable in BTC (locked at 50,000 USD) and ETH (locked
    // at 2,500 USD); today BTC is at 40,000 USD.

    use crate::db::MethodRecord;
    use crate::invoices::state::valuation;

    const SAT: u64 = 1;
    const BTC: u64 = 100_000_000 * SAT;

    fn usd_invoice() -> InvoiceRecord {
        let mut inv = invoice(1);
        let method = |asset: &str, decimals: u8, rate: &str| MethodRecord {
            asset: asset.into(),
            chain: "c".into(),
            decimals,
            address: format!("{asset}-addr"),
            address_index: Some(0),
            address_source: None,
            watch_id: Uuid::now_v7(),
            min_payment: "0".into(),
            rate: rate.into(),
            rate_source: "kraken".into(),
            rate_at: t0(),
            amount_due: "0".into(),
            amount_paid: "0".into(),
            payment_uri: String::new(),
        };
        inv.currency = "USD".into();
        inv.currency_decimals = 2;
        inv.price = "100.00".into();
        inv.methods = vec![method("BTC", 8, "50000"), method("ETH", 18, "2500")];
        inv
    }

    fn today(rate: &str) -> LockedRate {
        LockedRate { rate: rate.into(), source: "coinbase".into(), at: t0() + Duration::days(30) }
    }

    /// The refund `ask` of `inv`, whose methods received `received` (base units) and whose
    /// refunds settled `refunded` (in the currency).
    fn priced(
        inv: &InvoiceRecord,
        received: &[Amount],
        refunded: &str,
        ask: Ask<'_>,
        today: Option<&LockedRate>,
    ) -> Result<Priced, Refusal> {
        let v = valuation(inv).unwrap();
        let refunded = v.parse_value(refunded).unwrap();
        price(inv, &Funds { valuation: &v, received, refunded }, &ask, today)
    }

    fn ask(variant: Variant, method: usize, amount: Option<&str>) -> Ask<'_> {
        Ask { variant, method, amount, subtract_bp: 0 }
    }

    fn sent(r: Result<Priced, Refusal>) -> Amount {
        r.unwrap().amount
    }

    #[test]
    fn each_variant_sends_its_crypto_amount_when_the_rate_moved() {
        let inv = usd_invoice();
        let v = valuation(&inv).unwrap();
        let paid = [base(2 * BTC / 1000), Amount::ZERO]; // 0.002 BTC = 100 USD at 50,000
        let t = today("40000");
        // current_rate: the 100 USD paid at today's 40,000: 0.0025 BTC.
        let r = priced(&inv, &paid, "0", ask(Variant::CurrentRate, 0, None), Some(&t)).unwrap();
        assert_eq!((r.gross, r.amount), (base(250_000), base(250_000)));
        assert_eq!(
            (v.to_decimal(r.value), r.rate.clone()),
            ("100.00".to_string(), LockedRate { rate: "40000".into(), ..t.clone() })
        );
        // rate_then: at the locked 50,000: 0.002 BTC, the rate and its source recorded.
        let r = priced(&inv, &paid, "0", ask(Variant::RateThen, 0, None), Some(&t)).unwrap();
        assert_eq!(r.amount, base(200_000));
        assert_eq!((r.rate.rate.as_str(), r.rate.source.as_str(), r.rate.at), ("50000", "kraken", t0()));
        // A part of it at the locked rate: 25 USD = 0.0005 BTC.
        assert_eq!(sent(priced(&inv, &paid, "0", ask(Variant::RateThen, 0, Some("25")), None)), base(50_000));
        // fiat: 30 USD at today's 40,000: 0.00075 BTC, 30 USD counted.
        let r = priced(&inv, &paid, "0", ask(Variant::Fiat, 0, Some("30.00")), Some(&t)).unwrap();
        assert_eq!((r.amount, v.to_decimal(r.value)), (base(75_000), "30.00".to_string()));
        // overpaid: 0.0024 BTC paid = 120 USD, 20 over the price: 0.0004 BTC at the locked rate.
        let over = [base(240_000), Amount::ZERO];
        let r = priced(&inv, &over, "0", ask(Variant::Overpaid, 0, None), Some(&t)).unwrap();
        assert_eq!((r.amount, v.to_decimal(r.value)), (base(40_000), "20.00".to_string()));
        // Once 20 USD were refunded nothing is overpaid any more; nor on an invoice paid exactly.
        assert!(matches!(priced(&inv, &over, "20", ask(Variant::Overpaid, 0, None), None), Err(Refusal::Invalid(_))));
        assert!(matches!(priced(&inv, &paid, "0", ask(Variant::Overpaid, 0, None), None), Err(Refusal::Invalid(_))));
        // custom: a crypto amount as given, its worth at the locked rate counted: 0.001 BTC = 50 USD.
        let r = priced(&inv, &paid, "0", ask(Variant::Custom, 0, Some("0.001")), Some(&t)).unwrap();
        assert_eq!((r.amount, v.to_decimal(r.value)), (base(100_000), "50.00".to_string()));
        // subtract_percent 2.5 of the current_rate refund: 0.0025 × 0.975 = 0.0024375 BTC sent,
        // the full 100 USD settled.
        let kept = Ask { subtract_bp: 250, ..ask(Variant::CurrentRate, 0, None) };
        let r = priced(&inv, &paid, "0", kept, Some(&t)).unwrap();
        assert_eq!((r.gross, r.amount, v.to_decimal(r.value)), (base(250_000), base(243_750), "100.00".to_string()));
    }

    #[test]
    fn crypto_amounts_round_down_to_base_units() {
        let inv = usd_invoice();
        let v = valuation(&inv).unwrap();
        let paid = [base(2 * BTC / 1000), Amount::ZERO];
        // 100 USD at 30,000: 0.003333333… BTC → 333,333 sat (333,334 would be worth more).
        let t = today("30000");
        let r = priced(&inv, &paid, "0", ask(Variant::CurrentRate, 0, None), Some(&t)).unwrap();
        assert_eq!(r.amount, base(333_333));
        // 10 USD at 30,000 = 33,333.33… sat → 33,333; less 2.5 %: 32,499.675 → 32,499.
        let r = priced(&inv, &paid, "0", Ask { subtract_bp: 250, ..ask(Variant::Fiat, 0, Some("10")) }, Some(&t));
        assert_eq!(r.as_ref().map(|r| (r.gross, r.amount)), Ok((base(33_333), base(32_499))));
        // At a locked rate with decimals: 100 USD at 64,123.45 = 155,949.3… sat → 155,949.
        let mut odd = inv.clone();
        odd.methods[0].rate = "64123.45".into();
        let paid = [base(155_950), Amount::ZERO];
        let r = priced(&odd, &paid, "0", ask(Variant::RateThen, 0, Some("100")), None).unwrap();
        assert_eq!(r.amount, base(155_949));
        // ETH at today's 2,345.67: 10 USD = 0.004263174… ETH → 4,263,174,274,301,159 wei.
        let eth = [Amount::ZERO, base(40_000_000_000_000_000)]; // 0.04 ETH = 100 USD at 2,500
        let r = priced(&inv, &eth, "0", ask(Variant::Fiat, 1, Some("10")), Some(&today("2345.67"))).unwrap();
        assert_eq!(r.amount, Amount::from_base_str("4263174274301159").unwrap());
        // A value worth less than one base unit at the rate is refused, not rounded to nothing.
        let tiny = priced(&inv, &paid, "0", ask(Variant::RateThen, 0, Some("0.0001")), None);
        assert!(matches!(tiny, Err(Refusal::Invalid(_))), "{tiny:?}");
        let _ = v;
    }

    #[test]
    fn the_cap_is_in_value_across_methods() {
        let inv = usd_invoice();
        let v = valuation(&inv).unwrap();
        // 0.001 BTC (50 USD) and 0.01 ETH (25 USD) received; 60 USD refunded: 15 USD left.
        let paid = [base(100_000), base(10_000_000_000_000_000)];
        let funds = Funds { valuation: &v, received: &paid, refunded: v.parse_value("60").unwrap() };
        assert_eq!(funds.received_value().map(|x| v.to_decimal(x)), Some("75.00".into()));
        assert_eq!(funds.richest(), 0, "the BTC payments are worth the most");
        let too_much = priced(&inv, &paid, "60", ask(Variant::RateThen, 1, Some("15.01")), None);
        let (asked, available) = (v.parse_value("15.01").unwrap(), v.parse_value("15").unwrap());
        assert_eq!(too_much, Err(Refusal::too_large(Some(asked), available)));
        // A custom crypto amount is capped by its worth: 0.0004 BTC = 20 USD > 15.
        let custom = priced(&inv, &paid, "60", ask(Variant::Custom, 0, Some("0.0004")), None);
        assert!(matches!(custom, Err(Refusal::TooLarge(_))), "{custom:?}");
        // Today's rate does not change what is counted: 15 USD at a BTC halved is still 15 USD.
        let half = today("25000");
        let r = priced(&inv, &paid, "60", ask(Variant::CurrentRate, 0, None), Some(&half)).unwrap();
        assert_eq!((v.to_decimal(r.value), r.amount), ("15.00".to_string(), base(60_000)));
        // The rest, in ETH at its locked rate: 15 / 2,500 = 0.006 ETH.
        let r = priced(&inv, &paid, "60", ask(Variant::RateThen, 1, None), None).unwrap();
        assert_eq!(r.amount, Amount::from_base_str("6000000000000000").unwrap());
        // All refunded: the default asks nothing refundable.
        let none = priced(&inv, &paid, "75", ask(Variant::RateThen, 0, None), None);
        assert_eq!(none, Err(Refusal::too_large(None, Value::ZERO)));
    }

    #[test]
    fn what_today_is_priced_without_and_bad_amounts_are_refused() {
        let inv = usd_invoice();
        let paid = [base(200_000), Amount::ZERO];
        assert_eq!(priced(&inv, &paid, "0", ask(Variant::CurrentRate, 0, None), None), Err(Refusal::NoRate));
        assert_eq!(priced(&inv, &paid, "0", ask(Variant::Fiat, 0, Some("1")), None), Err(Refusal::NoRate));
        for (variant, amount) in [
            (Variant::Fiat, None),
            (Variant::Custom, None),
            (Variant::RateThen, Some("1.005")), // USD has 2 decimals
            (Variant::RateThen, Some("0")),
            (Variant::RateThen, Some("-1")),
            (Variant::Custom, Some("0.000000001")), // BTC has 8
        ] {
            let r = priced(&inv, &paid, "0", ask(variant, 0, amount), Some(&today("40000")));
            assert!(matches!(r, Err(Refusal::Invalid(_))), "{variant:?} {amount:?}: {r:?}");
        }
        // Keeping everything sends nothing: refused.
        let all = Ask { subtract_bp: 10_000, ..ask(Variant::RateThen, 0, None) };
        assert!(matches!(priced(&inv, &paid, "0", all, None), Err(Refusal::Invalid(_))));
    }

    #[test]
    fn custom_refunds_of_an_invoice_in_its_own_asset_are_as_before() {
        // Priced in BTC: one method at rate 1, values in satoshis.
        let inv = invoice(1).upgraded();
        let v = valuation(&inv).unwrap();
        let paid = [base(110)];
        let r = priced(&inv, &paid, "0", ask(Variant::Custom, 0, Some("0.000001")), None).unwrap();
        assert_eq!((r.amount, r.value.to_units()), (base(100), Some(base(100))));
        assert_eq!((r.rate.rate.as_str(), r.rate.source.as_str()), ("1", "same_asset"));
        // 100 sat refunded, 10 left: 11 is too much.
        let r = priced(&inv, &paid, "0.000001", ask(Variant::Custom, 0, Some("0.0000001")), None);
        assert_eq!(r.map(|r| r.amount), Ok(base(10)));
        let r = priced(&inv, &paid, "0.000001", ask(Variant::Custom, 0, Some("0.00000011")), None);
        let want = Refusal::too_large(Some(Value::from_units(base(11))), Value::from_units(base(10)));
        assert_eq!(r, Err(want));
        let _ = v;
    }

    #[test]
    fn a_token_paid_to_the_address_it_shares_with_the_coin_counts_for_the_token() {
        // ETH and a token on one address (one xpub for both): one watch, two methods.
        let mut inv = usd_invoice();
        let mut tok = inv.methods[1].clone();
        tok.asset = "TOK".into();
        tok.decimals = 6;
        tok.rate = "1".into();
        tok.min_payment = "100".into();
        inv.methods.push(tok);
        let w = inv.methods[1].watch_id;
        let mut p = pay(w, "tok", 50_000_000, Confirmed, 1, 1);
        p.asset = "TOK".into();
        let paid = crate::invoices::state::paid(&inv, &p).unwrap().map(|x| (x.method, x.amount));
        assert_eq!(paid, Some((2, base(50_000_000))), "the token's payment is the token method's");
        assert_eq!(crate::invoices::payments::minimum(&inv)(&p).unwrap(), base(100), "the token's min_payment");
        let mut eth = pay(w, "eth", 7, Confirmed, 1, 1);
        eth.asset = "ETH".into();
        assert_eq!(crate::invoices::state::paid(&inv, &eth).unwrap().map(|x| x.method), Some(1));
        let mut btc = pay(w, "x", 7, Confirmed, 1, 1);
        btc.asset = "BTC".into();
        assert_eq!(crate::invoices::state::paid(&inv, &btc).unwrap(), None, "BTC is no method of this address");
    }

    #[test]
    fn each_method_refunds_its_own_payments() {
        let inv = usd_invoice();
        let (w0, w1) = (inv.methods[0].watch_id, inv.methods[1].watch_id);
        let mut eth = pay(w1, "eth", 7, Confirmed, 1, 1);
        eth.asset = "ETH".into();
        let mut btc_to_eth = pay(w1, "btc-to-eth-address", 9, Confirmed, 1, 1);
        btc_to_eth.asset = "BTC".into();
        let ps = [pay(w0, "btc", 5, Confirmed, 1, 1), eth, btc_to_eth];
        assert_eq!(received(&inv, 0, &ps).unwrap().amount, base(5));
        assert_eq!(received(&inv, 1, &ps).unwrap().amount, base(7));
    }
}
