//! For plugin authors' unit tests: a host that logs nothing and watches nothing.

use crate::abi::{self, Bytes, HostVTable};
use std::ffi::c_void;

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

/// A host watching exactly the keys in `set` (and, per the ABI, the outpoints in it for
/// `is_watched_spend`). The vtable borrows `set`: keep it alive while the vtable is used.
pub fn watching_host_vtable(set: &std::collections::HashSet<Vec<u8>>) -> HostVTable {
    unsafe extern "C" fn watched(ctx: *const c_void, key: Bytes) -> bool {
        // SAFETY: ctx is the caller's set (alive per the contract above), key valid for the call.
        unsafe { (*ctx.cast::<std::collections::HashSet<Vec<u8>>>()).contains(key.as_slice()) }
    }
    unsafe extern "C" fn spend(ctx: *const c_void, outpoint: Bytes) -> bool {
        // SAFETY: as above.
        let (set, o) = unsafe { (&*ctx.cast::<std::collections::HashSet<Vec<u8>>>(), outpoint.as_slice()) };
        if o.is_empty() {
            !set.is_empty()
        } else {
            set.contains(o)
        }
    }
    HostVTable {
        ctx: (set as *const std::collections::HashSet<Vec<u8>>).cast(),
        is_watched: watched,
        is_watched_spend: spend,
        ..noop_host_vtable()
    }
}
