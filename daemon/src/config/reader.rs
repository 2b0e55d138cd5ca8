//! A path-aware reader over the merged raw configuration that collects every problem instead
//! of stopping at the first one (serde would). Each problem carries its key path, e.g.
//! `chains[1].rpc_url`, and the offending value.

use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::fmt;

/// One configuration problem: where, and what is wrong (with the offending value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Collects problems while the typed config is built.
#[derive(Debug, Default)]
pub(crate) struct Issues(pub(crate) Vec<ConfigIssue>);

impl Issues {
    pub(crate) fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigIssue { path: path.into(), message: message.into() });
    }
}

/// Shows a value the way an operator wrote it, cut short if long.
pub(crate) fn show(v: &Value) -> String {
    let s = match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A table being read. Keys that are read are remembered; `finish` reports the rest as unknown.
#[derive(Debug)]
pub(crate) struct Table<'a> {
    path: String,
    map: Option<&'a Map<String, Value>>,
    used: BTreeSet<&'static str>,
    open: bool,
}

impl<'a> Table<'a> {
    pub(crate) fn root(v: &'a Value, issues: &mut Issues) -> Self {
        Self::at(String::new(), Some(v), issues)
    }

    fn at(path: String, v: Option<&'a Value>, issues: &mut Issues) -> Self {
        let map = match v {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(other) => {
                issues.push(&path, format!("expected a table, got {}", show(other)));
                None
            }
        };
        Self { path, map, used: BTreeSet::new(), open: false }
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    pub(crate) fn key_path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// Allows keys this reader does not know (plugin-specific parameters).
    pub(crate) fn allow_other_keys(&mut self) {
        self.open = true;
    }

    /// The keys not read, with their values: plugin-specific parameters.
    pub(crate) fn rest(&self) -> Map<String, Value> {
        self.map
            .map(|m| {
                m.iter().filter(|(k, _)| !self.used.contains(k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect()
            })
            .unwrap_or_default()
    }

    /// A string value without marking the key as read (for cross-references).
    pub(crate) fn peek_str(&self, key: &str) -> Option<String> {
        self.map?.get(key)?.as_str().map(String::from)
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.map.is_some_and(|m| m.get(key).is_some_and(|v| !v.is_null()))
    }

    fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.used.insert(key);
        self.map?.get(key).filter(|v| !v.is_null())
    }

    /// Takes `key` as read (its problem was reported otherwise).
    pub(crate) fn ignore(&mut self, key: &'static str) {
        self.used.insert(key);
    }

    pub(crate) fn table(&mut self, key: &'static str, issues: &mut Issues) -> Table<'a> {
        let v = self.get(key);
        Table::at(self.key_path(key), v, issues)
    }

    pub(crate) fn tables(&mut self, key: &'static str, issues: &mut Issues) -> Vec<Table<'a>> {
        let path = self.key_path(key);
        match self.get(key) {
            None => Vec::new(),
            Some(Value::Array(items)) => {
                items.iter().enumerate().map(|(i, v)| Table::at(format!("{path}[{i}]"), Some(v), issues)).collect()
            }
            Some(other) => {
                issues.push(path, format!("expected an array of tables, got {}", show(other)));
                Vec::new()
            }
        }
    }

    /// A table whose keys are names chosen by the operator (e.g. `stores.receive.BTC`).
    pub(crate) fn named_tables(&mut self, key: &'static str, issues: &mut Issues) -> Vec<(String, Table<'a>)> {
        let path = self.key_path(key);
        match self.get(key) {
            None => Vec::new(),
            Some(Value::Object(m)) => {
                m.iter().map(|(k, v)| (k.clone(), Table::at(join(&path, k), Some(v), issues))).collect()
            }
            Some(other) => {
                issues.push(path, format!("expected a table, got {}", show(other)));
                Vec::new()
            }
        }
    }

    /// A table of strings (`{ USD = "1000" }`), in key order; numbers are taken as their text.
    pub(crate) fn str_map(&mut self, key: &'static str, issues: &mut Issues) -> Vec<(String, String)> {
        let path = self.key_path(key);
        let Some(v) = self.get(key) else { return Vec::new() };
        let Value::Object(m) = v else {
            issues.push(path, format!("expected a table, got {}", show(v)));
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in m {
            match v {
                Value::String(s) => out.push((k.clone(), s.clone())),
                Value::Number(n) => out.push((k.clone(), n.to_string())),
                other => issues.push(join(&path, k), format!("expected a string, got {}", show(other))),
            }
        }
        out.sort();
        out
    }

    /// A string. Scalars given through the environment (numbers, booleans) are accepted as text.
    pub(crate) fn opt_str(&mut self, key: &'static str, issues: &mut Issues) -> Option<String> {
        match self.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            other => {
                issues.push(self.key_path(key), format!("expected a string, got {}", show(other)));
                None
            }
        }
    }

    pub(crate) fn str(&mut self, key: &'static str, issues: &mut Issues) -> Option<String> {
        let v = self.opt_str(key, issues);
        if v.is_none() && !self.has(key) {
            issues.push(self.key_path(key), "missing required key");
        }
        v
    }

    pub(crate) fn opt_u64(&mut self, key: &'static str, issues: &mut Issues) -> Option<u64> {
        let v = self.get(key)?;
        let parsed = match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        if parsed.is_none() {
            issues.push(self.key_path(key), format!("expected a non-negative integer, got {}", show(v)));
        }
        parsed
    }

    /// A boolean with a default. Given through the environment it is text: `true` or `false`.
    pub(crate) fn bool_or(&mut self, key: &'static str, default: bool, issues: &mut Issues) -> bool {
        let Some(v) = self.get(key) else { return default };
        match v {
            Value::Bool(b) => *b,
            Value::String(s) if matches!(s.trim(), "true" | "false") => s.trim() == "true",
            other => {
                issues.push(self.key_path(key), format!("expected true or false, got {}", show(other)));
                default
            }
        }
    }

    /// An integer with a default and an inclusive range.
    pub(crate) fn u64_in(
        &mut self,
        key: &'static str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
        issues: &mut Issues,
    ) -> u64 {
        match self.opt_u64(key, issues) {
            None => default,
            Some(v) if range.contains(&v) => v,
            Some(v) => {
                issues.push(self.key_path(key), format!("{v} is out of range {}..={}", range.start(), range.end()));
                default
            }
        }
    }

    pub(crate) fn str_list(&mut self, key: &'static str, issues: &mut Issues) -> Vec<String> {
        let path = self.key_path(key);
        match self.get(key) {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| match v {
                    Value::String(s) => Some(s.clone()),
                    other => {
                        issues.push(format!("{path}[{i}]"), format!("expected a string, got {}", show(other)));
                        None
                    }
                })
                .collect(),
            // `PAYWATCH_X="a,b"` from the environment.
            Some(Value::String(s)) => s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
            Some(other) => {
                issues.push(path, format!("expected a list of strings, got {}", show(other)));
                Vec::new()
            }
        }
    }

    /// Reports every key that was present but never read.
    pub(crate) fn finish(self, issues: &mut Issues) {
        if self.open {
            return;
        }
        if let Some(m) = self.map {
            for k in m.keys().filter(|k| !self.used.contains(k.as_str())) {
                issues.push(join(&self.path, k), "unknown key");
            }
        }
    }
}
