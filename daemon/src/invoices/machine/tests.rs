use super::*;
use proptest::prelude::*;
use ruint::aliases::U512;
use time::Duration;

fn n(v: u128) -> Amount {
    Amount::from(v)
}

/// [`evaluate`] where the payments cannot add up past 2^256 − 1.
fn eval_ok(t: &Terms, payments: &[Paid], now: OffsetDateTime) -> State {
    evaluate(t, payments, now).expect("no overflow")
}

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn terms(due: u128, tolerance_bp: u32, required: u32) -> Terms {
    Terms {
        due: n(due),
        tolerance_bp,
        required,
        expires_at: t0() + Duration::seconds(900),
        monitoring_until: t0() + Duration::seconds(900 + 86_400),
        cancelled: false,
        min_payment: Amount::ZERO,
    }
}

fn paid(amount: u128, status: PaymentStatus, confirmations: u32, at: i64) -> Paid {
    Paid { amount: n(amount), status, confirmations, first_seen: t0() + Duration::seconds(at) }
}

use PaymentStatus::*;

#[test]
fn exact_payment_goes_new_processing_settled() {
    let t = terms(1000, 0, 2);
    let now = t0() + Duration::seconds(10);
    assert_eq!(eval_ok(&t, &[], now).status, InvoiceStatus::New);
    let s = eval_ok(&t, &[paid(1000, Pending, 0, 5)], now);
    assert_eq!(
        (s.status, s.exception, s.paid, s.confirmed),
        (InvoiceStatus::Processing, Exception::None, n(1000), n(0))
    );
    let s = eval_ok(&t, &[paid(1000, Confirmed, 1, 5)], now);
    assert_eq!(s.status, InvoiceStatus::Processing);
    let s = eval_ok(&t, &[paid(1000, Confirmed, 2, 5)], now);
    assert_eq!((s.status, s.confirmed), (InvoiceStatus::Settled, n(1000)));
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
    assert_eq!(tol.threshold(), n(990));
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
    assert_eq!((s.status, s.exception, s.paid), (InvoiceStatus::Expired, Exception::PaidLate, n(1000)));
    // Paid on time, confirmed after expiry: settled.
    assert_eq!(eval_ok(&t, &[paid(1000, Confirmed, 1, 899)], after).status, InvoiceStatus::Settled);
    // Paid on time but the payment was dropped, and it is now expired: invalid.
    assert_eq!(eval_ok(&t, &[paid(1000, Dropped, 0, 10)], after).status, InvoiceStatus::Invalid);
    // A reorg before expiry sends it back to new.
    let now = t0() + Duration::seconds(20);
    assert_eq!(eval_ok(&t, &[paid(1000, Reversed, 0, 10)], now).status, InvoiceStatus::New);
    // After the monitoring window payments are not the invoice's.
    let s = eval_ok(&t, &[paid(1000, Confirmed, 1, 900 + 86_401)], after);
    assert_eq!((s.status, s.paid), (InvoiceStatus::Expired, n(0)));
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
    let t = Terms { min_payment: n(546), ..terms(1000, 0, 1) };
    let now = t0() + Duration::seconds(10);
    assert!(t.is_dust(n(545)) && !t.is_dust(n(546)));
    // Below the minimum: nothing counts, no exception, no event.
    let dust = paid(545, Confirmed, 1, 5);
    let s = eval_ok(&t, std::slice::from_ref(&dust), now);
    assert_eq!((s.status, s.exception, s.paid, s.confirmed), (InvoiceStatus::New, Exception::None, n(0), n(0)));
    let fresh = eval_ok(&t, &[], now);
    assert!(transition_events(&t, &fresh, &s, &[None], std::slice::from_ref(&dust)).is_empty());
    // Two dust payments that add up to the amount due still do not pay it.
    let two = [paid(500, Confirmed, 1, 5), paid(500, Confirmed, 1, 6)];
    assert_eq!(eval_ok(&t, &two, now).status, InvoiceStatus::New);
    // At the minimum it counts, dust beside it does not.
    let pays = [paid(545, Confirmed, 1, 5), paid(1000, Confirmed, 1, 6)];
    let s = eval_ok(&t, &pays, now);
    assert_eq!((s.status, s.exception, s.paid), (InvoiceStatus::Settled, Exception::None, n(1000)));
    // Dust after expiry is not `paid_late`; dust dropped on time does not make it `invalid`.
    let after = t0() + Duration::seconds(1000);
    let s = eval_ok(&t, &[paid(10, Confirmed, 1, 950)], after);
    assert_eq!((s.status, s.exception), (InvoiceStatus::Expired, Exception::None));
    assert_eq!(eval_ok(&t, &[paid(10, Dropped, 0, 5)], after).status, InvoiceStatus::Expired);
    // A dust payment that goes away causes no `invoice.payment_reversed`.
    let gone = paid(545, Reversed, 0, 5);
    assert!(transition_events(&t, &fresh, &fresh, &[Some(dust)], &[gone]).is_empty());
    // Dust never adds up past 2^256 − 1 either: it is not added.
    let t = Terms { min_payment: Amount::MAX, ..terms(1000, 0, 1) };
    let huge = [paid(u128::MAX, Confirmed, 1, 5), paid(u128::MAX, Confirmed, 1, 5)];
    assert_eq!(eval_ok(&t, &huge, now).paid, n(0));
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
            let t = Terms { tolerance_bp: bp, ..terms(due, 0, 1) };
            assert_eq!(t.threshold(), naive_threshold(n(due), bp), "due {due}, tolerance {bp} bp");
        }
    }
    let at = |due: u128, bp: u32| Terms { tolerance_bp: bp, ..terms(due, 0, 1) }.threshold();
    assert_eq!(at(wrap, 0), n(wrap));
    assert_eq!(at(wrap - 1, 0), n(wrap - 1));
    assert_eq!(at(wrap + 1, 0), n(wrap + 1));
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
    let t = Terms { due: n(u128::MAX), ..terms(0, 100, 1) };
    let need: Amount = "336879543251729078828740861357450529341".parse().unwrap();
    assert_eq!(t.threshold(), need);
    assert_eq!(eval_ok(&t, &[Paid { amount: need, ..paid(0, Confirmed, 1, 1) }], now).status, InvoiceStatus::Settled);
    let short = need.checked_sub(n(1)).unwrap();
    let s = eval_ok(&t, &[Paid { amount: short, ..paid(0, Confirmed, 1, 1) }], now);
    assert_eq!((s.status, s.exception, s.paid), (InvoiceStatus::New, Exception::PaidPartial, short));
    // Up to 2^256 − 1: an ERC-20 amount past u128 adds up.
    let t = Terms { due: Amount::MAX, ..terms(0, 100, 1) };
    let need: Amount =
        "114634168344943033469335275158601028774737284818984158399063008167833998343536".parse().unwrap();
    assert_eq!(t.threshold(), need);
    let half = Amount::MAX.checked_mul_bp(5_000).unwrap();
    let halves = [Paid { amount: half, ..paid(0, Confirmed, 1, 1) }, Paid { amount: half, ..paid(0, Pending, 0, 2) }];
    let s = eval_ok(&t, &halves, now);
    assert_eq!((s.status, s.paid, s.confirmed), (InvoiceStatus::Processing, half.checked_add(half).unwrap(), half));
    // Payments past 2^256 − 1 in all: an error, not a wrapped (small) total. Ones that do not
    // count are not added.
    let max = Paid { amount: Amount::MAX, ..paid(0, Confirmed, 1, 1) };
    let one = paid(1, Pending, 0, 2);
    assert_eq!(evaluate(&t, &[max.clone(), one.clone()], now), Err(Overflow));
    let s = eval_ok(&t, &[max.clone(), Paid { status: Dropped, ..one }], now);
    assert_eq!((s.status, s.exception, s.paid), (InvoiceStatus::Settled, Exception::None, Amount::MAX));
    let late = paid(1, Confirmed, 1, 900 + 86_401);
    assert_eq!(eval_ok(&t, &[max, late], now).paid, Amount::MAX);
}

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

