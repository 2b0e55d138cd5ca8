use super::*;
use crate::invoices::value::MethodRate;
use proptest::prelude::*;
use ruint::aliases::U512;
use time::Duration;

/// The reference's integers: wide enough for every exact sum below (amounts under 2^256 times
/// rates under 10^81 over a common denominator of 10^40, times 10^4 for basis points).
type Big = ruint::Uint<1024, 16>;

fn n(v: u128) -> Amount {
    Amount::from(v)
}

/// `v` as a 512-bit integer, to compare with [`base`].
fn u(v: u128) -> U512 {
    U512::from(v)
}

/// [`evaluate`] where the payments cannot add up past 2^512 value units.
fn eval_ok(t: &Terms, payments: &[Paid], now: OffsetDateTime) -> State {
    evaluate(t, payments, now).expect("no overflow")
}

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn expires_at() -> OffsetDateTime {
    t0() + Duration::seconds(900)
}

fn monitoring_until() -> OffsetDateTime {
    t0() + Duration::seconds(900 + 86_400)
}

/// Terms for a valuation, no dust rule on any method.
fn terms_for(valuation: Valuation, methods: usize, tolerance_bp: u32, required: u32) -> Terms {
    Terms {
        valuation,
        tolerance_bp,
        required,
        expires_at: expires_at(),
        monitoring_until: monitoring_until(),
        cancelled: false,
        min_payment: vec![Amount::ZERO; methods],
    }
}

/// The asset of the single-asset invoices (8 decimals, as BTC).
const DECIMALS: u8 = 8;

/// An invoice priced in its own asset, as every invoice was before currencies: one method at
/// rate 1, the currency's decimals the asset's, so its values are its base units.
fn terms_in_asset(due: Amount, tolerance_bp: u32, required: u32) -> Terms {
    let price = due.to_units_string(DECIMALS);
    let valuation = Valuation::new(&price, DECIMALS, &[MethodRate { decimals: DECIMALS, rate: "1" }]).unwrap();
    terms_for(valuation, 1, tolerance_bp, required)
}

fn terms(due: u128, tolerance_bp: u32, required: u32) -> Terms {
    terms_in_asset(n(due), tolerance_bp, required)
}

/// A value of an invoice priced in its own asset, in base units, read from its exact decimal
/// (which shows exactly the asset's decimals: its scale is theirs).
fn base(t: &Terms, v: Value) -> U512 {
    let text = t.valuation.to_decimal(v);
    let (int, frac) = text.split_once('.').expect("decimals shown");
    assert_eq!(frac.len(), usize::from(DECIMALS), "{text}");
    U512::from_str_radix(&format!("{int}{frac}"), 10).unwrap()
}

/// A payment to method 0.
fn paid(amount: u128, status: PaymentStatus, confirmations: u32, at: i64) -> Paid {
    paid_to(0, amount, status, confirmations, at)
}

fn paid_to(method: usize, amount: u128, status: PaymentStatus, confirmations: u32, at: i64) -> Paid {
    Paid { method, amount: n(amount), status, confirmations, first_seen: t0() + Duration::seconds(at) }
}

use PaymentStatus::*;

#[test]
fn an_invoice_in_its_own_asset_counts_in_base_units() {
    for a in [n(1), n(545), n(1000), n(u128::MAX / 10_000 + 1), n(u128::MAX), Amount::MAX] {
        let t = terms_in_asset(a, 0, 1);
        assert_eq!(base(&t, t.price()), wide(a));
        assert_eq!(base(&t, t.valuation.value(0, a).unwrap()), wide(a));
        assert_eq!(base(&t, t.valuation.value(0, n(1)).unwrap()), u(1));
        assert_eq!(t.valuation.due_base(0, t.price()), a);
        assert_eq!(t.valuation.floor_base(0, t.price()), a);
    }
}

#[test]
fn exact_payment_goes_new_processing_settled() {
    let t = terms(1000, 0, 2);
    let now = t0() + Duration::seconds(10);
    assert_eq!(eval_ok(&t, &[], now).status, InvoiceStatus::New);
    let s = eval_ok(&t, &[paid(1000, Pending, 0, 5)], now);
    assert_eq!(
        (s.status, s.exception, base(&t, s.paid), base(&t, s.confirmed)),
        (InvoiceStatus::Processing, Exception::None, u(1000), u(0))
    );
    let s = eval_ok(&t, &[paid(1000, Confirmed, 1, 5)], now);
    assert_eq!(s.status, InvoiceStatus::Processing);
    let s = eval_ok(&t, &[paid(1000, Confirmed, 2, 5)], now);
    assert_eq!((s.status, base(&t, s.confirmed)), (InvoiceStatus::Settled, u(1000)));
    // Zero confirmations required: settled from the mempool.
    assert_eq!(eval_ok(&terms(1000, 0, 0), &[paid(1000, Pending, 0, 5)], now).status, InvoiceStatus::Settled);
}

#[test]
fn partial_payments_add_up_and_tolerance_accepts_a_little_less() {
    let t = terms(1000, 0, 1);
    let now = t0() + Duration::seconds(10);
    let s = eval_ok(&t, &[paid(400, Confirmed, 1, 1)], now);
    assert_eq!((s.status, s.exception), (InvoiceStatus::New, Exception::PaidPartial));
    let s = eval_ok(&t, &[paid(400, Confirmed, 1, 1), paid(600, Confirmed, 1, 2)], now);
    assert_eq!((s.status, s.exception), (InvoiceStatus::Settled, Exception::None));
    let s = eval_ok(&t, &[paid(400, Confirmed, 1, 1), paid(700, Confirmed, 1, 2)], now);
    assert_eq!((s.status, s.exception), (InvoiceStatus::Settled, Exception::PaidOver));
    // 1 % tolerance: 990 is enough, 989 is not.
    let tol = terms(1000, 100, 1);
    assert_eq!(base(&tol, tol.threshold()), u(990));
    assert_eq!(eval_ok(&tol, &[paid(990, Confirmed, 1, 1)], now).status, InvoiceStatus::Settled);
    assert_eq!(eval_ok(&tol, &[paid(989, Confirmed, 1, 1)], now).status, InvoiceStatus::New);
}

#[test]
fn expiry_late_payments_failures_and_cancellation() {
    let t = terms(1000, 0, 1);
    let after = t0() + Duration::seconds(1000);
    assert_eq!(eval_ok(&t, &[], after).status, InvoiceStatus::Expired);
    let s = eval_ok(&t, &[paid(300, Confirmed, 1, 10)], after);
    assert_eq!((s.status, s.exception), (InvoiceStatus::Expired, Exception::PaidPartial));
    // Paid after expiry: still recorded, flagged late, the invoice stays expired.
    let s = eval_ok(&t, &[paid(1000, Confirmed, 1, 950)], after);
    assert_eq!((s.status, s.exception, base(&t, s.paid)), (InvoiceStatus::Expired, Exception::PaidLate, u(1000)));
    // Paid on time, confirmed after expiry: settled.
    assert_eq!(eval_ok(&t, &[paid(1000, Confirmed, 1, 899)], after).status, InvoiceStatus::Settled);
    // Paid on time but the payment was dropped, and it is now expired: invalid.
    assert_eq!(eval_ok(&t, &[paid(1000, Dropped, 0, 10)], after).status, InvoiceStatus::Invalid);
    // A reorg before expiry sends it back to new.
    let now = t0() + Duration::seconds(20);
    assert_eq!(eval_ok(&t, &[paid(1000, Reversed, 0, 10)], now).status, InvoiceStatus::New);
    // After the monitoring window payments are not the invoice's.
    let s = eval_ok(&t, &[paid(1000, Confirmed, 1, 900 + 86_401)], after);
    assert_eq!((s.status, base(&t, s.paid)), (InvoiceStatus::Expired, u(0)));
    let mut c = t.clone();
    c.cancelled = true;
    assert_eq!(eval_ok(&c, &[], t0()).status, InvoiceStatus::Invalid);
}

