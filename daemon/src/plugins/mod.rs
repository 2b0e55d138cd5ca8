//! Plugins: loading and checking libraries (`loader`), the host side of calls (`host`), and
//! supervised instances (`instance`). The only module that crosses the C ABI.

mod check;
mod files;
mod host;
mod instance;
mod loader;
mod trust;

pub use check::{check_file, CheckOptions, Checked};
pub(crate) use host::CallContext;
pub(crate) use instance::{CallError, PluginInstance};
pub(crate) use loader::{load, Kind, Library};

use crate::health::{Health, Kind as HealthKind, Status};
pub(crate) use files::Wanted;
use loader::LoadError;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The plugins the config uses: those that loaded, and those refused with why.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    loaded: Vec<Arc<Library>>,
    refused: Vec<(String, LoadError)>,
}

impl Registry {
    /// Loads the plugins `wanted` from `dir`, and nothing else: each one's file (by
    /// `files::locate`) is checked, hashed against its pin, loaded through its open file and
    /// checked to be that plugin. A refused plugin is reported, not fatal here: the caller
    /// fails on the first plugin it needs ([`Registry::refusal`]).
    pub(crate) fn load(dir: &Path, wanted: &[Wanted]) -> std::io::Result<Self> {
        let canonical = checked_dir(dir)?;
        let mut reg = Registry::default();
        for w in wanted {
            match load_one(&canonical, w) {
                Ok(lib) => reg.loaded.push(Arc::new(lib)),
                Err(e) => reg.refused.push((w.name.clone(), e)),
            }
        }
        Ok(reg)
    }

    /// Why plugin `name` did not load, if it was asked for and refused.
    pub(crate) fn refusal(&self, name: &str) -> Option<&LoadError> {
        self.refused.iter().find(|(n, _)| n == name).map(|(_, e)| e)
    }

    /// Every loaded library of a kind.
    pub(crate) fn all(&self, kind: Kind) -> impl Iterator<Item = &Arc<Library>> {
        self.loaded.iter().filter(move |l| l.kind == kind)
    }

    pub(crate) fn get(&self, kind: Kind, name: &str) -> Option<Arc<Library>> {
        self.loaded.iter().find(|l| l.kind == kind && l.name == name).cloned()
    }

    /// Why plugin `name` is not there as a `kind` plugin: its refusal, or its other kind.
    pub(crate) fn why_missing(&self, name: &str, kind: Kind) -> String {
        match (self.refusal(name), self.get_any(name)) {
            (Some(e), _) => e.to_string(),
            (None, Some(l)) if l.kind != kind => format!("it is a {} plugin", kind_name(l.kind)),
            _ => "it was not asked for".into(),
        }
    }

    fn get_any(&self, name: &str) -> Option<&Arc<Library>> {
        self.loaded.iter().find(|l| l.name == name)
    }

    /// Logs and records in `/health` what loaded and what was refused.
    pub(crate) fn report_health(&self, health: &Health) {
        for l in &self.loaded {
            tracing::info!(plugin = %l.name, version = %l.version, kind = ?l.kind, path = %l.path.display(), "plugin loaded");
            health.set(
                HealthKind::Plugin,
                &l.name,
                Status::Ok,
                format!("{} loaded from {}", l.version, l.path.display()),
            );
        }
        for (name, e) in &self.refused {
            tracing::error!("plugin {name} refused: {e}");
            health.set(HealthKind::Plugin, name, Status::Degraded, format!("refused: {e}"));
        }
    }
}

/// The canonical plugin directory, refused if others could put code in it.
fn checked_dir(dir: &Path) -> std::io::Result<PathBuf> {
    let canonical = trust::canonical(dir)?;
    match trust::unsafe_dir(&canonical) {
        Some(why) => Err(std::io::Error::new(std::io::ErrorKind::PermissionDenied, why)),
        None => Ok(canonical),
    }
}

fn load_one(dir: &Path, w: &Wanted) -> Result<Library, LoadError> {
    let path = files::locate(dir, w)?;
    let opened = files::open(dir, &path, &w.name, w.sha256.as_deref())?;
    loader::load_opened(opened, &w.name)
}

