//! What the `ethereum` and `erc20` currency plugins share: EIP-55 addresses
//! ([`address`]), EIP-681 payment URIs ([`uri`]), addresses from an xpub ([`derive`](mod@derive)) and the
//! common part of their configuration ([`EvmAsset`]).

pub mod address;
pub mod derive;
pub mod uri;

use paywatch_plugin_api::messages::{CurrencyInfo, DeriveRequest, DerivedAddress, Hex, ParsedAddress};
use paywatch_plugin_api::PluginError;
use serde_json::Value;

/// The keys every EVM asset's plugin config has: the asset id, its symbol, the chain id.
#[derive(Debug, Clone)]
pub struct EvmAsset {
    pub asset: String,
    pub symbol: String,
    pub chain_id: u64,
}

impl EvmAsset {
    pub fn from_config(config: &Value) -> Result<Self, PluginError> {
        let text = |k: &str| config.get(k).and_then(Value::as_str).map(str::to_string);
        let asset = text("asset").ok_or_else(|| PluginError::bad_config("missing \"asset\""))?;
        let symbol = text("symbol").unwrap_or_else(|| asset.clone());
        let chain_id = config
            .get("chain_id")
            .and_then(Value::as_u64)
            .ok_or_else(|| PluginError::bad_config("missing \"chain_id\" (the evm chain's id)"))?;
        Ok(Self { asset, symbol, chain_id })
    }

    /// The plugin's `info`: an `evm` asset with these decimals, 12 confirmations suggested.
    pub fn info(&self, decimals: u8) -> CurrencyInfo {
        CurrencyInfo { chain_kind: "evm".into(), symbol: self.symbol.clone(), decimals, default_confirmations: 12 }
    }

    /// An address, normalized to its EIP-55 form; the key is its 20 bytes.
    pub fn parse_address(&self, address: &str) -> Result<ParsedAddress, PluginError> {
        paywatch_plugin_api::text::check_address_len(address)?;
        let bytes = address::parse(address)?;
        Ok(ParsedAddress { address: address::to_checksum(&bytes), key: Hex(bytes.to_vec()) })
    }

    pub fn key_to_address(&self, key: &[u8]) -> Result<String, PluginError> {
        let bytes: [u8; 20] = key
            .try_into()
            .map_err(|_| PluginError::invalid_input(format!("an evm key is 20 bytes, not {}", key.len())))?;
        Ok(address::to_checksum(&bytes))
    }

    pub fn derive_addresses(&self, req: &DeriveRequest) -> Result<Vec<DerivedAddress>, PluginError> {
        derive::addresses(&req.source, req.branch, req.start, req.count)
    }
}

/// A config key holding an unsigned integer that fits a `u8`, if present.
pub fn config_u8(config: &Value, key: &str) -> Result<Option<u8>, PluginError> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u8::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| PluginError::bad_config(format!("{key:?} must be an integer 0..=255, not {v}"))),
    }
}

/// Bytes as `0x` + lowercase hex, as nodes and explorers print hashes.
pub fn hex0x(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 + 2 * bytes.len());
    s.push_str("0x");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}
