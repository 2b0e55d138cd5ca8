//! The `coingecko` rate-source plugin: CoinGecko's simple prices
//! (`GET {base_url}/api/v3/simple/price?ids=bitcoin,ethereum&vs_currencies=usd,eur&include_last_updated_at=true&precision=full`),
//! one request for every pair. Bases are CoinGecko ids (`ids.rs`: a built-in table and the
//! config's `ids`), quotes are its `vs_currencies` (lowercase). CoinGecko's price is its
//! aggregate across exchanges; `at` is its `last_updated_at`.
//!
//! Prices are JSON numbers: they are read as their own text (serde_json's `RawValue`), never
//! through an f64, and an exponent form (`1.2e-5`) is written out digit for digit.

mod ids;

use paywatch_plugin_api::messages::{HttpRequest, Pair, QuotedRate, RateParseRequest, RateRequest, RateSourceInfo};
use paywatch_plugin_api::{export_rate_plugin, Host, PluginError, RatePlugin};
use paywatch_rates_common::config::Config;
use paywatch_rates_common::{
    bad_response, check_pair, code, decimal, distinct, error, get, quoted, response, unsupported,
};
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::BTreeMap;

#[cfg(test)]
mod tests;

const NAME: &str = "coingecko";

/// The public (and demo-key) API.
pub const DEFAULT_BASE_URL: &str = "https://api.coingecko.com";
/// The paid API, the default with `pro = true`.
pub const PRO_BASE_URL: &str = "https://pro-api.coingecko.com";

/// One instance: where the API is, its key and the ids it knows.
#[derive(Debug)]
pub struct CoinGecko {
    base_url: String,
    /// The header and the key, when configured.
    key: Option<(&'static str, String)>,
    ids: BTreeMap<String, String>,
}

type Object = BTreeMap<String, Box<RawValue>>;

impl CoinGecko {
    /// The id of each asked pair's base.
    fn ids_of<'p>(&self, pairs: &'p [Pair]) -> Result<Vec<(&'p Pair, &str)>, PluginError> {
        pairs
            .iter()
            .map(|pair| {
                check_pair(NAME, pair)?;
                match self.ids.get(&pair.base) {
                    Some(id) => Ok((pair, id.as_str())),
                    None => Err(unsupported(
                        NAME,
                        pair,
                        format_args!("no CoinGecko id for {} (add it: ids = {{ {} = \"…\" }})", pair.base, pair.base),
                    )),
                }
            })
            .collect()
    }
}

impl RatePlugin for CoinGecko {
    const NAME: &'static str = NAME;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn create(config: Value, _host: &Host<'_>) -> Result<Self, PluginError> {
        let config = Config::read(NAME, &config, &["base_url", "api_key", "pro", "ids"])?;
        let pro = config.boolean("pro", false)?;
        let base_url = config.base_url(if pro { PRO_BASE_URL } else { DEFAULT_BASE_URL })?;
        let header = if pro { "x-cg-pro-api-key" } else { "x-cg-demo-api-key" };
        let key = config.string("api_key")?.map(|k| (header, k));
        if pro && key.is_none() {
            return Err(error(
                NAME,
                code::BAD_CONFIG,
                "pro = true needs api_key (the paid API refuses requests without one)",
            ));
        }
        Ok(Self { base_url, key, ids: ids::table(NAME, config.string_table("ids")?)? })
    }

    fn info(&self) -> RateSourceInfo {
        RateSourceInfo {
            name: NAME.into(),
            description: "CoinGecko simple prices: its aggregate price, with its update time".into(),
        }
    }

    fn request(&self, req: &RateRequest) -> Result<Vec<HttpRequest>, PluginError> {
        let asked = self.ids_of(&req.pairs)?;
        if asked.is_empty() {
            return Err(error(NAME, code::INVALID_INPUT, "no pair asked"));
        }
        let ids = distinct(asked.iter().map(|(_, id)| *id));
        let vs = distinct(asked.iter().map(|(p, _)| p.quote.to_ascii_lowercase()));
        let url = format!(
            "{}/api/v3/simple/price?ids={}&vs_currencies={}&include_last_updated_at=true&precision=full",
            self.base_url,
            ids.join(","),
            vs.join(",")
        );
        let mut request = get(url, "application/json");
        if let Some((header, key)) = &self.key {
            request.headers.push((header.to_string(), key.clone()));
        }
        Ok(vec![request])
    }

    fn parse(&self, req: &RateParseRequest) -> Result<Vec<QuotedRate>, PluginError> {
        let asked = self.ids_of(&req.pairs).map_err(|e| PluginError::invalid_input(e.message))?;
        let [resp] = response::expect(NAME, req, 1)? else { unreachable!("expect checked the count") };
        let body: Object = response::json(NAME, resp)?;
        let mut coins = BTreeMap::new();
        for (id, raw) in &body {
            if !asked.iter().any(|(_, a)| a == id) {
                return Err(unexpected(id, raw));
            }
            let coin: Object = serde_json::from_str(raw.get()).map_err(|_| {
                bad_response(NAME, format_args!("{id} is not an object: {}", response::snippet(raw.get())))
            })?;
            coins.insert(id.as_str(), coin);
        }
        let mut rates = Vec::new();
        for (pair, id) in asked {
            let Some(coin) = coins.get(id) else { continue };
            let vs = pair.quote.to_ascii_lowercase();
            let Some(raw) = coin.get(&vs).map(|r| r.get()).filter(|r| *r != "null") else { continue };
            if raw.starts_with(['"', '{', '[']) || raw == "true" || raw == "false" {
                return Err(bad_response(NAME, format_args!("{id}.{vs} is not a number: {}", response::snippet(raw))));
            }
            let rate = decimal::exact(raw).ok_or_else(|| {
                bad_response(NAME, format_args!("{id}.{vs} {} is not a positive decimal", response::snippet(raw)))
            })?;
            rates.push(quoted(pair, rate, updated_at(id, coin, req.now)?, req.now));
        }
        Ok(rates)
    }
}

/// A top-level key that is no asked id: CoinGecko's error bodies, or another shape.
fn unexpected(key: &str, raw: &RawValue) -> PluginError {
    let text = raw.get();
    if key == "status" || key == "error" {
        let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let message = match (&v, v.get("error_code"), v.get("error_message")) {
            (Value::String(s), _, _) => s.clone(),
            (_, Some(c), Some(Value::String(m))) => format!("{c}: {m}"),
            _ => text.to_string(),
        };
        return error(NAME, code::API_ERROR, format_args!("CoinGecko says {}", response::snippet(&message)));
    }
    bad_response(NAME, format_args!("{:?} was not asked for (ids are the keys of its answer)", response::snippet(key)))
}

/// `last_updated_at` of a coin, or `now` without one.
fn updated_at(id: &str, coin: &Object, now: i64) -> Result<i64, PluginError> {
    match coin.get("last_updated_at").map(|r| r.get()) {
        None | Some("null") => Ok(now),
        Some(text) => text.parse::<i64>().map_err(|_| {
            bad_response(NAME, format_args!("{id}.last_updated_at is not unix seconds: {}", response::snippet(text)))
        }),
    }
}

export_rate_plugin!(CoinGecko);