#[test]
fn transitions_name_their_events() {
    let t = terms(1000, 0, 1);
    let now = t0() + Duration::seconds(10);
    let p0 = paid(1000, Pending, 0, 5);
    let p1 = paid(1000, Confirmed, 1, 5);
    let s0 = eval_ok(&t, &[], now);
    let s1 = eval_ok(&t, std::slice::from_ref(&p0), now);
    assert_eq!(
        transition_events(&t, &s0, &s1, &[None], std::slice::from_ref(&p0)),
        ["invoice.payment_detected", "invoice.processing"]
    );
    let s2 = eval_ok(&t, std::slice::from_ref(&p1), now);
    assert_eq!(transition_events(&t, &s1, &s2, &[Some(p0)], std::slice::from_ref(&p1)), ["invoice.settled"]);
    let p2 = paid(1000, Reversed, 0, 5);
    let s3 = eval_ok(&t, std::slice::from_ref(&p2), now);
    assert_eq!(transition_events(&t, &s2, &s3, &[Some(p1)], &[p2]), ["invoice.payment_reversed"]);
    assert_eq!(s3.status, InvoiceStatus::New);
}

#[test]
fn each_event_names_the_payment_that_caused_it() {
    let t = terms(1000, 0, 1);
    let now = t0() + Duration::seconds(10);
    // Two payments arrive in one update; the second completes the amount.
    let (a, b) = (paid(400, Pending, 0, 5), paid(600, Pending, 0, 6));
    let s0 = eval_ok(&t, &[], now);
    let s1 = eval_ok(&t, &[a.clone(), b.clone()], now);
    let causes: Vec<(&str, Option<usize>)> = transition_events(&t, &s0, &s1, &[None, None], &[a.clone(), b.clone()])
        .iter()
        .map(|e| (e.kind.as_str(), e.cause))
        .collect();
    assert_eq!(
        causes,
        [("invoice.payment_detected", Some(0)), ("invoice.payment_detected", Some(1)), ("invoice.processing", Some(1))]
    );
    // The first is confirmed enough, then the second: settled by the second.
    let a1 = Paid { status: Confirmed, confirmations: 1, ..a.clone() };
    let s2 = eval_ok(&t, &[a1.clone(), b.clone()], now);
    assert!(transition_events(&t, &s1, &s2, &[Some(a.clone()), Some(b.clone())], &[a1.clone(), b.clone()]).is_empty());
    let b1 = Paid { status: Confirmed, confirmations: 1, ..b.clone() };
    let s3 = eval_ok(&t, &[a1.clone(), b1.clone()], now);
    let ev = transition_events(&t, &s2, &s3, &[Some(a1.clone()), Some(b)], &[a1.clone(), b1.clone()]);
    assert_eq!(ev, [Transition { kind: EventKind::InvoiceSettled, cause: Some(1) }]);
    // Only the clock moved: no cause.
    let unpaid = eval_ok(&t, &[], now);
    let expired = eval_ok(&t, &[], t0() + Duration::seconds(901));
    assert_eq!(
        transition_events(&t, &unpaid, &expired, &[], &[]),
        [Transition { kind: EventKind::InvoiceExpired, cause: None }]
    );
}

#[test]
fn dust_is_recorded_but_never_the_invoices() {
    let t = Terms { min_payment: vec![n(546)], ..terms(1000, 0, 1) };
    let now = t0() + Duration::seconds(10);
    assert!(t.is_dust(0, n(545)) && !t.is_dust(0, n(546)));
    // Below the minimum: nothing counts, no exception, no event.
    let dust = paid(545, Confirmed, 1, 5);
    let s = eval_ok(&t, std::slice::from_ref(&dust), now);
    assert_eq!(
        (s.status, s.exception, base(&t, s.paid), base(&t, s.confirmed)),
        (InvoiceStatus::New, Exception::None, u(0), u(0))
    );
    let fresh = eval_ok(&t, &[], now);
    assert!(transition_events(&t, &fresh, &s, &[None], std::slice::from_ref(&dust)).is_empty());
    // Two dust payments that add up to the amount due still do not pay it.
    let two = [paid(500, Confirmed, 1, 5), paid(500, Confirmed, 1, 6)];
    assert_eq!(eval_ok(&t, &two, now).status, InvoiceStatus::New);
    // At the minimum it counts, dust beside it does not.
    let pays = [paid(545, Confirmed, 1, 5), paid(1000, Confirmed, 1, 6)];
    let s = eval_ok(&t, &pays, now);
    assert_eq!((s.status, s.exception, base(&t, s.paid)), (InvoiceStatus::Settled, Exception::None, u(1000)));
    // Dust after expiry is not `paid_late`; dust dropped on time does not make it `invalid`.
    let after = t0() + Duration::seconds(1000);
    let s = eval_ok(&t, &[paid(10, Confirmed, 1, 950)], after);
    assert_eq!((s.status, s.exception), (InvoiceStatus::Expired, Exception::None));
    assert_eq!(eval_ok(&t, &[paid(10, Dropped, 0, 5)], after).status, InvoiceStatus::Expired);
    // A dust payment that goes away causes no `invoice.payment_reversed`.
    let gone = paid(545, Reversed, 0, 5);
    assert!(transition_events(&t, &fresh, &fresh, &[Some(dust)], &[gone]).is_empty());
    // Dust is not added, whatever its size.
    let t = Terms { min_payment: vec![Amount::MAX], ..terms(1000, 0, 1) };
    let huge = [paid(u128::MAX, Confirmed, 1, 5), paid(u128::MAX, Confirmed, 1, 5)];
    assert_eq!(base(&t, eval_ok(&t, &huge, now).paid), u(0));
    // Nor valued: a dust payment worth past 2^512 units (see `steep`) is no overflow. (This
    // check was at 2^256 − 1 base units when amounts were summed as amounts.)
    let t = Terms { min_payment: vec![Amount::MAX], ..steep(78) };
    let max_1 = Paid { amount: Amount::MAX.checked_sub(n(1)).unwrap(), ..paid(0, Confirmed, 1, 5) };
    assert_eq!(t.valuation.value(0, max_1.amount), None);
    let s = eval_ok(&t, &[max_1.clone(), max_1], now);
    assert_eq!((s.status, t.valuation.to_decimal(s.paid)), (InvoiceStatus::New, "0".to_string()));
}

/// `due × keep / 10 000` rounded up, naively, in 512 bits.
fn naive_threshold(due: Amount, tolerance_bp: u32) -> Amount {
    let keep = 10_000 - tolerance_bp.min(10_000);
    let need = (wide(due) * U512::from(keep) + U512::from(9_999u32)) / U512::from(10_000u32);
    narrow(need).expect("at most the amount due")
}

