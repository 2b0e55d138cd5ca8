//! The bitcoin plugin's hot path on the real 1.38 MB mainnet block of `shared/data/`, with
//! 1,000,000 watched scripts, against a full decode (`Block::consensus_decode` + `compute_txid`
//! for every transaction). Prints figures only.
//!
//!     cargo bench --workspace   (bench `bitcoin_scan`)

use bitcoincore_rpc::bitcoin::{self, consensus::Decodable};
use paywatch_plugin_api::abi::{self, Bytes, HostVTable};
use paywatch_plugin_api::{CurrencyPlugin, Host};
use paywatch_plugin_bitcoin::Bitcoin;
use std::collections::HashSet;
use std::ffi::c_void;
use std::hash::{BuildHasher, RandomState};
use std::time::Instant;

struct Set {
    seed: RandomState,
    fps: HashSet<u64>,
}

unsafe extern "C" fn log(_: *const c_void, _: u32, _: Bytes) {}
unsafe extern "C" fn is_watched(ctx: *const c_void, key: Bytes) -> bool {
    // SAFETY: ctx is the bench's set; key is valid for the call.
    let (s, key) = unsafe { (&*ctx.cast::<Set>(), key.as_slice()) };
    s.fps.contains(&s.seed.hash_one(key))
}
unsafe extern "C" fn no(_: *const c_void, _: Bytes) -> bool {
    false
}

fn main() {
    let dir = paywatch_tests::workspace_root().join("../shared/data");
    let path = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("mainnet_block_"))
        .unwrap();
    let raw = std::fs::read(path).unwrap();
    let block = bitcoin::Block::consensus_decode(&mut raw.as_slice()).unwrap();
    let mut set = Set { seed: RandomState::new(), fps: HashSet::with_capacity(1_000_010) };
    for i in 0u64..1_000_000 {
        // Random-looking P2WPKH scripts.
        let mut s = vec![0x00, 0x14];
        s.extend_from_slice(&set.seed.hash_one(i).to_le_bytes());
        s.extend_from_slice(&[0u8; 12]);
        set.fps.insert(set.seed.hash_one(&s));
    }
    for tx in block.txdata.iter().step_by(500) {
        set.fps.insert(set.seed.hash_one(tx.output[0].script_pubkey.as_bytes()));
    }
    let vt = HostVTable {
        struct_size: std::mem::size_of::<HostVTable>(),
        abi_major: abi::ABI_MAJOR,
        abi_minor: abi::ABI_MINOR,
        ctx: (&set as *const Set).cast(),
        log,
        is_watched,
        is_watched_spend: no,
    };
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
