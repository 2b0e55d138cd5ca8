//! The `kraken` rate-source plugin: Kraken's public Ticker
//! (`GET {base_url}/0/public/Ticker?pair=XBTUSD,ETHEUR`), one request for every pair. The rate
//! is the mid of the best ask `a[0]` and the best bid `b[0]`, computed exactly in decimal;
//! Kraken states no time, so `at` is when the response arrived.
//!
//! Kraken names Bitcoin `XBT` and Dogecoin `XDG`; the other codes are the usual ones. Its
//! result keys are either the altnames (`XBTUSDT`) or, for its older markets, the four-letter
//! asset codes with an `X` (crypto) or `Z` (fiat) prefix (`XXBTZUSD`): each asked pair is found
//! under one of these forms of its own two codes, never by splitting a key.

use paywatch_plugin_api::messages::{HttpRequest, Pair, QuotedRate, RateParseRequest, RateRequest, RateSourceInfo};
use paywatch_plugin_api::{export_rate_plugin, Host, PluginError, RatePlugin};
use paywatch_rates_common::config::Config;
use paywatch_rates_common::{bad_response, check_pair, code, decimal, distinct, error, get, quoted, response};
use serde_json::{Map, Value};

#[cfg(test)]
mod tests;

const NAME: &str = "kraken";

/// The real API.
pub const DEFAULT_BASE_URL: &str = "https://api.kraken.com";

/// One instance: where the API is.
#[derive(Debug)]
pub struct Kraken {
    base_url: String,
}

/// Kraken's altname for a code.
fn altname(code: &str) -> &str {
    match code {
        "BTC" => "XBT",
        "DOGE" => "XDG",
        other => other,
    }
}

/// The forms a code takes in result keys: its altname and, for a three-letter one, the legacy
/// `X`/`Z`-prefixed asset code.
fn forms(code: &str) -> Vec<String> {
    let alt = altname(code);
    let mut forms = vec![alt.to_string()];
    if alt.len() == 3 {
        forms.extend([format!("X{alt}"), format!("Z{alt}")]);
    }
    forms
}

/// The result keys under which Kraken may answer for `pair`.
fn result_keys(pair: &Pair) -> Vec<String> {
    let quotes = forms(&pair.quote);
    forms(&pair.base).iter().flat_map(|b| quotes.iter().map(move |q| format!("{b}{q}"))).collect()
}

impl RatePlugin for Kraken {
    const NAME: &'static str = NAME;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn create(config: Value, _host: &Host<'_>) -> Result<Self, PluginError> {
        let config = Config::read(NAME, &config, &["base_url"])?;
        Ok(Self { base_url: config.base_url(DEFAULT_BASE_URL)? })
    }

    fn info(&self) -> RateSourceInfo {
        RateSourceInfo {
            name: NAME.into(),
            description: "Kraken public Ticker: the mid of the best ask and bid".into(),
        }
    }

    fn request(&self, req: &RateRequest) -> Result<Vec<HttpRequest>, PluginError> {
        let mut names = Vec::with_capacity(req.pairs.len());
        for pair in &req.pairs {
            check_pair(NAME, pair)?;
            names.push(format!("{}{}", altname(&pair.base), altname(&pair.quote)));
        }
        if names.is_empty() {
            return Err(error(NAME, code::INVALID_INPUT, "no pair asked"));
        }
        let names = distinct(names);
        Ok(vec![get(format!("{}/0/public/Ticker?pair={}", self.base_url, names.join(",")), "application/json")])
    }

    fn parse(&self, req: &RateParseRequest) -> Result<Vec<QuotedRate>, PluginError> {
        let [resp] = response::expect(NAME, req, 1)? else { unreachable!("expect checked the count") };
        let body: Map<String, Value> = response::json(NAME, resp)?;
        let result = result(&body)?;
        let mut rates = Vec::new();
        for pair in &req.pairs {
            let found: Vec<&String> =
                result_keys(pair).into_iter().filter_map(|k| result.get_key_value(&k)).map(|(k, _)| k).collect();
            match found[..] {
                [] => {}
                [key] => rates.push(quoted(pair, mid(key, &result[key])?, req.now, req.now)),
                _ => return Err(bad_response(NAME, format_args!("{pair} is answered under several keys: {found:?}"))),
            }
        }
        Ok(rates)
    }
}

/// The `result` object, after an empty `error` array.
fn result(body: &Map<String, Value>) -> Result<&Map<String, Value>, PluginError> {
    let errors = match body.get("error") {
        Some(Value::Array(errors)) => errors,
        _ => return Err(bad_response(NAME, "no \"error\" array: not Kraken's Ticker response")),
    };
    if !errors.is_empty() {
        let texts: Vec<String> =
            errors.iter().map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_string)).collect();
        return Err(error(NAME, code::API_ERROR, format_args!("Kraken says {}", response::snippet(&texts.join("; ")))));
    }
    match body.get("result") {
        Some(Value::Object(result)) => Ok(result),
        Some(other) => Err(bad_response(
            NAME,
            format_args!("\"result\" is not an object: {}", response::snippet(&other.to_string())),
        )),
        None => Err(bad_response(NAME, "no \"result\" and no error")),
    }
}

/// The mid of `a[0]` and `b[0]` of one ticker.
fn mid(key: &str, ticker: &Value) -> Result<String, PluginError> {
    let price = |side: &str| -> Result<String, PluginError> {
        let value = ticker.get(side).and_then(|s| s.get(0));
        let text = match value {
            Some(Value::String(t)) => t,
            Some(other) => return Err(bad_response(NAME, format_args!("{key}.{side}[0] is not a string: {other}"))),
            None => {
                return Err(bad_response(
                    NAME,
                    format_args!("{key} has no {side}[0] (best {})", if side == "a" { "ask" } else { "bid" }),
                ))
            }
        };
        decimal::exact(text).ok_or_else(|| {
            bad_response(NAME, format_args!("{key}.{side}[0] {:?} is not a positive decimal", response::snippet(text)))
        })
    };
    let (ask, bid) = (price("a")?, price("b")?);
    decimal::mid(&ask, &bid).ok_or_else(|| bad_response(NAME, format_args!("{key}: no mid of {ask} and {bid}")))
}

export_rate_plugin!(Kraken);
