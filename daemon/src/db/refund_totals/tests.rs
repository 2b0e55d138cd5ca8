use super::*;
use proptest::prelude::*;
use time::OffsetDateTime;

fn refund(invoice: Uuid, amount: Amount) -> RefundRecord {
    let now = OffsetDateTime::now_utc();
    RefundRecord {
        id: Uuid::now_v7(),
        invoice_id: invoice,
        store: "shop1".into(),
        asset: "BTC".into(),
        chain: "btc".into(),
        decimals: 8,
        amount: amount.to_string(),
        rate_policy: "original".into(),
        reason: None,
        address: None,
        payment_uri: None,
        watch_id: None,
        status: RefundStatus::AwaitingAddress,
        txid: None,
        claim_token_sha256: None,
        claim_expires_at: None,
        claim_failures: 0,
        required_confirmations: 1,
        request_hash: String::new(),
        created_at: now,
        updated_at: now,
        variant: "custom".into(),
        currency: "BTC".into(),
        value: amount.to_units_string(8),
        rate: "1".into(),
        rate_source: "same_asset".into(),
        rate_at: Some(now),
        subtract_percent: None,
        approval: None,
    }
}

/// The reference: every refund of the invoice read and summed again.
fn naive(db: &Db, invoice: Uuid) -> (u32, Amount) {
    let refunds = db.invoice_refunds(invoice).unwrap();
    let sum = Amount::checked_sum(refunds.iter().map(|r| r.base_amount().unwrap())).unwrap_or(Amount::MAX);
    (refunds.len() as u32, sum)
}

fn add(db: &Db, r: &RefundRecord) -> RefundTotals {
    let before = db.refund_totals(r.invoice_id).unwrap();
    let mut b = db.batch();
    let after = b.add_refund(r, r.base_amount().unwrap(), before).unwrap();
    db.write(b).unwrap();
    after
}

/// A refund as schema 6 wrote it: no totals.
fn add_without_totals(db: &Db, r: &RefundRecord) {
    let mut b = db.batch();
    b.put_refund(r).unwrap();
    db.write(b).unwrap();
}

/// A change of a refund's status, as a claim or a completing payment makes it.
fn change(db: &Db, r: &mut RefundRecord, status: RefundStatus) {
    r.status = status;
    match status {
        RefundStatus::AwaitingPayment => r.address = Some("bcrt1qcustomer".into()),
        RefundStatus::Completed => r.txid = Some("ab".repeat(32)),
        RefundStatus::AwaitingAddress | RefundStatus::AwaitingApproval | RefundStatus::Rejected => {}
    }
    let mut b = db.batch();
    b.put_refund(r).unwrap();
    db.write(b).unwrap();
}

#[derive(Debug, Clone)]
enum Op {
    /// A new refund of invoice 0 or 1; `old`: written as schema 6 did (only while the invoice
    /// has no refund made since).
    Create {
        invoice: usize,
        amount: Amount,
        old: bool,
    },
    /// The n-th refund (modulo how many there are) gets an address, or is paid.
    Claim(usize),
    Complete(usize),
    Reopen,
}

fn amount() -> impl Strategy<Value = Amount> {
    prop_oneof![
        6 => (1u64..=100_000_000).prop_map(Amount::from),
        1 => any::<[u8; 32]>().prop_map(Amount::from_be_bytes),
        1 => Just(Amount::MAX),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..2, amount(), prop::bool::weighted(0.2)).prop_map(|(invoice, amount, old)| Op::Create { invoice, amount, old }),
        2 => any::<usize>().prop_map(Op::Claim),
        2 => any::<usize>().prop_map(Op::Complete),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever refunds are made, claimed, paid, written by the older schema or across
    /// restarts, an invoice's totals are what summing all its refunds again gives.
    #[test]
    fn running_totals_are_the_sum_of_every_refund(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(dir.path()).unwrap();
        let invoices = [Uuid::now_v7(), Uuid::now_v7()];
        let mut refunds: Vec<RefundRecord> = Vec::new();
        let mut new_schema = [false, false];
        for op in ops {
            match op {
                Op::Create { invoice, amount, old } => {
                    let r = refund(invoices[invoice], amount);
                    if old && !new_schema[invoice] {
                        add_without_totals(&db, &r);
                    } else {
                        let after = add(&db, &r);
                        new_schema[invoice] = true;
                        prop_assert_eq!((after.count, after.amount), naive(&db, r.invoice_id));
                    }
                    refunds.push(r);
                }
                Op::Claim(n) | Op::Complete(n) if refunds.is_empty() => { let _ = n; }
                Op::Claim(n) => {
                    let i = n % refunds.len();
                    change(&db, &mut refunds[i], RefundStatus::AwaitingPayment);
                }
                Op::Complete(n) => {
                    let i = n % refunds.len();
                    change(&db, &mut refunds[i], RefundStatus::Completed);
                }
                Op::Reopen => {
                    drop(db);
                    db = Db::open(dir.path()).unwrap();
                }
            }
            for inv in invoices {
                let t = db.refund_totals(inv).unwrap();
                prop_assert_eq!((t.count, t.amount), naive(&db, inv));
            }
        }
    }
}

