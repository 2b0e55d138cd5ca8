//! The `bitcoin` currency plugin: addresses of every standard type to and from their
//! scriptPubKey (the canonical key), and scanning of raw blocks and transactions.
//!
//! Config: `network` = mainnet | testnet | testnet4 | signet | regtest (the daemon passes the
//! chain's), `asset` (the asset id every match carries), `symbol`, and for other
//! Bitcoin-family coins the address
//! parameters `p2pkh_prefix`, `p2sh_prefix` (base58 version bytes) and `bech32_hrp`.

mod derive;
mod merkle;
mod params;
mod scan;

use bitcoin::{NetworkKind, Script};
use params::Params;
use paywatch_plugin_api::amount::format_base_units;
use paywatch_plugin_api::messages::*;
use paywatch_plugin_api::text::percent_encode;
use paywatch_plugin_api::{export_currency_plugin, CurrencyPlugin, Host, PluginError};

const DECIMALS: u8 = 8;

#[derive(Debug)]
pub struct Bitcoin {
    params: Params,
    /// The asset id (`[[assets]] id`): what `Match.asset` carries.
    asset: String,
    symbol: String,
    /// The BIP21 URI scheme (`bitcoin`; `litecoin`… for other coins).
    scheme: String,
}

impl CurrencyPlugin for Bitcoin {
    const NAME: &'static str = "bitcoin";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn create(config: serde_json::Value, host: &Host<'_>) -> Result<Self, PluginError> {
        let params = Params::from_config(&config)?;
        let symbol = config.get("symbol").and_then(|v| v.as_str()).unwrap_or("BTC").to_string();
        let asset = config.get("asset").and_then(|v| v.as_str()).unwrap_or(&symbol).to_string();
        host.info(&format!(
            "bitcoin plugin ready for {symbol} on {} (p2pkh {}, p2sh {}, hrp {})",
            params.name, params.p2pkh, params.p2sh, params.hrp
        ));
        let scheme = config.get("uri_scheme").and_then(|v| v.as_str()).unwrap_or("bitcoin").to_string();
        Ok(Self { params, asset, symbol, scheme })
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
        paywatch_plugin_api::text::check_address_len(address)?;
        let script = self.params.decode(address)?;
        // The normalized form: what this script encodes to (bech32 lowercase).
        Ok(ParsedAddress { address: self.params.encode(&script)?, key: Hex(script.into_bytes()) })
    }

    fn key_to_address(&self, key: &[u8]) -> Result<String, PluginError> {
        self.params.encode(Script::from_bytes(key))
    }

    fn derive_addresses(&self, req: &DeriveRequest) -> Result<Vec<DerivedAddress>, PluginError> {
        let network = NetworkKind::from(self.params.network);
        derive::derive(&req.source, req.branch, req.start, req.count, network)?
            .into_iter()
            .map(|(index, script)| {
                Ok(DerivedAddress { index, address: self.params.encode(&script)?, key: Hex(script.into_bytes()) })
            })
            .collect()
    }

    fn scan_block(&self, raw: &[u8], host: &Host<'_>) -> Result<ScanReply, PluginError> {
        scan::block(raw, &self.asset, host)
    }

    fn scan_tx(&self, raw: &[u8], host: &Host<'_>) -> Result<ScanReply, PluginError> {
        scan::transaction(raw, &self.asset, host)
    }

    /// BIP21: `bitcoin:ADDRESS?amount=1.5&label=…&message=…`.
    fn payment_uri(&self, req: &PaymentUriRequest) -> Result<String, PluginError> {
        let address = self.parse_address(&req.address)?.address;
        let mut uri = format!("{}:{address}?amount={}", self.scheme, format_base_units(&req.amount_base, DECIMALS)?);
        for (k, v) in [("label", &req.label), ("message", &req.message)] {
            if let Some(v) = v {
                uri.push_str(&format!("&{k}={}", percent_encode(v)));
            }
        }
        Ok(uri)
    }
}

export_currency_plugin!(Bitcoin);

#[cfg(test)]
mod tests;
