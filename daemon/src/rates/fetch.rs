//! One fetch of one pair from a plugin source: the plugin's `request`, each HTTP request sent
//! (by a [`Fetch`]), the plugin's `parse`, and its reply checked: a plugin error, a panic, a
//! rate that is not a positive decimal or a rate for a pair not asked is the source's failure,
//! never the daemon's.

use super::{Clock, Fetch};
use crate::plugins::{CallError, PluginInstance};
use paywatch_plugin_api::messages::{
    rate_method, HttpRequest, HttpResponse, Pair, QuotedRate, RateParseRequest, RateReply, RateRequest, RateRequests,
};
use rust_decimal::Decimal;
use std::sync::Arc;
use time::OffsetDateTime;

/// Most HTTP requests one fetch may send.
const MAX_REQUESTS: usize = 8;
/// A rate dated later than this past the fetch is refused (clocks differ by seconds, not this).
const MAX_FUTURE_SECS: i64 = 300;

/// What a plugin says, as the engine needs it (a trait so that tests can stand in for it).
pub(crate) trait RateApi: Send + Sync + std::fmt::Debug {
    /// The requests fetching `req.pairs`.
    fn request(&self, req: &RateRequest) -> Result<Vec<HttpRequest>, ApiFailure>;
    /// The rates the responses give.
    fn parse(&self, req: &RateParseRequest) -> Result<Vec<QuotedRate>, ApiFailure>;
}

/// A plugin's refusal.
#[derive(Debug, Clone)]
pub(crate) struct ApiFailure {
    /// The plugin said it cannot quote the pair (`unsupported_pair`).
    pub(crate) unsupported: bool,
    pub(crate) message: String,
}

impl From<CallError> for ApiFailure {
    fn from(e: CallError) -> Self {
        Self { unsupported: e.plugin_code() == Some("unsupported_pair"), message: e.to_string() }
    }
}

impl RateApi for PluginInstance {
    fn request(&self, req: &RateRequest) -> Result<Vec<HttpRequest>, ApiFailure> {
        Ok(self.call::<_, RateRequests>(rate_method::REQUEST, req)?.requests)
    }

    fn parse(&self, req: &RateParseRequest) -> Result<Vec<QuotedRate>, ApiFailure> {
        Ok(self.call::<_, RateReply>(rate_method::PARSE, req)?.rates)
    }
}

/// The outcome of one fetch.
#[derive(Debug)]
pub(super) enum Fetched {
    Quoted(Decimal, OffsetDateTime),
    NotQuoted(String),
    Failed(String),
}

/// Fetches `base_quote` from a plugin source. Plugin calls run on the blocking pool. A failure
/// is logged (at most once per pair and ttl: the caller remembers it that long), so an operator
/// sees a source that answers errors before invoices fail.
pub(super) async fn one(
    source: &str,
    api: Arc<dyn RateApi>,
    fetch: &dyn Fetch,
    base: &str,
    quote: &str,
    clock: &dyn Clock,
) -> Fetched {
    let got = async {
        let pair = Pair::new(base, quote);
        let req = RateRequest { pairs: vec![pair.clone()] };
        let a = api.clone();
        let requests = match blocking(move || a.request(&req)).await {
            Ok(r) => r,
            Err(e) if e.unsupported => return Fetched::NotQuoted(format!("does not quote {pair} ({})", e.message)),
            Err(e) => return Fetched::Failed(e.message),
        };
        if requests.is_empty() || requests.len() > MAX_REQUESTS {
            return Fetched::Failed(format!("plugin asked for {} http requests (1 to {MAX_REQUESTS})", requests.len()));
        }
        let mut responses = Vec::with_capacity(requests.len());
        let mut errors = Vec::new();
        for r in requests {
            let url = crate::config::redact_url(&r.url);
            match fetch.fetch(source, r).await {
                Ok(resp) => {
                    if !(200..300).contains(&resp.status) {
                        errors.push(format!("http status {} from {url}", resp.status));
                    }
                    responses.push(resp);
                }
                Err(why) => return Fetched::Failed(why),
            }
        }
        let now = clock.now();
        let parse = RateParseRequest { pairs: vec![pair.clone()], responses, now: now.unix_timestamp() };
        let rates = match blocking(move || api.parse(&parse)).await {
            Ok(rates) => rates,
            Err(e) if errors.is_empty() => return Fetched::Failed(e.message),
            Err(e) => return Fetched::Failed(format!("{}; {}", errors.join(", "), e.message)),
        };
        checked(&pair, rates, now)
    }
    .await;
    if let Fetched::Failed(why) = &got {
        tracing::warn!(source, pair = %format!("{base}_{quote}"), error = %why, "rate source failed");
    }
    got
}

/// The plugin's rates: only the pair asked, a positive plain decimal, not dated in the future.
fn checked(pair: &Pair, rates: Vec<QuotedRate>, now: OffsetDateTime) -> Fetched {
    let mut found = None;
    for r in rates {
        if r.pair != *pair {
            return Fetched::Failed(format!(
                "plugin returned a rate for {}, which was not asked (asked: {pair})",
                r.pair
            ));
        }
        let value = match crate::config::parse_rate(&r.rate) {
            Ok(v) => v,
            Err(e) => return Fetched::Failed(format!("plugin returned a bad rate for {pair}: {e}")),
        };
        let at = match OffsetDateTime::from_unix_timestamp(r.at) {
            Ok(at) if at.unix_timestamp() <= now.unix_timestamp() + MAX_FUTURE_SECS => at.min(now),
            _ => {
                return Fetched::Failed(format!(
                    "plugin dated the rate of {pair} at {}, after now ({})",
                    r.at,
                    now.unix_timestamp()
                ))
            }
        };
        found = Some((value, at));
    }
    match found {
        Some((value, at)) => Fetched::Quoted(value, at),
        None => Fetched::NotQuoted(format!("the response does not quote {pair}")),
    }
}

/// Runs a plugin call on the blocking pool; a lost task is a failure, not a panic.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiFailure> + Send + 'static,
) -> Result<T, ApiFailure> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(ApiFailure { unsupported: false, message: format!("plugin call lost: {e}") }))
}

/// A response as parse receives it.
pub(super) fn response(status: u16, headers: Vec<(String, String)>, body: &[u8]) -> HttpResponse {
    HttpResponse { status, headers, body: String::from_utf8_lossy(body).into_owned() }
}
