//! The `binance` rate-source plugin: Binance's spot price tickers
//! (`GET {base_url}/api/v3/ticker/price?symbols=["BTCUSDT","ETHBTC"]`, the JSON array
//! percent-encoded), one request for every pair. The rate is the symbol's latest trade price,
//! kept as sent; Binance states no time, so `at` is when the response arrived.
//!
//! A symbol is the base and the quote written together (`BTC_USDT` → `BTCUSDT`); answers are
//! mapped back through the symbols of the pairs asked, never by splitting a symbol. Binance
//! lists stablecoin markets (`USDT`, `USDC`, `FDUSD`), not `USD`: a pair it does not list
//! fails the whole request with `-1121 Invalid symbol`.

use paywatch_plugin_api::messages::{HttpRequest, Pair, QuotedRate, RateParseRequest, RateRequest, RateSourceInfo};
use paywatch_plugin_api::text::percent_encode;
use paywatch_plugin_api::{export_rate_plugin, Host, PluginError, RatePlugin};
use paywatch_rates_common::config::Config;
use paywatch_rates_common::{bad_response, check_pair, code, decimal, error, get, quoted, response, unsupported};
use serde_json::Value;
use std::collections::BTreeMap;

#[cfg(test)]
mod tests;

const NAME: &str = "binance";

/// The real API.
pub const DEFAULT_BASE_URL: &str = "https://api.binance.com";

/// One instance: where the API is.
#[derive(Debug)]
pub struct Binance {
    base_url: String,
}

/// Each asked pair's symbol → the pairs asked under it. Two different pairs written as the
/// same symbol (`AB`+`CD`, `ABC`+`D`) cannot be told apart in an answer: refused.
fn symbols(pairs: &[Pair]) -> Result<BTreeMap<String, &Pair>, PluginError> {
    let mut map = BTreeMap::new();
    for pair in pairs {
        check_pair(NAME, pair)?;
        let symbol = format!("{}{}", pair.base, pair.quote);
        match map.insert(symbol.clone(), pair) {
            Some(other) if other != pair => {
                return Err(unsupported(NAME, pair, format_args!("its symbol {symbol} is also {other}'s")));
            }
            _ => {}
        }
    }
    if map.is_empty() {
        return Err(error(NAME, code::INVALID_INPUT, "no pair asked"));
    }
    Ok(map)
}

impl RatePlugin for Binance {
    const NAME: &'static str = NAME;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn create(config: Value, _host: &Host<'_>) -> Result<Self, PluginError> {
        let config = Config::read(NAME, &config, &["base_url"])?;
        Ok(Self { base_url: config.base_url(DEFAULT_BASE_URL)? })
    }

    fn info(&self) -> RateSourceInfo {
        RateSourceInfo { name: NAME.into(), description: "Binance spot price tickers: the latest trade price".into() }
    }

    fn request(&self, req: &RateRequest) -> Result<Vec<HttpRequest>, PluginError> {
        let symbols = symbols(&req.pairs)?;
        let list = serde_json::to_string(&symbols.keys().collect::<Vec<_>>()).expect("strings encode");
        Ok(vec![get(
            format!("{}/api/v3/ticker/price?symbols={}", self.base_url, percent_encode(&list)),
            "application/json",
        )])
    }

    fn parse(&self, req: &RateParseRequest) -> Result<Vec<QuotedRate>, PluginError> {
        let symbols = symbols(&req.pairs).map_err(|e| PluginError::invalid_input(e.message))?;
        let [resp] = response::expect(NAME, req, 1)? else { unreachable!("expect checked the count") };
        let tickers = match response::json::<Value>(NAME, resp)? {
            Value::Array(tickers) => tickers,
            Value::Object(o) if o.contains_key("code") => {
                let code_text = o.get("code").map(Value::to_string).unwrap_or_default();
                let msg = o.get("msg").and_then(Value::as_str).unwrap_or_default();
                return Err(error(
                    NAME,
                    code::API_ERROR,
                    format_args!("Binance says {code_text}: {}", response::snippet(msg)),
                ));
            }
            other => {
                return Err(bad_response(
                    NAME,
                    format_args!("not an array of tickers: {}", response::snippet(&other.to_string())),
                ))
            }
        };
        let mut rates = BTreeMap::new();
        for (i, ticker) in tickers.iter().enumerate() {
            let field = |k: &str| match ticker.get(k) {
                Some(Value::String(s)) => Ok(s.as_str()),
                Some(other) => Err(bad_response(NAME, format_args!("ticker {i}: {k} is not a string: {other}"))),
                None => Err(bad_response(
                    NAME,
                    format_args!("ticker {i} has no {k}: {}", response::snippet(&ticker.to_string())),
                )),
            };
            let (symbol, price) = (field("symbol")?, field("price")?);
            let Some(pair) = symbols.get(symbol) else {
                return Err(bad_response(
                    NAME,
                    format_args!("ticker {i} is for {}, which was not asked", response::snippet(symbol)),
                ));
            };
            let rate = decimal::exact(price).ok_or_else(|| {
                bad_response(
                    NAME,
                    format_args!("{symbol} price {:?} is not a positive decimal", response::snippet(price)),
                )
            })?;
            if rates.insert(symbol, quoted(pair, rate, req.now, req.now)).is_some() {
                return Err(bad_response(NAME, format_args!("{symbol} is answered twice")));
            }
        }
        Ok(rates.into_values().collect())
    }
}

export_rate_plugin!(Binance);
