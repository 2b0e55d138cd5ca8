//! The C ABI: the only things that cross between the daemon and a plugin library.
//!
//! Rules (see the crate docs for the full contract):
//! * only `#[repr(C)]` data and `extern "C"` functions cross; no Rust type does;
//! * the side that allocates a buffer frees it: replies are allocated by the plugin and
//!   released with the plugin's own [`PluginVTable::free_buf`];
//! * [`PluginVTable`] and [`HostVTable`] are append-only within a major version; readers check
//!   `struct_size` before touching a field added after 1.0.

use std::ffi::c_void;

/// First field of every plugin vtable: `b"PAYWATCH"` as a big-endian u64.
pub const MAGIC: u64 = u64::from_be_bytes(*b"PAYWATCH");
/// Incompatible changes bump the major version, which is also in the entry symbol's name.
pub const ABI_MAJOR: u32 = 1;
/// Compatible additions (fields appended to the vtables, methods added) bump the minor version.
pub const ABI_MINOR: u32 = 2;
/// The one symbol a plugin exports: `extern "C" fn() -> &'static PluginVTable`.
pub const ENTRY_SYMBOL: &str = "paywatch_plugin_entry_v1";

/// Type of the entry symbol.
pub type EntryFn = unsafe extern "C" fn() -> *const PluginVTable;

/// Result of a call across the boundary. A plain integer, not an enum: a value from another
/// library is never trusted to be a valid discriminant.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(pub u32);

impl Status {
    /// The reply buffer holds the JSON result.
    pub const OK: Status = Status(0);
    /// The reply buffer holds a JSON [`crate::PluginError`].
    pub const ERROR: Status = Status(1);
    /// The plugin panicked; the reply buffer holds the panic message (UTF-8 text). The host
    /// treats the instance as broken.
    pub const PANIC: Status = Status(2);
}

/// Kind of plugin (a plain integer, for the same reason as [`Status`]).
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginKind(pub u32);

impl PluginKind {
    /// A currency plugin.
    pub const CURRENCY: PluginKind = PluginKind(1);
    /// A platform plugin.
    pub const PLATFORM: PluginKind = PluginKind(2);
    /// A rate-source plugin (since ABI 1.2).
    pub const RATES: PluginKind = PluginKind(3);
}

/// Borrowed bytes: valid for the duration of the call only.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Bytes {
    /// Start of the bytes.
    pub ptr: *const u8,
    /// Their length.
    pub len: usize,
}

impl Bytes {
    /// Borrows a slice for the duration of a call.
    pub fn new(s: &[u8]) -> Self {
        Self { ptr: s.as_ptr(), len: s.len() }
    }

    /// # Safety
    /// `ptr` must point at `len` readable bytes for the lifetime `'a` (or `len` is 0).
    pub unsafe fn as_slice<'a>(&self) -> &'a [u8] {
        if self.len == 0 || self.ptr.is_null() {
            &[]
        } else {
            // SAFETY: the caller guarantees `ptr` points at `len` readable bytes.
            unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
        }
    }
}

/// `'static` UTF-8 text in a vtable (name, version).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct StaticStr {
    /// Start of the UTF-8 bytes.
    pub ptr: *const u8,
    /// Their length.
    pub len: usize,
}

impl StaticStr {
    /// Points at a `'static` string.
    pub const fn new(s: &'static str) -> Self {
        Self { ptr: s.as_ptr(), len: s.len() }
    }
}

/// A buffer allocated by the plugin and handed to the host, which returns it through the
/// plugin's `free_buf`. Never freed by the host's allocator.
#[repr(C)]
#[derive(Debug)]
pub struct OwnedBuf {
    /// Start of the buffer.
    pub ptr: *mut u8,
    /// Bytes used.
    pub len: usize,
    /// Bytes allocated.
    pub cap: usize,
}

impl OwnedBuf {
    /// No buffer (what the host passes in before a call fills it).
    pub const EMPTY: OwnedBuf = OwnedBuf { ptr: std::ptr::null_mut(), len: 0, cap: 0 };

    /// Hands a vector over (plugin side).
    pub fn from_vec(v: Vec<u8>) -> Self {
        let mut v = std::mem::ManuallyDrop::new(v);
        Self { ptr: v.as_mut_ptr(), len: v.len(), cap: v.capacity() }
    }

    /// Takes a buffer back (plugin side, in `free_buf`).
    ///
    /// # Safety
    /// The buffer must come from [`OwnedBuf::from_vec`] in this same library.
    pub unsafe fn into_vec(self) -> Vec<u8> {
        if self.ptr.is_null() {
            return Vec::new();
        }
        // SAFETY: built by `from_vec` with this allocator, not freed since.
        unsafe { Vec::from_raw_parts(self.ptr, self.len, self.cap) }
    }
}

