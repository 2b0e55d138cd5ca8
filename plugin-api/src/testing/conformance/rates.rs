//! Checks for rate-source plugins: info, well-formed requests for the pairs asked, the
//! plugin's recorded responses read to the expected rates, and error responses, garbage, the
//! wrong number of responses and pairs it cannot quote never read as rates (and never panic).

use super::platform::request_problem;
use super::Report;
use crate::abi::PluginKind;
use crate::messages::{rate_method as m, HttpResponse, Pair, QuotedRate, RateParseRequest, RateSourceInfo};
use crate::testing::harness::{CallError, Instance, PluginLib};
use crate::testing::TestHost;
use crate::text::is_plain_positive_decimal;
use serde_json::{json, Value};

/// What [`check_rates`] needs.
#[derive(Debug, Clone)]
pub struct RatesOptions {
    /// The source's config (its `[rates.sources.NAME]` table without the host's keys; `{}`
    /// if none).
    pub config: Value,
    /// Pairs the plugin quotes; at least one.
    pub pairs: Vec<Pair>,
    /// Real responses of the API to the requests for `pairs`, and what they read as. Without
    /// them the kit checks the requests and the error cases only.
    pub recorded: Option<Recorded>,
}

impl RatesOptions {
    /// Checks these pairs with this config, without recorded responses.
    pub fn new(config: Value, pairs: Vec<Pair>) -> Self {
        Self { config, pairs, recorded: None }
    }
}

/// Responses recorded from the API (its documentation's examples, say) and the rates they
/// hold.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// One per request `request` makes for the options' pairs, in order.
    pub responses: Vec<HttpResponse>,
    /// The time they arrived (`RateParseRequest::now`).
    pub now: i64,
    /// Exactly the rates `parse` must give (any order).
    pub expected: Vec<QuotedRate>,
}

/// Runs every check that applies to a rate-source plugin. Never panics.
pub fn check_rates(lib: &PluginLib, opts: &RatesOptions) -> Report {
    let mut r = Report::new(lib);
    let host = TestHost::new();
    let Some(plugin) = super::start(&mut r, lib, PluginKind::RATES, &opts.config, &host) else { return r };
    info(&mut r, lib, &plugin, &host);
    let count = requests(&mut r, &plugin, &host, &opts.pairs);
    recorded(&mut r, &plugin, &host, opts);
    errors(&mut r, &plugin, &host, opts, count);
    wrong_count(&mut r, &plugin, &host, opts, count);
    unquotable(&mut r, &plugin, &host, opts);
    r
}

fn info(r: &mut Report, lib: &PluginLib, plugin: &Instance<'_>, host: &TestHost) {
    match plugin.call::<_, RateSourceInfo>(m::INFO, &json!({}), host) {
        Ok(i) if i.name != lib.name() => r.fail("info", format!("names {:?}, the vtable {:?}", i.name, lib.name())),
        Ok(i) if i.description.trim().is_empty() => r.fail("info", "empty description"),
        Ok(i) => r.pass("info", format!("{}: {}", i.name, i.description)),
        Err(e) => r.fail("info", e.to_string()),
    }
}

/// Each pair alone and all together give at least one well-formed request; returns how many
/// requests all the pairs take (`None` when `request` refused them).
fn requests(r: &mut Report, plugin: &Instance<'_>, host: &TestHost, pairs: &[Pair]) -> Option<usize> {
    let name = "request gives well-formed requests for each pair";
    if pairs.is_empty() {
        r.fail(name, "the options name no pair (RatesOptions::pairs)");
        return None;
    }
    let mut problems = Vec::new();
    let mut count = None;
    let alone = pairs.iter().map(std::slice::from_ref);
    for (i, asked) in alone.chain(std::iter::once(pairs)).enumerate() {
        let what = if i < pairs.len() { asked[0].to_string() } else { "all pairs".to_string() };
        match plugin.rate_requests(asked, host) {
            Ok(reqs) if reqs.is_empty() => problems.push(format!("{what}: no request")),
            Ok(reqs) => {
                problems.extend(reqs.iter().filter_map(request_problem).map(|p| format!("{what}: {p}")));
                if i == pairs.len() {
                    count = Some(reqs.len());
                }
            }
            Err(e) => problems.push(format!("{what}: {e}")),
        }
    }
    if problems.is_empty() {
        r.pass(name, format!("{} pairs, {} requests for all", pairs.len(), count.unwrap_or_default()));
    } else {
        r.fail(name, problems.join("; "));
    }
    count
}

