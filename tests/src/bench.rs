//! What the benchmarks share: a watch set of 64-bit fingerprints behind a real host vtable
//! (as the daemon's is), and the real mainnet block of `shared/data/`.

use paywatch_plugin_api::abi::{self, Bytes, HostVTable};
use std::collections::HashSet;
use std::ffi::c_void;
use std::hash::{BuildHasher, RandomState};

/// Keyed 64-bit fingerprints, like the daemon's watch set (without the RocksDB confirmation).
#[derive(Debug)]
pub struct FingerprintSet {
    seed: RandomState,
    fps: HashSet<u64>,
}

impl FingerprintSet {
    pub fn with_capacity(n: usize) -> Self {
        Self { seed: RandomState::new(), fps: HashSet::with_capacity(n) }
    }

    pub fn fingerprint(&self, key: &[u8]) -> u64 {
        self.seed.hash_one(key)
    }

    pub fn insert(&mut self, key: &[u8]) {
        let fp = self.fingerprint(key);
        self.fps.insert(fp);
    }

    /// A host vtable whose `is_watched` asks this set; valid while `self` is.
    pub fn host_vtable(&self) -> HostVTable {
        HostVTable {
            struct_size: std::mem::size_of::<HostVTable>(),
            abi_major: abi::ABI_MAJOR,
            abi_minor: abi::ABI_MINOR,
            ctx: (self as *const Self).cast(),
            log,
            is_watched,
            is_watched_spend: no_spend,
        }
    }
}

unsafe extern "C" fn log(_: *const c_void, _: u32, _: Bytes) {}

unsafe extern "C" fn is_watched(ctx: *const c_void, key: Bytes) -> bool {
    // SAFETY: ctx is the FingerprintSet that built the vtable; key is valid for the call.
    let (set, key) = unsafe { (&*ctx.cast::<FingerprintSet>(), key.as_slice()) };
    set.fps.contains(&set.fingerprint(key))
}

unsafe extern "C" fn no_spend(_: *const c_void, _: Bytes) -> bool {
    false
}

/// The raw mainnet block of `shared/data/` (beside the repository, as CI lays it out).
pub fn mainnet_block() -> Vec<u8> {
    let dir = crate::workspace_root().join("../shared/data");
    let file = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|f| f.to_string_lossy().starts_with("mainnet_block_")))
        .unwrap_or_else(|| panic!("no mainnet_block_* in {}", dir.display()));
    std::fs::read(file).expect("read the mainnet block")
}
