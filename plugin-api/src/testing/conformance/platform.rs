//! Checks for platform plugins: info, endpoint validation, rendering every kind of event into
//! well-formed requests, reading responses, and hostile input never panicking.

use super::Report;
use crate::abi::PluginKind;
use crate::events::{
    Event, EventKind, Exception, Family, Invoice, InvoiceStatus, Payment, PaymentMethod, PaymentStatus, Refund,
    RefundStatus,
};
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

/// One event of every [`EventKind`], each with the data the daemon sends for it (built from the
/// typed views, so every field is there).
pub fn sample_events() -> Vec<Value> {
    let payment = Payment {
        watch_id: "01936d5e-0000-7000-8000-000000000001".into(),
        store: "shop".into(),
        chain: "btc".into(),
        asset: "BTC".into(),
        address: "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq".into(),
        txid: "764b60c3d9a2c3c5bb6fe7141d9ca6e6778122df75f19366a2c5cb948d1d7d84".into(),
        index: 0,
        amount: "0.0015".into(),
        amount_base: "150000".into(),
        status: PaymentStatus::Confirmed,
        confirmations: 1,
        required_confirmations: 1,
        is_final: true,
        block_height: Some(702861),
        block_hash: Some("000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae".into()),
        replaced_by: None,
        first_seen: "2026-11-27T09:01:02Z".into(),
        updated_at: "2026-11-27T09:08:31.509810663Z".into(),
    };
    let invoice = Invoice {
        id: "01936d5e-1111-7000-8000-000000000002".into(),
        store: "shop".into(),
        order_id: "1042".into(),
        asset: "BTC".into(),
        chain: "btc".into(),
        status: InvoiceStatus::Settled,
        exception: Exception::None,
        amount_due: "0.0015".into(),
        amount_paid: "0.0015".into(),
        amount_confirmed: "0.0015".into(),
        amount_due_base: "150000".into(),
        amount_paid_base: "150000".into(),
        amount_confirmed_base: "150000".into(),
        payment_tolerance_percent: 0.0,
        address: payment.address.clone(),
        payment_uri: "bitcoin:bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq?amount=0.0015".into(),
        required_confirmations: 1,
        description: Some("Order #1042".into()),
        metadata: Some(json!({"cart": 7})),
        refund_email: None,
        created_at: "2026-11-27T08:55:00Z".into(),
        expires_at: "2026-11-27T10:08:31Z".into(),
        monitoring_until: "2026-11-28T10:08:31Z".into(),
        updated_at: "2026-11-27T09:08:31.509810663Z".into(),
        sequence: 3,
        payments: vec![payment.clone()],
        payments_count: 1,
        payment: Some(payment.clone()),
        min_payment: "0.00000546".into(),
        min_payment_base: "546".into(),
        currency: "USD".into(),
        amount: "96.00".into(),
        paid: "96.00".into(),
        confirmed: "96.00".into(),
        due: "0.00".into(),
        payment_methods: vec![
            PaymentMethod {
                asset: "BTC".into(),
                chain: "btc".into(),
                address: payment.address.clone(),
                amount_due: "0".into(),
                amount_due_base: "0".into(),
                amount_paid: "0.0015".into(),
                amount_paid_base: "150000".into(),
                rate: "64000".into(),
                rate_source: "kraken".into(),
                rate_at: "2026-11-27T08:54:58Z".into(),
                payment_uri: "bitcoin:bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq?amount=0.0015".into(),
            },
            PaymentMethod {
                asset: "ETH".into(),
                chain: "eth".into(),
                address: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".into(),
                amount_due: "0".into(),
                amount_due_base: "0".into(),
                amount_paid: "0".into(),
                amount_paid_base: "0".into(),
                rate: "3200.5".into(),
                rate_source: "coinbase".into(),
                rate_at: "2026-11-27T08:54:59Z".into(),
                payment_uri: "ethereum:0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed@1?value=2.9995313232e16".into(),
            },
        ],
        checkout_url: "https://pay.example.com/i/01936d5e-1111-7000-8000-000000000002".into(),
        redirect_url: Some("https://shop.example.com/order/1042".into()),
        gateway: None,
    };
    let refund = Refund {
        id: "01936d5e-2222-7000-8000-000000000003".into(),
        invoice_id: invoice.id.clone(),
        store: "shop".into(),
        asset: "BTC".into(),
        amount: "0.001".into(),
        amount_base: "100000".into(),
        rate_policy: "original".into(),
        reason: None,
        status: RefundStatus::Completed,
        address: Some(payment.address.clone()),
        payment_uri: None,
        required_confirmations: 1,
        txid: Some(payment.txid.clone()),
        claim_expires_at: None,
        created_at: "2026-11-28T08:00:00Z".into(),
        updated_at: "2026-11-28T09:00:00Z".into(),
        claim_token: None,
        claim_path: None,
        claim_url: None,
        variant: "rate_then".into(),
        currency: "USD".into(),
        value: "64.00".into(),
        rate: "64000".into(),
        rate_source: "kraken".into(),
        rate_at: "2026-11-27T08:54:59Z".into(),
        subtract_percent: None,
        approval: None,
    };
    let mut expired = invoice.clone();
    expired.status = InvoiceStatus::Expired;
    expired.payments.clear();
    expired.payments_count = 0;
    expired.payment = None;
    let [payment, invoice, expired, refund] = [json!(payment), json!(invoice), json!(expired), json!(refund)];
    EventKind::ALL
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let data = match (kind.family(), kind) {
                (Family::Payment, _) => payment.clone(),
                (Family::Invoice, EventKind::InvoiceExpired | EventKind::InvoiceCreated) => expired.clone(),
                (Family::Invoice, _) => invoice.clone(),
                (Family::Refund, _) => refund.clone(),
                (Family::Ping, _) => {
                    json!({"message": "test from paywatch", "endpoint": "01936d5e-3333-7000-8000-000000000004"})
                }
            };
            let seq = i as u64 + 1;
            serde_json::to_value(Event {
                seq,
                id: format!("01936d5e-7a3c-7d21-9a0b-{seq:012}"),
                event_type: kind.as_str().into(),
                store: "shop".into(),
                created_at: "2026-11-27T09:08:31.509810663Z".into(),
                data,
            })
            .expect("events encode")
        })
        .collect()
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

pub(super) fn request_problem(h: &crate::messages::HttpRequest) -> Option<String> {
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
