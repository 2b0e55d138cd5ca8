//! The JSON messages of the control-plane `call`s and of `scan` replies, per plugin kind.
//! Versioned with the ABI: fields are only added (with `#[serde(default)]`), never renamed.

use serde::{Deserialize, Serialize};

/// An error a plugin returns (JSON in the reply buffer with [`crate::abi::Status::ERROR`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginError {
    /// Stable machine-readable code, e.g. `invalid_address`, `unsupported`, `bad_config`.
    pub code: String,
    /// Lowercase human-readable message naming the offending value.
    pub message: String,
}

impl PluginError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code: code.into(), message: message.into() }
    }

    pub fn bad_config(message: impl Into<String>) -> Self {
        Self::new("bad_config", message)
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new("invalid_input", message)
    }

    pub fn unsupported(what: impl std::fmt::Display) -> Self {
        Self::new("unsupported", format!("{what} is not supported by this plugin"))
    }
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for PluginError {}

/// Method names of currency plugins' `call`.
pub mod currency_method {
    pub const INFO: &str = "info";
    pub const PARSE_ADDRESS: &str = "parse_address";
    pub const KEY_TO_ADDRESS: &str = "key_to_address";
    pub const DERIVE_ADDRESSES: &str = "derive_addresses";
    pub const PAYMENT_URI: &str = "payment_uri";
    pub const FORMAT_AMOUNT: &str = "format_amount";
}

/// Method names of platform plugins' `call`.
pub mod platform_method {
    pub const INFO: &str = "info";
    pub const RENDER: &str = "render";
    pub const CLASSIFY: &str = "classify";
}

/// Bytes as lowercase hex in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Hex(pub Vec<u8>);

impl Serialize for Hex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(self.0.len() * 2);
        for b in &self.0 {
            out.push(DIGITS[(b >> 4) as usize] as char);
            out.push(DIGITS[(b & 15) as usize] as char);
        }
        s.serialize_str(&out)
    }
}

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let digit = |c: u8| match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(serde::de::Error::custom(format!("{:?} is not a hex digit", c as char))),
        };
        if s.len() % 2 != 0 {
            return Err(serde::de::Error::custom(format!("hex string of odd length {}", s.len())));
        }
        s.as_bytes().chunks(2).map(|p| Ok(digit(p[0])? << 4 | digit(p[1])?)).collect::<Result<_, _>>().map(Hex)
    }
}

// ---- currency ----

/// `info` of a currency plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyInfo {
    /// The chain kinds it scans (`bitcoin`, `evm`).
    pub chain_kind: String,
    /// Asset symbol (as configured, e.g. `BTC`, `USDT`).
    pub symbol: String,
    /// Decimals of the asset's unit over its base unit (8 for BTC, 18 for ETH).
    pub decimals: u8,
    /// Confirmations the plugin suggests when the config sets none.
    pub default_confirmations: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParseAddressRequest {
    pub address: String,
}

/// An address normalized by the plugin, with its canonical key (what scanning matches).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedAddress {
    pub address: String,
    pub key: Hex,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyToAddressRequest {
    pub key: Hex,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressReply {
    pub address: String,
}

/// Addresses from an extended public key or descriptor (public data only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeriveRequest {
    /// xpub/ypub/zpub/tpub… or an output descriptor.
    pub source: String,
    /// 0 receive, 1 change (ignored by descriptors that fix their path).
    #[serde(default)]
    pub branch: u32,
    pub start: u32,
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DerivedAddress {
    pub index: u32,
    pub address: String,
    pub key: Hex,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeriveReply {
    pub addresses: Vec<DerivedAddress>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentUriRequest {
    pub address: String,
    /// Amount in base units, as a decimal string.
    pub amount_base: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentUriReply {
    pub uri: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormatAmountRequest {
    pub amount_base: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormatAmountReply {
    /// In the asset's unit, e.g. `"1.5"`.
    pub amount: String,
}

/// An outpoint (Bitcoin-family: txid and output index; EVM: tx hash and log index).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OutPoint {
    pub txid: String,
    pub index: u32,
}

/// One payment to a watched key found by `scan`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Match {
    pub key: Hex,
    pub asset: String,
    /// Base units, as a decimal string (fits any u256).
    pub amount_base: String,
    pub txid: String,
    /// Output index (Bitcoin) or log index (EVM).
    pub index: u32,
    /// Everything the matched transaction spends, so the host can see replacements.
    #[serde(default)]
    pub spends: Vec<OutPoint>,
}

/// What `scan` returns: only matches, and spends of outpoints the host watches.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ScanReply {
    pub matches: Vec<Match>,
    /// Transactions spending an outpoint for which `is_watched_spend` said yes.
    #[serde(default)]
    pub watched_spends: Vec<WatchedSpend>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchedSpend {
    /// The spending transaction.
    pub txid: String,
    pub spends: OutPoint,
}

// ---- platform ----

/// `info` of a platform plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformInfo {
    pub description: String,
}

/// Render an event for one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderRequest {
    /// The event as stored: `{seq, id, type, store, created_at, data}`.
    pub event: serde_json::Value,
    /// The endpoint's config: `url`, `secret`, and the plugin's own keys.
    pub endpoint: serde_json::Value,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Unix seconds of this attempt (signatures carry it).
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderReply {
    /// Empty: nothing to send for this event (acknowledged as skipped).
    pub requests: Vec<HttpRequest>,
}

/// Read a response of the shop platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassifyRequest {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body, truncated by the host and decoded lossily as UTF-8.
    pub body: String,
}

impl ClassifyRequest {
    /// The response's `Retry-After` in seconds, when it gives one as a number.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
            .and_then(|(_, v)| v.trim().parse::<u64>().ok())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Delivered.
    Ack,
    /// Try again, after `after_secs` if given (e.g. `Retry-After`), else per the schedule.
    Retry { after_secs: Option<u64>, reason: String },
    /// Never deliverable as is (the attempt is recorded; no retry).
    Fail { reason: String },
    /// The endpoint is gone (e.g. 410): disable it.
    Disable { reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let h = Hex(vec![0x00, 0xab, 0xff]);
        let s = serde_json::to_string(&h).unwrap();
        assert_eq!(s, "\"00abff\"");
        assert_eq!(serde_json::from_str::<Hex>(&s).unwrap(), h);
        assert_eq!(serde_json::from_str::<Hex>("\"00ABFF\"").unwrap(), h);
        assert!(serde_json::from_str::<Hex>("\"abc\"").is_err());
        assert!(serde_json::from_str::<Hex>("\"zz\"").is_err());
    }

    #[test]
    fn verdicts_are_tagged() {
        let v = Verdict::Retry { after_secs: Some(30), reason: "503".into() };
        assert_eq!(
            serde_json::to_value(&v).unwrap(),
            serde_json::json!({"verdict": "retry", "after_secs": 30, "reason": "503"})
        );
    }
}
