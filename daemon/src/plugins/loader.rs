//! Loading plugin libraries: check magic, ABI version, struct size, kind and panic strategy
//! before trusting anything else; never unload.

use paywatch_plugin_api::abi::{self, EntryFn, PluginKind, PluginVTable};
use std::path::{Path, PathBuf};
use std::ptr::addr_of;

/// Why a file was refused. Every message names the file and the reason.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    #[error("{path}: cannot load library: {source}")]
    Open { path: PathBuf, source: libloading::Error },
    #[error("{path}: not a paywatch plugin for ABI v{major}: no symbol {symbol} ({source})", major = abi::ABI_MAJOR, symbol = abi::ENTRY_SYMBOL)]
    NoEntry { path: PathBuf, source: libloading::Error },
    #[error("{path}: entry point returned a null or misaligned vtable")]
    BadPointer { path: PathBuf },
    #[error("{path}: wrong magic {found:#018x} (expected {expected:#018x}): not a paywatch plugin", expected = abi::MAGIC)]
    Magic { path: PathBuf, found: u64 },
    #[error("{path}: built for plugin ABI v{found}, this paywatch speaks v{expected}", expected = abi::ABI_MAJOR)]
    AbiVersion { path: PathBuf, found: u32 },
    #[error("{path}: vtable of {found} bytes is smaller than ABI v1's {min}")]
    StructSize { path: PathBuf, found: usize, min: usize },
    #[error("{path}: unknown plugin kind {found}")]
    Kind { path: PathBuf, found: u32 },
    #[error("{path}: plugin {name:?} was built with panic = \"abort\"; a panic in it would kill the daemon: rebuild it with panic = \"unwind\"")]
    PanicAbort { path: PathBuf, name: String },
    #[error("{path}: {what} is not valid UTF-8")]
    BadText { path: PathBuf, what: &'static str },
    #[error("{path}: a null function pointer in the vtable ({field})")]
    NullFn { path: PathBuf, field: &'static str },
    #[error("{path}: another plugin named {name:?} is already loaded from {first}")]
    Duplicate { path: PathBuf, name: String, first: PathBuf },
}

/// The kind of a loaded plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    Currency,
    Platform,
}

/// A checked, loaded plugin library. The library stays loaded for the life of the process.
#[derive(Debug)]
pub(crate) struct Library {
    pub(crate) path: PathBuf,
    pub(crate) kind: Kind,
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) abi: (u32, u32),
    pub(crate) vtable: &'static PluginVTable,
}

/// Loads and checks one library.
pub(crate) fn load(path: &Path) -> Result<Library, LoadError> {
    let p = || path.to_owned();
    // SAFETY: loading runs the library's initializers: we load only files the operator put in
    // the configured plugin directory.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|source| LoadError::Open { path: p(), source })?;
    // SAFETY: the symbol's type is fixed by the ABI; a library exporting this name claims it.
    let entry = unsafe { lib.get::<EntryFn>(abi::ENTRY_SYMBOL.as_bytes()) }
        .map_err(|source| LoadError::NoEntry { path: p(), source })?;
    // SAFETY: as above; the entry takes no arguments and returns a pointer we check below.
    let ptr = unsafe { entry() };
    // Never unload: thread-local destructors of the plugin's std make dlclose unsound.
    std::mem::forget(lib);
    // SAFETY: `check` reads the vtable field by field through raw pointers, validating each
    // before it trusts the next, and only then forms a reference.
    unsafe { check(path, ptr) }
}

/// # Safety
/// `ptr` is the entry point's return value: null or pointing at readable memory.
unsafe fn check(path: &Path, ptr: *const PluginVTable) -> Result<Library, LoadError> {
    let p = || path.to_owned();
    if ptr.is_null() || !ptr.is_aligned() {
        return Err(LoadError::BadPointer { path: p() });
    }
    // SAFETY (all reads below): `ptr` is non-null and aligned, and a library exporting the
    // entry symbol provides at least the leading fields; each field is read as plain data
    // (integers, pointers) before any of it is interpreted.
    let magic = unsafe { addr_of!((*ptr).magic).read() };
    if magic != abi::MAGIC {
        return Err(LoadError::Magic { path: p(), found: magic });
    }
    let major = unsafe { addr_of!((*ptr).abi_major).read() };
    if major != abi::ABI_MAJOR {
        return Err(LoadError::AbiVersion { path: p(), found: major });
    }
    let size = unsafe { addr_of!((*ptr).struct_size).read() };
    let min = std::mem::size_of::<PluginVTable>();
    if size < min {
        return Err(LoadError::StructSize { path: p(), found: size, min });
    }
    let kind = match unsafe { addr_of!((*ptr).kind).read() } {
        PluginKind::CURRENCY => Kind::Currency,
        PluginKind::PLATFORM => Kind::Platform,
        PluginKind(found) => return Err(LoadError::Kind { path: p(), found }),
    };
    let name = unsafe { text(addr_of!((*ptr).name).read()) }.ok_or(LoadError::BadText { path: p(), what: "name" })?;
    let version =
        unsafe { text(addr_of!((*ptr).version).read()) }.ok_or(LoadError::BadText { path: p(), what: "version" })?;
    if unsafe { addr_of!((*ptr).panic_unwind).read() } != 1 {
        return Err(LoadError::PanicAbort { path: p(), name });
    }
    // Function pointers must be non-null before a reference to the vtable may exist.
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
        if unsafe { f.read() } == 0 {
            return Err(LoadError::NullFn { path: p(), field });
        }
    }
    let minor = unsafe { addr_of!((*ptr).abi_minor).read() };
    // SAFETY: every field of the v1 layout was checked above; the library is never unloaded,
    // so the vtable is 'static.
    let vtable: &'static PluginVTable = unsafe { &*ptr };
    Ok(Library { path: p(), kind, name, version, abi: (major, minor), vtable })
}

/// # Safety
/// `s` points at `len` readable bytes (the vtable's `'static` strings).
unsafe fn text(s: abi::StaticStr) -> Option<String> {
    if s.ptr.is_null() || s.len > 256 {
        return None;
    }
    // SAFETY: as the caller guarantees.
    let bytes = unsafe { std::slice::from_raw_parts(s.ptr, s.len) };
    std::str::from_utf8(bytes).ok().filter(|t| !t.is_empty()).map(String::from)
}

/// Plugin files in a directory (by the platform's library suffix), sorted.
pub(crate) fn discover(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == std::env::consts::DLL_EXTENSION))
        .collect();
    files.sort();
    Ok(files)
}