/// What is wrong with the rates of a successful `parse` for `pairs`, if anything.
fn rates_problem(rates: &[QuotedRate], pairs: &[Pair]) -> Option<String> {
    let problems: Vec<String> = rates
        .iter()
        .filter_map(|q| {
            if !pairs.contains(&q.pair) {
                Some(format!("{} was not asked for", q.pair))
            } else if !is_plain_positive_decimal(&q.rate) {
                Some(format!("{} rate {:?} is not a plain positive decimal", q.pair, q.rate))
            } else {
                None
            }
        })
        .collect();
    (!problems.is_empty()).then(|| problems.join("; "))
}

fn parse(plugin: &Instance<'_>, host: &TestHost, pairs: &[Pair], responses: Vec<HttpResponse>, now: i64) -> Parsed {
    plugin.parse_rates(&RateParseRequest { pairs: pairs.to_vec(), responses, now }, host)
}

type Parsed = Result<Vec<QuotedRate>, CallError>;

fn recorded(r: &mut Report, plugin: &Instance<'_>, host: &TestHost, opts: &RatesOptions) {
    let name = "parse reads the recorded responses to the expected rates";
    let Some(rec) = &opts.recorded else {
        return r.skip(name, "no recorded responses (RatesOptions::recorded): the error cases only");
    };
    let mut got = match parse(plugin, host, &opts.pairs, rec.responses.clone(), rec.now) {
        Ok(got) => got,
        Err(e) => return r.fail(name, e.to_string()),
    };
    if let Some(p) = rates_problem(&got, &opts.pairs) {
        return r.fail(name, p);
    }
    let mut want = rec.expected.clone();
    let key = |q: &QuotedRate| (q.pair.clone(), q.rate.clone(), q.at);
    got.sort_by_key(key);
    want.sort_by_key(key);
    if got == want {
        r.pass(name, got.iter().map(|q| format!("{} {}", q.pair, q.rate)).collect::<Vec<_>>().join(", "));
    } else {
        r.fail(name, format!("got {got:?}, expected {want:?}"));
    }
}

fn response(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
    let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    HttpResponse { status, headers, body: body.to_string() }
}