#[test]
fn the_threshold_is_exact_at_the_old_u128_wrap_point() {
    // u128::MAX / 10 000 + 1 is the least amount due whose `due × 10 000` wrapped a u128: the
    // old threshold of 34028236692093846346337460743176822 base units (the issue's
    // "340282366920938463463374607.43176822 BTC") was 1.
    let wrap = u128::MAX / 10_000 + 1;
    assert_eq!(wrap, 34_028_236_692_093_846_346_337_460_743_176_822);
    for due in wrap - 3..=wrap + 3 {
        for bp in [0, 1, 100, 5_000, 9_999, 10_000] {
            let t = terms(due, bp, 1);
            assert_eq!(base(&t, t.threshold()), wide(naive_threshold(n(due), bp)), "due {due}, tolerance {bp} bp");
        }
    }
    let at = |due: u128, bp: u32| {
        let t = terms(due, bp, 1);
        base(&t, t.threshold())
    };
    assert_eq!(at(wrap, 0), u(wrap));
    assert_eq!(at(wrap - 1, 0), u(wrap - 1));
    assert_eq!(at(wrap + 1, 0), u(wrap + 1));
    assert_eq!(at(wrap, 100).to_string(), "33687954325172907882874086135745054");
    assert_eq!(at(wrap, 1).to_string(), "34024833868424636961702826997102505");
    assert_eq!(at(wrap, 5_000).to_string(), "17014118346046923173168730371588411");
    // And the machine with it: one base unit is not the amount, the amount is.
    let now = t0() + Duration::seconds(10);
    let t = terms(wrap, 0, 1);
    let s = eval_ok(&t, &[paid(1, Confirmed, 1, 1)], now);
    assert_eq!((s.status, s.exception), (InvoiceStatus::New, Exception::PaidPartial));
    assert_eq!(eval_ok(&t, &[paid(wrap - 1, Confirmed, 1, 1)], now).status, InvoiceStatus::New);
    assert_eq!(eval_ok(&t, &[paid(wrap, Confirmed, 1, 1)], now).status, InvoiceStatus::Settled);
}

#[test]
fn any_amount_due_has_an_exact_threshold_and_sums_never_wrap() {
    let now = t0() + Duration::seconds(10);
    // u128::MAX × 9 900 overflowed a u128; the threshold is exact now.
    let t = terms(u128::MAX, 100, 1);
    let need: Amount = "336879543251729078828740861357450529341".parse().unwrap();
    assert_eq!(base(&t, t.threshold()), wide(need));
    assert_eq!(eval_ok(&t, &[Paid { amount: need, ..paid(0, Confirmed, 1, 1) }], now).status, InvoiceStatus::Settled);
    let short = need.checked_sub(n(1)).unwrap();
    let s = eval_ok(&t, &[Paid { amount: short, ..paid(0, Confirmed, 1, 1) }], now);
    assert_eq!((s.status, s.exception, base(&t, s.paid)), (InvoiceStatus::New, Exception::PaidPartial, wide(short)));
    // Up to 2^256 − 1: an ERC-20 amount past u128 adds up.
    let t = terms_in_asset(Amount::MAX, 100, 1);
    let need: Amount =
        "114634168344943033469335275158601028774737284818984158399063008167833998343536".parse().unwrap();
    assert_eq!(base(&t, t.threshold()), wide(need));
    let half = Amount::MAX.checked_mul_bp(5_000).unwrap();
    let halves = [Paid { amount: half, ..paid(0, Confirmed, 1, 1) }, Paid { amount: half, ..paid(0, Pending, 0, 2) }];
    let s = eval_ok(&t, &halves, now);
    assert_eq!(
        (s.status, base(&t, s.paid), base(&t, s.confirmed)),
        (InvoiceStatus::Processing, wide(half) * u(2), wide(half))
    );
    // Payments past 2^256 − 1 in all were an overflow when totals were amounts. Totals are
    // 512-bit values now (here base units, at rate 1): 2^256 − 1 and 1 more add up to 2^256,
    // two of 2^256 − 1 to 2^257 − 2, and ones that do not count are not added.
    // `payments_worth_past_2_512_units_are_an_overflow` checks the new limit.
    let max = Paid { amount: Amount::MAX, ..paid(0, Confirmed, 1, 1) };
    let one = paid(1, Pending, 0, 2);
    let s = eval_ok(&t, &[max.clone(), one.clone()], now);
    assert_eq!(
        (s.status, s.exception, base(&t, s.paid), base(&t, s.confirmed)),
        (InvoiceStatus::Settled, Exception::PaidOver, U512::from(1u8) << 256, wide(Amount::MAX))
    );
    let s = eval_ok(&t, &[max.clone(), max.clone()], now);
    assert_eq!((s.exception, base(&t, s.paid)), (Exception::PaidOver, wide(Amount::MAX) * u(2)));
    let s = eval_ok(&t, &[max.clone(), Paid { status: Dropped, ..one }], now);
    assert_eq!((s.status, s.exception, base(&t, s.paid)), (InvoiceStatus::Settled, Exception::None, wide(Amount::MAX)));
    let late = paid(1, Confirmed, 1, 900 + 86_401);
    assert_eq!(base(&t, eval_ok(&t, &[max, late], now).paid), wide(Amount::MAX));
}

/// A price of 1 in a currency without decimals, one method (an asset without decimals) whose
/// base unit is worth `10^zeros` of it: the valuation's scale is 0, so a payment's value is
/// `amount × 10^zeros` units.
fn steep(zeros: usize) -> Terms {
    let rate = format!("1{}", "0".repeat(zeros));
    terms_for(Valuation::new("1", 0, &[MethodRate { decimals: 0, rate: &rate }]).unwrap(), 1, 0, 1)
}

#[test]
fn payments_worth_past_2_512_units_are_an_overflow() {
    let now = t0() + Duration::seconds(10);
    let two_512 = Big::from(1u8) << 512;
    let max = Big::from_be_slice(&Amount::MAX.to_be_bytes());
    // At 10^77 units a base unit, 2^256 − 1 base units are worth just under 2^512 units, and
    // two such payments are worth more: their sum overflows.
    assert!(max * ten(77) < two_512 && max * ten(77) * Big::from(2u8) >= two_512);
    let t = steep(77);
    let p = |amount: Amount, status, at| Paid { amount, ..paid(0, status, 1, at) };
    let s = eval_ok(&t, &[p(Amount::MAX, Confirmed, 1)], now);
    assert_eq!(
        (s.status, s.exception, t.valuation.to_decimal(s.paid)),
        (InvoiceStatus::Settled, Exception::PaidOver, (max * ten(77)).to_string())
    );
    assert_eq!(evaluate(&t, &[p(Amount::MAX, Confirmed, 1), p(Amount::MAX, Pending, 2)], now), Err(Overflow));
    // To the unit: the most that still fits beside 2^256 − 1, and one base unit more.
    let room: Big = (two_512 - Big::from(1u8)) / ten(77) - max;
    let room = Amount::from_base_str(&room.to_string()).unwrap();
    let fits = [p(Amount::MAX, Confirmed, 1), p(room, Pending, 2)];
    let s = eval_ok(&t, &fits, now);
    let sum = (max + Big::from_be_slice(&room.to_be_bytes())) * ten(77);
    assert!(sum < two_512 && sum + ten(77) >= two_512);
    assert_eq!(t.valuation.to_decimal(s.paid), sum.to_string());
    let one_more = [p(Amount::MAX, Confirmed, 1), p(room.checked_add(n(1)).unwrap(), Pending, 2)];
    assert_eq!(evaluate(&t, &one_more, now), Err(Overflow));
    // Payments that do not count are not added: dropped, or first seen after monitoring ended.
    let s = eval_ok(&t, &[p(Amount::MAX, Confirmed, 1), p(Amount::MAX, Dropped, 2)], now);
    assert_eq!(t.valuation.to_decimal(s.paid), (max * ten(77)).to_string());
    let s = eval_ok(&t, &[p(Amount::MAX, Confirmed, 1), p(Amount::MAX, Confirmed, 900 + 86_401)], now);
    assert_eq!(t.valuation.to_decimal(s.paid), (max * ten(77)).to_string());
    // At 10^78 units a base unit, one payment of 2^256 − 1 is worth more than 2^512 units:
    // valuing it overflows, unless it does not count.
    assert!(max * ten(78) >= two_512);
    let t = steep(78);
    assert_eq!(evaluate(&t, &[p(Amount::MAX, Pending, 1)], now), Err(Overflow));
    assert_eq!(evaluate(&t, &[p(Amount::MAX, Dropped, 1)], now).map(|s| s.paid.is_zero()), Ok(true));
}

