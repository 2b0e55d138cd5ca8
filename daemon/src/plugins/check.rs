//! `paywatch plugins check FILE`: one library loaded and checked as the daemon loads it, then
//! the SDK's conformance kit run on it, with the config the daemon would give it.

use paywatch_plugin_api::abi::PluginKind;
use paywatch_plugin_api::messages::{currency_method, CurrencyInfo, Pair};
use paywatch_plugin_api::testing::conformance::{
    self, CurrencyOptions, CustomFixture, PlatformOptions, RatesOptions, Report,
};
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
    /// More keys of the asset's table (currency), the plugin-wide config (platform) or the
    /// source's table (rates).
    pub config: Map<String, Value>,
    /// An endpoint the platform plugin accepts; default `{"url": "https://shop.example/paywatch"}`.
    pub endpoint: Option<Value>,
    /// Reference data for a chain kind the kit has none for.
    pub fixture: Option<CustomFixture>,
}

/// What [`check_file`] found.
#[derive(Debug)]
pub struct Checked {
    /// `FILE: KIND plugin NAME VERSION (ABI x.y), loaded and checked`.
    pub header: String,
    /// Options given that do not apply to this kind of plugin.
    pub notes: Vec<String>,
    /// One line per check.
    pub report: Report,
}

/// Loads one library and runs the conformance checks that apply to it; `Err` (the reason, as
/// `run` would refuse it) if it cannot be loaded.
pub fn check_file(path: &Path, opts: &CheckOptions) -> Result<Checked, String> {
    // SAFETY: the operator names the file to check; loading runs its initializers, as putting
    // it in `plugins.dir` would.
    let lib = unsafe { PluginLib::load(path) }.map_err(|e| e.to_string())?;
    let (major, minor) = lib.abi();
    let kind = match lib.kind() {
        PluginKind::CURRENCY => "currency",
        PluginKind::PLATFORM => "platform",
        _ => "rates",
    };
    let header = format!(
        "{}: {kind} plugin {} {} (ABI {major}.{minor}), loaded and checked",
        path.display(),
        lib.name(),
        lib.version()
    );
    let mut notes = Vec::new();
    let report = match kind {
        "currency" => {
            if opts.endpoint.is_some() {
                notes.push("--endpoint is for platform plugins: not used".to_string());
            }
            let config = currency_config(&lib, opts);
            let custom = opts.fixture.clone();
            conformance::check_currency(
                &lib,
                &CurrencyOptions { chain_kind: opts.chain_kind.clone(), custom, ..CurrencyOptions::new(config) },
            )
        }
        "platform" => {
            if opts.chain_kind.is_some() || opts.fixture.is_some() {
                notes.push("--chain-kind and --fixture are for currency plugins: not used".to_string());
            }
            let mut p = PlatformOptions { config: Value::Object(opts.config.clone()), ..PlatformOptions::default() };
            if let Some(e) = &opts.endpoint {
                p.endpoint = e.clone();
            }
            conformance::check_platform(&lib, &p)
        }
        _ => {
            if opts.chain_kind.is_some() || opts.fixture.is_some() || opts.endpoint.is_some() {
                notes.push(
                    "--chain-kind, --fixture and --endpoint are not for rate-source plugins: not used".to_string(),
                );
            }
            let config = Value::Object(opts.config.clone());
            conformance::check_rates(&lib, &RatesOptions::new(config.clone(), rate_pairs(&lib, &config)))
        }
    };
    Ok(Checked { header, notes, report })
}

/// The config the daemon would pass for an asset on a chain of the plugin's kind.
fn currency_config(lib: &PluginLib, opts: &CheckOptions) -> Value {
    let asset = opts.asset.clone().unwrap_or_else(|| "TEST".into());
    let network = opts.network.clone().unwrap_or_else(|| "mainnet".into());
    let chain_id = opts.chain_id.unwrap_or(1);
    // The symbol differs from the asset id, as an operator may configure it: a plugin that
    // writes the symbol in `Match.asset` is caught. `--config` keys come last, as an asset
    // table's do.
    let mut own = Map::from_iter([("symbol".to_string(), json!("TST"))]);
    own.extend(opts.config.clone());
    let with = |node: &[(&'static str, Value)]| {
        crate::startup::currency_plugin_config(&asset, "check", node.iter().cloned(), &own)
    };
    let both = with(&[("network", json!(network)), ("chain_id", json!(chain_id))]);
    let kind = opts.chain_kind.clone().or_else(|| {
        // Ask the plugin, from an instance given both kinds' keys.
        let host = TestHost::new();
        let probe = lib.create(&both, &host).ok()?;
        probe.call::<_, CurrencyInfo>(currency_method::INFO, &json!({}), &host).ok().map(|i| i.chain_kind)
    });
    match kind.as_deref() {
        Some("evm") => with(&[("chain_id", json!(chain_id))]),
        Some(_) => with(&[("network", json!(network))]),
        // It refused both: the checks report its own reason, from the same config.
        None => both,
    }
}

/// The pairs a rate source is checked with, without its own fixtures: the first of a few
/// common pairs its `request` accepts (a crypto exchange quotes `BTC_USD`, a fiat reference
/// `EUR_USD`), or `BTC_USD` when it accepts none (the checks then report its reason).
fn rate_pairs(lib: &PluginLib, config: &Value) -> Vec<Pair> {
    let candidates = [Pair::new("BTC", "USD"), Pair::new("BTC", "USDT"), Pair::new("EUR", "USD")];
    let host = TestHost::new();
    let accepted = lib.create(config, &host).ok().and_then(|probe| {
        candidates.iter().find(|p| probe.rate_requests(std::slice::from_ref(p), &host).is_ok()).cloned()
    });
    vec![accepted.unwrap_or_else(|| candidates[0].clone())]
}
