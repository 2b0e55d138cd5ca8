//! Blocks as a node serves them, made with alloy's own envelopes, hashes and roots (not the
//! encoding `verify` does), for the tests of `verify` and of the RPC client.

use alloy::consensus::proofs::{calculate_receipt_root, calculate_transaction_root};
use alloy::consensus::{
    Eip658Value, Header, Receipt, ReceiptEnvelope, ReceiptWithBloom, Signed, TxEip1559, TxEip2930, TxEip4844,
    TxEip7702, TxEnvelope, TxLegacy,
};
use alloy::eips::eip2930::{AccessList, AccessListItem};
use alloy::eips::eip7702::{Authorization, SignedAuthorization};
use alloy::primitives::{Address, Bloom, Bytes, Log, Signature, TxKind, B256, U256};
use serde_json::{json, Value};

/// One transaction of a test block: its type (`0` legacy with EIP-155, `27` legacy without a
/// chain id, `1` to `4` Ethereum's typed ones), paying `wei` to `to`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TestTx {
    pub(crate) ty: u8,
    pub(crate) to: Address,
    pub(crate) wei: u64,
}

fn sig(i: usize, parity: bool) -> Signature {
    Signature::new(U256::from(1000 + i), U256::from(2000 + i), parity)
}

fn envelope(i: usize, t: &TestTx) -> TxEnvelope {
    let (nonce, value, to) = (i as u64, U256::from(t.wei), t.to);
    let input = Bytes::from(vec![i as u8; i % 3]);
    let access_list =
        AccessList(vec![AccessListItem { address: to, storage_keys: vec![B256::with_last_byte(i as u8)] }]);
    let parity = i % 2 == 1;
    match t.ty {
        0 | 27 => {
            let chain_id = (t.ty == 0).then_some(31337);
            let tx = TxLegacy { chain_id, nonce, gas_price: 7, gas_limit: 21_000, to: TxKind::Call(to), value, input };
            Signed::new_unhashed(tx, sig(i, parity)).into()
        }
        1 => {
            let tx = TxEip2930 {
                chain_id: 31337,
                nonce,
                gas_price: 7,
                gas_limit: 30_000,
                to: TxKind::Call(to),
                value,
                access_list,
                input,
            };
            Signed::new_unhashed(tx, sig(i, parity)).into()
        }
        2 => {
            let tx = TxEip1559 {
                chain_id: 31337,
                nonce,
                gas_limit: 21_000,
                max_fee_per_gas: 9,
                max_priority_fee_per_gas: 1,
                to: TxKind::Call(to),
                value,
                access_list,
                input,
            };
            Signed::new_unhashed(tx, sig(i, parity)).into()
        }
        3 => {
            let tx = TxEip4844 {
                chain_id: 31337,
                nonce,
                gas_limit: 21_000,
                max_fee_per_gas: 9,
                max_priority_fee_per_gas: 1,
                to,
                value,
                access_list,
                blob_versioned_hashes: vec![B256::with_last_byte(0x01)],
                max_fee_per_blob_gas: 3,
                input,
            };
            Signed::new_unhashed(tx, sig(i, parity)).into()
        }
        _ => {
            let auth = Authorization { chain_id: U256::from(31337), address: to, nonce: 5 };
            let tx = TxEip7702 {
                chain_id: 31337,
                nonce,
                gas_limit: 60_000,
                max_fee_per_gas: 9,
                max_priority_fee_per_gas: 1,
                to,
                value,
                access_list,
                authorization_list: vec![SignedAuthorization::new_unchecked(auth, 1, U256::from(3), U256::from(4))],
                input,
            };
            Signed::new_unhashed(tx, sig(i, parity)).into()
        }
    }
}