/// The naive reference: one pass, one variable per quantity, no shared helpers, sums in 512
/// bits (so it sees an overflow of 2^256 − 1 rather than avoiding it).
fn reference(t: &Terms, payments: &[Paid], now: OffsetDateTime) -> Result<State, Overflow> {
    let (mut paid, mut confirmed, mut paid_in_time, mut conf_in_time) =
        (U512::ZERO, U512::ZERO, U512::ZERO, U512::ZERO);
    let (mut late, mut failed) = (false, false);
    let min = wide(t.min_payment);
    for p in payments {
        let amount = wide(p.amount);
        if amount < min {
            continue;
        }
        let standing = (p.status == Pending || p.status == Confirmed) && p.first_seen <= t.monitoring_until;
        let enough_confs = t.required == 0 || (p.status == Confirmed && p.confirmations >= t.required);
        let in_time = p.first_seen <= t.expires_at;
        if standing {
            paid += amount;
            if in_time {
                paid_in_time += amount;
            } else {
                late = true;
            }
            if enough_confs {
                confirmed += amount;
                if in_time {
                    conf_in_time += amount;
                }
            }
        }
        if in_time && (p.status == Dropped || p.status == Replaced || p.status == Reversed) {
            failed = true;
        }
    }
    let (Some(paid_total), Some(confirmed_total)) = (narrow(paid), narrow(confirmed)) else { return Err(Overflow) };
    let due = wide(t.due);
    let need = wide(naive_threshold(t.due, t.tolerance_bp));
    let status = if t.cancelled {
        InvoiceStatus::Invalid
    } else if need > U512::ZERO && paid_in_time >= need && conf_in_time >= need {
        InvoiceStatus::Settled
    } else if need > U512::ZERO && paid_in_time >= need {
        InvoiceStatus::Processing
    } else if now > t.expires_at && failed {
        InvoiceStatus::Invalid
    } else if now > t.expires_at {
        InvoiceStatus::Expired
    } else {
        InvoiceStatus::New
    };
    let settled_or_processing = status == InvoiceStatus::Settled || status == InvoiceStatus::Processing;
    let exception = if settled_or_processing && paid > due {
        Exception::PaidOver
    } else if settled_or_processing {
        Exception::None
    } else if late {
        Exception::PaidLate
    } else if paid_in_time > U512::ZERO {
        Exception::PaidPartial
    } else {
        Exception::None
    };
    Ok(State { status, exception, paid: paid_total, confirmed: confirmed_total })
}

