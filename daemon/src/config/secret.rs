//! Secrets that must never reach logs or printed config.

use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// What every secret prints as.
pub(crate) const REDACTED: &str = "<redacted>";

/// A secret string (RPC password, webhook secret). `Debug`, `Display` and `Serialize` redact it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub(crate) fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret itself, for the one place that must send it (an RPC call, a signature).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

/// An API key as the daemon keeps it: only its SHA-256, configured either as the key itself
/// (`api_key`) or as the hash (`api_key_sha256`). Presented keys are compared in constant time.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    pub(crate) fn of_key(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
    }

    pub(crate) fn from_hex(hex_str: &str) -> Option<Self> {
        let bytes = hex::decode(hex_str.trim()).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }

    /// The SHA-256 itself (what presented keys are looked up by).
    pub(crate) fn digest(&self) -> [u8; 32] {
        self.0
    }

    /// Constant-time check of a presented key against this hash.
    pub fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        bool::from(self.0.ct_eq(&digest))
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for KeyHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_hash_matches_only_its_key() {
        let h = KeyHash::of_key("s3cret");
        assert!(h.matches("s3cret"));
        assert!(!h.matches("s3cret "));
        let hex = hex::encode(Sha256::digest(b"s3cret"));
        assert_eq!(KeyHash::from_hex(&hex), Some(h));
        assert_eq!(KeyHash::from_hex("abcd"), None);
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2".into());
        assert_eq!(format!("{s:?}"), REDACTED);
        assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{REDACTED}\""));
    }
}
