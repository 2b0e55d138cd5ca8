//! The `erc20` currency plugin: one token (one asset) per instance, credited from the
//! `Transfer(address,address,uint256)` logs its contract emits in successful transactions,
//! to the watched `to`. A block leaving the best chain is disconnected by the daemon, which
//! reverses what its logs paid (the `removed: true` case of log subscriptions).
//!
//! Config: `asset`, `symbol`, `chain_id` (the daemon passes the chain's), `contract` (the
//! token's address, EIP-55 checked) and `decimals` (required: the plugin has no node to ask).

use paywatch_evm_common::{address, config_u8, hex0x, uri, EvmAsset};
use paywatch_plugin_api::evm::{u256_to_decimal, BlockView};
use paywatch_plugin_api::messages::*;
use paywatch_plugin_api::{export_currency_plugin, CurrencyPlugin, Host, PluginError};

/// keccak256("Transfer(address,address,uint256)").
pub const TRANSFER_TOPIC: [u8; 32] = [
    0xdd, 0xf2, 0x52, 0xad, 0x1b, 0xe2, 0xc8, 0x9b, 0x69, 0xc2, 0xb0, 0x68, 0xfc, 0x37, 0x8d, 0xaa, 0x95, 0x2b, 0xa7,
    0xf1, 0x63, 0xc4, 0xa1, 0x16, 0x28, 0xf5, 0x5a, 0x4d, 0xf5, 0x23, 0xb3, 0xef,
];

#[derive(Debug)]
pub struct Erc20 {
    asset: EvmAsset,
    contract: [u8; 20],
    decimals: u8,
}

impl CurrencyPlugin for Erc20 {
    const NAME: &'static str = "erc20";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn create(config: serde_json::Value, host: &Host<'_>) -> Result<Self, PluginError> {
        let asset = EvmAsset::from_config(&config)?;
        let contract = config.get("contract").and_then(|v| v.as_str()).ok_or_else(|| {
            PluginError::bad_config(format!("asset {:?}: missing \"contract\" (the token's address)", asset.asset))
        })?;
        let contract = address::parse(contract)
            .map_err(|e| PluginError::bad_config(format!("asset {:?}: contract: {}", asset.asset, e.message)))?;
        let decimals = config_u8(&config, "decimals")?.ok_or_else(|| {
            PluginError::bad_config(format!(
                "asset {:?}: missing \"decimals\" (the token's decimals(), e.g. 6 for USDT)",
                asset.asset
            ))
        })?;
        host.info(&format!(
            "erc20 plugin ready for {} ({}, {decimals} decimals) on chain id {}",
            asset.symbol,
            address::to_checksum(&contract),
            asset.chain_id
        ));
        Ok(Self { asset, contract, decimals })
    }

    fn info(&self) -> CurrencyInfo {
        self.asset.info(self.decimals)
    }

    fn parse_address(&self, address: &str) -> Result<ParsedAddress, PluginError> {
        self.asset.parse_address(address)
    }

    fn key_to_address(&self, key: &[u8]) -> Result<String, PluginError> {
        self.asset.key_to_address(key)
    }

    fn derive_addresses(&self, req: &DeriveRequest) -> Result<Vec<DerivedAddress>, PluginError> {
        self.asset.derive_addresses(req)
    }

    fn scan_block(&self, raw: &[u8], host: &Host<'_>) -> Result<ScanReply, PluginError> {
        let block = BlockView::parse(raw).map_err(|e| PluginError::invalid_input(e.to_string()))?;
        let mut out = ScanReply::default();
        for log in block.logs() {
            if *log.address != self.contract || log.topic_count() != 3 || log.topic(0) != Some(&TRANSFER_TOPIC) {
                continue; // another contract, or not an ERC-20 Transfer (ERC-721's has 4 topics)
            }
            let to_topic = log.topic(2).expect("3 topics");
            let Ok(amount) = <&[u8; 32]>::try_from(log.data) else { continue };
            if to_topic[..12] != [0; 12] || *amount == [0; 32] {
                continue;
            }
            let to: &[u8; 20] = to_topic[12..].try_into().expect("20 bytes");
            let Some(tx) = block.tx(log.tx) else { continue };
            if !tx.success() || !host.is_watched(to) {
                continue;
            }
            out.matches.push(Match {
                key: Hex(to.to_vec()),
                asset: self.asset.asset.clone(),
                amount_base: u256_to_decimal(amount),
                txid: hex0x(tx.hash()),
                index: log.index,
                spends: Vec::new(),
                outpoint_keys: Vec::new(),
            });
        }
        Ok(out)
    }

    /// EIP-681: `ethereum:TOKEN@CHAIN_ID/transfer?address=ADDRESS&uint256=AMOUNT`.
    fn payment_uri(&self, req: &PaymentUriRequest) -> Result<String, PluginError> {
        uri::token_transfer(&self.contract, &req.address, self.asset.chain_id, &req.amount_base)
    }
}

export_currency_plugin!(Erc20);

#[cfg(test)]
mod tests;
