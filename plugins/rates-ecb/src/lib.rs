//! The `ecb` rate-source plugin: the European Central Bank's daily euro foreign exchange
//! reference rates (`GET {base_url}/stats/eurofxref/eurofxref-daily.xml`), one request for
//! every pair. The file gives how many of each of about thirty currencies one euro is worth,
//! once a working day.
//!
//! It quotes any pair among EUR and the file's currencies: `EUR_X` is the file's own digits;
//! `X_EUR` and crosses such as `USD_CNY` (this is how a BTC price in USD becomes one in CNY) are
//! computed exactly in decimal, `rate(quote) / rate(base)`, and rounded half to even to
//! [`SIGNIFICANT_DIGITS`] significant digits: the file's rates have five or six, so the
//! rounding adds less than a millionth of their own precision. A currency the file lacks is
//! left out. `at` is the file's date at 12:15 UTC: the rates are fixed at 14:10 CET (13:10 UTC
//! in winter, 12:10 UTC in summer), so the time stated is never later than the real one by
//! more than minutes and never in the future.

use paywatch_plugin_api::messages::{HttpRequest, QuotedRate, RateParseRequest, RateRequest, RateSourceInfo};
use paywatch_plugin_api::{export_rate_plugin, Host, PluginError, RatePlugin};
use paywatch_rates_common::config::Config;
use paywatch_rates_common::{bad_response, check_pair, code, decimal, error, get, quoted, response, unsupported};
use serde_json::Value;
use std::collections::BTreeMap;

#[cfg(test)]
mod tests;

const NAME: &str = "ecb";

/// The real API.
pub const DEFAULT_BASE_URL: &str = "https://www.ecb.europa.eu";

/// The significant digits of a computed rate (an inverse or a cross).
pub const SIGNIFICANT_DIGITS: u32 = 12;

const GESMES: &str = "http://www.gesmes.org/xml/2002-08-01";
const EUROFXREF: &str = "http://www.ecb.int/vocabulary/2002-08-01/eurofxref";

/// One instance: where the file is.
#[derive(Debug)]
pub struct Ecb {
    base_url: String,
}

/// Whether `code` is shaped as an ISO 4217 code: three uppercase letters.
fn is_iso(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}

impl RatePlugin for Ecb {
    const NAME: &'static str = NAME;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn create(config: Value, _host: &Host<'_>) -> Result<Self, PluginError> {
        let config = Config::read(NAME, &config, &["base_url"])?;
        Ok(Self { base_url: config.base_url(DEFAULT_BASE_URL)? })
    }

    fn info(&self) -> RateSourceInfo {
        RateSourceInfo {
            name: NAME.into(),
            description: "ECB daily euro reference rates, and exact crosses between their currencies".into(),
        }
    }

    fn request(&self, req: &RateRequest) -> Result<Vec<HttpRequest>, PluginError> {
        for pair in &req.pairs {
            check_pair(NAME, pair)?;
            if !is_iso(&pair.base) || !is_iso(&pair.quote) {
                return Err(unsupported(NAME, pair, "the ECB quotes ISO 4217 currencies (three letters)"));
            }
        }
        if req.pairs.is_empty() {
            return Err(error(NAME, code::INVALID_INPUT, "no pair asked"));
        }
        Ok(vec![get(format!("{}/stats/eurofxref/eurofxref-daily.xml", self.base_url), "application/xml, text/xml")])
    }

    fn parse(&self, req: &RateParseRequest) -> Result<Vec<QuotedRate>, PluginError> {
        let [resp] = response::expect(NAME, req, 1)? else { unreachable!("expect checked the count") };
        response::check_status(NAME, resp)?;
        let (date, table) = reference_rates(&resp.body)?;
        let at = date + 12 * 3600 + 15 * 60;
        let euro = |code: &str| if code == "EUR" { Some("1") } else { table.get(code).map(String::as_str) };
        let mut rates = Vec::new();
        for pair in &req.pairs {
            let (Some(base), Some(quote)) = (euro(&pair.base), euro(&pair.quote)) else { continue };
            if pair.base == pair.quote {
                continue;
            }
            let rate = match pair.base.as_str() {
                "EUR" => quote.to_string(),
                _ => decimal::divide(quote, base, SIGNIFICANT_DIGITS)
                    .ok_or_else(|| bad_response(NAME, format_args!("no rate {quote} / {base} for {pair}")))?,
            };
            rates.push(quoted(pair, rate, at, req.now));
        }
        Ok(rates)
    }
}

/// The file's date (unix seconds at 00:00 UTC) and its rates by currency.
fn reference_rates(body: &str) -> Result<(i64, BTreeMap<String, String>), PluginError> {
    if body.trim().is_empty() {
        return Err(bad_response(NAME, "the body is empty"));
    }
    let doc = roxmltree::Document::parse(body).map_err(|e| {
        bad_response(NAME, format_args!("the body is not XML ({e}): {}", response::snippet(body.trim_start())))
    })?;
    let root = doc.root_element();
    if root.tag_name().name() != "Envelope" || root.tag_name().namespace() != Some(GESMES) {
        return Err(bad_response(
            NAME,
            format_args!("not the ECB's reference rates: {}", response::snippet(body.trim_start())),
        ));
    }
    let is_cube = |n: &roxmltree::Node<'_, '_>| n.is_element() && n.has_tag_name((EUROFXREF, "Cube"));
    let dated: Vec<_> = root.descendants().filter(|n| is_cube(n) && n.has_attribute("time")).collect();
    let [day] = dated[..] else {
        return Err(bad_response(NAME, format_args!("{} dated <Cube time=…> elements, expected one", dated.len())));
    };
    let time = day.attribute("time").unwrap_or_default();
    let date = unix_date(time)
        .ok_or_else(|| bad_response(NAME, format_args!("<Cube time={:?}> is not a date", response::snippet(time))))?;
    let mut table = BTreeMap::new();
    for cube in day.children().filter(is_cube) {
        let (Some(currency), Some(rate)) = (cube.attribute("currency"), cube.attribute("rate")) else {
            return Err(bad_response(NAME, format_args!("a <Cube> of {time} has no currency or rate attribute")));
        };
        if !is_iso(currency) {
            return Err(bad_response(
                NAME,
                format_args!("currency {:?} is not an ISO 4217 code", response::snippet(currency)),
            ));
        }
        let rate = decimal::exact(rate).ok_or_else(|| {
            bad_response(NAME, format_args!("{currency} rate {:?} is not a positive decimal", response::snippet(rate)))
        })?;
        if table.insert(currency.to_string(), rate).is_some() {
            return Err(bad_response(NAME, format_args!("{currency} is listed twice")));
        }
    }
    if table.is_empty() {
        return Err(bad_response(NAME, format_args!("no rate in <Cube time='{time}'>")));
    }
    Ok((date, table))
}

/// `YYYY-MM-DD` → unix seconds at 00:00 UTC (days from the civil date, proleptic Gregorian).
fn unix_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num =
        |r: std::ops::Range<usize>| text.get(r).filter(|t| t.bytes().all(|c| c.is_ascii_digit()))?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&m) || d < 1 || d > days_in[(m - 1) as usize] {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * 86_400)
}

export_rate_plugin!(Ecb);
