//! `paywatch plugins check FILE`: one library loaded and checked as the daemon loads it, then
//! the SDK's conformance kit run on it, with the config the daemon would give it.

use paywatch_plugin_api::abi::PluginKind;
use paywatch_plugin_api::messages::{currency_method, CurrencyInfo};
use paywatch_plugin_api::testing::conformance::{self, CurrencyOptions, PlatformOptions, Report};
use paywatch_plugin_api::testing::harness::PluginLib;
use paywatch_plugin_api::testing::TestHost;
use serde_json::{json, Map, Value};
use std::path::Path;

/// What to check a library against.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// `bitcoin`, `evm`…; default: the plugin's own `info().chain_kind`.
    pub chain_kind: Option<String>,
    /// The chain's network (bitcoin kinds); default `mainnet`.
    pub network: Option<String>,
    /// The chain id (evm); default 1.
    pub chain_id: Option<u64>,
    /// The asset id the instance is created for; default `TEST`.
    pub asset: Option<String>,
    /// More keys of the asset's table (currency) or the plugin-wide config (platform).
    pub config: Map<String, Value>,
    /// An endpoint the platform plugin accepts; default `{"url": "https://shop.example/paywatch"}`.
    pub endpoint: Option<Value>,
}

/// The library's identity line and the conformance report; `Err` if it cannot be loaded.
pub fn check_file(path: &Path, opts: &CheckOptions) -> Result<(String, Report), String> {
    let lib = PluginLib::load(path).map_err(|e| e.to_string())?;
    let (major, minor) = lib.abi();
    let kind = if lib.kind() == PluginKind::CURRENCY { "currency" } else { "platform" };
    let header = format!(
        "{}: {kind} plugin {} {} (ABI {major}.{minor}), loaded and checked",
        path.display(),
        lib.name(),
        lib.version()
    );
    let report = if lib.kind() == PluginKind::CURRENCY {
        let config = currency_config(&lib, opts);
        conformance::check_currency(
            &lib,
            &CurrencyOptions { chain_kind: opts.chain_kind.clone(), ..CurrencyOptions::new(config) },
        )
    } else {
        let mut p = PlatformOptions { config: Value::Object(opts.config.clone()), ..PlatformOptions::default() };
        if let Some(e) = &opts.endpoint {
            p.endpoint = e.clone();
        }
        conformance::check_platform(&lib, &p)
    };
    Ok((header, report))
}

/// The config the daemon would pass for an asset on a chain of the plugin's kind.
fn currency_config(lib: &PluginLib, opts: &CheckOptions) -> Value {
    let asset = opts.asset.clone().unwrap_or_else(|| "TEST".into());
    let network = opts.network.clone().unwrap_or_else(|| "mainnet".into());
    let chain_id = opts.chain_id.unwrap_or(1);
    let with = |extra: Value| {
        let mut v = json!({"asset": asset, "symbol": asset, "chain": "check"});
        for (k, x) in extra.as_object().into_iter().flatten().chain(&opts.config) {
            v[k] = x.clone();
        }
        v
    };
    let kind = opts.chain_kind.clone().or_else(|| {
        // Ask the plugin, from an instance given both kinds' keys.
        let host = TestHost::new();
        let probe = lib.create(&with(json!({"network": network, "chain_id": chain_id})), &host).ok()?;
        probe.call::<_, CurrencyInfo>(currency_method::INFO, &json!({}), &host).ok().map(|i| i.chain_kind)
    });
    match kind.as_deref() {
        Some("evm") => with(json!({"chain_id": chain_id})),
        _ => with(json!({"network": network})),
    }
}
