//! The cost of the plugin ABI (release builds of host and plugin). Prints figures only.
//!
//!     cargo bench -p paywatch-tests --bench plugin_abi
//!
//! * control-plane `call` with a ~1 KB JSON payload: calls/s;
//! * `scan_block` on the real 1.38 MB mainnet block in `plugin-api/testdata/`, through the C ABI
//!   (the daemon's own instance of the loaded `.so`: vtable call, host vtable, JSON reply copied
//!   and decoded) versus the same scanner linked in and called directly. The scanner is the
//!   fixture's (it asks `is_watched` for every 20-byte chunk: ~69,000 host callbacks per block,
//!   more than a block has outputs); the watch set has 1,000,000 fingerprints.
// A benchmark prints its figures.
#![allow(clippy::print_stdout)]

use paywatch::config::BitcoinNetwork;
use paywatch_plugin_api::abi::SCAN_BLOCK;
use paywatch_plugin_api::{CurrencyPlugin, Host};
use paywatch_plugin_fixture::Fixture;
use paywatch_tests::bench::{mainnet_block, release_plugins, BenchChain, BenchPlugin, BenchWatchSet};
use std::time::Instant;

fn main() {
    let raw = mainnet_block();
    let dir = tempfile::tempdir().unwrap();
    let set = BenchWatchSet::open(dir.path()).unwrap();
    for i in 0u64..1_000_000 {
        set.insert_fingerprint(&i.to_le_bytes());
    }
    // Plant three real chunks of the block so the scans return matches.
    for at in [0usize, 20 * 1000, 20 * 50_000] {
        set.watch(&raw[at..at + 20]).unwrap();
    }
    // The fixture claims the bitcoin chain kind.
    let file = release_plugins().join("fixtures/fixture.so");
    let chain = BenchChain::Bitcoin(BitcoinNetwork::Mainnet);
    let plugin = set.currency_plugin(&file, "TEST", chain, &Default::default()).unwrap();
    bench(&raw, &plugin, &set);
}

fn bench(raw: &[u8], plugin: &BenchPlugin, set: &BenchWatchSet) {
    // Control plane: parse_address with a ~1 KB payload (the fixture echoes it back, ~3 KB reply).
    let payload = serde_json::to_vec(&serde_json::json!({"address": "a".repeat(1000)})).unwrap();
    let n = 200_000;
    let t = Instant::now();
    for _ in 0..n {
        plugin.call_raw("parse_address", &payload).unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "call(parse_address, {} B payload): {:.0} calls/s ({:.2} µs/call)",
        payload.len(),
        n as f64 / secs,
        secs / n as f64 * 1e6
    );

    // Hot path.
    let rounds = 50;
    let through_abi = |raw: &[u8]| plugin.scan(SCAN_BLOCK, raw).unwrap().matches.len();
    assert_eq!(through_abi(raw), 3, "planted matches found");
    let time = |f: &dyn Fn()| {
        f();
        let t = Instant::now();
        for _ in 0..rounds {
            f();
        }
        t.elapsed().as_secs_f64() / rounds as f64 * 1e3
    };
    let abi_ms = time(&|| {
        through_abi(raw);
    });
    // The same scanner linked in, with the host vtable the instance's scans get.
    let direct_ms = set.with_host(|hvt| {
        let h = Host::new(hvt);
        let direct = Fixture::create(serde_json::json!({}), &h).unwrap();
        assert_eq!(direct.scan_block(raw, &h).unwrap().matches.len(), 3, "planted matches found");
        time(&|| {
            direct.scan_block(raw, &h).unwrap();
        })
    });
    println!(
        "scan_block, {} byte mainnet block, {} is_watched callbacks, 1M watched: through the ABI {abi_ms:.3} ms, direct {direct_ms:.3} ms, overhead {:.3} ms ({:+.1}%)",
        raw.len(),
        raw.len().div_ceil(20),
        abi_ms - direct_ms,
        (abi_ms / direct_ms - 1.0) * 100.0
    );
    // The fixed cost of one scan crossing (no outputs): call, reply encoding, free.
    let n = 200_000;
    let t = Instant::now();
    for _ in 0..n {
        through_abi(&[]);
    }
    let fixed_us = t.elapsed().as_secs_f64() / n as f64 * 1e6;
    println!(
        "  of which: fixed cost per scan call {fixed_us:.2} µs; per is_watched crossing {:.1} ns",
        ((abi_ms - direct_ms) * 1e3 - fixed_us) * 1e3 / raw.len().div_ceil(20) as f64
    );
}
