//! What checking an EVM block against its header costs (`verify_blocks`, on by default): the
//! header's hash, every transaction's hash and the transactions and receipts roots recomputed,
//! on a real anvil block of 500 transactions (legacy, EIP-2930 and EIP-1559 Ether transfers and
//! ERC-20 transfers), set beside what following that block costs without it: the two requests
//! that fetch it from the node on loopback, and the daemon's decoding and normalization. (The
//! plugins' scan of a 500-transaction block is `evm_scan`'s figure.) Prints figures only.
//!
//!     cargo bench --workspace   (bench `evm_verify`)
// A benchmark prints its figures.
#![allow(clippy::print_stdout)]

use paywatch::bench::EvmFetched;
use paywatch_tests::bench::median_and_best_ms;
use paywatch_tests::evm::{deploy_token, fresh_address, DEV0, DEV1, DEV2};
use paywatch_tests::nodes::Anvil;
use serde_json::{json, Value};
use std::time::Instant;

const TXS: usize = 500;

#[tokio::main]
async fn main() {
    let node = Anvil::start().await.expect("anvil");
    let token = deploy_token(&node, "Token", "TOK").await.expect("token");
    let number = mine_block(&node, &token).await;
    let (block, receipts) = fetch(&node, number).await;
    let types = tx_types(&block);
    assert_eq!(EvmFetched::verify(&block, &receipts), Ok(true), "checked in full");
    EvmFetched::decode(&block, &receipts).expect("decodes").normalize_and_encode().expect("normalizes");

    let mut fetch_ms = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        std::hint::black_box(fetch(&node, number).await);
        fetch_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    fetch_ms.sort_by(f64::total_cmp);
    let fetch = fetch_ms[fetch_ms.len() / 2];
    let (prep, prep_best) = median_and_best_ms(100, &|| {
        let f = EvmFetched::decode(&block, &receipts).unwrap();
        std::hint::black_box(f.normalize_and_encode().unwrap());
    });
    let (verify, verify_best) = median_and_best_ms(100, &|| {
        std::hint::black_box(EvmFetched::verify(&block, &receipts).unwrap());
    });
    let follow = fetch + prep;
    println!(
        "evm block verification, anvil block {number}: {TXS} txs ({types}), {} bytes of block JSON, {} of receipts:\n  \
         header hash + {TXS} tx hashes + transactions root + receipts root: {verify:.3} ms (best {verify_best:.3})\n  \
         following it without that: fetch (eth_getBlockByNumber + eth_getBlockReceipts on loopback) {fetch:.3} ms \
         + decode and normalize {prep:.3} ms (best {prep_best:.3}) = {follow:.3} ms\n  \
         verification adds {:.0} % (medians)",
        block.len(),
        receipts.len(),
        100.0 * verify / follow,
    );
}

/// 500 transactions in one block: of every ten, three token transfers, one legacy and one
/// EIP-2930 Ether transfer, five EIP-1559 Ether transfers. One sender per type: anvil's miner
/// orders one sender's transactions of mixed types by fee, not nonce, and drops the rest. The
/// block's number.
async fn mine_block(node: &Anvil, token: &str) -> u64 {
    node.rpc("evm_setAutomine", json!([false])).await.unwrap();
    for i in 0..TXS {
        let to = fresh_address(700_000 + i as u64);
        let tx = match i % 10 {
            0..=2 => {
                let data = format!("0xa9059cbb{:0>64}{:064x}", &to[2..], 1000 + i);
                json!({"from": DEV0, "to": token, "data": data, "gas": "0x10000"})
            }
            3 => json!({"from": DEV1, "to": to, "value": "0x1000", "gasPrice": "0x77359400", "type": "0x0"}),
            4 => json!({"from": DEV2, "to": to, "value": "0x1000", "gasPrice": "0x77359400", "type": "0x1",
                        "accessList": [{"address": token, "storageKeys": [format!("0x{:064x}", i)]}]}),
            _ => json!({"from": DEV0, "to": to, "value": "0x1000"}),
        };
        node.rpc("eth_sendTransaction", json!([tx])).await.unwrap();
    }
    node.rpc("evm_mine", json!([])).await.unwrap();
    let latest = node.rpc("eth_getBlockByNumber", json!(["latest", false])).await.unwrap();
    let n = latest["transactions"].as_array().unwrap().len();
    assert_eq!(n, TXS, "all {TXS} transactions in one block");
    u64::from_str_radix(latest["number"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

/// The block with its transactions and its receipts, as the node's JSON.
async fn fetch(node: &Anvil, number: u64) -> (String, String) {
    let block = node.rpc("eth_getBlockByNumber", json!([format!("{number:#x}"), true])).await.unwrap();
    let receipts = node.rpc("eth_getBlockReceipts", json!([block["hash"]])).await.unwrap();
    (block.to_string(), receipts.to_string())
}

/// How many transactions of each type, e.g. `0x0: 50, 0x1: 50, 0x2: 400`.
fn tx_types(block: &str) -> String {
    let b: Value = serde_json::from_str(block).unwrap();
    let mut counts = std::collections::BTreeMap::new();
    for t in b["transactions"].as_array().unwrap() {
        *counts.entry(t["type"].as_str().unwrap().to_string()).or_insert(0) += 1;
    }
    counts.iter().map(|(t, n)| format!("type {t}: {n}")).collect::<Vec<_>>().join(", ")
}
