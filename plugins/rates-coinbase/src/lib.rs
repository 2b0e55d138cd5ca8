//! The `coinbase` rate-source plugin: Coinbase's exchange rates
//! (`GET {base_url}/v2/exchange-rates?currency=BASE`, no key needed), one request per base
//! currency asked; each answers `data.rates`, how many of every other currency one `BASE` is
//! worth, as decimal strings (kept as sent). Coinbase states no time: `at` is when the response
//! arrived.

use paywatch_plugin_api::messages::{HttpRequest, QuotedRate, RateParseRequest, RateRequest, RateSourceInfo};
use paywatch_plugin_api::{export_rate_plugin, Host, PluginError, RatePlugin};
use paywatch_rates_common::config::Config;
use paywatch_rates_common::{bad_response, check_pair, code, decimal, distinct, error, get, quoted, response};
use serde_json::{Map, Value};

#[cfg(test)]
mod tests;

const NAME: &str = "coinbase";

/// The real API.
pub const DEFAULT_BASE_URL: &str = "https://api.coinbase.com";

/// One instance: where the API is.
#[derive(Debug)]
pub struct Coinbase {
    base_url: String,
}

/// The distinct bases of `pairs`, in the order first asked: one request each.
fn bases(pairs: &[paywatch_plugin_api::messages::Pair]) -> Vec<&str> {
    distinct(pairs.iter().map(|p| p.base.as_str()))
}

impl RatePlugin for Coinbase {
    const NAME: &'static str = NAME;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn create(config: Value, _host: &Host<'_>) -> Result<Self, PluginError> {
        let config = Config::read(NAME, &config, &["base_url"])?;
        Ok(Self { base_url: config.base_url(DEFAULT_BASE_URL)? })
    }

    fn info(&self) -> RateSourceInfo {
        RateSourceInfo {
            name: NAME.into(),
            description: "Coinbase exchange rates (v2 API, one request per base)".into(),
        }
    }

    fn request(&self, req: &RateRequest) -> Result<Vec<HttpRequest>, PluginError> {
        for pair in &req.pairs {
            check_pair(NAME, pair)?;
        }
        let bases = bases(&req.pairs);
        if bases.is_empty() {
            return Err(error(NAME, code::INVALID_INPUT, "no pair asked"));
        }
        let url = |base: &str| format!("{}/v2/exchange-rates?currency={base}", self.base_url);
        Ok(bases.into_iter().map(|b| get(url(b), "application/json")).collect())
    }

    fn parse(&self, req: &RateParseRequest) -> Result<Vec<QuotedRate>, PluginError> {
        let bases = bases(&req.pairs);
        let responses = response::expect(NAME, req, bases.len())?;
        let mut rates = Vec::new();
        for (base, resp) in bases.into_iter().zip(responses) {
            let body: Map<String, Value> = response::json(NAME, resp)?;
            let table = rates_of(base, &body)?;
            for pair in req.pairs.iter().filter(|p| p.base == base) {
                match table.get(&pair.quote) {
                    None | Some(Value::Null) => {}
                    Some(Value::String(text)) => {
                        let rate = decimal::exact(text).ok_or_else(|| {
                            bad_response(
                                NAME,
                                format_args!(
                                    "data.rates.{} {:?} is not a positive decimal",
                                    pair.quote,
                                    response::snippet(text)
                                ),
                            )
                        })?;
                        rates.push(quoted(pair, rate, req.now, req.now));
                    }
                    Some(other) => {
                        return Err(bad_response(
                            NAME,
                            format_args!("data.rates.{} is not a string: {other}", pair.quote),
                        ))
                    }
                }
            }
        }
        Ok(rates)
    }
}

/// `data.rates` of the answer for `base`, after checking `data.currency` is `base`.
fn rates_of<'b>(base: &str, body: &'b Map<String, Value>) -> Result<&'b Map<String, Value>, PluginError> {
    if let Some(errors) = body.get("errors") {
        let text = match errors {
            Value::Array(list) => list
                .iter()
                .map(|e| match (e.get("id").and_then(Value::as_str), e.get("message").and_then(Value::as_str)) {
                    (Some(id), Some(m)) => format!("{id}: {m}"),
                    _ => e.to_string(),
                })
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        };
        return Err(error(NAME, code::API_ERROR, format_args!("Coinbase says {}", response::snippet(&text))));
    }
    let Some(data) = body.get("data").and_then(Value::as_object) else {
        return Err(bad_response(NAME, "no \"data\" object: not Coinbase's exchange-rates response"));
    };
    match data.get("currency") {
        Some(Value::String(c)) if c == base => {}
        Some(other) => {
            return Err(bad_response(
                NAME,
                format_args!("the answer for {base} is for data.currency {}", response::snippet(&other.to_string())),
            ))
        }
        None => return Err(bad_response(NAME, format_args!("no data.currency in the answer for {base}"))),
    }
    match data.get("rates") {
        Some(Value::Object(rates)) => Ok(rates),
        Some(other) => Err(bad_response(
            NAME,
            format_args!("data.rates is not an object: {}", response::snippet(&other.to_string())),
        )),
        None => Err(bad_response(NAME, format_args!("no data.rates in the answer for {base}"))),
    }
}

export_rate_plugin!(Coinbase);
