use super::*;
use proptest::prelude::*;
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

/// The naive reference: one pass, one variable per quantity, no shared helpers.
#[expect(clippy::manual_div_ceil, reason = "the reference spells the rounding out on purpose")]
fn reference(t: &Terms, payments: &[Paid], now: OffsetDateTime) -> State {
    let v = |a: Amount| u128::try_from(a).expect("the test's amounts fit a u128");
    let (mut paid, mut confirmed, mut paid_in_time, mut conf_in_time) = (0u128, 0u128, 0u128, 0u128);
    let (mut late, mut failed) = (false, false);
    for p in payments {
        let standing = (p.status == Pending || p.status == Confirmed) && p.first_seen <= t.monitoring_until;
        let enough_confs = t.required == 0 || (p.status == Confirmed && p.confirmations >= t.required);
        let in_time = p.first_seen <= t.expires_at;
        if standing {
            paid += v(p.amount);
            if in_time {
                paid_in_time += v(p.amount);
            } else {
                late = true;
            }
            if enough_confs {
                confirmed += v(p.amount);
                if in_time {
                    conf_in_time += v(p.amount);
                }
            }
        }
        if in_time && (p.status == Dropped || p.status == Replaced || p.status == Reversed) {
            failed = true;
        }
    }
    let due = v(t.due);
    let need = (due * (10_000 - t.tolerance_bp as u128) + 9_999) / 10_000;
    let status = if t.cancelled {
        InvoiceStatus::Invalid
    } else if paid_in_time >= need && conf_in_time >= need {
        InvoiceStatus::Settled
    } else if paid_in_time >= need {
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
    } else if paid_in_time > 0 {
        Exception::PaidPartial
    } else {
        Exception::None
    };
    State { status, exception, paid: n(paid), confirmed: n(confirmed) }
}

#[derive(Debug, Clone)]
enum Step {
    Pay { amount: u128 },
    Confirm { which: usize },
    Reverse { which: usize },
    Drop { which: usize },
    Tick { secs: i64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1u128..700).prop_map(|amount| Step::Pay { amount }),
        any::<usize>().prop_map(|which| Step::Confirm { which }),
        any::<usize>().prop_map(|which| Step::Reverse { which }),
        any::<usize>().prop_map(|which| Step::Drop { which }),
        (1i64..400).prop_map(|secs| Step::Tick { secs }),
    ]
}

proptest! {
    /// Random payments, confirmations, reorgs, drops and clock ticks: the machine agrees with
    /// the reference at every step, settles only on enough confirmed money, and names every
    /// status change with exactly one event.
    #[test]
    fn agrees_with_the_reference(due in 1u128..2000, tol in 0u32..500, required in 0u32..4,
                                 steps in proptest::collection::vec(step(), 1..60)) {
        let t = terms(due, tol, required);
        let mut now = t0();
        let mut payments: Vec<Paid> = Vec::new();
        let mut state = eval_ok(&t, &payments, now);
        for s in steps {
            let before: Vec<Option<Paid>> = payments.iter().cloned().map(Some).collect();
            match s {
                Step::Pay { amount } => payments.push(Paid { amount: n(amount), status: Pending, confirmations: 0, first_seen: now }),
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
            let next = eval_ok(&t, &payments, now);
            prop_assert_eq!(next, reference(&t, &payments, now));
            prop_assert!(next.confirmed <= next.paid);
            if next.status == InvoiceStatus::Settled {
                prop_assert!(next.confirmed >= t.threshold());
            }
            let events = transition_events(&t, &state, &next, &old_payments, &payments);
            let status_events = events.iter().filter(|e| matches!(e.as_str(),
                "invoice.processing" | "invoice.settled" | "invoice.expired" | "invoice.invalid")).count();
            let expected = usize::from(state.status != next.status && next.status != InvoiceStatus::New);
            prop_assert_eq!(status_events, expected, "{:?} -> {:?}: {:?}", state.status, next.status, events);
            state = next;
        }
    }
}
