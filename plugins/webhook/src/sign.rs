//! Standard Webhooks signatures: HMAC-SHA256 (`v1`) with `whsec_` secrets, Ed25519 (`v1a`)
//! with a `whsk_` key. Built on the `hmac`, `sha2`, `ed25519-dalek` and `base64` crates.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signer as _, SigningKey};
use hmac::{Hmac, Mac};
use paywatch_plugin_api::PluginError;
use serde_json::Value;
use sha2::Sha256;

/// The keys of one endpoint.
#[derive(Debug)]
pub struct Signer {
    secrets: Vec<Vec<u8>>,
    ed25519: Option<SigningKey>,
}

fn decode(value: &str, prefix: &str, key: &str) -> Result<Vec<u8>, PluginError> {
    let b64 = value.strip_prefix(prefix).unwrap_or(value);
    // The decoder's error names a character of the secret and its position: not repeated.
    B64.decode(b64.trim()).map_err(|_| PluginError::bad_config(format!("{key} is not {prefix}<base64>")))
}

/// `v1,` + base64 HMAC-SHA256 of `id.timestamp.body` under `secret` (raw bytes).
pub fn hmac_v1(secret: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

impl Signer {
    /// From the endpoint's `secret` / `secrets` and `ed25519_secret_key`.
    pub fn from_endpoint(endpoint: &Value) -> Result<Self, PluginError> {
        let mut secrets = Vec::new();
        if let Some(s) = endpoint.get("secret").and_then(Value::as_str) {
            secrets.push(decode(s, "whsec_", "secret")?);
        }
        if let Some(list) = endpoint.get("secrets") {
            let list = list.as_array().ok_or_else(|| PluginError::bad_config("secrets must be a list"))?;
            for (i, s) in list.iter().enumerate() {
                let s = s.as_str().ok_or_else(|| PluginError::bad_config(format!("secrets[{i}] is not a string")))?;
                secrets.push(decode(s, "whsec_", &format!("secrets[{i}]"))?);
            }
        }
        let ed25519 = match endpoint.get("ed25519_secret_key").and_then(Value::as_str) {
            None => None,
            Some(k) => {
                let raw = decode(k, "whsk_", "ed25519_secret_key")?;
                let seed: [u8; 32] =
                    raw.get(..32).and_then(|s| s.try_into().ok()).filter(|_| matches!(raw.len(), 32 | 64)).ok_or_else(
                        || {
                            PluginError::bad_config(format!(
                                "ed25519_secret_key has {} bytes; a seed has 32, a key pair 64",
                                raw.len()
                            ))
                        },
                    )?;
                Some(SigningKey::from_bytes(&seed))
            }
        };
        if secrets.is_empty() && ed25519.is_none() {
            return Err(PluginError::bad_config("endpoint has no secret: set secret (whsec_…) or ed25519_secret_key"));
        }
        if secrets.iter().any(|s| s.len() < 16) {
            return Err(PluginError::bad_config("a secret shorter than 16 bytes is too weak to sign with"));
        }
        Ok(Self { secrets, ed25519 })
    }

    /// The `webhook-signature` header value.
    pub fn signature(&self, id: &str, timestamp: i64, body: &str) -> String {
        let mut parts: Vec<String> = self.secrets.iter().map(|s| hmac_v1(s, id, timestamp, body)).collect();
        if let Some(k) = &self.ed25519 {
            let sig = k.sign(format!("{id}.{timestamp}.{body}").as_bytes());
            parts.push(format!("v1a,{}", B64.encode(sig.to_bytes())));
        }
        parts.join(" ")
    }

    /// The Ed25519 public key (`whpk_…`) receivers verify `v1a` with.
    pub fn ed25519_public_key(&self) -> Option<String> {
        self.ed25519.as_ref().map(|k| format!("whpk_{}", B64.encode(k.verifying_key().to_bytes())))
    }
}
