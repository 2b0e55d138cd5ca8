//! The `ethereum` currency plugin: the native coin of any EVM chain (Ether, POL, BNB…).
//! Credits a transaction's top-level `value` to its `to` when `to` is watched and the receipt
//! says it succeeded. Transfers made by contracts (a smart-contract wallet paying through an
//! internal call) are not in the block's transactions and receipts: they are credited from the
//! block's internal transfers, which the daemon fills from traces when the chain has `traces`
//! configured.
//!
//! Config: `asset`, `symbol`, `chain_id` (the daemon passes the chain's), `decimals`
//! (default 18), `confirmations` hint (default 12).

use paywatch_evm_common::{config_u8, hex0x, uri, EvmAsset};
use paywatch_plugin_api::evm::{u256_to_decimal, BlockView};
use paywatch_plugin_api::messages::*;
use paywatch_plugin_api::{export_currency_plugin, CurrencyPlugin, Host, PluginError};

/// The payment index of a native transfer: a transaction has one `value`, and log indexes
/// (ERC-20 payments of the same transaction) never reach this.
pub const NATIVE_INDEX: u32 = u32::MAX;

/// The payment index of the `k`-th internal transfer of a transaction: counting down below
/// [`NATIVE_INDEX`], far above any log index.
pub fn internal_index(k: u32) -> u32 {
    NATIVE_INDEX - 1 - k
}

#[derive(Debug)]
pub struct Ethereum {
    asset: EvmAsset,
    decimals: u8,
}

impl CurrencyPlugin for Ethereum {
    const NAME: &'static str = "ethereum";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn create(config: serde_json::Value, host: &Host<'_>) -> Result<Self, PluginError> {
        let asset = EvmAsset::from_config(&config)?;
        let decimals = config_u8(&config, "decimals")?.unwrap_or(18);
        host.info(&format!("ethereum plugin ready for {} on chain id {}", asset.symbol, asset.chain_id));
        Ok(Self { asset, decimals })
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
        for tx in block.txs() {
            let Some(to) = tx.to() else { continue };
            if !tx.success() || *tx.value() == [0; 32] || !host.is_watched(to) {
                continue;
            }
            out.matches.push(Match {
                key: Hex(to.to_vec()),
                asset: self.asset.asset.clone(),
                amount_base: u256_to_decimal(tx.value()),
                txid: hex0x(tx.hash()),
                index: NATIVE_INDEX,
                spends: Vec::new(),
                outpoint_keys: Vec::new(),
            });
        }
        // Internal transfers (from traces): the k-th of its transaction gets internal_index(k).
        let (mut last_tx, mut k) = (u32::MAX, 0u32);
        for i in block.internal() {
            (last_tx, k) = if i.tx() == last_tx { (last_tx, k + 1) } else { (i.tx(), 0) };
            let tx = block.tx(i.tx()).expect("checked by parse");
            if !tx.success() || *i.value() == [0; 32] || !host.is_watched(i.to()) {
                continue;
            }
            out.matches.push(Match {
                key: Hex(i.to().to_vec()),
                asset: self.asset.asset.clone(),
                amount_base: u256_to_decimal(i.value()),
                txid: hex0x(tx.hash()),
                index: internal_index(k),
                spends: Vec::new(),
                outpoint_keys: Vec::new(),
            });
        }
        Ok(out)
    }

    /// EIP-681: `ethereum:ADDRESS@CHAIN_ID?value=WEI`.
    fn payment_uri(&self, req: &PaymentUriRequest) -> Result<String, PluginError> {
        uri::native(&req.address, self.asset.chain_id, &req.amount_base)
    }
}

export_currency_plugin!(Ethereum);

#[cfg(test)]
mod tests;