#[test]
fn the_threshold_is_exact_for_prices_near_2_512_units() {
    // A price of 10^74 USD with a 77-decimal token (the most a config accepts) at rate 1 makes
    // the scale 77 and the price 10^151 units: `price × keep` is past 2^512 (≈ 1.34 × 10^154)
    // though the price and the threshold are not. A second method, at 10^70 USD a base unit
    // (10^147 units), can pay it. The threshold must be the price, not less.
    let price = format!("1{}", "0".repeat(74));
    let rate = format!("1{}", "0".repeat(70));
    let methods = [MethodRate { decimals: 77, rate: "1" }, MethodRate { decimals: 0, rate: &rate }];
    let t = terms_for(Valuation::new(&price, 2, &methods).unwrap(), 2, 0, 1);
    assert_eq!(t.valuation.to_decimal(t.threshold()), t.valuation.to_decimal(t.price()));
    let one_pct = Terms { tolerance_bp: 100, ..t.clone() };
    assert_eq!(one_pct.valuation.to_decimal(one_pct.threshold()), format!("99{}.00", "0".repeat(72)));
    let now = t0() + Duration::seconds(10);
    // A fifth of the price is partial; 10^4 base units, the price, settle.
    let s = eval_ok(&t, &[paid_to(1, 2_000, Confirmed, 1, 5)], now);
    assert_eq!((s.status, s.exception), (InvoiceStatus::New, Exception::PaidPartial));
    let s = eval_ok(&t, &[paid_to(1, 9_999, Confirmed, 1, 5)], now);
    assert_eq!((s.status, s.exception), (InvoiceStatus::New, Exception::PaidPartial));
    let s = eval_ok(&t, &[paid_to(1, 10_000, Confirmed, 1, 5)], now);
    assert_eq!((s.status, s.exception), (InvoiceStatus::Settled, Exception::None));
}

// ---- Several payment methods ----

/// A USD invoice of 100.00 with these methods (`(decimals, rate)`) and minimums.
fn usd(methods: &[(u8, &str)], min_payment: &[u128]) -> Terms {
    let rates: Vec<_> = methods.iter().map(|(decimals, rate)| MethodRate { decimals: *decimals, rate }).collect();
    let valuation = Valuation::new("100.00", 2, &rates).unwrap();
    Terms { min_payment: min_payment.iter().map(|m| n(*m)).collect(), ..terms_for(valuation, methods.len(), 0, 1) }
}

/// BTC at 50,000 USD and ETH at 2,500 USD: 50.00 USD is 100,000 sat or 2 × 10^16 wei.
fn btc_eth(min_payment: &[u128]) -> Terms {
    usd(&[(8, "50000"), (18, "2500")], min_payment)
}

const HALF_SAT: u128 = 100_000;
const HALF_WEI: u128 = 20_000_000_000_000_000;

fn shown(t: &Terms, s: &State) -> (InvoiceStatus, Exception, String, String) {
    (s.status, s.exception, t.valuation.to_decimal(s.paid), t.valuation.to_decimal(s.confirmed))
}

fn st(
    status: InvoiceStatus,
    exception: Exception,
    paid: &str,
    confirmed: &str,
) -> (InvoiceStatus, Exception, String, String) {
    (status, exception, paid.to_string(), confirmed.to_string())
}

#[test]
fn a_usd_invoice_paid_half_by_each_method_settles() {
    let t = btc_eth(&[0, 0]);
    let now = t0() + Duration::seconds(10);
    let btc = paid_to(0, HALF_SAT, Confirmed, 1, 5);
    let eth = paid_to(1, HALF_WEI, Pending, 0, 6);
    let s0 = eval_ok(&t, &[], now);
    let s1 = eval_ok(&t, std::slice::from_ref(&btc), now);
    assert_eq!(shown(&t, &s1), st(InvoiceStatus::New, Exception::PaidPartial, "50.00", "50.00"));
    let s2 = eval_ok(&t, &[btc.clone(), eth.clone()], now);
    assert_eq!(shown(&t, &s2), st(InvoiceStatus::Processing, Exception::None, "100.00", "50.00"));
    let ev = transition_events(&t, &s1, &s2, &[Some(btc.clone()), None], &[btc.clone(), eth.clone()]);
    assert_eq!(
        ev,
        [
            Transition { kind: EventKind::InvoicePaymentDetected, cause: Some(1) },
            Transition { kind: EventKind::InvoiceProcessing, cause: Some(1) }
        ]
    );
    let eth1 = Paid { status: Confirmed, confirmations: 1, ..eth.clone() };
    let s3 = eval_ok(&t, &[btc.clone(), eth1.clone()], now);
    assert_eq!(shown(&t, &s3), st(InvoiceStatus::Settled, Exception::None, "100.00", "100.00"));
    let ev = transition_events(&t, &s0, &s3, &[None, None], &[btc.clone(), eth1.clone()]);
    assert_eq!(ev, ["invoice.payment_detected", "invoice.payment_detected", "invoice.settled"]);
    // Tolerance counts across methods too: 1 % short of 100.00 is 99.00.
    let tol = Terms { tolerance_bp: 100, ..t.clone() };
    assert_eq!(tol.valuation.to_decimal(tol.threshold()), "99.00");
    let short = [btc.clone(), paid_to(1, HALF_WEI - 4 * 10u128.pow(14), Confirmed, 1, 6)];
    assert_eq!(shown(&tol, &eval_ok(&tol, &short, now)), st(InvoiceStatus::Settled, Exception::None, "99.00", "99.00"));
    let shorter = [btc, paid_to(1, HALF_WEI - 4 * 10u128.pow(14) - 1, Confirmed, 1, 6)];
    let s = eval_ok(&tol, &shorter, now);
    assert_eq!(
        shown(&tol, &s),
        st(InvoiceStatus::New, Exception::PaidPartial, "98.9999999999999975", "98.9999999999999975")
    );
}

