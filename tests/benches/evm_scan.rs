//! The EVM hot path after fetch, on a block of 500 transactions and 2,000 logs, with 1,000,000
//! watched addresses in the daemon's real watch set (fingerprint table, host vtable, RocksDB
//! confirmation of hits): the daemon's own instances of the real `ethereum` plugin and of two
//! `erc20` assets (its loader, release cdylibs, C ABI, JSON replies), scanning the normalized block,
//! plus the daemon's own work before that (node JSON decoded, checked, normalized, encoded).
//! Prints figures only.
//!
//!     cargo bench --workspace   (bench `evm_scan`)
// A benchmark prints its figures.
#![allow(clippy::print_stdout)]

use paywatch_plugin_api::abi::SCAN_BLOCK;
use paywatch_plugin_api::evm::{Block, Log, Tx};
use paywatch_tests::bench::{median_and_best_ms, release_plugins, BenchChain, BenchPlugin, BenchWatchSet};
use serde_json::{json, Value};

const WATCHED: u64 = 1_000_000;
const TXS: usize = 500;
const LOGS: usize = 2_000;
/// Transactions paying a watched address, and Transfer logs to one.
const HITS: usize = 20;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let set = BenchWatchSet::open(dir.path()).unwrap();
    set.reserve(WATCHED as usize);
    for i in 0..WATCHED {
        set.insert_fingerprint(&address(i));
    }
    let tokens = [address(u64::MAX), address(u64::MAX - 1), address(u64::MAX - 2)];
    let block = block(&tokens);
    // Real watches for the hits: confirmed against RocksDB on every scan.
    for i in 0..HITS as u64 {
        set.watch(&address(i * 1000)).unwrap();
    }
    let (block_json, receipts_json) = node_json(&block);
    let raw = block.encode();
    let fetched = paywatch::bench::EvmFetched::decode(&block_json, &receipts_json).unwrap();
    assert_eq!(fetched.normalize_and_encode().unwrap(), raw, "the daemon's normalization");

    let plugins = release_plugins();
    let evm = BenchChain::Evm { chain_id: 1 };
    let eth = set.currency_plugin(&plugins.join("libpaywatch_plugin_ethereum.so"), "ETH", evm, &Default::default());
    let erc20 = plugins.join("libpaywatch_plugin_erc20.so");
    let token = |i: usize, id: &str| {
        let own = json!({"contract": paywatch_evm_common::hex0x(&tokens[i]), "decimals": 6});
        set.currency_plugin(&erc20, id, evm, own.as_object().unwrap())
    };
    let (eth, usdt, usdc) = (eth.unwrap(), token(0, "USDT").unwrap(), token(1, "USDC").unwrap());
    // Each reply decoded as the daemon decodes it; the number of matches.
    let matches_of = |p: &BenchPlugin| p.scan(SCAN_BLOCK, &raw).unwrap().matches.len();
    let scan_all = || matches_of(&eth) + matches_of(&usdt) + matches_of(&usdc);
    let matches = scan_all();
    let (scan, scan_best) = time(&|| {
        std::hint::black_box(scan_all());
    });
    let (prep, prep_best) = time(&|| {
        std::hint::black_box(fetched.normalize_and_encode().unwrap());
    });
    let (decode, decode_best) = time(&|| {
        std::hint::black_box(paywatch::bench::EvmFetched::decode(&block_json, &receipts_json).unwrap());
    });
    println!(
        "evm block: {TXS} txs, {LOGS} logs ({} bytes encoded, {} bytes of node JSON), {} watched, {matches} matches:\n  \
         scan by ethereum + 2 x erc20 (cdylibs through the C ABI): {scan:.3} ms (best {scan_best:.3})\n  \
         daemon: checked, normalized, encoded: {prep:.3} ms (best {prep_best:.3})\n  \
         after fetch, total: {:.3} ms per block (medians)\n  \
         (fetch's CPU part, node JSON -> typed block and receipts in the RPC client, 8 blocks in flight: \
         {decode:.3} ms, best {decode_best:.3})",
        raw.len(),
        block_json.len() + receipts_json.len(),
        set.len(),
        scan + prep
    );
}

fn time(f: &dyn Fn()) -> (f64, f64) {
    median_and_best_ms(300, f)
}

/// The i-th of a family of distinct addresses.
fn address(i: u64) -> [u8; 20] {
    let mut a = [0u8; 20];
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xa5a5_a5a5;
    for b in a.iter_mut() {
        x ^= x >> 29;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        *b = (x >> 56) as u8;
    }
    a
}

fn word(n: u64) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&n.to_be_bytes());
    w
}

/// keccak256("Transfer(address,address,uint256)").
fn transfer_topic() -> [u8; 32] {
    paywatch_evm_common::address::keccak256(b"Transfer(address,address,uint256)")
}