/// What `paywatch plugins list` prints per file of the directory.
#[derive(Debug, Clone, Serialize)]
pub struct PluginListing {
    pub file: PathBuf,
    /// The configured plugin this file is (by `[plugins.files]` or the name rule).
    pub configured_as: Option<String>,
    /// Why this file is not trusted (never opened), if it is not.
    pub untrusted: Option<String>,
    /// Its SHA-256, for `[plugins.sha256]` (trusted files only).
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<Kind>,
    pub name: Option<String>,
    pub version: Option<String>,
    pub abi: Option<String>,
    pub loaded: bool,
    /// Why a configured plugin was refused.
    pub error: Option<String>,
}

impl PluginListing {
    pub fn kind(&self) -> Option<&'static str> {
        self.kind.map(kind_name)
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Currency => "currency",
        Kind::Platform => "platform",
        Kind::Rates => "rates",
    }
}

/// `paywatch plugins list`: every library file of `dir` with its trust verdict and hash, and
/// the configured plugins `wanted` loaded as `run` loads them (their name, version, ABI, or
/// why they were refused). A file no configured plugin uses is never loaded. A configured
/// plugin without a file is a row without a file name.
pub(crate) fn list(dir: &Path, wanted: &[Wanted]) -> std::io::Result<Vec<PluginListing>> {
    let canonical = checked_dir(dir)?;
    let reg = Registry::load(dir, wanted)?;
    let mut rows = Vec::new();
    let mut claimed = Vec::new();
    for w in wanted {
        let path = files::locate(&canonical, w).ok();
        claimed.extend(path.clone());
        let mut row = row(path.unwrap_or_default(), &canonical);
        row.configured_as = Some(w.name.clone());
        match reg.get_any(&w.name) {
            Some(l) => {
                row.kind = Some(l.kind);
                row.name = Some(l.name.clone());
                row.version = Some(l.version.clone());
                row.abi = Some(format!("{}.{}", l.abi.0, l.abi.1));
                row.loaded = true;
            }
            None => row.error = reg.refusal(&w.name).map(ToString::to_string),
        }
        rows.push(row);
    }
    for path in loader::discover(&canonical)?.into_iter().filter(|p| !claimed.contains(p)) {
        rows.push(row(path, &canonical));
    }
    rows.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(rows)
}

/// A file's row before any loading: its trust verdict and hash.
fn row(file: PathBuf, dir: &Path) -> PluginListing {
    let (untrusted, sha256) = if file.as_os_str().is_empty() {
        (None, None)
    } else {
        match files::open(dir, &file, "", None) {
            Ok(o) => (None, Some(o.sha256)),
            Err(e) => (Some(e.to_string()), None),
        }
    };
    PluginListing {
        file,
        configured_as: None,
        untrusted,
        sha256,
        kind: None,
        name: None,
        version: None,
        abi: None,
        loaded: false,
        error: None,
    }
}

/// `paywatch plugins hash`: the `[plugins.sha256]` line of each configured plugin's file
/// (`NAME = "HEX"`), or why its file cannot be hashed. Nothing is loaded.
pub(crate) fn pin_lines(dir: &Path, wanted: &[Wanted]) -> std::io::Result<Vec<Result<String, String>>> {
    let canonical = checked_dir(dir)?;
    Ok(wanted
        .iter()
        .map(|w| {
            let path = files::locate(&canonical, w).map_err(|e| e.to_string())?;
            let o = files::open(&canonical, &path, &w.name, None).map_err(|e| e.to_string())?;
            let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            Ok(format!("{} = \"{}\"  # {file}", toml_key(&w.name), o.sha256))
        })
        .collect())
}

/// The SHA-256 of a file, as `sha256sum` prints it (`paywatch plugins hash FILE`).
pub fn file_hash(path: &Path) -> std::io::Result<String> {
    files::hash(&mut std::fs::File::open(path)?)
}

/// A plugin name as a TOML key (quoted when it has a `.`).
fn toml_key(name: &str) -> String {
    if name.contains('.') {
        format!("\"{name}\"")
    } else {
        name.to_string()
    }
}

#[cfg(test)]
mod tests;