/// Opaque plugin instance.
pub type Instance = *mut c_void;

/// What the plugin's entry symbol returns. `'static`, immutable.
#[repr(C)]
#[derive(Debug)]
pub struct PluginVTable {
    /// [`MAGIC`]; checked before anything else is read.
    pub magic: u64,
    /// [`ABI_MAJOR`] the plugin was built against.
    pub abi_major: u32,
    /// [`ABI_MINOR`] the plugin was built against.
    pub abi_minor: u32,
    /// `size_of::<PluginVTable>()` as the plugin was built: fields past it are absent.
    pub struct_size: usize,
    /// Currency or platform.
    pub kind: PluginKind,
    /// 1 when built with `panic = "unwind"` (`cfg!(panic = "unwind")`); the host refuses 0.
    pub panic_unwind: u8,
    /// The plugin's `NAME`, as the config refers to it.
    pub name: StaticStr,
    /// The plugin's `VERSION`.
    pub version: StaticStr,
    /// Creates an instance from a JSON config. On `Ok`, `*out` is the instance; otherwise
    /// `reply` holds the error.
    pub create: unsafe extern "C" fn(
        config: Bytes,
        host: *const HostVTable,
        out: *mut Instance,
        reply: *mut OwnedBuf,
    ) -> Status,
    /// Destroys an instance made by `create` (once; no call is in progress).
    pub destroy: unsafe extern "C" fn(instance: Instance),
    /// Control-plane call: a method name and a JSON payload; the JSON reply in `reply`.
    pub call: unsafe extern "C" fn(
        instance: Instance,
        method: Bytes,
        payload: Bytes,
        host: *const HostVTable,
        reply: *mut OwnedBuf,
    ) -> Status,
    /// Hot path (currency plugins): scan raw bytes (`what` = [`SCAN_BLOCK`] or [`SCAN_TX`]),
    /// asking `host.is_watched` per output; only the matches come back, as JSON.
    pub scan: unsafe extern "C" fn(
        instance: Instance,
        what: u32,
        raw: Bytes,
        host: *const HostVTable,
        reply: *mut OwnedBuf,
    ) -> Status,
    /// Frees a reply buffer this plugin allocated.
    pub free_buf: unsafe extern "C" fn(buf: OwnedBuf),
}

/// `scan` of a whole block in the chain's wire format.
pub const SCAN_BLOCK: u32 = 1;
/// `scan` of one transaction in the chain's wire format.
pub const SCAN_TX: u32 = 2;

// SAFETY: the vtable is immutable `'static` data: plain function pointers and pointers to
// `'static` strings.
unsafe impl Sync for PluginVTable {}
// SAFETY: as above: nothing in it is tied to a thread.
unsafe impl Send for PluginVTable {}

/// Log levels of [`HostVTable::log`].
pub mod level {
    /// Errors the operator must see.
    pub const ERROR: u32 = 1;
    /// Problems the plugin worked around.
    pub const WARN: u32 = 2;
    /// Normal operation (sparingly).
    pub const INFO: u32 = 3;
    /// Detail for debugging.
    pub const DEBUG: u32 = 4;
    /// Everything.
    pub const TRACE: u32 = 5;
}

/// What the host offers a plugin during a call. Valid for the duration of the call only
/// (and of `create`); a plugin must not keep the pointer.
#[repr(C)]
#[derive(Debug)]
pub struct HostVTable {
    /// `size_of::<HostVTable>()` as the host was built.
    pub struct_size: usize,
    /// [`ABI_MAJOR`] the host was built against.
    pub abi_major: u32,
    /// [`ABI_MINOR`] the host was built against.
    pub abi_minor: u32,
    /// Host context passed back as the first argument of every function below.
    pub ctx: *const c_void,
    /// A log line in the daemon's tracing output, attributed to the plugin.
    pub log: unsafe extern "C" fn(ctx: *const c_void, level: u32, msg: Bytes),
    /// Whether a canonical key is watched on the chain this call is about (may return a
    /// false positive on a fingerprint collision; the host confirms matches).
    pub is_watched: unsafe extern "C" fn(ctx: *const c_void, key: Bytes) -> bool,
    /// Whether a transaction spending this outpoint matters to the host (see
    /// [`crate::Host::is_watched_spend`]). An empty `outpoint` asks whether any outpoint is
    /// watched at all, so a scanner can skip the per-input questions of a whole block.
    pub is_watched_spend: unsafe extern "C" fn(ctx: *const c_void, outpoint: Bytes) -> bool,
}
