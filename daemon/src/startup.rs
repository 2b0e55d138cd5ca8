//! Assembling the daemon's parts from the config: the plugins the config uses (checked
//! against their chains), the watch set attached to them, assets' decimals and invoice
//! assets, and each chain's way of making watches. `paywatch config check` runs the plugin part too,
//! so that what `run` refuses, it refuses.

use crate::config::{AssetConfig, ChainConfig, ChainKind, ChainNode, Config, RateSourceKind, ReceiveConfig};
use crate::health::Health;
use crate::index::{self, ChainWatches, WatchSet};
use crate::invoices::AssetLimits;
use crate::plugins::{Kind, Library, PluginInstance, Registry, Wanted};
use crate::RunError;
use paywatch_plugin_api::amount::Amount;
use paywatch_plugin_api::messages::{currency_method, CurrencyInfo};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// The currency plugin instances, by asset id.
pub(crate) type Currencies = HashMap<String, Arc<PluginInstance>>;

/// One instance of every loaded platform plugin, by plugin name.
pub(crate) type Platforms = HashMap<String, Arc<PluginInstance>>;

/// One rate-source plugin instance per plugin source of `[rates.sources]`, by source name.
pub(crate) type RateApis = HashMap<String, Arc<PluginInstance>>;

/// Loads the plugin directory, checks that every plugin the config names loaded with the right
/// kind, creates one currency instance per asset (a bad plugin config, or a plugin for another
/// kind of chain, fails here), one instance per platform plugin and per plugin rate source,
/// and has each config-file
/// endpoint's params accepted by its plugin. Touches no storage: `run` does this first, and
/// `config check` does nothing else; [`attach_watches`] then connects the currency instances
/// to the watch set.
pub(crate) fn plugins(config: &Config, health: &Arc<Health>) -> Result<(Currencies, Platforms, RateApis), RunError> {
    let dir = &config.plugins.dir;
    let wanted = wanted(config);
    let registry = Registry::load(dir, &wanted).map_err(|source| RunError::PluginDir { dir: dir.clone(), source })?;
    registry.report_health(health);
    let mut currencies = HashMap::new();
    for asset in &config.assets {
        let inst = currency(config, &registry, asset, health)?;
        currencies.insert(asset.id.clone(), Arc::new(inst));
    }
    if let Some(name) = config.plugins.config.keys().find(|n| registry.get(Kind::Platform, n).is_none()) {
        if registry.get(Kind::Currency, name).is_some() {
            return Err(RunError::Refused {
                at: format!("plugins.config.{name}"),
                message: format!(
                    "{name} is a currency plugin: its config is each asset's table, not [plugins.config.{name}]"
                ),
            });
        }
        return Err(RunError::MissingPlugin {
            user: format!("plugins.config.{name}"),
            plugin: name.clone(),
            kind: "platform",
            dir: dir.clone(),
            why: registry.why_missing(name, Kind::Platform),
        });
    }
    let mut platforms = HashMap::new();
    for lib in registry.all(Kind::Platform) {
        let label = format!("{}@dispatch", lib.name);
        let cfg = config.plugins.config.get(&lib.name).map_or_else(|| json!({}), |p| Value::Object(p.expose().clone()));
        let inst = PluginInstance::new(lib.clone(), label, &cfg, None, health.clone())
            .map_err(|e| RunError::Plugin(Box::new(e)))?;
        platforms.insert(lib.name.clone(), Arc::new(inst));
    }
    for store in &config.stores {
        for (i, e) in store.endpoints.iter().enumerate() {
            let user = || format!("stores[{}].endpoints[{i}]", store.id);
            let Some(plugin) = platforms.get(&e.plugin) else {
                return Err(RunError::MissingPlugin {
                    user: user(),
                    plugin: e.plugin.clone(),
                    kind: "platform",
                    dir: dir.clone(),
                    why: registry.why_missing(&e.plugin, Kind::Platform),
                });
            };
            crate::dispatch::validate_with(plugin, &e.plugin_object())
                .map_err(|message| RunError::Refused { at: user(), message })?;
        }
    }
    // `plugins.enable` is for platform plugins (what API-created endpoints may use).
    for (i, name) in config.plugins.enable.iter().enumerate() {
        if registry.get(Kind::Currency, name).is_some() {
            return Err(RunError::Refused {
                at: format!("plugins.enable[{i}]"),
                message: format!(
                    "{name:?} is a currency plugin: an [[assets]] entry names it, plugins.enable does not"
                ),
            });
        }
    }
    // What is left: plugins only `plugins.enable` names.
    let used = config.plugins_used();
    if let Some((name, e)) = wanted.iter().find_map(|w| registry.refusal(&w.name).map(|e| (&w.name, e))) {
        let user = used.get(name).cloned().unwrap_or_default();
        return Err(RunError::PluginRefused { user, plugin: name.clone(), reason: e.to_string() });
    }
    shared_sources(config, &currencies)?;
    let rates = rate_sources(config, &registry, health)?;
    Ok((currencies, platforms, rates))
}

