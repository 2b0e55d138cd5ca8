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