#[test]
fn underpaid_across_methods_is_partial_and_every_method_is_due_the_remainder() {
    // BTC at 64,123.45 USD and ETH at 3,210.987654321 USD.
    let t = usd(&[(8, "64123.45"), (18, "3210.987654321")], &[0, 0]);
    let now = t0() + Duration::seconds(10);
    // 0.0005 BTC = 32.061725 USD and 0.01 ETH = 32.10987654321 USD.
    let pays = [paid_to(0, 50_000, Confirmed, 1, 5), paid_to(1, 10_000_000_000_000_000, Confirmed, 1, 6)];
    let s = eval_ok(&t, &pays, now);
    assert_eq!(shown(&t, &s), st(InvoiceStatus::New, Exception::PaidPartial, "64.17160154321", "64.17160154321"));
    let after = t0() + Duration::seconds(1000);
    let s_after = eval_ok(&t, &pays, after);
    assert_eq!((s_after.status, s_after.exception), (InvoiceStatus::Expired, Exception::PaidPartial));
    // The remainder, 35.82839845679 USD, is due in every method, rounded up to a base unit.
    let rest = t.price().saturating_sub(s.paid);
    assert_eq!(t.valuation.to_decimal(rest), "35.82839845679");
    let (sat, wei) = (t.valuation.due_base(0, rest), t.valuation.due_base(1, rest));
    assert_eq!((sat, wei), (n(55_875), n(11_158_061_728_632_316)));
    for (method, due) in [(0, sat), (1, wei)] {
        assert!(t.valuation.value(method, due).unwrap() >= rest);
        assert!(t.valuation.value(method, due.checked_sub(n(1)).unwrap()).unwrap() < rest);
    }
    // Either remainder settles it; one base unit less does not.
    for (method, due) in [(0, sat), (1, wei)] {
        let mut all = pays.to_vec();
        all.push(Paid { method, amount: due, ..paid(0, Confirmed, 1, 7) });
        assert_eq!(eval_ok(&t, &all, now).status, InvoiceStatus::Settled, "method {method}");
        all.last_mut().unwrap().amount = due.checked_sub(n(1)).unwrap();
        assert_eq!(eval_ok(&t, &all, now).exception, Exception::PaidPartial, "method {method}");
    }
}

#[test]
fn dust_on_one_method_beside_a_real_payment_on_another() {
    // Minimums: 546 sat, 0.001 ETH.
    let t = btc_eth(&[546, 1_000_000_000_000_000]);
    let now = t0() + Duration::seconds(10);
    let dust = paid_to(1, 999_999_999_999_999, Confirmed, 1, 5);
    let half = paid_to(0, HALF_SAT, Confirmed, 1, 6);
    let s = eval_ok(&t, &[dust.clone(), half.clone()], now);
    assert_eq!(shown(&t, &s), st(InvoiceStatus::New, Exception::PaidPartial, "50.00", "50.00"));
    // The whole price in BTC beside ETH dust: settled, not paid over.
    let whole = paid_to(0, 2 * HALF_SAT, Confirmed, 1, 6);
    let fresh = eval_ok(&t, &[], now);
    let s = eval_ok(&t, &[dust.clone(), whole.clone()], now);
    assert_eq!(shown(&t, &s), st(InvoiceStatus::Settled, Exception::None, "100.00", "100.00"));
    // No event is the dust's.
    let ev = transition_events(&t, &fresh, &s, &[None, None], &[dust.clone(), whole.clone()]);
    assert_eq!(
        ev,
        [
            Transition { kind: EventKind::InvoicePaymentDetected, cause: Some(1) },
            Transition { kind: EventKind::InvoiceSettled, cause: Some(1) }
        ]
    );
    // Dust on BTC beside half in ETH: the same.
    let s = eval_ok(&t, &[paid_to(0, 545, Confirmed, 1, 5), paid_to(1, HALF_WEI, Confirmed, 1, 6)], now);
    assert_eq!(shown(&t, &s), st(InvoiceStatus::New, Exception::PaidPartial, "50.00", "50.00"));
}

#[test]
fn paying_exactly_the_rounded_up_due_is_not_paid_over() {
    // 100 USD at 64,123.45 USD/BTC: 155,950 sat is due (155,949.6… rounded up), worth
    // 100.000…06 USD: more than the price by less than one satoshi, which is no overpayment.
    let t = usd(&[(8, "64123.45")], &[0]);
    let now = t0() + Duration::seconds(10);
    let due = t.valuation.due_base(0, t.price());
    assert_eq!(due, Amount::from(155_950u64));
    let s = eval_ok(&t, &[Paid { method: 0, amount: due, ..paid(0, Confirmed, 1, 5) }], now);
    assert_eq!((s.status, s.exception), (InvoiceStatus::Settled, Exception::None));
    assert!(s.paid > t.price());
    // One satoshi more is.
    let more = Amount::from(155_951u64);
    let s = eval_ok(&t, &[Paid { method: 0, amount: more, ..paid(0, Confirmed, 1, 5) }], now);
    assert_eq!((s.status, s.exception), (InvoiceStatus::Settled, Exception::PaidOver));
}

#[test]
fn paid_over_across_methods() {
    let t = btc_eth(&[0, 0]);
    let now = t0() + Duration::seconds(10);
    let exact = [paid_to(0, HALF_SAT, Confirmed, 1, 5), paid_to(1, HALF_WEI, Confirmed, 1, 6)];
    assert_eq!(shown(&t, &eval_ok(&t, &exact, now)), st(InvoiceStatus::Settled, Exception::None, "100.00", "100.00"));
    // One wei more (2,500 × 10^-18 USD) is less than one base unit of a method that paid (a
    // satoshi, 0.0005 USD): what rounding a due up can give, not an overpayment.
    let wei = [paid_to(0, HALF_SAT, Confirmed, 1, 5), paid_to(1, HALF_WEI + 1, Pending, 0, 6)];
    let s = eval_ok(&t, &wei, now);
    assert_eq!(shown(&t, &s), st(InvoiceStatus::Processing, Exception::None, "100.0000000000000025", "50.00"));
    // 10^12 wei more (0.0025 USD) is over.
    let over = [paid_to(0, HALF_SAT, Confirmed, 1, 5), paid_to(1, HALF_WEI + 1_000_000_000_000, Pending, 0, 6)];
    let s = eval_ok(&t, &over, now);
    assert_eq!(shown(&t, &s), st(InvoiceStatus::Processing, Exception::PaidOver, "100.0025", "50.00"));
    // Over in each method beside the other, and three payments in two methods.
    let s = eval_ok(&t, &[paid_to(0, HALF_SAT + 1, Confirmed, 1, 5), paid_to(1, HALF_WEI, Confirmed, 1, 6)], now);
    assert_eq!(shown(&t, &s), st(InvoiceStatus::Settled, Exception::PaidOver, "100.0005", "100.0005"));
    let three =
        [paid_to(0, HALF_SAT, Confirmed, 1, 5), paid_to(1, HALF_WEI, Confirmed, 1, 6), paid_to(0, 1, Pending, 0, 7)];
    let s = eval_ok(&t, &three, now);
    assert_eq!(shown(&t, &s), st(InvoiceStatus::Settled, Exception::PaidOver, "100.0005", "100.00"));
}

#[test]
fn a_minimum_is_its_methods_own() {
    // 1,000 base units are dust for ETH (minimum 0.001 ETH) but not for BTC (minimum 546 sat).
    let t = btc_eth(&[546, 1_000_000_000_000_000]);
    let now = t0() + Duration::seconds(10);
    assert!(t.is_dust(1, n(1_000)) && !t.is_dust(0, n(1_000)));
    let fresh = eval_ok(&t, &[], now);
    let on_eth = paid_to(1, 1_000, Confirmed, 1, 5);
    let s = eval_ok(&t, std::slice::from_ref(&on_eth), now);
    assert_eq!(shown(&t, &s), st(InvoiceStatus::New, Exception::None, "0.00", "0.00"));
    assert!(transition_events(&t, &fresh, &s, &[None], &[on_eth]).is_empty());
    let on_btc = paid_to(0, 1_000, Confirmed, 1, 5);
    let s = eval_ok(&t, std::slice::from_ref(&on_btc), now);
    assert_eq!(shown(&t, &s), st(InvoiceStatus::New, Exception::PaidPartial, "0.50", "0.50"));
    assert_eq!(transition_events(&t, &fresh, &s, &[None], &[on_btc]), ["invoice.payment_detected"]);
}

// ---- The property test and its naive reference ----

fn wide(a: Amount) -> U512 {
    U512::from_be_slice(&a.to_be_bytes())
}