/// An instance of its plugin per plugin rate source, created with the source's other keys.
fn rate_sources(config: &Config, registry: &Registry, health: &Arc<Health>) -> Result<RateApis, RunError> {
    let mut out = HashMap::new();
    for (name, source) in &config.rates.sources {
        let RateSourceKind::Plugin { plugin, params } = &source.kind else { continue };
        let lib = registry.get(Kind::Rates, plugin).ok_or_else(|| RunError::MissingPlugin {
            user: format!("rates.sources.{name}"),
            plugin: plugin.clone(),
            kind: "rates",
            dir: config.plugins.dir.clone(),
            why: registry.why_missing(plugin, Kind::Rates),
        })?;
        let cfg = Value::Object(params.expose().clone());
        let inst = PluginInstance::new(lib, format!("{plugin}@rates.{name}"), &cfg, None, health.clone())
            .map_err(|e| RunError::Plugin(Box::new(e)))?;
        out.insert(name.clone(), Arc::new(inst));
    }
    Ok(out)
}

/// The rate plugin instances as the rate engine takes them.
pub(crate) fn rate_apis(apis: RateApis) -> HashMap<String, Arc<dyn crate::rates::RateApi>> {
    apis.into_iter().map(|(name, inst)| (name, inst as Arc<dyn crate::rates::RateApi>)).collect()
}

/// The plugins the config uses ([`Config::plugins_used`]), each with its `[plugins.files]`
/// name and `[plugins.sha256]` pin: what is loaded, and nothing else.
pub(crate) fn wanted(config: &Config) -> Vec<Wanted> {
    let p = &config.plugins;
    config
        .plugins_used()
        .into_keys()
        .map(|name| Wanted { file: p.files.get(&name).cloned(), sha256: p.sha256.get(&name).cloned(), name })
        .collect()
}

/// Endpoints created through the API name their platform plugin (those from the config file
/// are the config's, checked in [`plugins`], and synced by the dispatcher); one the config no longer
/// loads would leave the store's callbacks undelivered, so the start is refused, naming it.
pub(crate) fn stored_endpoints(db: &crate::db::Db, platforms: &Platforms) -> Result<(), RunError> {
    // Every missing plugin at once, with the stores and endpoints that use it: one restart fixes all.
    let endpoints = db.endpoints()?;
    let mut missing: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for e in endpoints.iter().filter(|e| e.enabled && !e.from_config && !platforms.contains_key(&e.plugin)) {
        missing.entry(&e.plugin).or_default().push(format!("store {:?} endpoint {}", e.store, e.id));
    }
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = missing.keys().map(|n| format!("{n:?}")).collect();
    let users: Vec<String> = missing.iter().map(|(n, u)| format!("{n:?} by {}", u.join(", "))).collect();
    Err(RunError::Refused {
        at: "plugins.enable".into(),
        message: format!(
            "enabled endpoints created through the API use platform plugins this config does not load ({}): add `enable = [{}]` to [plugins] (an endpoint can then be disabled or deleted through the API)",
            users.join("; "),
            names.join(", ")
        ),
    })
}

