//! What the rate-source plugins share (an rlib): their config ([`config`]: unknown keys
//! refused, `base_url` defaulting to the real API), exact decimal text ([`decimal`]: rates are
//! the API's own digits, never a float's), and reading responses ([`response`]: the count, the
//! HTTP status, JSON bodies, HTML from a proxy). Every error names the source and what was
//! wrong; the error codes are listed in `docs/plugins.md` (Rate-source plugins).

pub mod config;
pub mod decimal;
pub mod response;
#[cfg(feature = "testing")]
pub mod testing;

use paywatch_plugin_api::messages::{HttpRequest, Pair, QuotedRate};
use paywatch_plugin_api::PluginError;

/// The codes of the errors these plugins return.
pub mod code {
    /// The source's config is wrong.
    pub const BAD_CONFIG: &str = "bad_config";
    /// A pair the source cannot quote (refused by `request`).
    pub const UNSUPPORTED_PAIR: &str = "unsupported_pair";
    /// The host handed another number of responses than there were requests.
    pub const INVALID_INPUT: &str = "invalid_input";
    /// A status other than 2xx (and not a rate limit).
    pub const HTTP_STATUS: &str = "http_status";
    /// HTTP 429 or 418: the API asks us to slow down (its `Retry-After` in the message).
    pub const RATE_LIMITED: &str = "rate_limited";
    /// The API answered with its own error body.
    pub const API_ERROR: &str = "api_error";
    /// The body is not the API's format (HTML, truncated JSON, a renamed field, a rate that is
    /// not a positive decimal…).
    pub const BAD_RESPONSE: &str = "bad_response";
}

/// An error of `source` with this code; the message starts with the source's name.
pub fn error(source: &str, code: &str, message: impl std::fmt::Display) -> PluginError {
    PluginError::new(code, format!("{source}: {message}"))
}

/// `bad_response`: the body is not what the API sends.
pub fn bad_response(source: &str, message: impl std::fmt::Display) -> PluginError {
    error(source, code::BAD_RESPONSE, message)
}

/// `unsupported_pair` naming the pair and why.
pub fn unsupported(source: &str, pair: &Pair, why: impl std::fmt::Display) -> PluginError {
    error(source, code::UNSUPPORTED_PAIR, format_args!("cannot quote {}: {why}", show(pair)))
}

/// A pair as messages show it: `BTC_USD`, or escaped and cut short when it holds anything else.
pub fn show(pair: &Pair) -> String {
    let text = pair.to_string();
    if text.len() <= 40 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return text;
    }
    let cut: String = text.chars().take(40).collect();
    format!("{cut:?}{}", if cut.len() < text.len() { "…" } else { "" })
}

/// Whether a code is one an API could know: 1 to 16 uppercase ASCII letters and digits.
pub fn is_code(code: &str) -> bool {
    (1..=16).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Refuses a pair whose codes are not [`is_code`] or that prices a currency in itself.
pub fn check_pair(source: &str, pair: &Pair) -> Result<(), PluginError> {
    if !is_code(&pair.base) || !is_code(&pair.quote) {
        return Err(unsupported(source, pair, "codes are 1 to 16 uppercase letters and digits"));
    }
    if pair.base == pair.quote {
        return Err(unsupported(source, pair, "a currency is not priced in itself"));
    }
    Ok(())
}

/// `items` without repeats, in the order first seen (the values of a query list).
pub fn distinct<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// A `GET` of `url` asking for `accept`.
pub fn get(url: String, accept: &str) -> HttpRequest {
    let headers = vec![("accept".to_string(), accept.to_string())];
    HttpRequest { method: "GET".into(), url, headers, body: String::new() }
}

/// A quoted rate; a time the API states later than `now` is taken as `now` (a rate is never
/// from the future, and such a claim would keep it fresh).
pub fn quoted(pair: &Pair, rate: String, at: i64, now: i64) -> QuotedRate {
    QuotedRate { pair: pair.clone(), rate, at: at.min(now) }
}
