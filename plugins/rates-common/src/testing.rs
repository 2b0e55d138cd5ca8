//! For the rate plugins' own tests (feature `testing`): a plugin driven through its C ABI, the
//! conformance kit over a recorded response, and the failures every HTTP API shares (error
//! statuses, HTML from a proxy, truncated and empty bodies) checked by code and message.

use paywatch_plugin_api::messages::{HttpRequest, HttpResponse, Pair, QuotedRate, RateParseRequest};
use paywatch_plugin_api::testing::conformance::{check_rates, RatesOptions, Recorded, Report};
use paywatch_plugin_api::testing::harness::{CallError, PluginLib};
use paywatch_plugin_api::testing::TestHost;
use paywatch_plugin_api::{ExportedPlugin, PluginError};
use serde_json::Value;

/// The `now` of every parse here.
pub const NOW: i64 = 1_800_000_000;

/// `"BTC_USD"` → the pair.
pub fn pair(text: &str) -> Pair {
    let (base, quote) = text.split_once('_').expect("BASE_QUOTE");
    Pair::new(base, quote)
}

/// A response with this status, headers and body.
pub fn response(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
    let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    HttpResponse { status, headers, body: body.to_string() }
}

/// A `200` response with this body.
pub fn ok(body: &str) -> HttpResponse {
    response(200, &[], body)
}

/// A rate plugin library and one config.
#[derive(Debug)]
pub struct Harness {
    lib: PluginLib,
    host: TestHost,
    config: Value,
}

impl Harness {
    /// The plugin of this crate (`&crate::PAYWATCH_PLUGIN`) with this config.
    pub fn new(plugin: &ExportedPlugin, config: Value) -> Self {
        let lib = PluginLib::from_exported(plugin).expect("the vtable passes the host's checks");
        Self { lib, host: TestHost::new(), config }
    }

    /// What `create` says of another config.
    pub fn create_error(&self, config: Value) -> PluginError {
        match self.lib.create(&config, &self.host) {
            Err(CallError::Plugin(e)) => e,
            other => panic!("create with {config} answered {other:?}"),
        }
    }

    /// `request` for these pairs.
    pub fn requests(&self, pairs: &[Pair]) -> Result<Vec<HttpRequest>, CallError> {
        let plugin = self.lib.create(&self.config, &self.host).expect("the config is accepted");
        plugin.rate_requests(pairs, &self.host)
    }

    /// The URLs `request` gives for these pairs (each a `GET`).
    pub fn urls(&self, pairs: &[Pair]) -> Vec<String> {
        let reqs = self.requests(pairs).expect("request accepts the pairs");
        assert!(reqs.iter().all(|r| r.method == "GET" && r.body.is_empty()), "{reqs:?}");
        reqs.into_iter().map(|r| r.url).collect()
    }

    /// `parse` of these responses at [`NOW`].
    pub fn parse(&self, pairs: &[Pair], responses: Vec<HttpResponse>) -> Result<Vec<QuotedRate>, CallError> {
        let plugin = self.lib.create(&self.config, &self.host).expect("the config is accepted");
        plugin.parse_rates(&RateParseRequest { pairs: pairs.to_vec(), responses, now: NOW }, &self.host)
    }

    /// The `(pair, rate, at)` of each rate parsed, sorted.
    pub fn rates(&self, pairs: &[Pair], responses: Vec<HttpResponse>) -> Vec<(String, String, i64)> {
        let mut rates: Vec<_> = match self.parse(pairs, responses) {
            Ok(r) => r.into_iter().map(|q| (q.pair.to_string(), q.rate, q.at)).collect(),
            Err(e) => panic!("parse failed: {e}"),
        };
        rates.sort();
        rates
    }

    /// The plugin's error for these responses (a panic or rates fail the test).
    pub fn error(&self, pairs: &[Pair], responses: Vec<HttpResponse>) -> PluginError {
        match self.parse(pairs, responses) {
            Err(CallError::Plugin(e)) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    /// The conformance kit over a recorded response set and the rates it holds.
    pub fn conformance(
        &self,
        pairs: Vec<Pair>,
        responses: Vec<HttpResponse>,
        expected: &[(&str, &str, i64)],
    ) -> Report {
        let expected = expected
            .iter()
            .map(|(p, rate, at)| QuotedRate { pair: pair(p), rate: rate.to_string(), at: *at })
            .collect();
        let recorded = Recorded { responses, now: NOW, expected };
        check_rates(
            &self.lib,
            &RatesOptions { recorded: Some(recorded), ..RatesOptions::new(self.config.clone(), pairs) },
        )
    }

    /// What every source says of an HTTP 500, a 429 with `Retry-After`, a proxy's HTML page, a
    /// truncated body and an empty one, each in place of `good` (the rest of `responses`
    /// kept): the code, and a message naming the source and the fault.
    pub fn assert_http_failures(&self, pairs: &[Pair], responses: &[HttpResponse], name: &str) {
        let html = "<!DOCTYPE html><html><head><title>Attention Required!</title></head><body>captcha</body></html>";
        for i in 0..responses.len() {
            let good = &responses[i].body;
            let cut = &good[..good.len() / 2];
            let cases: [(HttpResponse, &str, &str); 5] = [
                (response(500, &[], "Internal Server Error"), "http_status", "HTTP 500: Internal Server Error"),
                (response(429, &[("retry-after", "60")], ""), "rate_limited", "HTTP 429, retry after 60"),
                (response(200, &[("content-type", "text/html")], html), "bad_response", "<!DOCTYPE html>"),
                (ok(cut), "bad_response", ""),
                (ok(""), "bad_response", "empty"),
            ];
            for (bad, code, says) in cases {
                let mut all = responses.to_vec();
                all[i] = bad.clone();
                let e = self.error(pairs, all);
                assert_eq!(e.code, code, "{bad:?}: {e}");
                assert!(e.message.starts_with(&format!("{name}: ")) && e.message.contains(says), "{bad:?}: {e}");
            }
        }
    }
}
