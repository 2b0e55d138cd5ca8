//! For plugin authors' tests: hosts to scan against, and (feature `conformance`) a harness that
//! drives a plugin through its exported C ABI plus the conformance checks the daemon's
//! `paywatch plugins check` runs.
//!
//! * [`TestHost`]: watches the keys and outpoints you give it, records the plugin's log lines
//!   and counts the host calls a scan makes (a keys-only host answers "no watched spends", as
//!   the daemon does when nothing is pending).
//! * [`noop_host_vtable`]: a bare vtable that watches nothing, for code that builds a
//!   [`crate::Host`] itself.
//! * `harness` (feature `conformance`): [`PluginLib`](harness::PluginLib) loads a built library
//!   (or takes the `PAYWATCH_PLUGIN` the export macros define, for in-crate tests) and
//!   checks it exactly as the daemon does; [`Instance`](harness::Instance) calls it safely.
//! * `conformance` (feature `conformance`): the checks per chain kind, over real data
//!   ([`fixtures`]), returning a [`Report`](conformance::Report).

use crate::abi::{self, Bytes, HostVTable};
use crate::host::Host;
use std::collections::HashSet;
use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "conformance")]
pub mod fixtures;
#[cfg(feature = "conformance")]
pub mod harness;

unsafe extern "C" fn log(_: *const c_void, _: u32, _: Bytes) {}

unsafe extern "C" fn nothing(_: *const c_void, _: Bytes) -> bool {
    false
}

/// A host vtable whose `is_watched` and `is_watched_spend` always say no. Wrap it with
/// [`crate::Host::new`].
pub fn noop_host_vtable() -> HostVTable {
    HostVTable {
        struct_size: std::mem::size_of::<HostVTable>(),
        abi_major: abi::ABI_MAJOR,
        abi_minor: abi::ABI_MINOR,
        ctx: std::ptr::null(),
        log,
        is_watched: nothing,
        is_watched_spend: nothing,
    }
}

/// A host for tests: watched keys, watched outpoints, the plugin's log lines and how often
/// the plugin asked.
///
/// ```
/// use paywatch_plugin_api::testing::TestHost;
/// let host = TestHost::new();
/// host.watch_key(b"\x00\x14key".to_vec());
/// assert!(host.host().is_watched(b"\x00\x14key"));
/// assert!(!host.host().has_watched_spends()); // keys only: no spend questions needed
/// assert_eq!(host.watched_calls(), 1);
/// ```
#[derive(Debug)]
pub struct TestHost {
    // Owned through a raw pointer (from `Box::into_raw`, freed in `Drop`): the vtable's `ctx`
    // points at it, so it must neither move nor be reborrowed uniquely while `ctx` is live.
    inner: std::ptr::NonNull<Inner>,
    vt: HostVTable,
}

impl Drop for TestHost {
    fn drop(&mut self) {
        // SAFETY: `inner` came from `Box::into_raw` in `new` and is freed only here.
        drop(unsafe { Box::from_raw(self.inner.as_ptr()) });
    }
}

#[derive(Debug, Default)]
struct Inner {
    keys: RwLock<HashSet<Vec<u8>>>,
    outpoints: RwLock<HashSet<Vec<u8>>>,
    logs: Mutex<Vec<(u32, String)>>,
    watched_calls: AtomicU64,
    spend_calls: AtomicU64,
}

impl Default for TestHost {
    fn default() -> Self {
        Self::new()
    }
}

impl TestHost {
    /// Watches nothing.
    pub fn new() -> Self {
        let inner = std::ptr::NonNull::from(Box::leak(Box::<Inner>::default()));
        let vt = HostVTable {
            ctx: inner.as_ptr().cast_const().cast(),
            log: test_log,
            is_watched: test_is_watched,
            is_watched_spend: test_is_watched_spend,
            ..noop_host_vtable()
        };
        Self { inner, vt }
    }

    /// Watches exactly these keys, and no outpoints.
    pub fn with_keys(keys: impl IntoIterator<Item = Vec<u8>>) -> Self {
        let h = Self::new();
        write(&h.inner().keys).extend(keys);
        h
    }

