//! Loading plugin libraries: check magic, ABI version, struct size, kind and panic strategy
//! before trusting anything else; never unload.

use super::files::{FileError, Opened};
use paywatch_plugin_api::abi::{self, EntryFn, PluginKind, PluginVTable};
use paywatch_plugin_api::vtable::{self, VTableError};
use std::path::{Path, PathBuf};

/// Why a file was refused. Every message names the file and the reason.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    #[error("{path}: cannot load library: {source}")]
    Open { path: PathBuf, source: libloading::Error },
    #[error("{path}: not a paywatch plugin for ABI v{major}: no symbol {symbol} ({source})", major = abi::ABI_MAJOR, symbol = abi::ENTRY_SYMBOL)]
    NoEntry { path: PathBuf, source: libloading::Error },
    #[error("{path}: {source}")]
    Refused { path: PathBuf, source: VTableError },
    /// Not opened, or not loaded, before its code could run: see `files.rs`.
    #[error(transparent)]
    File(#[from] FileError),
    /// Loaded (its initializers ran), but it is another plugin than the config names.
    #[error("{path}: the config names plugin {configured:?}, but this file is plugin {actual:?} (name its file in [plugins.files], or fix the name)")]
    NameMismatch { path: PathBuf, configured: String, actual: String },
}

/// The kind of a loaded plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    Currency,
    Platform,
    Rates,
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

/// Loads a file opened by `files::open` (checked, hashed, pinned) through its open
/// descriptor, then checks it is the plugin `name`.
pub(crate) fn load_opened(opened: Opened, name: &str) -> Result<Library, LoadError> {
    let lib = load_from(&opened.load_path(), &opened.path);
    opened.keep();
    let lib = lib?;
    if lib.name != name {
        return Err(LoadError::NameMismatch { path: lib.path, configured: name.to_string(), actual: lib.name });
    }
    Ok(lib)
}

/// Loads and checks one library (`paywatch plugins check FILE`: the file the operator named).
pub(crate) fn load(path: &Path) -> Result<Library, LoadError> {
    load_from(path, path)
}

/// Loads the library at `open` (which may be `/proc/self/fd/N`), known as `path`.
fn load_from(open: &Path, path: &Path) -> Result<Library, LoadError> {
    let p = || path.to_owned();
    // SAFETY: loading runs the library's initializers: we load only files the operator named
    // (a configured plugin's file in plugins.dir, checked by `files::open`, or the file given
    // to `plugins check`).
    let lib = unsafe { libloading::Library::new(open) }.map_err(|source| LoadError::Open { path: p(), source })?;
    // SAFETY: the symbol's type is fixed by the ABI; a library exporting this name claims it.
    let entry = unsafe { lib.get::<EntryFn>(abi::ENTRY_SYMBOL.as_bytes()) }
        .map_err(|source| LoadError::NoEntry { path: p(), source })?;
    // SAFETY: as above; the entry takes no arguments and returns a pointer we check below.
    let ptr = unsafe { entry() };
    // Never unload: thread-local destructors of the plugin's std make dlclose unsound.
    std::mem::forget(lib);
    // SAFETY: the library is never unloaded (above) and `ptr` is its entry point's return value;
    // `validate` reads the vtable field by field, checking each before trusting the next.
    let c = unsafe { vtable::validate(ptr) }.map_err(|source| LoadError::Refused { path: p(), source })?;
    let kind = match c.kind {
        PluginKind::CURRENCY => Kind::Currency,
        PluginKind::RATES => Kind::Rates,
        _ => Kind::Platform,
    };
    Ok(Library {
        path: p(),
        kind,
        name: c.name.to_string(),
        version: c.version.to_string(),
        abi: c.abi,
        vtable: c.vtable,
    })
}

/// Plugin files in a directory (by the platform's library suffix), sorted. Listed, never
/// loaded: only configured plugins are (`Registry::load`).
pub(crate) fn discover(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == std::env::consts::DLL_EXTENSION))
        .collect();
    files.sort();
    Ok(files)
}
