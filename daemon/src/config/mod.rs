//! Configuration: built-in defaults < TOML file < `PAYWATCH_*` environment variables, validated
//! into a typed [`Config`]. Validation reports every problem at once, each with its key path.
//!
//! This module is the only owner of config validation.

mod checkout;
mod compat;
mod env;
mod keys;
mod private_key;
mod rates;
mod reader;
mod redact;
mod secret;
mod types;
mod validate;

pub use compat::{BitpayConfig, CoingateConfig, CoinpaymentsConfig, StoreGateways, GATEWAYS};
pub use keys::new_key;
pub(crate) use rates::parse_positive as parse_rate;
pub use reader::ConfigIssue;
pub(crate) use redact::{scrub as scrub_source, url_text as redact_url};
pub use secret::{KeyHash, Secret};
pub use types::*;
pub(crate) use validate::store_spec;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};

/// Environment variables read as overrides start with this; nested keys are joined by `__`.
pub const ENV_PREFIX: &str = "PAYWATCH_";

/// Top-level sections the environment may override (other `PAYWATCH_*` variables, such as
/// `PAYWATCH_CONFIG`, belong to the command line and scripts).
const SECTIONS: [&str; 9] =
    ["server", "storage", "plugins", "chains", "assets", "dispatch", "stores", "rates", "checkout"];

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot parse {what}: {message}")]
    Parse { what: String, message: String },
    #[error("{}", Invalid(.0))]
    Invalid(Vec<ConfigIssue>),
}

struct Invalid<'a>(&'a [ConfigIssue]);

impl fmt::Display for Invalid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(f, "invalid configuration ({n} problem{}):", if n == 1 { "" } else { "s" })?;
        for issue in self.0 {
            write!(f, "\n  - {issue}")?;
        }
        Ok(())
    }
}

/// Loads the file (if given) and the `PAYWATCH_*` environment, and validates the result.
pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
    let mut raw = match path {
        Some(p) => {
            let mut raw = read_file(p)?;
            plugin_dir_beside(&mut raw, p);
            raw
        }
        None => Value::Object(Default::default()),
    };
    env::merge(&mut raw, read_env()?);
    validate_value(&raw)
}

/// Parses a config file's text (no environment) and validates it.
pub fn parse_str(text: &str) -> Result<Config, ConfigError> {
    let raw = Figment::from(Toml::string(text))
        .extract::<Value>()
        .map_err(|e| ConfigError::Parse { what: "the config text".into(), message: e.to_string() })?;
    validate_value(&raw)
}

/// Validates an already merged raw configuration.
pub fn validate_value(raw: &Value) -> Result<Config, ConfigError> {
    let mut issues = reader::Issues::default();
    let config = validate::validate(raw, &mut issues);
    match config {
        Some(c) if issues.0.is_empty() => Ok(c),
        _ => Err(ConfigError::Invalid(issues.0)),
    }
}

fn read_file(path: &Path) -> Result<Value, ConfigError> {
    // figment treats a missing file as empty; an operator who names a file means it.
    std::fs::metadata(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    Figment::from(Toml::file(path))
        .extract::<Value>()
        .map_err(|e| ConfigError::Parse { what: path.display().to_string(), message: e.to_string() })
}

/// The file's `plugins.dir` (or its default), when relative, is relative to the file's own
/// directory, never to the working directory: which code the daemon loads must not depend on
/// where it was started. (`PAYWATCH_PLUGINS__DIR` is taken as given.)
fn plugin_dir_beside(raw: &mut Value, file: &Path) {
    let Value::Object(root) = raw else { return };
    let plugins = root.entry("plugins").or_insert_with(|| Value::Object(Default::default()));
    let Value::Object(plugins) = plugins else { return };
    let dir = match plugins.get("dir") {
        None | Some(Value::Null) => validate::DEFAULT_PLUGIN_DIR,
        Some(Value::String(d)) => d.as_str(),
        Some(_) => return, // reported by validation
    };
    if Path::new(dir).is_absolute() {
        return;
    }
    let base = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let base = std::path::absolute(base).unwrap_or_else(|_| base.to_owned());
    let resolved = base.join(dir);
    plugins.insert("dir".into(), Value::String(resolved.to_string_lossy().into_owned()));
}

/// The `PAYWATCH_*` variables as a nested table. Values stay the exact strings given: figment's
/// own value parsing would turn a password like `0123` into the number 123. The reader parses
/// numbers and lists from strings where a key expects them.
fn read_env() -> Result<Value, ConfigError> {
    // The filter sees the key as written (any case), before `split` turns `__` into `.`.
    let env = Env::prefixed(ENV_PREFIX)
        .filter(|k| {
            let k = k.as_str().to_ascii_lowercase();
            SECTIONS.iter().any(|s| k == *s || k.starts_with(&format!("{s}__")))
        })
        .split("__");
    let mut root = Value::Object(Default::default());
    for (key, value) in env.iter() {
        let path: Vec<&str> = key.as_str().split('.').collect();
        insert_path(&mut root, &path, value).map_err(|message| ConfigError::Parse {
            what: format!("environment variable {ENV_PREFIX}{}", key.as_str().replace('.', "__").to_uppercase()),
            message,
        })?;
    }
    Ok(root)
}

fn insert_path(root: &mut Value, path: &[&str], value: String) -> Result<(), String> {
    let (last, parents) = path.split_last().ok_or("empty key")?;
    let mut node = root;
    for p in parents {
        node = match node {
            Value::Object(m) => m.entry(p.to_string()).or_insert_with(|| Value::Object(Default::default())),
            _ => return Err(format!("{p:?} is set both as a value and as a table")),
        };
    }
    match node {
        Value::Object(m) => {
            m.insert(last.to_string(), Value::String(value));
            Ok(())
        }
        _ => Err(format!("{last:?} is set both as a value and as a table")),
    }
}

#[cfg(test)]
mod tests;
