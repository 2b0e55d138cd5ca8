//! Reading the host's responses: as many as there were requests, a success status, a body in
//! the API's format. Error messages quote at most a short, escaped piece of a body.

use crate::{bad_response, code, error};
use paywatch_plugin_api::messages::{HttpResponse, RateParseRequest};
use paywatch_plugin_api::PluginError;
use serde::de::DeserializeOwned;

/// The responses, when there are exactly `count` (one per request `request` made).
pub fn expect<'r>(source: &str, req: &'r RateParseRequest, count: usize) -> Result<&'r [HttpResponse], PluginError> {
    match req.responses.len() {
        n if n == count => Ok(&req.responses),
        n => Err(error(source, code::INVALID_INPUT, format_args!("{n} responses for {count} requests"))),
    }
}

/// A 2xx status, or the error: `rate_limited` for 429 and 418 (with the `Retry-After` the API
/// sent), `http_status` otherwise; both quote the start of the body.
pub fn check_status(source: &str, resp: &HttpResponse) -> Result<(), PluginError> {
    if (200..300).contains(&resp.status) {
        return Ok(());
    }
    let retry = header(resp, "retry-after").map(|v| format!(", retry after {}", snippet(v))).unwrap_or_default();
    let body = match resp.body.trim() {
        "" => String::new(),
        b => format!(": {}", snippet(b)),
    };
    let code = if matches!(resp.status, 429 | 418) { code::RATE_LIMITED } else { code::HTTP_STATUS };
    Err(error(source, code, format_args!("HTTP {}{retry}{body}", resp.status)))
}

/// A header's value (names are lowercase in responses).
pub fn header<'r>(resp: &'r HttpResponse, name: &str) -> Option<&'r str> {
    resp.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// The body read as JSON of type `T`, after [`check_status`]; an HTML page (a proxy's, a
/// captcha) or truncated JSON is named as such.
pub fn json<T: DeserializeOwned>(source: &str, resp: &HttpResponse) -> Result<T, PluginError> {
    check_status(source, resp)?;
    let body = resp.body.trim_start();
    if body.is_empty() {
        return Err(bad_response(source, "the body is empty"));
    }
    if body.starts_with('<') {
        return Err(bad_response(source, format_args!("the body is HTML or XML, not JSON: {}", snippet(body))));
    }
    serde_json::from_str(body).map_err(|e| bad_response(source, format_args!("the body is not its JSON: {e}")))
}

/// At most 120 characters of `text`, control characters escaped, with `…` when cut.
pub fn snippet(text: &str) -> String {
    let cut: String = text.chars().take(120).collect();
    let more = if cut.len() < text.len() { "…" } else { "" };
    let shown: String =
        cut.chars().flat_map(|c| if c.is_control() { c.escape_debug().collect() } else { vec![c] }).collect();
    format!("{shown}{more}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        HttpResponse { status, headers, body: body.into() }
    }

    #[test]
    fn statuses_name_the_limit_and_the_body() {
        let e = check_status("binance", &resp(429, &[("retry-after", "30")], "{\"code\":-1003}")).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("rate_limited", r#"binance: HTTP 429, retry after 30: {"code":-1003}"#)
        );
        let e = check_status("ecb", &resp(500, &[], "")).unwrap_err();
        assert_eq!((e.code.as_str(), e.message.as_str()), ("http_status", "ecb: HTTP 500"));
        let long = format!("line\n{}", "x".repeat(500));
        let e = check_status("ecb", &resp(503, &[], &long)).unwrap_err();
        assert!(e.message.contains("line\\nxxx") && e.message.ends_with('…') && e.message.len() < 200, "{}", e.message);
        assert!(check_status("ecb", &resp(204, &[], "")).is_ok());
    }

    #[test]
    fn bodies_that_are_not_json_are_named() {
        let e = json::<serde_json::Value>("kraken", &resp(200, &[], "<html><body>502 Bad Gateway</body></html>"))
            .unwrap_err();
        assert!(e.message.starts_with("kraken: the body is HTML or XML, not JSON: <html>"), "{}", e.message);
        let e = json::<serde_json::Value>("kraken", &resp(200, &[], "{\"error\":[],\"result\":{")).unwrap_err();
        assert!(e.message.starts_with("kraken: the body is not its JSON: EOF while parsing"), "{}", e.message);
        let e = json::<serde_json::Value>("kraken", &resp(200, &[], "  ")).unwrap_err();
        assert_eq!(e.message, "kraken: the body is empty");
    }
}
