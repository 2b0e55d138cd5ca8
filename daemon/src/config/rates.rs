//! `[rates]` (sources), `[stores.rates]` (spread and rules) and the assets' `rate_code`:
//! read and checked here, every problem with its key path (`docs/rates.md`).

use super::reader::{show, Issues, Table};
use super::types::*;
use crate::rates::{is_code, via_problem};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::BTreeMap;
use std::str::FromStr;

/// Host keys of a source's table; the other keys of a plugin source are the plugin's.
const HOST_KEYS: [&str; 4] = ["plugin", "fixed", "ttl_secs", "max_age_secs"];

pub(super) fn rates(t: &mut Table<'_>, issues: &mut Issues) -> RatesConfig {
    let timeout_secs = t.u64_in("timeout_secs", 10, 1..=120, issues);
    let max_response_bytes = t.u64_in("max_response_bytes", 1 << 20, 1024..=(64 << 20), issues) as usize;
    let allow_private = super::validate::networks(t, "allow_private", issues);
    let sources = t
        .named_tables("sources", issues)
        .into_iter()
        .filter_map(|(name, mut s)| {
            let source = source(&name, &mut s, issues);
            s.finish(issues);
            Some((name, source?))
        })
        .collect();
    RatesConfig { timeout_secs, max_response_bytes, allow_private, sources }
}

fn source(name: &str, t: &mut Table<'_>, issues: &mut Issues) -> Option<RateSourceConfig> {
    let named = super::validate::check_plugin_name(t.path(), name, issues);
    let ttl_secs = t.u64_in("ttl_secs", 60, 1..=86_400, issues);
    let max_age_secs = t.u64_in("max_age_secs", 600, 1..=30 * 86_400, issues);
    if ttl_secs > max_age_secs {
        issues.push(
            t.key_path("ttl_secs"),
            format!("{ttl_secs} is more than max_age_secs = {max_age_secs}: a cached rate would outlive its limit"),
        );
    }
    let kind = match (t.has("plugin"), t.has("fixed")) {
        (true, true) => {
            issues.push(t.path(), "set either plugin or fixed, not both");
            t.allow_other_keys(); // not also "unknown"
            None
        }
        (false, false) => {
            issues.push(t.path(), "set plugin = \"NAME\" (a rate-source plugin) or fixed = { BTC_USD = \"50000\" }");
            None
        }
        (true, false) => plugin_source(t, issues),
        (false, true) => fixed(t, issues).map(RateSourceKind::Fixed),
    };
    (named && ttl_secs <= max_age_secs).then_some(RateSourceConfig { kind: kind?, ttl_secs, max_age_secs })
}

fn plugin_source(t: &mut Table<'_>, issues: &mut Issues) -> Option<RateSourceKind> {
    let plugin = t.str("plugin", issues)?;
    let ok = super::validate::check_plugin_name(&t.key_path("plugin"), &plugin, issues);
    t.allow_other_keys();
    let params = t.rest().into_iter().filter(|(k, _)| !HOST_KEYS.contains(&k.as_str())).collect();
    ok.then_some(RateSourceKind::Plugin { plugin, params: PluginParams(params) })
}

/// `fixed = { BTC_USD = "50000", … }`: at least one pair, each a positive plain decimal.
fn fixed(t: &mut Table<'_>, issues: &mut Issues) -> Option<BTreeMap<String, Decimal>> {
    let mut table = t.table("fixed", issues);
    table.allow_other_keys();
    let entries = table.rest();
    if entries.is_empty() {
        issues.push(table.path(), "must give at least one rate, e.g. { BTC_USD = \"50000\" }");
        return None;
    }
    let mut out = BTreeMap::new();
    for (pair, v) in entries {
        let at = table.key_path(&pair);
        let codes = pair_codes(&at, &pair, issues);
        let value = match &v {
            Value::String(s) => positive_decimal(&at, s, issues),
            // A TOML number may already have lost digits: rates are written as strings.
            other => {
                issues.push(&at, format!("expected a decimal string like \"64123.5\", got {}", show(other)));
                None
            }
        };
        if let (Some(_), Some(value)) = (codes, value) {
            out.insert(pair, value);
        }
    }
    Some(out)
}

/// A pair key `BASE_QUOTE` of two codes.
fn pair_codes(at: &str, pair: &str, issues: &mut Issues) -> Option<(String, String)> {
    match pair.split_once('_') {
        Some((b, q)) if is_code(b) && is_code(q) => Some((b.to_string(), q.to_string())),
        _ => {
            issues.push(at, format!("{pair:?} is not a pair BASE_QUOTE of two codes (2-16 of A-Z, 0-9), e.g. BTC_USD"));
            None
        }
    }
}

/// A positive plain decimal (`"64123.5"`: digits, at most one point; no sign, no exponent).
pub(crate) fn parse_positive(s: &str) -> Result<Decimal, String> {
    let plain = !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && s.bytes().filter(|b| *b == b'.').count() <= 1
        && s.bytes().any(|b| b.is_ascii_digit());
    if !plain {
        return Err(format!("{s:?} is not a plain decimal (digits and at most one '.')"));
    }
    let d = Decimal::from_str(s).map_err(|e| format!("{s:?} is not a decimal this daemon can hold: {e}"))?;
    if d.is_zero() {
        return Err(format!("{s:?} is not positive"));
    }
    Ok(d.normalize())
}

