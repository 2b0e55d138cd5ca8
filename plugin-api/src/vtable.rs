//! Checking a plugin's vtable before trusting it: the host side of loading, shared by the
//! daemon's loader and the conformance harness so both refuse exactly the same libraries.

use crate::abi::{self, PluginKind, PluginVTable, StaticStr};
use std::ptr::addr_of;

/// Why a vtable is refused. Messages are lowercase and name the offending value; the caller
/// adds the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VTableError {
    /// The entry point returned null or a misaligned pointer.
    #[error("entry point returned a null or misaligned vtable")]
    BadPointer,
    /// The first field is not [`abi::MAGIC`].
    #[error("wrong magic {found:#018x} (expected {expected:#018x}): not a paywatch plugin", expected = abi::MAGIC)]
    Magic {
        /// The value found.
        found: u64,
    },
    /// Built for another major version of the ABI.
    #[error("built for plugin ABI v{found}, this paywatch speaks v{expected}", expected = abi::ABI_MAJOR)]
    AbiVersion {
        /// The plugin's major version.
        found: u32,
    },
    /// `struct_size` is smaller than the v1 layout.
    #[error("vtable of {found} bytes is smaller than ABI v1's {min}")]
    StructSize {
        /// The plugin's `struct_size`.
        found: usize,
        /// [`V1_0_STRUCT_SIZE`].
        min: usize,
    },
    /// Neither currency nor platform.
    #[error("unknown plugin kind {found}")]
    Kind {
        /// The raw kind.
        found: u32,
    },
    /// Built with `panic = "abort"`.
    #[error("plugin {name:?} was built with panic = \"abort\"; a panic in it would kill the daemon: rebuild it with panic = \"unwind\" (set it in the [profile] of the workspace root's Cargo.toml)")]
    PanicAbort {
        /// The plugin's name.
        name: String,
    },
    /// Name or version is empty, longer than 256 bytes or not UTF-8.
    #[error("{what} is not valid UTF-8 text of 1 to 256 bytes")]
    BadText {
        /// `name` or `version`.
        what: &'static str,
    },
    /// A function pointer is null.
    #[error("a null function pointer in the vtable ({field})")]
    NullFn {
        /// The vtable field.
        field: &'static str,
    },
}

/// The size of ABI 1.0's vtable (through `free_buf`): what every v1 plugin provides. Fields
/// appended in later minor versions are read only when a plugin's `struct_size` covers them,
/// so a newer host keeps loading older plugins.
pub const V1_0_STRUCT_SIZE: usize = std::mem::offset_of!(PluginVTable, free_buf) + std::mem::size_of::<usize>();

/// A vtable that passed every check of [`validate`].
#[derive(Debug, Clone, Copy)]
pub struct Checked {
    /// The vtable, usable for the life of the loaded library.
    pub vtable: &'static PluginVTable,
    /// Currency or platform.
    pub kind: PluginKind,
    /// The plugin's `NAME`.
    pub name: &'static str,
    /// The plugin's `VERSION`.
    pub version: &'static str,
    /// `(major, minor)` of the ABI the plugin was built against.
    pub abi: (u32, u32),
}

