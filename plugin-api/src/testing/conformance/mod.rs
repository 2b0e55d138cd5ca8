//! The conformance checks: what a plugin must do whatever it is written in, checked through
//! its C ABI on real data. `paywatch plugins check FILE` runs them; a plugin author runs them
//! from a test:
//!
//! ```no_run
//! // In the plugin crate, whose `export_currency_plugin!(MyCoin);` defines
//! // `PAYWATCH_PLUGIN` (here a parameter, to keep the example self-contained):
//! use paywatch_plugin_api::testing::{conformance, harness::PluginLib};
//! # #[allow(non_snake_case)]
//! fn conformance(PAYWATCH_PLUGIN: &paywatch_plugin_api::ExportedPlugin) {
//!     let lib = PluginLib::from_exported(PAYWATCH_PLUGIN).unwrap();
//!     let config = serde_json::json!({"asset": "BTC", "symbol": "BTC", "chain": "btc", "network": "mainnet"});
//!     conformance::check_currency(&lib, &conformance::CurrencyOptions::new(config)).assert_passed();
//! }
//! ```
//!
//! Per chain kind (the plugin's `info().chain_kind`, or the one asked for):
//!
//! * `bitcoin`: over the real mainnet block of [`super::fixtures`]: `scan_block` finds exactly
//!   the reference outputs with their txids in display order, amounts in satoshis, `asset` the
//!   asset id, `key` the scriptPubKey; `scan_tx` of each sampled transaction agrees with
//!   `scan_block`; watched spends are reported with the spending txid and the outpoint key
//!   `is_watched_spend` was asked, and a coinbase's null outpoint is not a spend; each match
//!   lists what its transaction spends, also as outpoint keys (`Match::outpoint_keys`, what
//!   the host watches); a keys-only host is asked about spends at most once per scan;
//!   truncated and garbage input is an error, never a panic or a partial result.
//! * `evm`: over a normalized block built with [`crate::evm::Block`]: a token plugin (the
//!   config names a `contract`) finds exactly that contract's `Transfer` to a watched address
//!   (with its log index), not another contract's, not Ether; a native-coin plugin finds
//!   exactly the Ether sent and forwarded (internal transfer) to it; failed transactions never
//!   pay; hashes are `0x` + 64 lowercase hex digits; truncated and garbage blocks are errors.
//! * any other kind: with a [`CustomFixture`] of the author's own, scan_block/scan_tx
//!   agreement and exact matches; garbage never panics.
//! * every currency plugin: `info` is sane; `parse_address` refuses garbage (empty, 64 KiB,
//!   control characters) with an error, and 1 MiB as `invalid_address` before decoding (with
//!   [`crate::text::check_address_len`]) in a message that does not echo it (and for `bitcoin`, every sampled scriptPubKey
//!   round-trips through `key_to_address` and `parse_address`).
//! * platform plugins ([`check_platform`]): see there.
//! * rate-source plugins ([`check_rates`]): see there.

mod bitcoin;
mod custom;
mod evm;
mod platform;
mod rates;
mod report;
#[cfg(test)]
mod tests;

pub use custom::{CustomFixture, Expected, FixtureTx};
pub use platform::{check_platform, sample_events, PlatformOptions};
pub use rates::{check_rates, RatesOptions, Recorded};
pub use report::{Check, Outcome, Report};

use super::harness::{CallError, Instance, PluginLib};
use super::TestHost;
use crate::abi::PluginKind;
use crate::messages::{currency_method as m, CurrencyInfo, ParseAddressRequest, ParsedAddress, ScanReply};
use serde_json::{json, Value};

/// What [`check_currency`] needs.
#[derive(Debug, Clone)]
pub struct CurrencyOptions {
    /// The instance config, as the daemon would pass it (`asset`, `symbol`, `chain`, and
    /// `network` for `bitcoin` or `chain_id` for `evm`, plus the asset's own keys).
    pub config: Value,
    /// The chain kind to check against; `None`: the plugin's own `info().chain_kind`.
    pub chain_kind: Option<String>,
    /// For chain kinds other than `bitcoin` and `evm`: the author's data.
    pub custom: Option<CustomFixture>,
}

impl CurrencyOptions {
    /// Checks against the plugin's own chain kind with this config.
    pub fn new(config: Value) -> Self {
        Self { config, chain_kind: None, custom: None }
    }
}

