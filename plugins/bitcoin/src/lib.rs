//! The `bitcoin` currency plugin: addresses of every standard type to and from their
//! scriptPubKey (the canonical key), and scanning of raw blocks and transactions.
//!
//! Config: `network` = mainnet | testnet | testnet4 | signet | regtest (the daemon passes the
//! chain's), `symbol` (the asset id).
//!
//! Not yet here (issue 4 continues): `derive_addresses` from xpubs/descriptors, overridable
//! address parameters for other Bitcoin-family coins.

mod scan;

use bitcoin::{Address, Network, ScriptBuf};
use paywatch_plugin_api::amount::format_base_units;
use paywatch_plugin_api::messages::*;
use paywatch_plugin_api::{export_currency_plugin, CurrencyPlugin, Host, PluginError};
use std::str::FromStr;

const DECIMALS: u8 = 8;

#[derive(Debug)]
pub struct Bitcoin {
    network: Network,
    symbol: String,
}

fn network(name: &str) -> Result<Network, PluginError> {
    Ok(match name {
        "mainnet" | "bitcoin" => Network::Bitcoin,
        "testnet" => Network::Testnet,
        "testnet4" => Network::Testnet4,
        "signet" => Network::Signet,
        "regtest" => Network::Regtest,
        other => return Err(PluginError::bad_config(format!("unknown network {other:?}"))),
    })
}

impl CurrencyPlugin for Bitcoin {
    const NAME: &'static str = "bitcoin";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn create(config: serde_json::Value, host: &Host<'_>) -> Result<Self, PluginError> {
        let name =
            config.get("network").and_then(|v| v.as_str()).ok_or_else(|| PluginError::bad_config("missing network"))?;
        let network = network(name)?;
        let symbol = config.get("symbol").and_then(|v| v.as_str()).unwrap_or("BTC").to_string();
        host.info(&format!("bitcoin plugin ready for {symbol} on {name}"));
        Ok(Self { network, symbol })
    }

    fn info(&self) -> CurrencyInfo {
        CurrencyInfo {
            chain_kind: "bitcoin".into(),
            symbol: self.symbol.clone(),
            decimals: DECIMALS,
            default_confirmations: 1,
        }
    }

    fn parse_address(&self, address: &str) -> Result<ParsedAddress, PluginError> {
        let invalid = |why: String| PluginError::new("invalid_address", why);
        let unchecked = Address::from_str(address.trim()).map_err(|e| invalid(format!("{address:?}: {e}")))?;
        let checked = unchecked
            .require_network(self.network)
            .map_err(|_| invalid(format!("{address:?} is not an address of network {}", self.network)))?;
        Ok(ParsedAddress { address: checked.to_string(), key: Hex(checked.script_pubkey().into_bytes()) })
    }

    fn key_to_address(&self, key: &[u8]) -> Result<String, PluginError> {
        let script = ScriptBuf::from_bytes(key.to_vec());
        Address::from_script(&script, self.network).map(|a| a.to_string()).map_err(|e| {
            PluginError::invalid_input(format!("script {} has no address form: {e}", script.to_hex_string()))
        })
    }

    fn scan_block(&self, raw: &[u8], host: &Host<'_>) -> Result<ScanReply, PluginError> {
        Ok(ScanReply { matches: scan::block(raw, &self.symbol, host)?, watched_spends: Vec::new() })
    }

    fn scan_tx(&self, raw: &[u8], host: &Host<'_>) -> Result<ScanReply, PluginError> {
        Ok(ScanReply { matches: scan::transaction(raw, &self.symbol, host)?, watched_spends: Vec::new() })
    }

    /// BIP21: `bitcoin:ADDRESS?amount=1.5&label=…&message=…`.
    fn payment_uri(&self, req: &PaymentUriRequest) -> Result<String, PluginError> {
        let address = self.parse_address(&req.address)?.address;
        let mut uri = format!("bitcoin:{address}?amount={}", format_base_units(&req.amount_base, DECIMALS)?);
        for (k, v) in [("label", &req.label), ("message", &req.message)] {
            if let Some(v) = v {
                uri.push_str(&format!("&{k}={}", percent_encode(v)));
            }
        }
        Ok(uri)
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

export_currency_plugin!(Bitcoin);

#[cfg(test)]
mod tests;