fn topic(a: &[u8; 20]) -> [u8; 32] {
    let mut t = [0u8; 32];
    t[12..].copy_from_slice(a);
    t
}

/// 500 transactions (every 25th pays a watched address), 2,000 logs: 1,500 `Transfer`s over
/// three tokens (two configured; every 75th to a watched address) and 500 other events.
fn block(tokens: &[[u8; 20]; 3]) -> Block {
    let txs = (0..TXS)
        .map(|i| {
            let to = if i % 25 == 0 { address((i / 25) as u64 * 1000) } else { address(5_000_000 + i as u64) };
            Tx {
                hash: word(i as u64 + 1),
                from: address(9_000_000 + i as u64),
                to: Some(to),
                value: word(10_000),
                success: i % 50 != 7,
            }
        })
        .collect();
    let logs = (0..LOGS)
        .map(|i| {
            let tx = (i / (LOGS / TXS)) as u32; // four logs per transaction, in block order
            if i % 4 == 3 {
                let approval = [0x8c; 32];
                return Log {
                    tx,
                    index: i as u32,
                    address: tokens[0],
                    topics: vec![approval, topic(&address(1)), topic(&address(2))],
                    data: word(1).to_vec(),
                };
            }
            let to =
                if i % 75 == 0 { address((i / 75) as u64 % HITS as u64 * 1000) } else { address(6_000_000 + i as u64) };
            Log {
                tx,
                index: i as u32,
                address: tokens[i % 3],
                topics: vec![transfer_topic(), topic(&address(7_000_000 + i as u64)), topic(&to)],
                data: word(1_000_000).to_vec(),
            }
        })
        .collect();
    Block {
        number: 21_000_000,
        timestamp: 1_730_000_000,
        hash: word(77),
        parent: word(76),
        txs,
        logs,
        internal: Vec::new(),
    }
}

fn hex(b: &[u8]) -> String {
    paywatch_evm_common::hex0x(b)
}

fn qty(n: u64) -> String {
    format!("{n:#x}")
}

/// The block and its receipts as a node serves them (with the fields nodes send and the daemon
/// skips: gas, input, signatures, blooms…).
fn node_json(b: &Block) -> (String, String) {
    let bh = hex(&b.hash);
    let txs: Vec<Value> = b
        .txs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"blockHash": bh, "blockNumber": qty(b.number), "from": hex(&t.from), "gas": "0x5208",
                   "gasPrice": "0x3b9aca00", "maxFeePerGas": "0x77359400", "maxPriorityFeePerGas": "0x1",
                   "hash": hex(&t.hash), "input": format!("0xa9059cbb{}", "00".repeat(64)), "nonce": qty(i as u64),
                   "to": t.to.map(|a| hex(&a)), "transactionIndex": qty(i as u64), "value": qty(10_000), "type": "0x2",
                   "accessList": [], "chainId": "0x1", "v": "0x1", "yParity": "0x1",
                   "r": hex(&[0x11; 32]), "s": hex(&[0x22; 32])})
        })
        .collect();
    let block = json!({"number": qty(b.number), "hash": bh, "parentHash": hex(&b.parent), "timestamp": qty(b.timestamp),
                       "miner": hex(&[0; 20]), "gasLimit": "0x1c9c380", "gasUsed": "0x1c9c380", "baseFeePerGas": "0x3b9aca00",
                       "logsBloom": format!("0x{}", "00".repeat(256)), "transactions": txs, "uncles": []});
    let receipts: Vec<Value> = b
        .txs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let logs: Vec<Value> = b
                .logs
                .iter()
                .filter(|l| l.tx as usize == i)
                .map(|l| {
                    json!({"address": hex(&l.address), "topics": l.topics.iter().map(|t| hex(t)).collect::<Vec<_>>(),
                           "data": hex(&l.data), "blockNumber": qty(b.number), "blockHash": bh,
                           "transactionHash": hex(&t.hash), "transactionIndex": qty(i as u64),
                           "logIndex": qty(l.index as u64), "removed": false})
                })
                .collect();
            json!({"blockHash": bh, "blockNumber": qty(b.number), "contractAddress": null, "cumulativeGasUsed": "0x5208",
                   "effectiveGasPrice": "0x3b9aca00", "from": hex(&t.from), "gasUsed": "0x5208", "logs": logs,
                   "logsBloom": format!("0x{}", "00".repeat(256)), "status": if t.success { "0x1" } else { "0x0" },
                   "to": t.to.map(|a| hex(&a)), "transactionHash": hex(&t.hash), "transactionIndex": qty(i as u64), "type": "0x2"})
        })
        .collect();
    (block.to_string(), Value::Array(receipts).to_string())
}