/// Runs every check that applies to a currency plugin. Never panics: each problem is a
/// failed check in the report.
pub fn check_currency(lib: &PluginLib, opts: &CurrencyOptions) -> Report {
    let mut r = Report::new(lib);
    let host = TestHost::new();
    let Some(plugin) = start(&mut r, lib, PluginKind::CURRENCY, &opts.config, &host) else { return r };
    let Some(info) = info(&mut r, &plugin, &host) else { return r };
    let kind = opts.chain_kind.clone().unwrap_or_else(|| info.chain_kind.clone());
    if info.chain_kind == kind {
        r.pass("chain kind", format!("info().chain_kind is {kind:?}"));
    } else {
        r.fail("chain kind", format!("info().chain_kind is {:?}, the chain is {kind:?}", info.chain_kind));
    }
    addresses(&mut r, &plugin);
    huge_address(&mut r, &plugin);
    let asset = opts.config.get("asset").and_then(Value::as_str).unwrap_or_default().to_string();
    let ctx = Ctx { lib, config: &opts.config, asset: &asset };
    // The kit's own data for the kinds it knows; an author's fixture adds to it, never replaces it.
    match (kind.as_str(), &opts.custom) {
        ("bitcoin", custom) => {
            bitcoin::run(&mut r, &ctx);
            custom.iter().for_each(|f| custom::run(&mut r, &ctx, f));
        }
        ("evm", custom) => {
            evm::run(&mut r, &ctx);
            custom.iter().for_each(|f| custom::run(&mut r, &ctx, f));
        }
        (_, Some(fixture)) => custom::run(&mut r, &ctx, fixture),
        (other, None) => {
            r.skip(
                "scanning",
                format!(
                    "no reference data for chain kind {other:?}: pass a CustomFixture (`plugins check --fixture FILE`)"
                ),
            );
            garbage_never_panics(&mut r, &ctx, false, false);
        }
    }
    r
}

/// Checks the kind and creates the first instance; `None` (with the failure in the report)
/// when either is wrong.
fn start<'l>(
    r: &mut Report,
    lib: &'l PluginLib,
    kind: PluginKind,
    config: &Value,
    host: &TestHost,
) -> Option<Instance<'l>> {
    if lib.kind() != kind {
        let want = match kind {
            PluginKind::CURRENCY => "currency",
            PluginKind::PLATFORM => "platform",
            _ => "rate-source",
        };
        r.fail("kind", format!("not a {want} plugin"));
        return None;
    }
    match lib.create(config, host) {
        Ok(p) => {
            r.pass("create", format!("with {config}"));
            Some(p)
        }
        Err(e) => {
            r.fail("create", format!("refused the config {config}: {e}"));
            None
        }
    }
}

/// What the per-kind checks share.
struct Ctx<'a> {
    lib: &'a PluginLib,
    config: &'a Value,
    /// The asset id every `Match.asset` must carry.
    asset: &'a str,
}

impl Ctx<'_> {
    /// A fresh instance per check, so one check's panic does not spoil the next. When the
    /// plugin refuses to make one, the check fails (it is never skipped silently).
    fn instance<'h>(&'h self, r: &mut Report, check: &str, host: &TestHost) -> Option<Instance<'h>> {
        match self.lib.create(self.config, host) {
            Ok(p) => Some(p),
            Err(e) => {
                r.fail(check, format!("cannot create another instance from the same config: {e}"));
                None
            }
        }
    }
}

fn info(r: &mut Report, plugin: &Instance<'_>, host: &TestHost) -> Option<CurrencyInfo> {
    match plugin.call::<_, CurrencyInfo>(m::INFO, &json!({}), host) {
        Ok(i) if i.symbol.is_empty() => r.fail("info", "empty symbol"),
        Ok(i) if i.decimals > 77 => r.fail("info", format!("{} decimals: a u256 has at most 77", i.decimals)),
        Ok(i) => {
            r.pass(
                "info",
                format!("{} ({} decimals, {} confirmations)", i.symbol, i.decimals, i.default_confirmations),
            );
            return Some(i);
        }
        Err(e) => r.fail("info", e.to_string()),
    }
    None
}

