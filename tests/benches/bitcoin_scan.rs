//! The bitcoin plugin's hot path on the real 1.38 MB mainnet block of `shared/data/`, with
//! 1,000,000 watched scripts, against a full decode (`Block::consensus_decode` + `compute_txid`
//! for every transaction). Prints figures only.
//!
//!     cargo bench --workspace   (bench `bitcoin_scan`)

use bitcoincore_rpc::bitcoin::{self, consensus::Decodable};
use paywatch_plugin_api::{CurrencyPlugin, Host};
use paywatch_plugin_bitcoin::Bitcoin;
use paywatch_tests::bench::{mainnet_block, FingerprintSet};
use std::time::Instant;

fn main() {
    let raw = mainnet_block();
    let block = bitcoin::Block::consensus_decode(&mut raw.as_slice()).unwrap();
    let mut set = FingerprintSet::with_capacity(1_000_010);
    for i in 0u64..1_000_000 {
        // Random-looking P2WPKH scripts.
        let mut s = vec![0x00, 0x14];
        s.extend_from_slice(&set.fingerprint(&i.to_le_bytes()).to_le_bytes());
        s.extend_from_slice(&[0u8; 12]);
        set.insert(&s);
    }
    for tx in block.txdata.iter().step_by(500) {
        set.insert(tx.output[0].script_pubkey.as_bytes());
    }
    let vt = set.host_vtable();
    let host = Host::new(&vt);
    let plugin = Bitcoin::create(serde_json::json!({"network": "mainnet"}), &host).unwrap();
    let matches = plugin.scan_block(&raw, &host).unwrap().matches.len();
    let outputs: usize = block.txdata.iter().map(|t| t.output.len()).sum();
    let rounds = 200;
    let time = |f: &dyn Fn()| {
        for _ in 0..10 {
            f();
        }
        let t = Instant::now();
        for _ in 0..rounds {
            f();
        }
        t.elapsed().as_secs_f64() / rounds as f64 * 1e3
    };
    let scan_ms = time(&|| {
        plugin.scan_block(&raw, &host).unwrap();
    });
    let decode_ms = time(&|| {
        let b = bitcoin::Block::consensus_decode(&mut raw.as_slice()).unwrap();
        for tx in &b.txdata {
            std::hint::black_box(tx.compute_txid());
        }
    });
    println!(
        "bitcoin scan_block: {} bytes, {} txs, {outputs} outputs, 1,000,000 watched, {matches} matches: \
         scan {scan_ms:.3} ms, full decode + txids {decode_ms:.3} ms ({:.1}x)",
        raw.len(),
        block.txdata.len(),
        decode_ms / scan_ms
    );
}