#[derive(Debug, Clone)]
enum Step {
    Pay { amount: Amount },
    Confirm { which: usize },
    Reverse { which: usize },
    Drop { which: usize },
    Tick { secs: i64 },
}

/// `due × eighths / 8 + delta`, clamped to 0 ..= 2^256 − 1: amounts around the ones that
/// matter for an invoice of `due`, whatever its size.
fn share(due: Amount, eighths: u32, delta: i32) -> Amount {
    let v = wide(due) * U512::from(eighths) / U512::from(8u32);
    let v = if delta < 0 { v.saturating_sub(U512::from(delta.unsigned_abs())) } else { v + U512::from(delta as u32) };
    narrow(v).unwrap_or(Amount::MAX)
}

/// Any amount from 1 to 2^256 − 1 due, weighted towards small ones, the old u128 wrap point
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

/// Payments of an invoice of `due`: dust-sized, shares of the amount due (to land on, just
/// under and just over the threshold), anywhere in u128, anywhere in u256 (which overflows the
/// total when two such count).
fn payment(due: Amount) -> impl Strategy<Value = Amount> {
    prop_oneof![
        3 => (0u128..2000).prop_map(n),
        4 => (0u32..=12, -3i32..=3).prop_map(move |(k, d)| share(due, k, d)),
        1 => any::<u128>().prop_map(n),
        1 => any::<[u8; 32]>().prop_map(Amount::from_be_bytes),
    ]
}

/// No dust rule, a small minimum, or a share of the amount due.
fn min_payment(due: Amount) -> impl Strategy<Value = Amount> {
    prop_oneof![Just(Amount::ZERO), (0u128..1000).prop_map(n), (0u32..=8).prop_map(move |k| share(due, k, 0))]
}

fn step(due: Amount) -> impl Strategy<Value = Step> {
    prop_oneof![
        payment(due).prop_map(|amount| Step::Pay { amount }),
        any::<usize>().prop_map(|which| Step::Confirm { which }),
        any::<usize>().prop_map(|which| Step::Reverse { which }),
        any::<usize>().prop_map(|which| Step::Drop { which }),
        (1i64..400).prop_map(|secs| Step::Tick { secs }),
    ]
}

/// An invoice's terms over the whole amount range, and what happens to it.
fn scenario() -> impl Strategy<Value = (Terms, Vec<Step>)> {
    let tolerance = prop_oneof![0u32..500, Just(10_000u32), 0u32..=10_000];
    (due(), tolerance, 0u32..4).prop_flat_map(|(due, tol, required)| {
        let steps = proptest::collection::vec(step(due), 1..60);
        (min_payment(due), steps).prop_map(move |(min_payment, steps)| {
            (Terms { due, tolerance_bp: tol, min_payment, ..terms(0, 0, required) }, steps)
        })
    })
}

proptest! {
    /// Random payments of any size up to 2^256 − 1 (dust among them), confirmations, reorgs,
    /// drops and clock ticks, for amounts due over the whole range: the machine agrees with the
    /// naive 512-bit reference at every step (an overflowing total included), settles only on
    /// enough confirmed money, names every status change with exactly one event, and no event
    /// is caused by dust.
    #[test]
    fn agrees_with_the_reference((t, steps) in scenario()) {
        let mut now = t0();
        let mut payments: Vec<Paid> = Vec::new();
        let mut state = eval_ok(&t, &payments, now);
        for s in steps {
            let before: Vec<Option<Paid>> = payments.iter().cloned().map(Some).collect();
            match s {
                Step::Pay { amount } => payments.push(Paid { amount, status: Pending, confirmations: 0, first_seen: now }),
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
            prop_assert_eq!(got, reference(&t, &payments, now));
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
                    prop_assert!(!t.is_dust(payments[i].amount), "{:?} caused by dust {:?}", e, payments[i]);
                }
            }
            state = next;
        }
    }
}