/// Responses no source may read as rates: an error status, garbage, another shape.
fn bad_responses(recorded: Option<&HttpResponse>) -> Vec<(&'static str, HttpResponse)> {
    let body = recorded.map_or("{}", |r| r.body.as_str());
    vec![
        ("garbage", response(200, &[], "\u{1}\u{fffd}garbage{[<")),
        ("an empty body", response(200, &[], "")),
        ("HTTP 500", response(500, &[], body)),
        ("HTTP 429 with Retry-After", response(429, &[("retry-after", "30")], body)),
        (
            "HTML from a proxy",
            response(200, &[("content-type", "text/html")], "<html><body><h1>502 Bad Gateway</h1></body></html>"),
        ),
        ("a JSON object of another shape", response(200, &[], r#"{"unexpected": {"nested": [1, 2, 3]}}"#)),
        ("a JSON array of numbers", response(200, &[], "[1, 2, 3]")),
    ]
}

/// Each bad response, in every position (the others recorded, when there are recordings), is
/// an error: never rates, never a panic.
fn errors(r: &mut Report, plugin: &Instance<'_>, host: &TestHost, opts: &RatesOptions, count: Option<usize>) {
    let name = "error statuses, garbage and other shapes are errors";
    let (good, now) = match &opts.recorded {
        Some(rec) => (rec.responses.clone(), rec.now),
        None => (Vec::new(), 1_795_770_511),
    };
    let n = if good.is_empty() { count.unwrap_or(1).max(1) } else { good.len() };
    let mut problems = Vec::new();
    for i in 0..n {
        for (what, bad) in bad_responses(good.get(i)) {
            let responses = match good.is_empty() {
                true => vec![bad; n],
                false => good.iter().enumerate().map(|(j, g)| if j == i { bad.clone() } else { g.clone() }).collect(),
            };
            match parse(plugin, host, &opts.pairs, responses, now) {
                Err(CallError::Plugin(_)) => {}
                Ok(rates) => {
                    problems.push(format!("{what} (response {}): answered OK with {} rates", i + 1, rates.len()))
                }
                Err(e) => problems.push(format!("{what} (response {}): {e}", i + 1)),
            }
        }
    }
    if problems.is_empty() {
        r.pass(name, format!("{} bad responses in each of {n} positions, each an error", bad_responses(None).len()));
    } else {
        r.fail(name, problems.join("; "));
    }
}

/// No responses, or one more than requested, is an error.
fn wrong_count(r: &mut Report, plugin: &Instance<'_>, host: &TestHost, opts: &RatesOptions, count: Option<usize>) {
    let name = "the wrong number of responses is an error";
    let (good, now) = match &opts.recorded {
        Some(rec) => (rec.responses.clone(), rec.now),
        None => (vec![response(200, &[], "{}"); count.unwrap_or(1).max(1)], 1_795_770_511),
    };
    let mut more = good.clone();
    more.push(good.last().cloned().unwrap_or_else(|| response(200, &[], "{}")));
    let mut problems = Vec::new();
    for (what, responses) in [("no responses", Vec::new()), ("one response too many", more)] {
        match parse(plugin, host, &opts.pairs, responses, now) {
            Err(CallError::Plugin(_)) => {}
            Ok(rates) => problems.push(format!("{what}: answered OK with {} rates", rates.len())),
            Err(e) => problems.push(format!("{what}: {e}")),
        }
    }
    if problems.is_empty() {
        r.pass(name, format!("0 and {} responses for {} requested", good.len() + 1, good.len()));
    } else {
        r.fail(name, problems.join("; "));
    }
}

/// Pairs the plugin cannot quote, and odd codes: `request` may refuse them, `parse` may leave
/// them out; neither panics, and what `parse` answers is only what was asked.
fn unquotable(r: &mut Report, plugin: &Instance<'_>, host: &TestHost, opts: &RatesOptions) {
    let name = "pairs it cannot quote are refused or left out, not a panic";
    let long = "Q".repeat(10_000);
    let odd = [
        Pair::new("ZZZ", "QQQ"),
        Pair::new("", ""),
        Pair::new("btc", "usd"),
        Pair::new("USD", "USD"),
        Pair::new("B\u{0}C", "U\r\nD"),
        Pair::new("A&B=C", "#?/"),
        Pair::new(long.as_str(), "USD"),
    ];
    let (responses, now) = match &opts.recorded {
        Some(rec) => (rec.responses.clone(), rec.now),
        None => (vec![response(200, &[], "{}")], 1_795_770_511),
    };
    let mut problems = Vec::new();
    for pair in &odd {
        let asked = [pair.clone()];
        let shown: String = pair.to_string().chars().take(24).collect();
        match plugin.rate_requests(&asked, host) {
            Ok(reqs) => {
                problems.extend(reqs.iter().filter_map(request_problem).map(|p| format!("request {shown:?}: {p}")))
            }
            Err(CallError::Plugin(_)) => {}
            Err(e) => problems.push(format!("request {shown:?}: {e}")),
        }
        let mut with_known = opts.pairs.clone();
        with_known.push(pair.clone());
        for pairs in [&asked[..], &with_known[..]] {
            match parse(plugin, host, pairs, responses.clone(), now) {
                Ok(rates) => problems.extend(rates_problem(&rates, pairs).map(|p| format!("parse {shown:?}: {p}"))),
                Err(CallError::Plugin(_)) => {}
                Err(e) => problems.push(format!("parse {shown:?}: {e}")),
            }
        }
    }
    if problems.is_empty() {
        r.pass(name, format!("{} odd pairs", odd.len()));
    } else {
        r.fail(name, problems.join("; "));
    }
}
