//! Assembling the daemon's parts from the config: the watch set, the plugins the config uses,
//! and each chain's way of making watches.

use crate::config::{AssetConfig, ChainConfig, ChainNode, Config};
use crate::health::Health;
use crate::index::{self, ChainWatches, WatchSet};
use crate::plugins::{Kind, PluginInstance, Registry};
use crate::RunError;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// The currency plugin instances, by asset id.
pub(crate) type Currencies = HashMap<String, Arc<PluginInstance>>;

/// One instance of every loaded platform plugin, by plugin name.
pub(crate) type Platforms = HashMap<String, Arc<PluginInstance>>;

/// Loads the plugin directory, checks that every plugin the config names loaded with the right
/// kind, and creates one currency instance per asset (a bad plugin config fails here).
pub(crate) fn plugins(
    config: &Config,
    set: &Arc<WatchSet>,
    health: &Arc<Health>,
) -> Result<(Currencies, Platforms), RunError> {
    let dir = &config.plugins.dir;
    let registry = Registry::load_dir(dir).map_err(|source| RunError::PluginDir { dir: dir.clone(), source })?;
    registry.report_health(health);
    let mut currencies = HashMap::new();
    for asset in &config.assets {
        let lib = registry.get(Kind::Currency, &asset.plugin).ok_or_else(|| RunError::MissingPlugin {
            user: format!("asset {:?}", asset.id),
            plugin: asset.plugin.clone(),
            kind: "currency",
            dir: dir.clone(),
        })?;
        let chain = config.chain(&asset.chain).expect("validated: assets name configured chains");
        let label = format!("{}@{}", asset.plugin, asset.id);
        let watches = Some(set.chain(&chain.name).expect("the set has every configured chain").clone());
        let inst = PluginInstance::new(lib, label, &asset_plugin_config(asset, chain), watches, health.clone())
            .map_err(|e| RunError::Plugin(Box::new(e)))?;
        currencies.insert(asset.id.clone(), Arc::new(inst));
    }
    for store in &config.stores {
        for (i, e) in store.endpoints.iter().enumerate() {
            if registry.get(Kind::Platform, &e.plugin).is_none() {
                return Err(RunError::MissingPlugin {
                    user: format!("stores[{}] endpoint {i}", store.id),
                    plugin: e.plugin.clone(),
                    kind: "platform",
                    dir: dir.clone(),
                });
            }
        }
    }
    let mut platforms = HashMap::new();
    for lib in registry.all(Kind::Platform) {
        let label = format!("{}@dispatch", lib.name);
        let inst = PluginInstance::new(lib.clone(), label, &json!({}), None, health.clone())
            .map_err(|e| RunError::Plugin(Box::new(e)))?;
        platforms.insert(lib.name.clone(), Arc::new(inst));
    }
    Ok((currencies, platforms))
}

/// What a currency plugin instance is created from: the asset's table and its chain.
fn asset_plugin_config(asset: &AssetConfig, chain: &ChainConfig) -> Value {
    let mut v = json!({"asset": asset.id, "symbol": asset.id, "chain": chain.name});
    match &chain.node {
        ChainNode::Bitcoin(b) => v["network"] = serde_json::to_value(b.network).expect("enum encodes"),
        ChainNode::Evm(e) => v["chain_id"] = e.chain_id.into(),
    }
    if let Some(c) = &asset.contract {
        v["contract"] = c.clone().into();
    }
    if let Some(d) = asset.decimals {
        v["decimals"] = d.into();
    }
    for (k, val) in asset.params.expose() {
        v[k] = val.clone();
    }
    v
}

/// Per chain: addresses parsed by the plugin of the chain's first asset, or by the structural
/// placeholder when the chain has no asset yet.
pub(crate) fn chain_watches(config: &Config, currencies: &Currencies) -> Vec<ChainWatches> {
    config
        .chains
        .iter()
        .map(|c| {
            let plugin = config.assets.iter().find(|a| a.chain == c.name).and_then(|a| currencies.get(&a.id));
            let codec: Box<dyn index::AddressCodec> = match plugin {
                Some(p) => Box::new(index::PluginCodec(p.clone())),
                None => index::placeholder_codec(c.kind()),
            };
            ChainWatches { name: c.name.clone(), codec, default_confirmations: c.confirmations }
        })
        .collect()
}

/// Each asset's decimals, from its plugin's `info`.
pub(crate) fn decimals(currencies: &Currencies) -> Result<index::Decimals, RunError> {
    use paywatch_plugin_api::messages::{currency_method, CurrencyInfo};
    currencies
        .iter()
        .map(|(asset, p)| {
            let info: CurrencyInfo =
                p.call(currency_method::INFO, &json!({})).map_err(|e| RunError::Plugin(Box::new(e)))?;
            Ok((asset.clone(), info.decimals))
        })
        .collect()
}

/// The assets invoices can be made in: chain, decimals and currency plugin of each.
pub(crate) fn invoice_assets(
    config: &Config,
    currencies: &Currencies,
    decimals: &index::Decimals,
) -> HashMap<String, crate::invoices::AssetInfo> {
    config
        .assets
        .iter()
        .filter_map(|a| {
            let plugin = currencies.get(&a.id)?.clone();
            let info = crate::invoices::AssetInfo {
                chain: a.chain.clone(),
                decimals: decimals.get(&a.id).copied().unwrap_or(0),
                plugin,
            };
            Some((a.id.clone(), info))
        })
        .collect()
}