/// Indexes of each descriptor or extended key compared between stores.
const SOURCE_PROBE: u32 = 20;

/// Every receive source is checked through its asset's plugin at start (`config check` too):
/// a descriptor or extended key must derive (index 0 and on, for the chain's network), every
/// listed address must parse; a failure stops the daemon naming the store and the asset, never
/// the source. Then two stores whose sources hand out the same addresses on one chain are
/// refused, naming both: each store skips only the addresses it watches itself, so one payment
/// would settle an invoice of each. The config's own check compares the sources' text; one
/// source has many spellings (a descriptor with or without its checksum, a bare extended key
/// and the descriptor it stands for, key origin info), so here the plugins derive the first
/// addresses of each and those are compared.
fn shared_sources(config: &Config, currencies: &Currencies) -> Result<(), RunError> {
    let mut seen: HashMap<(&str, Vec<u8>), (&str, &str)> = HashMap::new();
    for store in &config.stores {
        for (asset, receive) in &store.receive {
            let (Some(plugin), Some(a)) = (currencies.get(asset), config.assets.iter().find(|a| &a.id == asset)) else {
                continue;
            };
            let at = || format!("stores[{}].receive.{asset}", store.id);
            let keys = source_keys(plugin, receive).map_err(|message| RunError::Refused { at: at(), message })?;
            for key in keys {
                match seen.get(&(a.chain.as_str(), key.clone())) {
                    Some((other, other_asset)) if *other != store.id => {
                        return Err(RunError::Refused {
                            at: at(),
                            message: format!(
                                "hands out the same addresses as store {other:?} (receive.{other_asset}): one payment would settle invoices of both; give each store its own receive source"
                            ),
                        });
                    }
                    Some(_) => {}
                    None => {
                        seen.insert((a.chain.as_str(), key), (store.id.as_str(), asset.as_str()));
                    }
                }
            }
        }
    }
    Ok(())
}

/// The watch keys of a receive source's first addresses (a list: all of them), or why the
/// plugin refused it (the plugin's words, the source taken out).
pub(crate) fn source_keys(plugin: &PluginInstance, receive: &ReceiveConfig) -> Result<Vec<Vec<u8>>, String> {
    use crate::config::scrub_source;
    use paywatch_plugin_api::messages::{DeriveReply, DeriveRequest, ParseAddressRequest, ParsedAddress};
    match receive {
        ReceiveConfig::Descriptor(s) | ReceiveConfig::Xpub(s) => {
            let req = DeriveRequest { source: s.clone(), branch: 0, start: 0, count: SOURCE_PROBE };
            let reply = plugin.call::<_, DeriveReply>(currency_method::DERIVE_ADDRESSES, &req).map_err(|e| {
                format!(
                    "the asset's plugin cannot derive addresses from this receive source: {}",
                    scrub_source(&e.to_string(), s)
                )
            })?;
            match reply.addresses.first() {
                Some(first) if first.index == 0 => Ok(reply.addresses.into_iter().map(|d| d.key.0).collect()),
                _ => Err("the asset's plugin derived no address at index 0 from this receive source".into()),
            }
        }
        ReceiveConfig::Addresses(list) => list
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let req = ParseAddressRequest { address: a.clone() };
                plugin.call::<_, ParsedAddress>(currency_method::PARSE_ADDRESS, &req).map(|p| p.key.0).map_err(|e| {
                    format!("addresses[{i}] is not an address of this asset: {}", scrub_source(&e.to_string(), a))
                })
            })
            .collect(),
    }
}

