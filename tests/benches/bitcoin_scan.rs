//! The bitcoin plugin's hot path on the real 1.38 MB mainnet block of `plugin-api/testdata/`, with
//! 1,000,000 watched scripts in the daemon's real watch set (fingerprint table, host vtable,
//! RocksDB confirmation of hits), scanned by the daemon's own instance of the release plugin
//! (loader, C ABI, JSON reply), against a full decode (`Block::consensus_decode` +
//! `compute_txid` for every transaction). The scan hashes every transaction once for the merkle
//! root; the follower's verification (header, proof of work, root) is timed on its own and
//! with the scan, and the merkle root alone from each transaction's txid bytes (the hashing a
//! scan adds). Then the watch set's memory: RSS growth with 1M and 10M watches. Prints figures
//! only.
//!
//!     cargo bench --workspace   (bench `bitcoin_scan`)
// A benchmark prints its figures.
#![allow(clippy::print_stdout)]

use bitcoincore_rpc::bitcoin::{self, consensus::Decodable};
use paywatch::config::BitcoinNetwork;
use paywatch_plugin_api::abi::SCAN_BLOCK;
use paywatch_tests::bench::{
    mainnet_block, median_and_best_ms, release_plugins, rss_bytes, watch_set_with, BenchChain, BenchWatchSet,
};

fn main() {
    scan(0);
    scan(1_000_000);
    for n in [1_000_000u64, 10_000_000] {
        memory(n, true);
        memory(n, false);
    }
}

fn scan(watched: u64) {
    let raw = mainnet_block();
    let block = bitcoin::Block::consensus_decode(&mut raw.as_slice()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let set = watch_set_with(dir.path(), watched);
    // Real watches on a few of the block's scripts: hits are confirmed against RocksDB.
    for tx in block.txdata.iter().step_by(500) {
        set.watch(tx.output[0].script_pubkey.as_bytes()).unwrap();
    }
    let watched = set.len();
    let file = release_plugins().join("libpaywatch_plugin_bitcoin.so");
    let plugin =
        set.currency_plugin(&file, "BTC", BenchChain::Bitcoin(BitcoinNetwork::Mainnet), &Default::default()).unwrap();
    let reply = plugin.scan(SCAN_BLOCK, &raw).unwrap();
    let matches = reply.matches.len();
    let root = reply.merkle_root.expect("the bitcoin plugin reports the merkle root");
    paywatch::bench::verify_mainnet_block(&raw, Some(&root)).unwrap();
    let outputs: usize = block.txdata.iter().map(|t| t.output.len()).sum();
    let time = |f: &dyn Fn()| median_and_best_ms(400, f);
    let (scan_ms, scan_best) = time(&|| {
        plugin.scan(SCAN_BLOCK, &raw).unwrap();
    });
    let (decode_ms, decode_best) = time(&|| {
        let b = bitcoin::Block::consensus_decode(&mut raw.as_slice()).unwrap();
        for tx in &b.txdata {
            std::hint::black_box(tx.compute_txid());
        }
    });
    let (verify_ms, verify_best) = time(&|| {
        paywatch::bench::verify_mainnet_block(&raw, Some(&root)).unwrap();
    });
    let (both_ms, both_best) = time(&|| {
        let reply = plugin.scan(SCAN_BLOCK, &raw).unwrap();
        paywatch::bench::verify_mainnet_block(&raw, reply.merkle_root.as_deref()).unwrap();
    });
    let (fallback_ms, _) = time(&|| {
        paywatch::bench::verify_mainnet_block(&raw, None).unwrap();
    });
    // Each transaction's txid bytes (no witness), cut out once: what the scan hashes.
    let stripped: Vec<Vec<u8>> = block
        .txdata
        .iter()
        .map(|tx| {
            let mut t = tx.clone();
            t.input.iter_mut().for_each(|i| i.witness.clear());
            bitcoin::consensus::serialize(&t)
        })
        .collect();
    let (merkle_ms, merkle_best) = time(&|| {
        use bitcoin::hashes::{sha256d, Hash};
        let txids = stripped.iter().map(|b| sha256d::Hash::hash(b));
        std::hint::black_box(bitcoin::merkle_tree::calculate_root(txids));
    });
    println!(
        "bitcoin scan_block: {} bytes, {} txs, {outputs} outputs, {} watched, {matches} matches: \
         scan (every txid hashed, merkle root) {scan_ms:.3} ms (best {scan_best:.3}), full decode + txids {decode_ms:.3} ms (best {decode_best:.3}): {:.1}x (medians)",
        raw.len(),
        block.txdata.len(),
        watched,
        decode_ms / scan_ms
    );
    println!(
        "  verification: host check (header, proof of work, root compare) {verify_ms:.4} ms (best {verify_best:.4}); \
         merkle root from the txid bytes alone {merkle_ms:.3} ms (best {merkle_best:.3}); \
         scan + verify {both_ms:.3} ms (best {both_best:.3}): {:.1}x faster than full decode + txids; \
         without a plugin's root (decode + txids + merkle in the host) {fallback_ms:.3} ms",
        decode_ms / both_ms
    );
}

/// RSS growth of `n` watches: loaded at start (`presized`), or added one by one (the table
/// doubles; glibc may keep the freed smaller tables in the process).
fn memory(n: u64, presized: bool) {
    let dir = tempfile::tempdir().unwrap();
    let set = BenchWatchSet::open(dir.path()).unwrap();
    let before = rss_bytes();
    if presized {
        set.reserve(n as usize);
    }
    for i in 0..n {
        set.insert_fingerprint(&paywatch_tests::bench::random_script(i));
    }
    let after = rss_bytes();
    println!(
        "watch set memory: {n} watches {}: RSS +{:.1} MB ({:.1} bytes/watch), table {:.1} MB ({:.1} bytes/watch)",
        if presized { "loaded at start" } else { "added one by one" },
        (after - before) as f64 / 1e6,
        (after - before) as f64 / n as f64,
        set.heap_bytes() as f64 / 1e6,
        set.heap_bytes() as f64 / n as f64
    );
}
