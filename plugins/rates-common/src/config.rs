//! A source's config: its `[rates.sources.NAME]` table without the host's keys, as JSON. Keys
//! the plugin does not know are refused (a typo must not silently fall back to a default).

use crate::{code, error};
use paywatch_plugin_api::PluginError;
use serde_json::{Map, Value};

/// The source's config table, checked against the keys it knows.
#[derive(Debug)]
pub struct Config<'a> {
    source: &'a str,
    map: Map<String, Value>,
}

impl<'a> Config<'a> {
    /// Reads `config` (an object, or null for none), refusing keys not in `known`.
    pub fn read(source: &'a str, config: &Value, known: &[&str]) -> Result<Self, PluginError> {
        let map = match config {
            Value::Null => Map::new(),
            Value::Object(m) => m.clone(),
            other => return Err(bad(source, format_args!("the config must be a table, not {other}"))),
        };
        let mut unknown: Vec<&str> = map.keys().map(String::as_str).filter(|k| !known.contains(k)).collect();
        if !unknown.is_empty() {
            unknown.sort_unstable();
            return Err(bad(
                source,
                format_args!("unknown config key {} (known: {})", quoted(&unknown), quoted(known)),
            ));
        }
        Ok(Self { source, map })
    }

    /// `base_url`: an absolute `http`/`https` URL without query or fragment, or `default` (the
    /// real API); returned without a trailing `/`.
    pub fn base_url(&self, default: &str) -> Result<String, PluginError> {
        let Some(url) = self.string("base_url")? else { return Ok(default.to_string()) };
        let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
        let host = rest.map(|r| r.split('/').next().unwrap_or_default()).unwrap_or_default();
        if host.is_empty() || url.contains(['?', '#']) || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad(
                self.source,
                format_args!("base_url {url:?} must be an absolute http(s) URL with a host, without query or fragment"),
            ));
        }
        Ok(url.trim_end_matches('/').to_string())
    }

    /// A string key, if present; printable ASCII only (it goes into a URL or a header).
    pub fn string(&self, key: &str) -> Result<Option<String>, PluginError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic()) => Ok(Some(s.clone())),
            Some(Value::String(_)) => {
                Err(bad(self.source, format_args!("{key} must be printable ASCII without spaces, and not empty")))
            }
            Some(other) => Err(bad(self.source, format_args!("{key} must be a string, not {other}"))),
        }
    }

    /// A boolean key, or `default`.
    pub fn boolean(&self, key: &str, default: bool) -> Result<bool, PluginError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(bad(self.source, format_args!("{key} must be true or false, not {other}"))),
        }
    }

    /// A table of strings (`ids = { BTC = "bitcoin" }`), empty if absent.
    pub fn string_table(&self, key: &str) -> Result<Vec<(String, String)>, PluginError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    other => Err(bad(self.source, format_args!("{key}.{k} must be a string, not {other}"))),
                })
                .collect(),
            Some(other) => Err(bad(self.source, format_args!("{key} must be a table of strings, not {other}"))),
        }
    }
}

fn bad(source: &str, message: impl std::fmt::Display) -> PluginError {
    error(source, code::BAD_CONFIG, message)
}

fn quoted(keys: &[&str]) -> String {
    keys.iter().map(|k| format!("{k:?}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base_url_defaults_and_is_checked() {
        let c = Config::read("x", &Value::Null, &["base_url"]).unwrap();
        assert_eq!(c.base_url("https://api.example").unwrap(), "https://api.example");
        let c = Config::read("x", &json!({"base_url": "http://127.0.0.1:8080/"}), &["base_url"]).unwrap();
        assert_eq!(c.base_url("https://api.example").unwrap(), "http://127.0.0.1:8080");
        for bad in [json!("ftp://h"), json!("https://"), json!("https://h/?a=1"), json!("https://h /"), json!(5)] {
            let c = Config::read("x", &json!({ "base_url": bad }), &["base_url"]).unwrap();
            let e = c.base_url("https://api.example").unwrap_err();
            assert_eq!(e.code, "bad_config");
            assert!(e.message.starts_with("x: base_url"), "{}", e.message);
        }
    }

    #[test]
    fn unknown_keys_and_other_types_are_refused_by_name() {
        let e = Config::read("kraken", &json!({"base_ur": "x", "zz": 1}), &["base_url"]).unwrap_err();
        assert_eq!(e.message, r#"kraken: unknown config key "base_ur", "zz" (known: "base_url")"#);
        let e = Config::read("kraken", &json!([1]), &["base_url"]).unwrap_err();
        assert_eq!(e.message, "kraken: the config must be a table, not [1]");
        let c = Config::read("k", &json!({"pro": "yes", "ids": {"BTC": 1}, "key": "a\nb"}), &["pro", "ids", "key"])
            .unwrap();
        assert!(c.boolean("pro", false).unwrap_err().message.contains("pro must be true or false"));
        assert!(c.string_table("ids").unwrap_err().message.contains("ids.BTC must be a string"));
        assert!(c.string("key").unwrap_err().message.contains("printable ASCII"));
    }
}