/// The instance of an asset's currency plugin, checked to scan the asset's kind of chain.
fn currency(
    config: &Config,
    registry: &Registry,
    asset: &AssetConfig,
    health: &Arc<Health>,
) -> Result<PluginInstance, RunError> {
    let dir = &config.plugins.dir;
    let lib = registry.get(Kind::Currency, &asset.plugin).ok_or_else(|| RunError::MissingPlugin {
        user: format!("asset {:?}", asset.id),
        plugin: asset.plugin.clone(),
        kind: "currency",
        dir: dir.clone(),
        why: registry.why_missing(&asset.plugin, Kind::Currency),
    })?;
    let chain = config.chain(&asset.chain).expect("validated: assets name configured chains");
    currency_instance(lib, &asset.id, &chain.name, chain.kind(), &asset_plugin_config(asset, chain), health)
}

/// An asset's instance of a loaded currency plugin, created from its config
/// ([`currency_plugin_config`]), labelled `plugin@asset`, its matches recorded for the asset,
/// and checked to scan chains of `kind` (the plugin's `info`). No watch set yet
/// ([`attach_watches`]).
pub(crate) fn currency_instance(
    lib: Arc<Library>,
    asset: &str,
    chain: &str,
    kind: ChainKind,
    config: &Value,
    health: &Arc<Health>,
) -> Result<PluginInstance, RunError> {
    let plugin = lib.name.clone();
    let inst = PluginInstance::new(lib, format!("{plugin}@{asset}"), config, None, health.clone())
        .map_err(|e| RunError::Plugin(Box::new(e)))?
        .for_asset(asset);
    let info: CurrencyInfo = inst.call(currency_method::INFO, &json!({})).map_err(|e| RunError::Plugin(Box::new(e)))?;
    if info.chain_kind != kind.as_str() {
        return Err(RunError::ChainKind {
            asset: asset.to_string(),
            plugin,
            scans: info.chain_kind,
            chain: chain.to_string(),
            kind: kind.as_str(),
        });
    }
    Ok(inst)
}

/// Connects each asset's currency instance to its chain's watch set (what `is_watched` asks).
pub(crate) fn attach_watches(config: &Config, currencies: &Currencies, set: &WatchSet) {
    for asset in &config.assets {
        if let Some(inst) = currencies.get(&asset.id) {
            inst.attach_watches(set.chain(&asset.chain).expect("the set has every configured chain").clone());
        }
    }
}

/// What a currency plugin instance is created from: the asset's table and its chain.
fn asset_plugin_config(asset: &AssetConfig, chain: &ChainConfig) -> Value {
    let node = match &chain.node {
        ChainNode::Bitcoin(b) => ("network", serde_json::to_value(b.network).expect("enum encodes")),
        ChainNode::Evm(e) => ("chain_id", e.chain_id.into()),
    };
    let mut own = asset.params.expose().clone();
    if let Some(c) = &asset.contract {
        own.insert("contract".into(), c.clone().into());
    }
    if let Some(d) = asset.decimals {
        own.insert("decimals".into(), d.into());
    }
    currency_plugin_config(&asset.id, &chain.name, [node], &own)
}

