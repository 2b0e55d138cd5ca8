//! Plugins: loading and checking libraries (`loader`), the host side of calls (`host`), and
//! supervised instances (`instance`). The only module that crosses the C ABI.

mod check;
mod host;
mod instance;
mod loader;
mod trust;

pub use check::{check_file, CheckOptions, Checked};
pub(crate) use host::CallContext;
pub(crate) use instance::{CallError, PluginInstance};
pub(crate) use loader::{load, Kind, Library};

use crate::health::{Health, Kind as HealthKind, Status};
use loader::LoadError;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The libraries of the plugin directory: those that loaded, and those refused with why.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    loaded: Vec<Arc<Library>>,
    refused: Vec<LoadError>,
}

impl Registry {
    /// Loads every plugin file of `dir`. A refused file is reported, not fatal: the daemon
    /// fails later only if the config uses a plugin that did not load.
    pub(crate) fn load_dir(dir: &Path) -> std::io::Result<Self> {
        let mut reg = Registry::default();
        let canonical = trust::canonical(dir)?;
        if let Some(why) = trust::unsafe_dir(&canonical) {
            return Err(std::io::Error::new(std::io::ErrorKind::PermissionDenied, why));
        }
        for path in loader::discover(dir)? {
            if let Some(why) = trust::unsafe_file(&canonical, &path) {
                reg.refused.push(LoadError::Untrusted { path, why });
                continue;
            }
            match loader::load(&path) {
                Ok(lib) => match reg.loaded.iter().find(|l| l.name == lib.name) {
                    Some(first) => {
                        reg.refused.push(LoadError::Duplicate { path, name: lib.name, first: first.path.clone() })
                    }
                    None => reg.loaded.push(Arc::new(lib)),
                },
                Err(e) => reg.refused.push(e),
            }
        }
        Ok(reg)
    }

    /// Every loaded library of a kind.
    pub(crate) fn all(&self, kind: Kind) -> impl Iterator<Item = &Arc<Library>> {
        self.loaded.iter().filter(move |l| l.kind == kind)
    }

    pub(crate) fn get(&self, kind: Kind, name: &str) -> Option<Arc<Library>> {
        self.loaded.iter().find(|l| l.kind == kind && l.name == name).cloned()
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
        for e in &self.refused {
            tracing::error!("plugin refused: {e}");
            let file = refused_path(e).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            health.set(HealthKind::Plugin, &file, Status::Degraded, format!("refused: {e}"));
        }
    }

    /// One row per file, for `paywatch plugins list`.
    pub(crate) fn listing(&self) -> Vec<PluginListing> {
        let mut rows: Vec<PluginListing> = self
            .loaded
            .iter()
            .map(|l| PluginListing {
                file: l.path.clone(),
                kind: Some(l.kind),
                name: Some(l.name.clone()),
                version: Some(l.version.clone()),
                abi: Some(format!("{}.{}", l.abi.0, l.abi.1)),
                loaded: true,
                error: None,
            })
            .chain(self.refused.iter().map(|e| PluginListing {
                file: refused_path(e).to_owned(),
                kind: None,
                name: None,
                version: None,
                abi: None,
                loaded: false,
                error: Some(e.to_string()),
            }))
            .collect();
        rows.sort_by(|a, b| a.file.cmp(&b.file));
        rows
    }
}

fn refused_path(e: &LoadError) -> &Path {
    use LoadError::*;
    match e {
        Open { path, .. }
        | NoEntry { path, .. }
        | Refused { path, .. }
        | Duplicate { path, .. }
        | Untrusted { path, .. } => path,
    }
}

/// What `paywatch plugins list` prints per file.
#[derive(Debug, Clone, Serialize)]
pub struct PluginListing {
    pub file: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<Kind>,
    pub name: Option<String>,
    pub version: Option<String>,
    pub abi: Option<String>,
    pub loaded: bool,
    pub error: Option<String>,
}

impl PluginListing {
    pub fn kind(&self) -> Option<&'static str> {
        self.kind.map(|k| match k {
            Kind::Currency => "currency",
            Kind::Platform => "platform",
        })
    }
}

/// Loads the plugin directory and lists every file with what became of it.
pub fn list(dir: &Path) -> std::io::Result<Vec<PluginListing>> {
    Ok(Registry::load_dir(dir)?.listing())
}

#[cfg(test)]
mod tests;