/// A schema 6 store has refunds and no totals: opened by schema 7, an invoice's totals are
/// summed from its refunds, and its next refund stores them.
#[test]
fn a_version_6_store_gets_its_refund_totals_from_its_refunds() {
    let dir = tempfile::tempdir().unwrap();
    let invoice = Uuid::now_v7();
    {
        let db = Db::open(dir.path()).unwrap();
        db.db.put_cf(db.cf(CF_META), META_SCHEMA_VERSION, 6u32.to_be_bytes()).unwrap();
        add_without_totals(&db, &refund(invoice, Amount::from(300u64)));
        add_without_totals(&db, &refund(invoice, Amount::from(200u64)));
    }
    let db = Db::open(dir.path()).unwrap();
    let v = db.db.get_cf(db.cf(CF_META), META_SCHEMA_VERSION).unwrap().unwrap();
    assert_eq!(v, SCHEMA_VERSION.to_be_bytes());
    assert_eq!(db.refund_totals(invoice).unwrap(), RefundTotals { count: 2, amount: Amount::from(500u64) });
    assert!(db.db.get_cf(db.cf(CF_INVOICE_INDEX), totals_key(invoice)).unwrap().is_none(), "a read writes nothing");
    let after = add(&db, &refund(invoice, Amount::from(1u64)));
    assert_eq!(after, RefundTotals { count: 3, amount: Amount::from(501u64) });
    assert!(db.db.get_cf(db.cf(CF_INVOICE_INDEX), totals_key(invoice)).unwrap().is_some());
    assert_eq!(db.refund_totals(Uuid::now_v7()).unwrap(), RefundTotals::NONE, "an invoice without refunds");
}

/// Stored totals are read, never summed again: a refund link added behind their back (what
/// no code does) does not change them.
#[test]
fn stored_totals_are_read_not_summed_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let invoice = Uuid::now_v7();
    add(&db, &refund(invoice, Amount::from(7u64)));
    add_without_totals(&db, &refund(invoice, Amount::from(5u64)));
    assert_eq!(db.refund_totals(invoice).unwrap(), RefundTotals { count: 1, amount: Amount::from(7u64) });
}

/// An invoice priced in another currency: its totals add the refunds' values in its value
/// units, not their crypto amounts (a refund at today's rate sends more or less crypto than it
/// settles at the locked rate).
#[test]
fn totals_add_values_in_the_invoices_units_not_crypto_amounts() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let invoice = Uuid::now_v7();
    // 30 USD in units of 10^-8 USD (BTC's 8 decimals at a whole-dollar rate), sent as 75,000
    // sat at 40,000 USD; then 20 USD sent as 40,000 sat at 50,000 USD.
    let mut r = refund(invoice, Amount::from(75_000u64));
    r.currency = "USD".into();
    r.value = "30.00".into();
    let mut b = db.batch();
    b.add_refund(&r, Amount::from(3_000_000_000u64), RefundTotals::NONE).unwrap();
    db.write(b).unwrap();
    let mut r2 = refund(invoice, Amount::from(40_000u64));
    r2.value = "20.00".into();
    let before = db.refund_totals(invoice).unwrap();
    let mut b = db.batch();
    let after = b.add_refund(&r2, Amount::from(2_000_000_000u64), before).unwrap();
    db.write(b).unwrap();
    assert_eq!(after, RefundTotals { count: 2, amount: Amount::from(5_000_000_000u64) });
    assert_eq!(db.refund_totals(invoice).unwrap(), after);
    // The refunds read back with what they recorded.
    let read = db.invoice_refunds(invoice).unwrap();
    assert_eq!((read[0].value.as_str(), read[0].currency.as_str()), ("30.00", "USD"));
}

/// A refund written before schema 8 reads as `custom` at rate 1 in its asset.
#[test]
fn a_refund_from_before_schema_8_reads_as_custom_at_rate_1() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let r = refund(Uuid::now_v7(), Amount::from(1_000u64));
    let mut old = serde_json::to_value(&r).unwrap();
    for f in ["variant", "currency", "value", "rate", "rate_source", "rate_at", "subtract_percent"] {
        old.as_object_mut().unwrap().remove(f);
    }
    db.db.put_cf(db.cf(CF_REFUNDS), r.id.as_bytes(), serde_json::to_vec(&old).unwrap()).unwrap();
    let got = db.refund(r.id).unwrap().unwrap();
    assert_eq!(
        (got.variant.as_str(), got.currency.as_str(), got.value.as_str(), got.rate.as_str(), got.rate_source.as_str()),
        ("custom", "BTC", "0.00001", "1", "same_asset")
    );
    assert_eq!((got.rate_at, got.subtract_percent), (Some(got.created_at), None));
}
