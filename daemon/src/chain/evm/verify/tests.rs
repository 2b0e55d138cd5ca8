//! Blocks made by alloy (`fixture`), checked, then with one thing substituted.

use super::fixture::{block, TestTx};
use super::*;
use serde_json::{json, Value};

fn to_raw(v: &[Value]) -> Vec<Box<RawValue>> {
    v.iter().map(|r| RawValue::from_string(r.to_string()).unwrap()).collect()
}

fn check(b: &Value, receipts: &[Value]) -> Result<Checked, VerifyError> {
    verify(&b.to_string(), &to_raw(receipts))
}

fn pay(ty: u8, wei: u64) -> TestTx {
    TestTx { ty, to: Address::with_last_byte(0xaa), wei }
}

fn every_type() -> Vec<TestTx> {
    [0, 27, 1, 2, 3, 4, 2].iter().enumerate().map(|(i, t)| pay(*t, 1000 + i as u64)).collect()
}

#[test]
fn a_block_of_every_ethereum_transaction_type_checks_in_full() {
    let (b, r) = block(7, &every_type());
    assert_eq!(check(&b, &r), Ok(Checked::Full));
    let (empty, none) = block(8, &[]);
    assert_eq!(check(&empty, &none), Ok(Checked::Full));
}

#[test]
fn a_changed_header_field_is_refused_by_the_header_hash() {
    let (mut b, r) = block(7, &every_type());
    let hash: B256 = serde_json::from_value(b["hash"].clone()).unwrap();
    b["timestamp"] = json!("0x1");
    let e = check(&b, &r).unwrap_err();
    assert!(matches!(e, VerifyError::HeaderHash { number: 7, hash: h, .. } if h == hash), "{e}");
    assert!(e.to_string().starts_with("block 7: its header hashes to 0x"), "{e}");
    assert!(e.to_string().ends_with(&format!("not to {hash} as the node says")), "{e}");
}

#[test]
fn a_substituted_transaction_is_refused_by_its_hash_or_the_transactions_root() {
    let (good, r) = block(7, &every_type());
    // Another value under the real hash.
    let mut b = good.clone();
    b["transactions"][3]["value"] = json!("0xde0b6b3a7640000");
    let e = check(&b, &r).unwrap_err();
    assert!(matches!(e, VerifyError::TxHash { number: 7, index: 3, .. }), "{e}");
    // Another transaction with its own (right) hash: the root gives it away.
    let (other, _) = block(7, &[pay(2, 1), pay(2, 1), pay(2, 1), pay(2, 1_000_000)]);
    let mut b = good.clone();
    b["transactions"][3] = other["transactions"][3].clone();
    let e = check(&b, &r).unwrap_err();
    let root = good["transactionsRoot"].as_str().unwrap();
    assert!(matches!(e, VerifyError::TransactionsRoot { number: 7, .. }), "{e}");
    assert!(e.to_string().ends_with(&format!("but its header's transactionsRoot is {root}")), "{e}");
    // One left out.
    let mut b = good;
    b["transactions"].as_array_mut().unwrap().pop();
    assert!(matches!(check(&b, &r), Err(VerifyError::TransactionsRoot { .. })));
}

#[test]
fn a_substituted_receipt_is_refused_by_the_receipts_root() {
    let (b, good) = block(7, &every_type());
    let root = b["receiptsRoot"].as_str().unwrap().to_string();
    for tamper in [
        |r: &mut Value| r["status"] = json!("0x0"),
        |r: &mut Value| r["logs"][0]["data"] = json!(format!("0x{}", "08".repeat(32))),
        |r: &mut Value| r["logs"][0]["address"] = json!(Address::with_last_byte(0xbb)),
        |r: &mut Value| r["logs"] = json!([]),
    ] {
        let mut r = good.clone();
        tamper(&mut r[2]);
        let e = check(&b, &r).unwrap_err();
        assert!(matches!(e, VerifyError::ReceiptsRoot { number: 7, .. }), "{e}");
        assert!(e.to_string().ends_with(&format!("but its header's receiptsRoot is {root}")), "{e}");
    }
}

#[test]
fn a_block_with_another_chains_transaction_type_is_checked_by_its_header_only() {
    let (mut b, r) = block(7, &every_type());
    // An OP-stack deposit: not re-encodable here, so the roots are not checked.
    b["transactions"][1]["type"] = json!("0x7e");
    b["transactions"][1].as_object_mut().unwrap().retain(|k, _| !["r", "s", "v", "yParity"].contains(&k.as_str()));
    assert_eq!(check(&b, &r), Ok(Checked::HeaderOnly { tx_type: 0x7e }), "it needs no signature");
    b["gasLimit"] = json!("0x1");
    assert!(matches!(check(&b, &r), Err(VerifyError::HeaderHash { .. })), "its header is still checked");
}

#[test]
fn unreadable_json_is_an_error_naming_the_block() {
    let (mut b, r) = block(7, &[pay(2, 5)]);
    b["transactions"][0]["r"] = json!("not a number");
    let e = check(&b, &r).unwrap_err();
    assert!(matches!(e, VerifyError::Unreadable { number: 7, .. }), "{e}");
    let (b, mut r) = block(7, &[pay(2, 5)]);
    r[0].as_object_mut().unwrap().remove("status");
    assert!(check(&b, &r).unwrap_err().to_string().contains("neither status nor root"));
    let (mut b, r) = block(7, &[pay(2, 5)]);
    b["transactions"][0].as_object_mut().unwrap().remove("s");
    assert!(check(&b, &r).unwrap_err().to_string().ends_with("transaction 0: no signature (r, s)"));
    let (mut b, r) = block(7, &[pay(2, 5)]);
    b["number"] = json!("seven");
    assert!(matches!(check(&b, &r), Err(VerifyError::HeaderUnreadable(_))));
}