/// `None` above 2^256 − 1.
fn narrow(v: U512) -> Option<Amount> {
    (v <= U512::from_be_slice(&Amount::MAX.to_be_bytes())).then(|| {
        let bytes: [u8; 64] = v.to_be_bytes();
        Amount::from_be_bytes(bytes[32..].try_into().expect("32 bytes"))
    })
}

/// One payment method as generated: its asset's decimals and its rate, as text.
#[derive(Debug, Clone)]
struct Method {
    decimals: u8,
    rate: String,
}

/// An invoice as generated: what the terms are made of, kept as text and numbers for the
/// reference to read on its own.
#[derive(Debug, Clone)]
struct Invoice {
    price: String,
    currency_decimals: u8,
    methods: Vec<Method>,
    min_payment: Vec<Amount>,
    tolerance_bp: u32,
    required: u32,
}

impl Invoice {
    fn terms(&self) -> Terms {
        let rates: Vec<_> = self.methods.iter().map(|m| MethodRate { decimals: m.decimals, rate: &m.rate }).collect();
        let valuation = Valuation::new(&self.price, self.currency_decimals, &rates).expect("a valuation");
        Terms { min_payment: self.min_payment.clone(), ..terms_for(valuation, 0, self.tolerance_bp, self.required) }
    }
}

/// The reference's common denominator: every amount in the property is an exact multiple of
/// `10^-DEN` currency units (rates have at most 18 decimals, assets at most 18, currencies 3).
const DEN: u32 = 40;

fn big(a: Amount) -> Big {
    Big::from_be_slice(&a.to_be_bytes())
}

fn ten(k: u32) -> Big {
    Big::from(10u8).pow(Big::from(k))
}

/// A plain decimal as `(digits, decimals after the point)`: `"64123.450"` is `(64123450, 3)`.
fn ref_decimal(text: &str) -> (Big, u32) {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    (Big::from_str_radix(&format!("0{int}{frac}"), 10).unwrap(), frac.len() as u32)
}

/// The price in `10^-DEN` currency units.
fn ref_price(inv: &Invoice) -> Big {
    let (p, ps) = ref_decimal(&inv.price);
    p * ten(DEN - ps)
}

/// What `amount` base units of `method` are worth, in `10^-DEN` currency units: exactly
/// `amount × rate / 10^decimals`.
fn ref_worth(inv: &Invoice, method: usize, amount: Amount) -> Big {
    let (r, rs) = ref_decimal(&inv.methods[method].rate);
    big(amount) * r * ten(DEN - rs - u32::from(inv.methods[method].decimals))
}

/// The least amount of `method` worth at least the price, clamped to 2^256 − 1.
fn ref_due(inv: &Invoice, method: usize) -> Amount {
    let per_base = ref_worth(inv, method, n(1));
    let due = ref_price(inv).div_ceil(per_base);
    Amount::from_base_str(&due.min(big(Amount::MAX)).to_string()).unwrap()
}

/// `x` `10^-DEN` units as an exact decimal: every digit that is not zero after the point, and
/// at least the currency's decimals.
fn ref_render(inv: &Invoice, x: Big) -> String {
    let (int, frac) = (x / ten(DEN), x % ten(DEN));
    let frac = format!("{:0>width$}", frac.to_string(), width = DEN as usize);
    let mut frac = frac.trim_end_matches('0').to_string();
    while frac.len() < usize::from(inv.currency_decimals) {
        frac.push('0');
    }
    if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    }
}

/// The naive reference: one pass, one variable per quantity, exact sums of what each counted
/// payment is worth over one common denominator, compared with the price by
/// cross-multiplication; no helper of the code under test. It says `Overflow` where the
/// machine's documented unit cannot hold the total: `2^512` units of `10^-scale`, with
/// `scale = max(currency decimals, asset decimals + rate decimals)`.
fn reference(
    inv: &Invoice,
    cancelled: bool,
    payments: &[Paid],
    now: OffsetDateTime,
) -> Result<(InvoiceStatus, Exception, String, String), Overflow> {
    let (mut paid, mut confirmed, mut paid_in_time, mut conf_in_time) = (Big::ZERO, Big::ZERO, Big::ZERO, Big::ZERO);
    let (mut late, mut failed) = (false, false);
    // The worth of one base unit of the largest-unit method that paid (a due rounds up by less).
    let mut slack = Big::ZERO;
    for p in payments {
        if big(p.amount) < big(inv.min_payment[p.method]) {
            continue;
        }
        let worth = ref_worth(inv, p.method, p.amount);
        let standing = (p.status == Pending || p.status == Confirmed) && p.first_seen <= monitoring_until();
        if standing {
            slack = slack.max(ref_worth(inv, p.method, Amount::from(1u64)));
        }
        let enough_confs = inv.required == 0 || (p.status == Confirmed && p.confirmations >= inv.required);
        let in_time = p.first_seen <= expires_at();
        if standing {
            paid += worth;
            if in_time {
                paid_in_time += worth;
            } else {
                late = true;
            }
            if enough_confs {
                confirmed += worth;
                if in_time {
                    conf_in_time += worth;
                }
            }
        }
        if in_time && (p.status == Dropped || p.status == Replaced || p.status == Reversed) {
            failed = true;
        }
    }
    let scale = inv
        .methods
        .iter()
        .map(|m| u32::from(m.decimals) + ref_decimal(&m.rate).1)
        .fold(u32::from(inv.currency_decimals), u32::max);
    if paid >= (Big::from(1u8) << 512) * ten(DEN - scale) {
        return Err(Overflow);
    }
    let price = ref_price(inv);
    // Reached: `x ≥ price × keep / 10 000`, i.e. `x × 10 000 ≥ price × keep`, and more than zero.
    let need = price * Big::from(10_000 - inv.tolerance_bp.min(10_000));
    let reached = |x: Big| need > Big::ZERO && x * Big::from(10_000u32) >= need;
    let status = if cancelled {
        InvoiceStatus::Invalid
    } else if reached(paid_in_time) && reached(conf_in_time) {
        InvoiceStatus::Settled
    } else if reached(paid_in_time) {
        InvoiceStatus::Processing
    } else if now > expires_at() && failed {
        InvoiceStatus::Invalid
    } else if now > expires_at() {
        InvoiceStatus::Expired
    } else {
        InvoiceStatus::New
    };
    let settled_or_processing = status == InvoiceStatus::Settled || status == InvoiceStatus::Processing;
    let exception = if settled_or_processing && paid > price && paid >= price + slack {
        Exception::PaidOver
    } else if settled_or_processing {
        Exception::None
    } else if late {
        Exception::PaidLate
    } else if paid_in_time > Big::ZERO {
        Exception::PaidPartial
    } else {
        Exception::None
    };
    Ok((status, exception, ref_render(inv, paid), ref_render(inv, confirmed)))
}