/// Garbage addresses are errors; a parsed address's key maps back to the same address.
fn addresses(r: &mut Report, plugin: &Instance<'_>) {
    let host = TestHost::new();
    let long = "1".repeat(64 * 1024);
    let bad = ["", " ", "\0", "bc1\u{7}", "0x", long.as_str(), "\u{202e}abc"];
    let mut problems = Vec::new();
    for a in bad {
        match plugin.call::<_, ParsedAddress>(m::PARSE_ADDRESS, &ParseAddressRequest { address: a.into() }, &host) {
            Err(CallError::Plugin(_)) => {}
            Ok(p) => problems.push(format!("accepted {:?} as {:?}", short(a), p.address)),
            Err(e) => problems.push(format!("{:?}: {e}", short(a))),
        }
    }
    if problems.is_empty() {
        r.pass("parse_address refuses garbage", format!("{} inputs, each an error", bad.len()));
    } else {
        r.fail("parse_address refuses garbage", problems.join("; "));
    }
}

/// A megabyte of address characters is refused as `invalid_address` before decoding (base58
/// decoding is quadratic: decoding it would take minutes), without echoing it.
fn huge_address(r: &mut Report, plugin: &Instance<'_>) {
    let check = "parse_address refuses an address past MAX_ADDRESS_LEN";
    let host = TestHost::new();
    let huge = "1".repeat(1 << 20);
    match plugin.call::<_, ParsedAddress>(m::PARSE_ADDRESS, &ParseAddressRequest { address: huge }, &host) {
        Err(CallError::Plugin(e)) if e.code == "invalid_address" && e.message.len() <= 1024 => {
            r.pass(check, format!("1 MiB: {}", e.message))
        }
        Err(CallError::Plugin(e)) => {
            r.fail(check, format!("error {:?} with a message of {} bytes", e.code, e.message.len()))
        }
        Ok(p) => r.fail(check, format!("accepted 1 MiB as {:?}", short(&p.address))),
        Err(e) => r.fail(check, e.to_string()),
    }
}

/// Random-looking and degenerate input to both scans: any error is fine, a panic is not; an OK
/// reply is not either from `scan_block` when `strict_block`, from `scan_tx` when `strict_tx`.
fn garbage_never_panics(r: &mut Report, ctx: &Ctx<'_>, strict_block: bool, strict_tx: bool) {
    let host = TestHost::new();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut noise = vec![0u8; 4096];
    for b in &mut noise {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        *b = seed as u8;
    }
    let inputs: [(&str, Vec<u8>); 4] = [
        ("empty", vec![]),
        ("4 KiB of 0xff", vec![0xff; 4096]),
        ("4 KiB of zeros", vec![0; 4096]),
        ("4 KiB of noise", noise),
    ];
    let check = "garbage input is an error, not a panic";
    let mut problems = Vec::new();
    for (what, raw) in &inputs {
        for (scan, name, strict) in [(true, "scan_block", strict_block), (false, "scan_tx", strict_tx)] {
            let Some(plugin) = ctx.instance(r, check, &host) else { return };
            let got = if scan { plugin.scan_block(raw, &host) } else { plugin.scan_tx(raw, &host) };
            match got {
                Err(CallError::Plugin(_)) => {}
                Ok(reply) if !strict && reply.matches.is_empty() => {}
                Ok(reply) => problems.push(format!("{name}({what}) answered OK with {} matches", reply.matches.len())),
                Err(e) => problems.push(format!("{name}({what}): {e}")),
            }
        }
    }
    if problems.is_empty() {
        r.pass(check, format!("{} inputs to both scans", inputs.len()));
    } else {
        r.fail(check, problems.join("; "));
    }
}

/// Every prefix in `cuts` of `raw` must be refused by `scan` with an error.
fn truncations_are_errors(
    r: &mut Report,
    ctx: &Ctx<'_>,
    name: &str,
    raw: &[u8],
    cuts: &[usize],
    scan: impl Fn(&Instance<'_>, &[u8], &TestHost) -> Result<ScanReply, CallError>,
) {
    let host = TestHost::new();
    let mut problems = Vec::new();
    for &cut in cuts.iter().filter(|&&c| c < raw.len()) {
        let Some(plugin) = ctx.instance(r, name, &host) else { return };
        match scan(&plugin, &raw[..cut], &host) {
            Err(CallError::Plugin(_)) => {}
            Ok(_) => problems.push(format!("the first {cut} bytes answered OK (a partial result loses payments)")),
            Err(e) => problems.push(format!("the first {cut} bytes: {e}")),
        }
    }
    if problems.is_empty() {
        r.pass(name, format!("{} cuts, each an error", cuts.len()));
    } else {
        r.fail(name, problems.join("; "));
    }
}

fn short(s: &str) -> String {
    if s.len() > 24 {
        format!("{}… ({} bytes)", &s[..s.char_indices().nth(16).map_or(s.len(), |(i, _)| i)], s.len())
    } else {
        s.to_string()
    }
}