/// Checks an entry point's vtable field by field (magic, ABI major, struct size, kind, name,
/// version, panic strategy, non-null functions) before forming a reference to it.
///
/// # Safety
/// `ptr` is the return value of a library's [`abi::ENTRY_SYMBOL`]: null, or pointing at
/// readable memory holding at least the leading fields of a vtable, and the library stays
/// loaded for the rest of the process (the returned references are `'static`).
pub unsafe fn validate(ptr: *const PluginVTable) -> Result<Checked, VTableError> {
    if ptr.is_null() || !ptr.is_aligned() {
        return Err(VTableError::BadPointer);
    }
    // SAFETY: (this read and those below) `ptr` is non-null and aligned, and a library
    // exporting the entry symbol provides at least the leading fields; each field is read as
    // plain data (integers, pointers) before any of it is interpreted.
    let magic = unsafe { addr_of!((*ptr).magic).read() };
    if magic != abi::MAGIC {
        return Err(VTableError::Magic { found: magic });
    }
    // SAFETY: as above.
    let major = unsafe { addr_of!((*ptr).abi_major).read() };
    if major != abi::ABI_MAJOR {
        return Err(VTableError::AbiVersion { found: major });
    }
    // SAFETY: as above.
    let size = unsafe { addr_of!((*ptr).struct_size).read() };
    if size < V1_0_STRUCT_SIZE {
        return Err(VTableError::StructSize { found: size, min: V1_0_STRUCT_SIZE });
    }
    // SAFETY: as above.
    let kind = match unsafe { addr_of!((*ptr).kind).read() } {
        k @ (PluginKind::CURRENCY | PluginKind::PLATFORM | PluginKind::RATES) => k,
        PluginKind(found) => return Err(VTableError::Kind { found }),
    };
    // SAFETY: as above; `text` checks the pointer, the length and the encoding.
    let name = unsafe { text(addr_of!((*ptr).name).read()) }.ok_or(VTableError::BadText { what: "name" })?;
    // SAFETY: as above.
    let version = unsafe { text(addr_of!((*ptr).version).read()) }.ok_or(VTableError::BadText { what: "version" })?;
    // SAFETY: as above.
    if unsafe { addr_of!((*ptr).panic_unwind).read() } != 1 {
        return Err(VTableError::PanicAbort { name: name.to_string() });
    }
    // Function pointers must be non-null before a reference to the vtable may exist.
    // SAFETY: as above; read as plain words.
    let fns: [(&'static str, *const usize); 5] = unsafe {
        [
            ("create", addr_of!((*ptr).create).cast()),
            ("destroy", addr_of!((*ptr).destroy).cast()),
            ("call", addr_of!((*ptr).call).cast()),
            ("scan", addr_of!((*ptr).scan).cast()),
            ("free_buf", addr_of!((*ptr).free_buf).cast()),
        ]
    };
    for (field, f) in fns {
        // SAFETY: as above.
        if unsafe { f.read() } == 0 {
            return Err(VTableError::NullFn { field });
        }
    }
    // SAFETY: as above.
    let minor = unsafe { addr_of!((*ptr).abi_minor).read() };
    // SAFETY: every field of the v1 layout was checked above; the caller keeps the library
    // loaded, so the vtable is 'static.
    let vtable: &'static PluginVTable = unsafe { &*ptr };
    Ok(Checked { vtable, kind, name, version, abi: (major, minor) })
}

/// Copies a reply the plugin allocated and hands the buffer back to the plugin's own
/// `free_buf` (the side that allocates frees). Host side, after every call.
///
/// # Safety
/// `reply` was filled by a call through `vt` (or is [`abi::OwnedBuf::EMPTY`]) and is not used
/// again.
pub unsafe fn take_reply(vt: &PluginVTable, reply: abi::OwnedBuf) -> Vec<u8> {
    let bytes = if reply.ptr.is_null() || reply.len == 0 {
        Vec::new()
    } else {
        // SAFETY: the plugin filled `reply` with a buffer of `len` bytes.
        unsafe { std::slice::from_raw_parts(reply.ptr, reply.len) }.to_vec()
    };
    // SAFETY: the buffer came from this plugin and is returned once.
    unsafe { (vt.free_buf)(reply) };
    bytes
}

/// # Safety
/// `s` comes from a vtable that stays loaded: null, or pointing at `len` readable bytes.
unsafe fn text(s: StaticStr) -> Option<&'static str> {
    if s.ptr.is_null() || s.len == 0 || s.len > 256 {
        return None;
    }
    // SAFETY: as the caller guarantees.
    let bytes = unsafe { std::slice::from_raw_parts(s.ptr, s.len) };
    std::str::from_utf8(bytes).ok()
}