fn positive_decimal(at: &str, s: &str, issues: &mut Issues) -> Option<Decimal> {
    parse_positive(s.trim()).map_err(|e| issues.push(at, e)).ok()
}

/// An asset's `rate_code`, or its id uppercased.
pub(super) fn rate_code(t: &mut Table<'_>, id: Option<&str>, issues: &mut Issues) -> String {
    match t.opt_str("rate_code", issues) {
        Some(code) if is_code(&code) => code,
        Some(code) => {
            issues.push(t.key_path("rate_code"), format!("{code:?} is not a code (2-16 of A-Z, 0-9), e.g. \"USDT\""));
            code
        }
        None => id.unwrap_or_default().to_ascii_uppercase(),
    }
}

/// A store's `[stores.rates]`, its rules' sources checked against `[rates.sources]`.
pub(super) fn store_rates(store: &mut Table<'_>, rates: &RatesConfig, issues: &mut Issues) -> Option<StoreRates> {
    if !store.has("rates") {
        return None;
    }
    let mut t = store.table("rates", issues);
    let spread_percent = spread(&mut t, issues);
    let rules: Vec<RateRule> = t.tables("rules", issues).into_iter().filter_map(|r| rule(r, rates, issues)).collect();
    if let Some((i, problem)) = via_problem(&rules) {
        issues.push(format!("{}[{i}].via", t.key_path("rules")), problem);
    }
    t.finish(issues);
    Some(StoreRates { spread_percent, rules })
}

fn spread(t: &mut Table<'_>, issues: &mut Issues) -> Decimal {
    let Some(text) = t.opt_str("spread_percent", issues) else { return Decimal::ZERO };
    let text = text.trim();
    let value = if text == "0" { Ok(Decimal::ZERO) } else { parse_positive(text) };
    match value {
        Ok(v) if v <= Decimal::from(50) => v,
        Ok(v) => {
            issues.push(t.key_path("spread_percent"), format!("{v} is more than 50"));
            Decimal::ZERO
        }
        Err(e) => {
            issues.push(t.key_path("spread_percent"), format!("{e}: expected a percent from 0 to 50, e.g. \"0.5\""));
            Decimal::ZERO
        }
    }
}

fn rule(mut t: Table<'_>, rates: &RatesConfig, issues: &mut Issues) -> Option<RateRule> {
    let pair = t.str("pair", issues).and_then(|p| pattern(&t.key_path("pair"), &p, issues));
    let action = match (t.has("sources"), t.has("via")) {
        (true, false) => sources(&mut t, rates, issues).map(RuleAction::Sources),
        (false, true) => t.str("via", issues).and_then(|via| {
            let ok = is_code(&via);
            if !ok {
                issues.push(t.key_path("via"), format!("{via:?} is not a code (2-16 of A-Z, 0-9), e.g. \"USD\""));
            }
            ok.then_some(RuleAction::Via(via))
        }),
        (true, true) => {
            issues.push(t.path(), "set either sources or via, not both");
            t.allow_other_keys(); // not also "unknown"
            None
        }
        (false, false) => {
            issues.push(t.path(), "set sources = [\"NAME\", …] or via = \"CODE\"");
            None
        }
    };
    t.finish(issues);
    Some(RateRule { pair: pair?, action: action? })
}

fn sources(t: &mut Table<'_>, rates: &RatesConfig, issues: &mut Issues) -> Option<Vec<String>> {
    let names = t.str_list("sources", issues);
    if names.is_empty() {
        issues.push(t.key_path("sources"), "must name at least one source");
        return None;
    }
    let mut ok = true;
    for (i, name) in names.iter().enumerate() {
        if !rates.sources.contains_key(name) {
            let known = rates.sources.keys().map(String::as_str).collect::<Vec<_>>().join(", ");
            issues.push(
                format!("{}[{i}]", t.key_path("sources")),
                format!("unknown rate source {name:?} (declared in [rates.sources]: {known})"),
            );
            ok = false;
        }
    }
    ok.then_some(names)
}

/// `BTC_USD`, `BTC_*`, `*_CNY` or `*_*`.
fn pattern(at: &str, text: &str, issues: &mut Issues) -> Option<PairPattern> {
    let side = |s: &str| if s == "*" { Some(None) } else { is_code(s).then(|| Some(s.to_string())) };
    match text.split_once('_').map(|(b, q)| (side(b), side(q))) {
        Some((Some(base), Some(quote))) => Some(PairPattern { base, quote }),
        _ => {
            issues.push(
                at,
                format!("{text:?} is not a pair pattern: BASE_QUOTE with codes (2-16 of A-Z, 0-9) or *, e.g. BTC_USD, BTC_*, *_CNY"),
            );
            None
        }
    }
}