    fn inner(&self) -> &Inner {
        // SAFETY: alive until `Drop`; only ever shared (all mutation is behind locks/atomics).
        unsafe { self.inner.as_ref() }
    }

    /// Watches a canonical key (what `is_watched` is asked).
    pub fn watch_key(&self, key: Vec<u8>) -> &Self {
        write(&self.inner().keys).insert(key);
        self
    }

    /// Watches an outpoint in the chain's serialization (what `is_watched_spend` is asked).
    pub fn watch_outpoint(&self, outpoint: Vec<u8>) -> &Self {
        write(&self.inner().outpoints).insert(outpoint);
        self
    }

    /// The host as a plugin sees it.
    pub fn host(&self) -> Host<'_> {
        Host::new(&self.vt)
    }

    /// The vtable, for calls through the C ABI (the harness). Not public: its callbacks
    /// dereference `ctx`, so a copy that outlived `self` or carried another `ctx` would be
    /// unsound through the safe [`Host::new`].
    #[cfg(feature = "conformance")]
    pub(crate) fn vtable(&self) -> &HostVTable {
        &self.vt
    }

    /// Every log line so far: `(level, message)`.
    pub fn logs(&self) -> Vec<(u32, String)> {
        self.inner().logs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// How many times `is_watched` was asked.
    pub fn watched_calls(&self) -> u64 {
        self.inner().watched_calls.load(Ordering::Relaxed)
    }

    /// How many times `is_watched_spend` was asked (the "any at all?" question included).
    pub fn spend_calls(&self) -> u64 {
        self.inner().spend_calls.load(Ordering::Relaxed)
    }

    /// Sets both call counters back to zero.
    pub fn reset_counts(&self) {
        let inner = self.inner();
        inner.watched_calls.store(0, Ordering::Relaxed);
        inner.spend_calls.store(0, Ordering::Relaxed);
    }
}

fn write(set: &RwLock<HashSet<Vec<u8>>>) -> std::sync::RwLockWriteGuard<'_, HashSet<Vec<u8>>> {
    set.write().unwrap_or_else(|p| p.into_inner())
}

fn read(set: &RwLock<HashSet<Vec<u8>>>) -> std::sync::RwLockReadGuard<'_, HashSet<Vec<u8>>> {
    set.read().unwrap_or_else(|p| p.into_inner())
}

/// # Safety
/// `ctx` is the `Inner` of a live [`TestHost`] (the vtable is only handed out by reference).
unsafe fn inner<'a>(ctx: *const c_void) -> &'a Inner {
    // SAFETY: as the caller guarantees.
    unsafe { &*ctx.cast::<Inner>() }
}

unsafe extern "C" fn test_log(ctx: *const c_void, level: u32, msg: Bytes) {
    // SAFETY: per the ABI, both are valid for the call.
    let (inner, msg) = unsafe { (inner(ctx), msg.as_slice()) };
    let line = String::from_utf8_lossy(msg).into_owned();
    inner.logs.lock().unwrap_or_else(|p| p.into_inner()).push((level, line));
}

unsafe extern "C" fn test_is_watched(ctx: *const c_void, key: Bytes) -> bool {
    // SAFETY: per the ABI, both are valid for the call.
    let (inner, key) = unsafe { (inner(ctx), key.as_slice()) };
    inner.watched_calls.fetch_add(1, Ordering::Relaxed);
    read(&inner.keys).contains(key)
}

unsafe extern "C" fn test_is_watched_spend(ctx: *const c_void, outpoint: Bytes) -> bool {
    // SAFETY: per the ABI, both are valid for the call.
    let (inner, outpoint) = unsafe { (inner(ctx), outpoint.as_slice()) };
    inner.spend_calls.fetch_add(1, Ordering::Relaxed);
    let set = read(&inner.outpoints);
    if outpoint.is_empty() {
        !set.is_empty()
    } else {
        set.contains(outpoint)
    }
}