#[test]
fn the_reference_agrees_with_the_examples() {
    // The reference itself, on the hand-computed examples above.
    let inv = Invoice {
        price: "100.00".into(),
        currency_decimals: 2,
        methods: vec![
            Method { decimals: 8, rate: "64123.45".into() },
            Method { decimals: 18, rate: "3210.987654321".into() },
        ],
        min_payment: vec![Amount::ZERO; 2],
        tolerance_bp: 0,
        required: 1,
    };
    let now = t0() + Duration::seconds(10);
    let pays = [paid_to(0, 50_000, Confirmed, 1, 5), paid_to(1, 10_000_000_000_000_000, Confirmed, 1, 6)];
    let want = st(InvoiceStatus::New, Exception::PaidPartial, "64.17160154321", "64.17160154321");
    assert_eq!(reference(&inv, false, &pays, now), Ok(want));
    assert_eq!((ref_due(&inv, 0), ref_due(&inv, 1)), (n(155_950), n(31_143_065_861_816_944)));
    let inv = Invoice {
        price: "1".into(),
        currency_decimals: 0,
        methods: vec![Method { decimals: 0, rate: format!("1{}", "0".repeat(77)) }],
        min_payment: vec![Amount::ZERO],
        tolerance_bp: 0,
        required: 1,
    };
    let max = Paid { amount: Amount::MAX, ..paid(0, Confirmed, 1, 1) };
    assert_eq!(reference(&inv, false, &[max.clone(), max], now), Err(Overflow));
}

#[derive(Debug, Clone)]
enum Step {
    Pay { method: usize, amount: Pay },
    Confirm { which: usize },
    Reverse { which: usize },
    Drop { which: usize },
    Tick { secs: i64 },
}

/// A payment's amount, read against its method's amount due when it is made.
#[derive(Debug, Clone)]
enum Pay {
    Base(Amount),
    /// `due × eighths / 8 + delta`, clamped to 0 ..= 2^256 − 1.
    Share(u32, i32),
    /// What remains to reach the price (or, `true`, the threshold) after the payments that
    /// count so far, in the method's base units rounded up, `+ delta`: lands payments in
    /// several methods on, just under and just over the boundaries.
    Rest(bool, i32),
}

/// The base units of `method` that bring what the payments standing so far are worth up to
/// the price (or the threshold), rounded up, `+ delta`, clamped to 0 ..= 2^256 − 1.
fn ref_rest(inv: &Invoice, payments: &[Paid], method: usize, to_threshold: bool, delta: i32) -> Amount {
    let counted = payments
        .iter()
        .filter(|p| big(p.amount) >= big(inv.min_payment[p.method]) && matches!(p.status, Pending | Confirmed))
        .map(|p| ref_worth(inv, p.method, p.amount))
        .fold(Big::ZERO, |a, b| a + b);
    let keep = if to_threshold { 10_000 - inv.tolerance_bp.min(10_000) } else { 10_000 };
    let target = (ref_price(inv) * Big::from(keep)).div_ceil(Big::from(10_000u32));
    let units = target.saturating_sub(counted).div_ceil(ref_worth(inv, method, n(1)));
    let units =
        if delta < 0 { units.saturating_sub(Big::from(delta.unsigned_abs())) } else { units + Big::from(delta as u32) };
    Amount::from_base_str(&units.min(big(Amount::MAX)).to_string()).unwrap()
}

/// `due × eighths / 8 + delta`, clamped to 0 ..= 2^256 − 1: amounts around the ones that
/// matter for an invoice of `due`, whatever its size.
fn share(due: Amount, eighths: u32, delta: i32) -> Amount {
    let v = wide(due) * U512::from(eighths) / U512::from(8u32);
    let v = if delta < 0 { v.saturating_sub(U512::from(delta.unsigned_abs())) } else { v + U512::from(delta as u32) };
    narrow(v).unwrap_or(Amount::MAX)
}

/// Any amount from 1 to 2^256 − 1, weighted towards small ones, the old u128 wrap point
/// (`u128::MAX / 10 000 + 1`), the whole u128 range and the whole u256 range.
fn due() -> impl Strategy<Value = Amount> {
    let wrap = u128::MAX / 10_000 + 1;
    prop_oneof![
        (1u128..2000).prop_map(n),
        (wrap - 1000..wrap + 1000).prop_map(n),
        (1u128..=u128::MAX).prop_map(n),
        any::<[u8; 32]>().prop_map(Amount::from_be_bytes).prop_filter("more than zero", |a| !a.is_zero()),
        (0u128..1000).prop_map(|d| Amount::MAX.checked_sub(n(d)).unwrap()),
    ]
}

/// `digits` with `decimals` of them after the point, as plain text: (5, 3) is `"0.005"`.
fn decimal_text(digits: u128, decimals: u32) -> String {
    let d = decimals as usize;
    let padded = format!("{digits:0>width$}", width = d + 1);
    let (int, frac) = padded.split_at(padded.len() - d);
    if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    }
}

fn asset_decimals() -> impl Strategy<Value = u8> {
    prop::sample::select(vec![0u8, 2, 6, 8, 18])
}

/// A positive rate with 0 to 18 decimals (trailing zeros included), small or large, or a power
/// of ten so large that a payment of 2^256 − 1 base units is worth about 2^512 units.
fn rate() -> impl Strategy<Value = String> {
    let digits = prop_oneof![1u128..1000, 1u128..=u64::MAX as u128, 1u128..=u128::MAX];
    prop_oneof![
        9 => (digits, 0u32..=18).prop_map(|(d, s)| decimal_text(d, s)),
        1 => (74usize..=79).prop_map(|zeros| format!("1{}", "0".repeat(zeros))),
    ]
}

/// No dust rule, a small minimum, or a share of the amount due.
fn min_payment(due: Amount) -> impl Strategy<Value = Amount> {
    prop_oneof![Just(Amount::ZERO), (0u128..1000).prop_map(n), (0u32..=8).prop_map(move |k| share(due, k, 0))]
}

/// 1 to 3 methods at random rates with a random price in a currency with 0 to 3 decimals, or
/// an invoice priced in its own asset (one method at rate 1) over the whole amount range.
fn invoice() -> impl Strategy<Value = Invoice> {
    let tolerance = prop_oneof![0u32..500, Just(10_000u32), 0u32..=10_000];
    let method = (asset_decimals(), rate()).prop_map(|(decimals, rate)| Method { decimals, rate });
    let price_digits = prop_oneof![1u128..1_000_000, 1u128..=u64::MAX as u128, 1u128..=u128::MAX];
    let priced = (price_digits, 0u8..=3, proptest::collection::vec(method, 1..=3))
        .prop_map(|(p, cd, methods)| (decimal_text(p, u32::from(cd)), cd, methods));
    let in_asset = (due(), asset_decimals())
        .prop_map(|(due, d)| (due.to_units_string(d), d, vec![Method { decimals: d, rate: "1".into() }]));
    (prop_oneof![3 => priced, 2 => in_asset], tolerance, 0u32..4).prop_flat_map(
        |((price, currency_decimals, methods), tolerance_bp, required)| {
            let inv = Invoice { price, currency_decimals, methods, min_payment: vec![], tolerance_bp, required };
            let mins: Vec<_> = (0..inv.methods.len()).map(|i| min_payment(ref_due(&inv, i))).collect();
            mins.prop_map(move |min_payment| Invoice { min_payment, ..inv.clone() })
        },
    )
}

/// Payments: dust-sized, shares of the method's amount due, what remains to the price or the
/// threshold (to land on, just under and just over them, alone or beside others), anywhere in
/// u128, anywhere in u256 (which overflows the total at a steep rate).
fn step() -> impl Strategy<Value = Step> {
    let pay = prop_oneof![
        3 => (0u128..2000).prop_map(|a| Pay::Base(n(a))),
        3 => (0u32..=12, -3i32..=3).prop_map(|(k, d)| Pay::Share(k, d)),
        2 => (any::<bool>(), -2i32..=2).prop_map(|(t, d)| Pay::Rest(t, d)),
        1 => any::<u128>().prop_map(|a| Pay::Base(n(a))),
        1 => any::<[u8; 32]>().prop_map(|a| Pay::Base(Amount::from_be_bytes(a))),
    ];
    prop_oneof![
        (any::<usize>(), pay).prop_map(|(method, amount)| Step::Pay { method, amount }),
        any::<usize>().prop_map(|which| Step::Confirm { which }),
        any::<usize>().prop_map(|which| Step::Reverse { which }),
        any::<usize>().prop_map(|which| Step::Drop { which }),
        (1i64..400).prop_map(|secs| Step::Tick { secs }),
    ]
}

