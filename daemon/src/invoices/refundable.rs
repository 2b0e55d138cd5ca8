//! The two money rules of refunds, pure functions of payment records (unit-tested below):
//!
//! * **What an invoice can refund**: its payments of its asset first seen by its expiry, with
//!   its required confirmations (at least 1: money that may still vanish is never refunded).
//!   Payments first seen after expiry (`late`) and those still short of their confirmations
//!   (`unconfirmed`) are listed apart, never dropped silently. Dust (below the invoice's
//!   `min_payment`) is not the invoice's money and is in no list.
//! * **What completes a refund**: payments of the refund's asset to the refund's address (the
//!   payments recorded on its watch) with the refund's confirmations. Refunds of a store to one
//!   address share what it receives: refunds already completed keep what completed them, then
//!   the oldest refund still owed goes first. One payment never completes two refunds, and a
//!   payment seen before a refund's address was watched is not that refund's.

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

/// What of `payments` (the invoice's watch's) the invoice can refund. Payments that failed
/// (dropped, replaced, reversed) are no money and dust is not the invoice's: both are in no
/// list.
pub(crate) fn received<'a>(inv: &InvoiceRecord, payments: &'a [PaymentRecord]) -> Result<Received<'a>, DbError> {
    let min = inv.min_payment()?;
    let mut counted = Vec::new();
    let (mut late, mut unconfirmed) = (Vec::new(), Vec::new());
    let required = inv.required_confirmations.max(1);
    for p in payments.iter().filter(|p| p.asset == inv.asset && p.watch_id == inv.watch_id) {
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
        }
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
        let r = received(&inv, &ps).unwrap();
        assert_eq!(r.amount, base(110));
        assert_eq!(txids(&r.unconfirmed), ["short", "mempool"]);
        assert_eq!(txids(&r.late), ["late", "late-mempool"]);
    }

    #[test]
    fn an_invoice_that_needs_no_confirmation_refunds_only_mined_payments() {
        let inv = invoice(0);
        let w = inv.watch_id;
        let ps = [pay(w, "mined", 100, Confirmed, 1, 1), pay(w, "mempool", 40, Pending, 0, 1)];
        let r = received(&inv, &ps).unwrap();
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
        let r = received(&inv, &ps).unwrap();
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
        let r = received(&inv, &ps).unwrap();
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
}
