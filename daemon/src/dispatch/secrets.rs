//! Which endpoint params are secrets: declared by the platform plugin (`info` →
//! `secret_params`), or, for a plugin that does not say, every param named like a secret. The
//! daemon's own signing keys are always secret. Secrets are stored for the plugin, never shown.

use crate::plugins::PluginInstance;
use paywatch_plugin_api::messages::{platform_method, PlatformInfo};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

/// The endpoint fields the API takes as secrets of their own (`secret`, …).
pub(super) const SIGNING_KEYS: [&str; 3] = ["secret", "secrets", "ed25519_secret_key"];

/// Parts of a param name that make it a secret when its plugin declares nothing.
const SECRET_WORDS: [&str; 4] = ["secret", "key", "password", "token"];

/// The secret params of every platform plugin, read once at start.
#[derive(Debug, Default)]
pub(super) struct SecretParams {
    /// Per plugin name: what it declared (`None`: it did not say, or its `info` failed).
    declared: HashMap<String, Option<Vec<String>>>,
}

impl SecretParams {
    /// Asks each platform plugin for its `info`.
    pub(super) fn read(platforms: &HashMap<String, Arc<PluginInstance>>) -> Self {
        let declared = platforms
            .iter()
            .map(|(name, p)| {
                let info = p.call::<_, PlatformInfo>(platform_method::INFO, &json!({}));
                if let Err(e) = &info {
                    tracing::warn!(plugin = %name, error = %e, "platform info failed; params named like secrets are hidden");
                }
                (name.clone(), info.ok().and_then(|i| i.secret_params))
            })
            .collect();
        Self { declared }
    }

    /// Whether `param` of an endpoint of `plugin` is a secret.
    pub(super) fn is_secret(&self, plugin: &str, param: &str) -> bool {
        if SIGNING_KEYS.contains(&param) {
            return true;
        }
        match self.declared.get(plugin) {
            Some(Some(list)) => list.iter().any(|p| p == param),
            _ => looks_secret(param),
        }
    }
}

/// A param named like a secret (`api_key`, `consumer_secret`, `Password`, `authToken`…).
fn looks_secret(param: &str) -> bool {
    let lower = param.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| lower.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(declared: Option<&[&str]>) -> SecretParams {
        let list = declared.map(|d| d.iter().map(|s| s.to_string()).collect());
        SecretParams { declared: HashMap::from([("p".to_string(), list)]) }
    }

    #[test]
    fn declared_params_are_the_plugins_secrets() {
        let s = params(Some(&["consumer_key", "pin"]));
        assert!(s.is_secret("p", "consumer_key"));
        assert!(s.is_secret("p", "pin"));
        assert!(!s.is_secret("p", "status_map"));
        assert!(!s.is_secret("p", "api_token"), "a declaring plugin decides");
    }

    #[test]
    fn signing_keys_are_always_secret() {
        for s in [params(Some(&[])), params(None), SecretParams::default()] {
            for k in SIGNING_KEYS {
                assert!(s.is_secret("p", k), "{k}");
            }
        }
    }

    #[test]
    fn an_undeclaring_plugin_hides_params_named_like_secrets() {
        let s = params(None);
        for k in ["consumer_secret", "consumer_key", "API_KEY", "password", "authToken", "apikey"] {
            assert!(s.is_secret("p", k), "{k}");
        }
        for k in ["status_map", "url", "header_name", "order_prefix"] {
            assert!(!s.is_secret("p", k), "{k}");
        }
        assert!(SecretParams::default().is_secret("unknown", "token"));
    }
}