/// A value of remaining to pay: shares of the price, the price less or more a payment in
/// another method (so not a whole number of any method's base units), or a payment's worth.
#[derive(Debug, Clone)]
enum Remaining {
    PriceShare(u32),
    PriceLess(usize, Amount),
    Worth(usize, Amount),
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Random payments to random methods of any size up to 2^256 − 1 (dust among them),
    /// confirmations, reorgs, drops and clock ticks, for invoices at random prices and rates
    /// (and priced in their own asset over the whole amount range): the machine agrees with
    /// the naive exact reference at every step (an overflowing total included), settles only
    /// on enough confirmed money, names every status change with exactly one event, and no
    /// event is caused by dust.
    #[test]
    fn agrees_with_the_reference(inv in invoice(), steps in proptest::collection::vec(step(), 1..60)) {
        let t = inv.terms();
        let methods = inv.methods.len();
        let mut now = t0();
        let mut payments: Vec<Paid> = Vec::new();
        let mut state = eval_ok(&t, &payments, now);
        for s in steps {
            let before: Vec<Option<Paid>> = payments.iter().cloned().map(Some).collect();
            match s {
                Step::Pay { method, amount } => {
                    let method = method % methods;
                    let amount = match amount {
                        Pay::Base(a) => a,
                        Pay::Share(k, d) => share(ref_due(&inv, method), k, d),
                        Pay::Rest(to_threshold, d) => ref_rest(&inv, &payments, method, to_threshold, d),
                    };
                    payments.push(Paid { method, amount, status: Pending, confirmations: 0, first_seen: now });
                }
                Step::Confirm { which } if !payments.is_empty() => {
                    let p = &mut payments[which % before.len()];
                    if p.status != Dropped {
                        p.status = Confirmed;
                        p.confirmations += 1;
                    }
                }
                Step::Reverse { which } if !payments.is_empty() => {
                    let p = &mut payments[which % before.len()];
                    if p.status == Confirmed {
                        p.status = Reversed;
                        p.confirmations = 0;
                    }
                }
                Step::Drop { which } if !payments.is_empty() => {
                    let p = &mut payments[which % before.len()];
                    if p.status == Pending {
                        p.status = Dropped;
                    }
                }
                Step::Tick { secs } => now += Duration::seconds(secs),
                _ => {}
            }
            let mut old_payments = before;
            old_payments.resize(payments.len(), None);
            let got = evaluate(&t, &payments, now);
            prop_assert_eq!(got.map(|s| shown(&t, &s)), reference(&inv, t.cancelled, &payments, now));
            // An overflowing total leaves the stored state as it was (`state::reevaluate`).
            let Ok(next) = got else { continue };
            prop_assert!(next.confirmed <= next.paid);
            if next.status == InvoiceStatus::Settled {
                prop_assert!(next.confirmed >= t.threshold());
                prop_assert!(!t.threshold().is_zero());
            }
            let events = transition_events(&t, &state, &next, &old_payments, &payments);
            let status_events = events.iter().filter(|e| matches!(e.kind.as_str(),
                "invoice.processing" | "invoice.settled" | "invoice.expired" | "invoice.invalid")).count();
            let expected = usize::from(state.status != next.status && next.status != InvoiceStatus::New);
            prop_assert_eq!(status_events, expected, "{:?} -> {:?}: {:?}", state.status, next.status, events);
            for e in &events {
                if let Some(i) = e.cause {
                    let p = &payments[i];
                    prop_assert!(!t.is_dust(p.method, p.amount), "{:?} caused by dust {:?}", e, p);
                }
            }
            state = next;
        }
    }

    /// A method's amount due for what remains is the least amount worth at least that
    /// (`value(due) ≥ remaining > value(due − 1)`), and `floor_base` the most worth at most
    /// that; for the whole price both agree with the reference's exact division.
    #[test]
    fn dues_round_up_and_floors_down_to_the_base_unit(
        inv in invoice(),
        method in any::<usize>(),
        remaining in prop_oneof![
            (0u32..=30_000).prop_map(Remaining::PriceShare),
            (any::<usize>(), due()).prop_map(|(m, a)| Remaining::PriceLess(m, a)),
            (any::<usize>(), prop_oneof![(0u128..1_000_000).prop_map(n), due()]).prop_map(|(m, a)| Remaining::Worth(m, a)),
        ],
    ) {
        let t = inv.terms();
        let v = &t.valuation;
        let (i, count) = (method % inv.methods.len(), inv.methods.len());
        let rem = match remaining {
            Remaining::PriceShare(bp) => Some(v.price().mul_bp_ceil(bp)),
            Remaining::PriceLess(j, a) => v.value(j % count, a).map(|x| v.price().saturating_sub(x)),
            Remaining::Worth(j, a) => v.value(j % count, a),
        };
        let Some(rem) = rem else { return Ok(()) };
        let (due, floor) = (v.due_base(i, rem), v.floor_base(i, rem));
        let one = n(1);
        if v.value(i, Amount::MAX).is_some_and(|top| top < rem) {
            // Past what an amount can be: both saturate.
            prop_assert_eq!((due, floor), (Amount::MAX, Amount::MAX));
        } else {
            // (A due worth 2^512 units or more, which no value can hold, covers any value.)
            prop_assert!(v.value(i, due).is_none_or(|x| x >= rem));
            match due.checked_sub(one) {
                Some(less) => prop_assert!(v.value(i, less).unwrap() < rem),
                None => prop_assert!(rem.is_zero()),
            }
            prop_assert!(v.value(i, floor).expect("a floor is valued") <= rem);
            if let Some(more) = floor.checked_add(one) {
                prop_assert!(v.value(i, more).is_none_or(|x| x > rem));
            }
            prop_assert!(due == floor || due.checked_sub(floor) == Some(one));
        }
        // The whole price: the reference's exact division, up and down.
        let per_base = ref_worth(&inv, i, one);
        let price = ref_price(&inv);
        prop_assert_eq!(big(v.due_base(i, v.price())), price.div_ceil(per_base).min(big(Amount::MAX)));
        prop_assert_eq!(big(v.floor_base(i, v.price())), (price / per_base).min(big(Amount::MAX)));
    }
}

#[test]
fn what_is_left_due_is_never_below_the_smallest_payment_that_counts() {
    // 100.00 USD, BTC at 64,000 with Bitcoin's dust (546 sat): 99.80 paid leaves 0.20, 313 sat,
    // which would be dust and never counted: the method asks for 546 sat.
    let v = Valuation::new("100.00", 2, &[MethodRate { decimals: 8, rate: "64000" }]).unwrap();
    let mut t = terms_for(v, 1, 0, 1);
    t.min_payment = vec![n(546)];
    let left = t.price().saturating_sub(t.valuation.parse_value("99.80").unwrap());
    assert_eq!(t.valuation.due_base(0, left), n(313));
    assert!(t.is_dust(0, n(313)));
    assert_eq!(t.due(0, left), n(546));
    assert!(!t.is_dust(0, t.due(0, left)));
    // More than the minimum is left: the remainder itself; nothing left: nothing.
    assert_eq!(t.due(0, t.price()), n(156_250));
    assert_eq!(t.due(0, Value::ZERO), Amount::ZERO);
}
