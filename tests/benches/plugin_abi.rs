//! The cost of the plugin ABI (release builds of host and plugin). Prints figures only.
//!
//!     cargo bench -p paywatch-tests --bench plugin_abi
//!
//! * control-plane `call` with a ~1 KB JSON payload: calls/s;
//! * `scan_block` on the real 1.38 MB mainnet block in `shared/data/`, through the C ABI
//!   (loaded `.so`, vtable call, host vtable, JSON reply) versus the same scanner linked in and
//!   called directly. The scanner is the fixture's (it asks `is_watched` for every 20-byte
//!   chunk: ~69,000 host callbacks per block, more than a block has outputs); the watch set has
//!   1,000,000 fingerprints.

use paywatch_plugin_api::abi::{self, Bytes, HostVTable, OwnedBuf, PluginVTable, SCAN_BLOCK};
use paywatch_plugin_api::{CurrencyPlugin, Host};
use paywatch_plugin_fixture::Fixture;
use std::collections::HashSet;
use std::ffi::c_void;
use std::hash::{BuildHasher, RandomState};
use std::path::PathBuf;
use std::time::Instant;

struct WatchSet {
    seed: RandomState,
    fps: HashSet<u64>,
}

unsafe extern "C" fn log(_: *const c_void, _: u32, _: Bytes) {}

unsafe extern "C" fn is_watched(ctx: *const c_void, key: Bytes) -> bool {
    // SAFETY: ctx is the bench's WatchSet, key valid for the call.
    let (set, key) = unsafe { (&*ctx.cast::<WatchSet>(), key.as_slice()) };
    set.fps.contains(&set.seed.hash_one(key))
}

unsafe extern "C" fn no_spend(_: *const c_void, _: Bytes) -> bool {
    false
}

fn host(set: &WatchSet) -> HostVTable {
    HostVTable {
        struct_size: std::mem::size_of::<HostVTable>(),
        abi_major: abi::ABI_MAJOR,
        abi_minor: abi::ABI_MINOR,
        ctx: (set as *const WatchSet).cast(),
        log,
        is_watched,
        is_watched_spend: no_spend,
    }
}

fn plugin_file() -> PathBuf {
    let script = paywatch_tests::workspace_root().join("scripts/build-plugins.sh");
    let out = std::process::Command::new("bash").arg(&script).arg("--release").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()).join("fixtures/fixture.so")
}

fn block() -> Vec<u8> {
    let dir = paywatch_tests::workspace_root().join("../shared/data");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("mainnet_block_"))
        .expect("a mainnet block in shared/data");
    std::fs::read(file).unwrap()
}

fn main() {
    let raw = block();
    let mut set = WatchSet { seed: RandomState::new(), fps: HashSet::with_capacity(1_000_000) };
    for i in 0u64..1_000_000 {
        set.fps.insert(set.seed.hash_one(i.to_le_bytes()));
    }
    // Plant three real chunks of the block so the scans return matches.
    for at in [0usize, 20 * 1000, 20 * 50_000] {
        set.fps.insert(set.seed.hash_one(&raw[at..at + 20]));
    }
    let hvt = host(&set);

    // SAFETY: the fixture is a paywatch plugin built by this repository.
    let lib = unsafe { libloading::Library::new(plugin_file()) }.unwrap();
    let entry = unsafe { lib.get::<abi::EntryFn>(abi::ENTRY_SYMBOL.as_bytes()) }.unwrap();
    let vt: &PluginVTable = unsafe { &*entry() };
    let mut inst: abi::Instance = std::ptr::null_mut();
    let mut reply = OwnedBuf::EMPTY;
    let cfg = b"{}";
    assert_eq!(unsafe { (vt.create)(Bytes::new(cfg), &hvt, &mut inst, &mut reply) }, abi::Status::OK);
    unsafe { (vt.free_buf)(reply) };

    let call = |method: &[u8], payload: &[u8], what: Option<u32>| -> usize {
        let mut reply = OwnedBuf::EMPTY;
        let status = unsafe {
            match what {
                Some(w) => (vt.scan)(inst, w, Bytes::new(payload), &hvt, &mut reply),
                None => (vt.call)(inst, Bytes::new(method), Bytes::new(payload), &hvt, &mut reply),
            }
        };
        assert_eq!(status, abi::Status::OK);
        let n = reply.len;
        unsafe { (vt.free_buf)(reply) };
        n
    };

    // Control plane: parse_address with a ~1 KB payload (the fixture echoes it back, ~3 KB reply).
    let payload = serde_json::to_vec(&serde_json::json!({"address": "a".repeat(1000)})).unwrap();
    let n = 200_000;
    let t = Instant::now();
    for _ in 0..n {
        call(b"parse_address", &payload, None);
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
    let through_abi = |raw: &[u8]| call(b"", raw, Some(SCAN_BLOCK));
    let direct = Fixture::create(serde_json::json!({}), &Host::new(&hvt)).unwrap();
    let h = Host::new(&hvt);
    let (m1, m2) = (through_abi(&raw), direct.scan_block(&raw, &h).unwrap().matches.len());
    assert!(m1 > 0 && m2 == 3, "planted matches found");
    let time = |f: &dyn Fn()| {
        f();
        let t = Instant::now();
        for _ in 0..rounds {
            f();
        }
        t.elapsed().as_secs_f64() / rounds as f64 * 1e3
    };
    let abi_ms = time(&|| {
        through_abi(&raw);
    });
    let direct_ms = time(&|| {
        direct.scan_block(&raw, &h).unwrap();
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
    unsafe { (vt.destroy)(inst) };
}
