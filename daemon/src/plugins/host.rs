//! The host vtable handed to plugin calls: logging into tracing, and the watch set.

use crate::index::{ChainSet, ScanView};
use paywatch_plugin_api::abi::{self, level, Bytes, HostVTable};
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What one call's host functions see. Lives on the caller's stack for the call.
#[derive(Debug)]
pub(crate) struct CallContext<'a> {
    /// The instance's label, e.g. `bitcoin@BTC`, in every log line of the plugin.
    pub(crate) plugin: &'a str,
    /// The chain whose watch set `is_watched` consults (currency plugins).
    pub(crate) watches: Option<&'a ChainSet>,
    /// During scans: the watch set locked once for the whole call.
    pub(crate) view: Option<ScanView<'a>>,
}

impl CallContext<'_> {
    /// The vtable pointing at this context; valid while `self` is.
    pub(crate) fn vtable(&self) -> HostVTable {
        HostVTable {
            struct_size: std::mem::size_of::<HostVTable>(),
            abi_major: abi::ABI_MAJOR,
            abi_minor: abi::ABI_MINOR,
            ctx: (self as *const Self).cast(),
            log: host_log,
            is_watched: host_is_watched,
            is_watched_spend: host_is_watched_spend,
        }
    }
}

/// # Safety
/// `ctx` is the `CallContext` of a call in progress.
unsafe fn ctx<'a>(ctx: *const c_void) -> &'a CallContext<'a> {
    // SAFETY: the host builds the vtable from a live `CallContext` and the plugin may only use
    // it during the call.
    unsafe { &*ctx.cast::<CallContext<'a>>() }
}

unsafe extern "C" fn host_log(c: *const c_void, lvl: u32, msg: Bytes) {
    // A panic must not unwind into the plugin's frames.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: per the ABI, both are valid for the call.
        let (c, msg) = unsafe { (ctx(c), msg.as_slice()) };
        let msg = String::from_utf8_lossy(msg);
        let plugin = c.plugin;
        match lvl {
            level::ERROR => tracing::error!(target: "paywatch::plugin", plugin, "{msg}"),
            level::WARN => tracing::warn!(target: "paywatch::plugin", plugin, "{msg}"),
            level::INFO => tracing::info!(target: "paywatch::plugin", plugin, "{msg}"),
            level::DEBUG => tracing::debug!(target: "paywatch::plugin", plugin, "{msg}"),
            _ => tracing::trace!(target: "paywatch::plugin", plugin, "{msg}"),
        }
    }));
}

unsafe extern "C" fn host_is_watched(c: *const c_void, key: Bytes) -> bool {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: per the ABI, both are valid for the call.
        let (c, key) = unsafe { (ctx(c), key.as_slice()) };
        match &c.view {
            Some(v) => v.is_watched(key),
            None => c.watches.is_some_and(|set| set.is_watched(key)),
        }
    }))
    // If the check itself failed, say "watched": a false match is confirmed later, a missed
    // payment is lost.
    .unwrap_or(true)
}

unsafe extern "C" fn host_is_watched_spend(c: *const c_void, outpoint: Bytes) -> bool {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: per the ABI, both are valid for the call.
        let (c, outpoint) = unsafe { (ctx(c), outpoint.as_slice()) };
        match &c.view {
            Some(v) => v.is_watched_spend(outpoint),
            None => c.watches.is_some_and(|set| set.is_watched_spend(outpoint)),
        }
    }))
    // A spurious report costs a look-up; a missed one hides a replacement.
    .unwrap_or(true)
}