/// A transaction's JSON as nodes serve it: its own fields, type, hash, signature, sender.
fn tx_json(i: usize, env: &TxEnvelope, block_hash: B256) -> Value {
    let mut v = match env {
        TxEnvelope::Legacy(s) => serde_json::to_value(s.tx()).unwrap(),
        TxEnvelope::Eip2930(s) => serde_json::to_value(s.tx()).unwrap(),
        TxEnvelope::Eip1559(s) => serde_json::to_value(s.tx()).unwrap(),
        TxEnvelope::Eip4844(s) => serde_json::to_value(s.tx()).unwrap(),
        TxEnvelope::Eip7702(s) => serde_json::to_value(s.tx()).unwrap(),
    };
    let s = env.signature();
    let ty = env.tx_type() as u8;
    let v_value = match env {
        TxEnvelope::Legacy(l) => U256::from(alloy::consensus::transaction::to_eip155_value(s.v(), l.tx().chain_id)),
        _ => U256::from(s.v() as u8),
    };
    let extra = json!({"type": format!("{ty:#x}"), "hash": env.tx_hash(), "r": s.r(), "s": s.s(), "v": v_value,
        "from": Address::with_last_byte(0xf0), "blockHash": block_hash, "transactionIndex": format!("{i:#x}")});
    v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    if ty != 0 {
        v["yParity"] = json!(format!("{:#x}", s.v() as u8));
    }
    v
}

fn receipt(i: usize, t: &TestTx) -> Receipt {
    let log = Log::new_unchecked(
        t.to,
        vec![B256::with_last_byte(0xdd), B256::with_last_byte(i as u8)],
        Bytes::from(vec![7; 32]),
    );
    Receipt { status: Eip658Value::Eip658(i % 5 != 4), cumulative_gas_used: 21_000 * (i as u64 + 1), logs: vec![log] }
}

/// The block (hash, header and full transactions) and its receipts, as a node's JSON.
pub(crate) fn block(number: u64, txs: &[TestTx]) -> (Value, Vec<Value>) {
    let envelopes: Vec<TxEnvelope> = txs.iter().enumerate().map(|(i, t)| envelope(i, t)).collect();
    let receipts: Vec<Receipt> = txs.iter().enumerate().map(|(i, t)| receipt(i, t)).collect();
    let bloom = |r: &Receipt| Bloom::from_iter(r.logs.iter());
    let typed: Vec<ReceiptEnvelope> = envelopes
        .iter()
        .zip(&receipts)
        .map(|(e, r)| ReceiptEnvelope::from_typed(e.tx_type(), ReceiptWithBloom::new(r.clone(), bloom(r))))
        .collect();
    let header = Header {
        parent_hash: B256::with_last_byte(0x99),
        number,
        timestamp: 1_700_000_000 + number,
        gas_limit: 30_000_000,
        base_fee_per_gas: Some(7),
        transactions_root: calculate_transaction_root(&envelopes),
        receipts_root: calculate_receipt_root(&typed),
        withdrawals_root: Some(alloy::consensus::EMPTY_ROOT_HASH),
        ..Default::default()
    };
    let hash = header.hash_slow();
    let mut b = serde_json::to_value(&header).unwrap();
    b["hash"] = json!(hash);
    b["transactions"] = envelopes.iter().enumerate().map(|(i, e)| tx_json(i, e, hash)).collect();
    let rs = envelopes
        .iter()
        .zip(&receipts)
        .map(|(e, r)| {
            let logs: Vec<Value> = r
                .logs
                .iter()
                .map(|l| json!({"address": l.address, "topics": l.topics(), "data": l.data.data, "removed": false}))
                .collect();
            json!({"type": format!("{:#x}", e.tx_type() as u8), "transactionHash": e.tx_hash(), "blockHash": hash,
                   "status": format!("{:#x}", r.status.coerce_status() as u8),
                   "cumulativeGasUsed": format!("{:#x}", r.cumulative_gas_used), "logsBloom": bloom(r), "logs": logs})
        })
        .collect();
    (b, rs)
}