/// The one shape of a currency plugin's config (`docs/plugins.md`, "What an instance
/// receives"), for `run` and for `plugins check`: `asset` (the id), `symbol` (the id unless
/// the table sets one), `chain`, the chain's `network` or `chain_id`, then the asset table's
/// own keys.
pub(crate) fn currency_plugin_config<'a>(
    asset: &str,
    chain: &str,
    node: impl IntoIterator<Item = (&'a str, Value)>,
    own: &serde_json::Map<String, Value>,
) -> Value {
    let mut v = json!({"asset": asset, "symbol": asset, "chain": chain});
    for (k, val) in node {
        v[k] = val;
    }
    for (k, val) in own {
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
    currencies
        .iter()
        .map(|(asset, p)| {
            let info: CurrencyInfo =
                p.call(currency_method::INFO, &json!({})).map_err(|e| RunError::Plugin(Box::new(e)))?;
            Ok((asset.clone(), info.decimals))
        })
        .collect()
}

/// The default largest invoice of a Bitcoin-family asset, in coins: Bitcoin's supply (21
/// million). Other Bitcoin-family coins set their own (`max_invoice_amount`).
const BITCOIN_FAMILY_MAX_INVOICE: &str = "21000000";
/// The default largest invoice of an EVM asset, in its unit: 10^15, above the supply of Ether
/// and of every major token (USDT ~10^11), so no real invoice meets it, while with up to 18
/// decimals the amount due stays below 10^33 base units, under `u128::MAX / 10 000` (~3.4 ×
/// 10^34): a shop's own u128 arithmetic on `amount_due_base × 10 000` cannot wrap either.
const EVM_MAX_INVOICE: &str = "1000000000000000";
/// The default smallest payment of a Bitcoin-family asset, in base units: Bitcoin Core's dust
/// threshold at its default `-dustrelayfee` (3,000 sat/kvB) for a P2PKH output, 546 sat, the
/// largest of the standard output types' (P2SH 540, P2WSH and P2TR 330, P2WPKH 294): an output
/// some standard type calls dust costs more to spend than it is worth.
const BITCOIN_FAMILY_DUST: u64 = 546;

/// Every asset's [`AssetLimits`]: its `max_invoice_amount` and `min_payment` in its unit (with
/// the plugin's decimals), or the chain kind's defaults, in base units. An amount with more decimals than the asset has, or a
/// `min_payment` above the largest invoice, is refused with its key.
pub(crate) fn asset_limits(
    config: &Config,
    decimals: &index::Decimals,
) -> Result<HashMap<String, AssetLimits>, RunError> {
    let mut out = HashMap::new();
    for (i, a) in config.assets.iter().enumerate() {
        let d = decimals.get(&a.id).copied().unwrap_or(0);
        let kind = config.chain(&a.chain).expect("validated: assets name configured chains").kind();
        let at = |key: &str| format!("assets[{i}].{key}");
        let units = |key: &str, text: &str| {
            Amount::parse_units(text, d).map_err(|e| RunError::Refused {
                at: at(key),
                message: format!("{e} (asset {} has {d} decimals)", a.id),
            })
        };
        let default_max = match kind {
            ChainKind::Bitcoin => BITCOIN_FAMILY_MAX_INVOICE,
            ChainKind::Evm => EVM_MAX_INVOICE,
        };
        let max_invoice = units("max_invoice_amount", a.max_invoice_amount.as_deref().unwrap_or(default_max))?;
        if max_invoice.is_zero() {
            return Err(RunError::Refused {
                at: at("max_invoice_amount"),
                message: format!(
                    "0 leaves no invoice of {} possible: give the largest amount an invoice may ask",
                    a.id
                ),
            });
        }
        let min_payment = match (&a.min_payment, kind) {
            (Some(text), _) => units("min_payment", text)?,
            (None, ChainKind::Bitcoin) => Amount::from(BITCOIN_FAMILY_DUST),
            (None, ChainKind::Evm) => Amount::ZERO,
        };
        if min_payment > max_invoice {
            return Err(RunError::Refused {
                at: at("min_payment"),
                message: format!(
                    "{} is more than the largest invoice of {}, {}: no invoice could be paid",
                    min_payment.to_units_string(d),
                    a.id,
                    max_invoice.to_units_string(d)
                ),
            });
        }
        out.insert(a.id.clone(), AssetLimits { max_invoice, min_payment });
    }
    Ok(out)
}

/// The assets invoices can be made in: chain, decimals, limits and currency plugin of each.
pub(crate) fn invoice_assets(
    config: &Config,
    currencies: &Currencies,
    decimals: &index::Decimals,
) -> Result<HashMap<String, crate::invoices::AssetInfo>, RunError> {
    let limits = asset_limits(config, decimals)?;
    Ok(config
        .assets
        .iter()
        .filter_map(|a| {
            let plugin = currencies.get(&a.id)?.clone();
            let info = crate::invoices::AssetInfo {
                chain: a.chain.clone(),
                decimals: decimals.get(&a.id).copied().unwrap_or(0),
                limits: limits[&a.id],
                plugin,
            };
            Some((a.id.clone(), info))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(btc: Value, tok: Value) -> Config {
        let mut assets = vec![
            json!({"id": "BTC", "chain": "btc", "plugin": "bitcoin"}),
            json!({"id": "TOK", "chain": "eth", "plugin": "erc20"}),
        ];
        for (a, own) in assets.iter_mut().zip([btc, tok]) {
            a.as_object_mut().unwrap().extend(own.as_object().unwrap().clone());
        }
        crate::config::validate_value(&json!({
            "server": {"listen": "127.0.0.1:8080"},
            "storage": {"path": "/tmp/x"},
            "plugins": {"dir": "/tmp"},
            "chains": [
                {"name": "btc", "kind": "bitcoin", "network": "regtest", "rpc_url": "http://127.0.0.1:1",
                 "rpc_user": "u", "rpc_password": "p"},
                {"name": "eth", "kind": "evm", "chain_id": 1, "ws_url": "ws://127.0.0.1:2"}
            ],
            "assets": assets,
        }))
        .unwrap()
    }

    fn limits(btc: Value, tok: Value) -> Result<HashMap<String, AssetLimits>, RunError> {
        let decimals = index::Decimals::from([("BTC".to_string(), 8), ("TOK".to_string(), 18)]);
        asset_limits(&config(btc, tok), &decimals)
    }

    fn base(s: &str) -> Amount {
        s.parse().unwrap()
    }

    #[test]
    fn defaults_are_the_supply_and_the_dust_limit_for_bitcoin_and_a_bound_for_evm() {
        let l = limits(json!({}), json!({})).unwrap();
        assert_eq!(l["BTC"], AssetLimits { max_invoice: base("2100000000000000"), min_payment: base("546") });
        let evm_max = base("1000000000000000000000000000000000");
        assert_eq!(l["TOK"], AssetLimits { max_invoice: evm_max, min_payment: Amount::ZERO });
        // The EVM bound with 18 decimals stays under the old u128 wrap point.
        assert!(evm_max < Amount::from(u128::MAX / 10_000 + 1));
    }

    #[test]
    fn configured_amounts_are_read_with_the_plugins_decimals() {
        let l =
            limits(json!({"max_invoice_amount": "5", "min_payment": "0.0001"}), json!({"min_payment": "0.5"})).unwrap();
        assert_eq!(l["BTC"], AssetLimits { max_invoice: base("500000000"), min_payment: base("10000") });
        assert_eq!(l["TOK"].min_payment, base("500000000000000000"));
        // The config has no decimals for BTC: the plugin's 8 refuse a ninth.
        let e = limits(json!({"min_payment": "0.000000001"}), json!({})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "assets[0].min_payment: \"0.000000001\" has more than 8 decimals (asset BTC has 8 decimals)"
        );
        let e = limits(json!({"max_invoice_amount": "0"}), json!({})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "assets[0].max_invoice_amount: 0 leaves no invoice of BTC possible: give the largest amount an invoice may ask"
        );
        // A minimum above the largest invoice (configured, or the default) leaves nothing payable.
        let e = limits(json!({"max_invoice_amount": "0.000001"}), json!({})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "assets[0].min_payment: 0.00000546 is more than the largest invoice of BTC, 0.000001: no invoice could be paid"
        );
        let e = limits(json!({}), json!({"min_payment": "1000000000000001"})).unwrap_err();
        assert!(e.to_string().starts_with("assets[1].min_payment: 1000000000000001 is more than"), "{e}");
    }
}
