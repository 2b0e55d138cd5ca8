//! Checks for platform plugins: info, endpoint validation, rendering every kind of event into
//! well-formed requests, reading responses, and hostile input never panicking.

use super::Report;
use crate::abi::PluginKind;
use crate::messages::{platform_method as m, ClassifyRequest, PlatformInfo, RenderReply, RenderRequest, Verdict};
use crate::testing::harness::{CallError, Instance, PluginLib};
use crate::testing::TestHost;
use serde_json::{json, Value};

/// What [`check_platform`] needs.
#[derive(Debug, Clone)]
pub struct PlatformOptions {
    /// The plugin-wide config (`[plugins.config.NAME]` in the daemon's config; `{}` if none).
    pub config: Value,
    /// An endpoint the plugin accepts (`url`, `secret` and the plugin's own params, flat).
    /// Default: `{"url": "https://shop.example/paywatch"}`; a plugin that requires more params
    /// (a secret, an API key) needs them here (`paywatch plugins check --endpoint JSON`).
    pub endpoint: Value,
}

impl Default for PlatformOptions {
    fn default() -> Self {
        Self { config: json!({}), endpoint: json!({"url": "https://shop.example/paywatch"}) }
    }
}

/// One event of each subject, shaped as the daemon stores them.
pub fn sample_events() -> Vec<Value> {
    let event = |seq: u64, kind: &str, data: Value| {
        json!({"seq": seq, "id": format!("01936d5e-7a3c-7d21-9a0b-00000000000{seq}"), "type": kind,
               "store": "shop", "created_at": "2026-11-27T09:08:31.509810663Z", "data": data})
    };
    let payment = json!({"watch_id": "01936d5e-0000-7000-8000-000000000001", "store": "shop", "chain": "btc",
        "asset": "BTC", "address": "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        "txid": "764b60c3d9a2c3c5bb6fe7141d9ca6e6778122df75f19366a2c5cb948d1d7d84", "index": 0,
        "amount": "0.0015", "amount_base": "150000", "status": "confirmed", "confirmations": 1,
        "required_confirmations": 1, "final": true, "block_height": 702861,
        "block_hash": "000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae", "replaced_by": null});
    let invoice = json!({"id": "01936d5e-1111-7000-8000-000000000002", "store": "shop", "order_id": "1042",
        "asset": "BTC", "status": "settled", "exception": null, "amount_due": "0.0015", "amount_paid": "0.0015",
        "amount_confirmed": "0.0015", "address": "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        "payment_uri": "bitcoin:bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq?amount=0.0015",
        "expires_at": "2026-11-27T10:08:31Z", "required_confirmations": 1, "sequence": 3,
        "payments": [payment.clone()]});
    let refund = json!({"id": "01936d5e-2222-7000-8000-000000000003", "invoice_id": "01936d5e-1111-7000-8000-000000000002",
        "amount": "0.001", "status": "completed", "address": "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        "payment_uri": null, "txid": "764b60c3d9a2c3c5bb6fe7141d9ca6e6778122df75f19366a2c5cb948d1d7d84"});
    let mut expired = invoice.clone();
    expired["status"] = "expired".into();
    expired["payments"] = json!([]);
    vec![
        event(1, "payment.detected", payment),
        event(2, "invoice.settled", invoice),
        event(3, "invoice.expired", expired),
        event(4, "refund.completed", refund),
        event(5, "ping", json!({"message": "test from paywatch", "endpoint": "01936d5e-3333-7000-8000-000000000004"})),
    ]
}

/// Runs every check that applies to a platform plugin. Never panics.
pub fn check_platform(lib: &PluginLib, opts: &PlatformOptions) -> Report {
    let mut r = Report::new(lib);
    let host = TestHost::new();
    let Some(plugin) = super::start(&mut r, lib, PluginKind::PLATFORM, &opts.config, &host) else { return r };
    match plugin.call::<_, PlatformInfo>(m::INFO, &json!({}), &host) {
        Ok(i) if !i.description.is_empty() => r.pass("info", i.description),
        Ok(_) => r.fail("info", "empty description"),
        Err(e) => r.fail("info", e.to_string()),
    }
    validate(&mut r, &plugin, &host, &opts.endpoint);
    render(&mut r, &plugin, &host, &opts.endpoint);
    classify(&mut r, &plugin, &host);
    hostile(&mut r, lib, opts);
    r
}

fn validate(r: &mut Report, plugin: &Instance<'_>, host: &TestHost, endpoint: &Value) {
    let name = "validate_endpoint accepts the sample endpoint";
    match plugin.call::<_, Value>(m::VALIDATE_ENDPOINT, endpoint, host) {
        Ok(_) => r.pass(name, endpoint.to_string()),
        Err(CallError::Plugin(e)) if e.code == "unknown_method" => {
            r.skip(name, "the plugin predates validate_endpoint (every endpoint is accepted)")
        }
        Err(e) => r.fail(
            name,
            format!("{endpoint}: {e} (give one it accepts: `paywatch plugins check --endpoint JSON`, or PlatformOptions::endpoint)"),
        ),
    }
}

fn render(r: &mut Report, plugin: &Instance<'_>, host: &TestHost, endpoint: &Value) {
    let name = "render gives well-formed requests for every kind of event";
    let mut problems = Vec::new();
    let events = sample_events();
    for event in &events {
        let req = RenderRequest { event: event.clone(), endpoint: endpoint.clone(), attempt: 1, now: 1_795_770_511 };
        match plugin.call::<_, RenderReply>(m::RENDER, &req, host) {
            Ok(reply) => {
                for h in &reply.requests {
                    if let Some(p) = request_problem(h) {
                        problems.push(format!("{}: {p}", event["type"]));
                    }
                }
            }
            Err(e) => problems.push(format!("{}: {e}", event["type"])),
        }
    }
    if problems.is_empty() {
        r.pass(name, format!("{} events", events.len()));
    } else {
        r.fail(name, problems.join("; "));
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn request_problem(h: &crate::messages::HttpRequest) -> Option<String> {
    if !is_token(&h.method) {
        return Some(format!("method {:?} is not an HTTP token", h.method));
    }
    let rest = h.url.strip_prefix("https://").or_else(|| h.url.strip_prefix("http://"));
    let authority = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default()).unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let bracketed = host.starts_with('[');
    if authority.is_empty()
        || host.is_empty()
        || host.starts_with(':')
        || (bracketed && !host.contains(']'))
        || (!bracketed && host.contains([']', '[']))
        || h.url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Some(format!("url {:?} is not an absolute http(s) URL with a host", h.url));
    }
    for (k, v) in &h.headers {
        if !is_token(k) {
            return Some(format!("header name {k:?} is not an HTTP token"));
        }
        // What an HTTP client accepts in a value: tab, and no other control character.
        if v.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Some(format!("header {k} has a control character (CR, LF, NUL…) in its value"));
        }
    }
    None
}

fn classify(r: &mut Report, plugin: &Instance<'_>, host: &TestHost) {
    let name = "classify reads responses";
    let resp = |status: u16, headers: &[(&str, &str)]| ClassifyRequest {
        status,
        headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        body: String::new(),
    };
    let mut problems = Vec::new();
    type Case = (ClassifyRequest, fn(&Verdict) -> bool, &'static str);
    let cases: [Case; 4] = [
        (resp(200, &[]), |v| *v == Verdict::Ack, "ack"),
        (resp(500, &[]), |v| matches!(v, Verdict::Retry { .. }), "retry"),
        (resp(503, &[("retry-after", "120")]), |v| matches!(v, Verdict::Retry { .. }), "retry"),
        (resp(410, &[]), |v| *v != Verdict::Ack, "not ack"),
    ];
    for (req, ok, want) in cases {
        match plugin.call::<_, Verdict>(m::CLASSIFY, &req, host) {
            Ok(v) if ok(&v) => {}
            Ok(v) => problems.push(format!("{}: {v:?}, expected {want}", req.status)),
            Err(e) => problems.push(format!("{}: {e}", req.status)),
        }
    }
    if problems.is_empty() {
        r.pass(name, "200 ack, 500 and 503 retry, 410 not ack");
    } else {
        r.fail(name, problems.join("; "));
    }
}

/// Garbage endpoints, events and responses: errors are fine, panics are not.
fn hostile(r: &mut Report, lib: &PluginLib, opts: &PlatformOptions) {
    let name = "hostile endpoints, events and responses are errors, not panics";
    let host = TestHost::new();
    let mut problems = Vec::new();
    let mut note = |what: String, got: Result<Value, CallError>| {
        if let Err(e @ (CallError::Panicked(_) | CallError::BadReply(_))) = got {
            problems.push(format!("{what}: {e}"));
        }
    };
    let plugin = match lib.create(&opts.config, &host) {
        Ok(p) => p,
        Err(e) => return r.fail(name, format!("cannot create another instance from the same config: {e}")),
    };
    for endpoint in [json!({}), json!({"url": 5}), json!([]), Value::Null, json!({"url": "\u{0}"})] {
        note(format!("validate_endpoint({endpoint})"), plugin.call(m::VALIDATE_ENDPOINT, &endpoint, &host));
        let req = json!({"event": sample_events()[0], "endpoint": endpoint, "attempt": 1, "now": 0});
        note(format!("render with endpoint {endpoint}"), plugin.call(m::RENDER, &req, &host));
    }
    let big = "x".repeat(100_000);
    for event in
        [json!({}), json!({"type": 5, "data": null}), json!({"type": "invoice.settled", "data": {"payments": big}})]
    {
        let req = json!({"event": event, "endpoint": opts.endpoint, "attempt": u32::MAX, "now": i64::MIN});
        note("render of a malformed event".into(), plugin.call(m::RENDER, &req, &host));
    }
    let headers: Vec<(String, String)> =
        vec![("retry-after".into(), "-1".into()), ("Retry-After".into(), "99999999999999999999".into())];
    for status in [0u16, 100, 299, 302, 429, 999, u16::MAX] {
        let req = ClassifyRequest { status, headers: headers.clone(), body: "\u{fffd}".repeat(20_000) };
        note(format!("classify({status})"), plugin.call(m::CLASSIFY, &req, &host));
    }
    if problems.is_empty() {
        r.pass(name, "5 endpoints, 3 events, 7 responses");
    } else {
        r.fail(name, problems.join("; "));
    }
}
