//! Through the C ABI, as the daemon calls it.

use super::*;
use paywatch_plugin_api::testing::conformance::{check_platform, sample_events, PlatformOptions};
use paywatch_plugin_api::testing::harness::PluginLib;
use paywatch_plugin_api::testing::TestHost;
use serde_json::json;
use std::collections::BTreeMap;

const URL: &str = "https://shop.example/?wc-api=wc_gateway_coingate";

fn gateway() -> Value {
    json!({"kind": "coingate", "data": {"id": 17, "order_id": "1042", "callback_url": URL,
        "token": "tok-9f8e", "receive_currency": "BTC"}})
}

/// The sample event of `kind` (the conformance kit's: a USD 96.00 invoice with a BTC and an
/// ETH method, settled by 0.0015 BTC), its data changed by `edit`.
fn event(kind: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let mut e = sample_events().into_iter().find(|e| e["type"] == kind).unwrap();
    e["data"]["gateway"] = gateway();
    edit(&mut e["data"]);
    e
}

fn render(event: Value) -> Result<RenderReply, String> {
    let lib = PluginLib::from_exported(&crate::PAYWATCH_PLUGIN).unwrap();
    let host = TestHost::new();
    let plugin = lib.create(&json!({}), &host).unwrap();
    let req = RenderRequest { event, endpoint: json!({"url": ""}), attempt: 1, now: 1_800_000_000 };
    plugin.call(platform_method::RENDER, &req, &host).map_err(|e| e.to_string())
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn form(body: &str) -> BTreeMap<String, String> {
    body.split('&').map(|kv| kv.split_once('=').unwrap()).map(|(k, v)| (decode(k), decode(v))).collect()
}

fn callback_of(event: Value) -> Option<(HttpRequest, BTreeMap<String, String>)> {
    let mut reply = render(event).unwrap();
    assert!(reply.requests.len() <= 1);
    reply.requests.pop().map(|r| {
        let f = form(&r.body);
        (r, f)
    })
}

#[test]
fn a_settled_order_is_called_back_paid_form_encoded_with_its_token() {
    let (r, f) = callback_of(event("invoice.settled", |_| ())).unwrap();
    assert_eq!((r.method.as_str(), r.url.as_str()), ("POST", URL));
    assert!(r.headers.contains(&("content-type".into(), "application/x-www-form-urlencoded".into())));
    let want: BTreeMap<String, String> = [
        ("id", "17"),
        ("order_id", "1042"),
        ("status", "paid"),
        ("price_amount", "96.00"),
        ("price_currency", "USD"),
        ("receive_currency", "BTC"),
        ("receive_amount", "0.0015"),
        ("pay_amount", "0.0015"),
        ("pay_currency", "BTC"),
        ("underpaid_amount", "0"),
        ("overpaid_amount", "0"),
        ("is_refundable", "true"),
        ("created_at", "2026-11-27T08:55:00Z"),
        ("token", "tok-9f8e"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(f, want);
}

#[test]
fn statuses_follow_coingates_table() {
    let status_of =
        |kind: &str, edit: &dyn Fn(&mut Value)| callback_of(event(kind, |d| edit(d))).map(|(_, f)| f["status"].clone());
    assert_eq!(status_of("invoice.processing", &|d| d["status"] = json!("processing")).as_deref(), Some("confirming"));
    assert_eq!(status_of("invoice.expired", &|d| d["status"] = json!("expired")).as_deref(), Some("expired"));
    // Cancelled by the shop (nothing was ever paid) and invalid after a payment went away.
    let cancelled = |d: &mut Value| {
        d["status"] = json!("invalid");
        d["payments_count"] = json!(0);
        d["payments"] = json!([]);
        d["payment_methods"][0]["amount_paid"] = json!("0");
        d["payment_methods"][0]["amount_paid_base"] = json!("0");
    };
    assert_eq!(status_of("invoice.invalid", &cancelled).as_deref(), Some("canceled"));
    assert_eq!(status_of("invoice.invalid", &|d| d["status"] = json!("invalid")).as_deref(), Some("invalid"));
    // A payment short of the price: pending, with what is still due.
    let partial = |d: &mut Value| {
        d["status"] = json!("new");
        d["paid"] = json!("64.00");
        d["payment_methods"][0]["amount_paid"] = json!("0.001");
        d["payment_methods"][0]["amount_paid_base"] = json!("100000");
        d["payment_methods"][0]["amount_due"] = json!("0.0005");
        d["payment_methods"][0]["amount_due_base"] = json!("50000");
    };
    let (_, f) = callback_of(event("invoice.payment_detected", partial)).unwrap();
    assert_eq!((f["status"].as_str(), f["underpaid_amount"].as_str()), ("pending", "0.0005"));
    assert_eq!((f["receive_amount"].as_str(), f["is_refundable"].as_str()), ("", "false"));
    // A full payment's detection is followed by invoice.processing: no callback of its own.
    let full = |d: &mut Value| d["status"] = json!("processing");
    assert!(callback_of(event("invoice.payment_detected", full)).is_none());
}

#[test]
fn overpaid_orders_say_by_how_much_in_the_pay_currency() {
    let over = |d: &mut Value| {
        d["exception"] = json!("paid_over");
        d["paid"] = json!("128.00"); // 0.002 BTC at 64000
        d["payment_methods"][0]["amount_paid"] = json!("0.002");
        d["payment_methods"][0]["amount_paid_base"] = json!("200000");
    };
    let (_, f) = callback_of(event("invoice.settled", over)).unwrap();
    assert_eq!((f["overpaid_amount"].as_str(), f["pay_amount"].as_str()), ("0.0005", "0.0015"));
    // Paid with the second method: its amount is the price at its locked rate, rounded up.
    let by_eth = |d: &mut Value| {
        d["payment_methods"][0]["amount_paid"] = json!("0");
        d["payment_methods"][0]["amount_paid_base"] = json!("0");
        d["payment_methods"][1]["amount_paid"] = json!("0.03");
        d["payment_methods"][1]["amount_paid_base"] = json!("30000000000000000");
        d["gateway"]["data"]["receive_currency"] = json!("USD");
    };
    let (_, f) = callback_of(event("invoice.settled", by_eth)).unwrap();
    assert_eq!(f["pay_currency"], "ETH");
    assert_eq!(f["pay_amount"], "0.029995313232307452"); // 96 / 3200.5 = 0.02999531323230745196…, rounded up
    assert_eq!(f["receive_amount"], "96.00", "received in the price currency: the price");
}

#[test]
fn nothing_is_sent_without_a_coingate_order_or_a_callback_url_or_a_status_change() {
    let none = |e: Value| assert!(render(e.clone()).unwrap().requests.is_empty(), "{e}");
    none(event("invoice.settled", |d| d.as_object_mut().unwrap().remove("gateway").map(drop).unwrap()));
    none(event("invoice.settled", |d| d["gateway"]["kind"] = json!("bitpay")));
    none(event("invoice.settled", |d| {
        d["gateway"]["data"].as_object_mut().unwrap().remove("callback_url").map(drop).unwrap()
    }));
    none(event("invoice.settled", |d| d["gateway"]["data"]["callback_url"] = json!("")));
    none(event("invoice.created", |d| d["status"] = json!("new")));
    for e in sample_events() {
        let kind = e["type"].as_str().unwrap();
        if !kind.starts_with("invoice.") {
            none(e); // no order in payment events; refunds carry none here
        }
    }
}

#[test]
fn a_callback_url_that_is_not_http_is_undeliverable() {
    let e = event("invoice.settled", |d| d["gateway"]["data"]["callback_url"] = json!("ftp://shop.example/x"));
    let err = render(e).unwrap_err();
    assert!(err.contains(PluginError::UNDELIVERABLE) && err.contains("ftp://"), "{err}");
}

#[test]
fn form_encoding_escapes_what_would_split_fields() {
    let f = [("order_id", "a&b=c d/é".to_string()), ("token", "x+y".to_string())];
    let body = form_encode(&f);
    assert_eq!(body, "order_id=a%26b%3Dc%20d%2F%C3%A9&token=x%2By");
    assert_eq!(form(&body)["order_id"], "a&b=c d/é");
}

#[test]
fn responses_are_classified() {
    let c = |status: u16| classify(&ClassifyRequest { status, headers: vec![], body: String::new() });
    assert_eq!(c(200), Verdict::Ack);
    assert_eq!(c(204), Verdict::Ack);
    assert!(matches!(c(302), Verdict::Fail { reason } if reason.contains("redirects")));
    assert_eq!(c(500), Verdict::Retry { after_secs: None, reason: "http 500".into() });
    assert!(matches!(c(404), Verdict::Retry { .. }));
    assert!(matches!(c(401), Verdict::Retry { .. }));
}

#[test]
fn passes_the_conformance_kit() {
    let lib = PluginLib::from_exported(&crate::PAYWATCH_PLUGIN).unwrap();
    check_platform(&lib, &PlatformOptions { endpoint: json!({"url": ""}), ..PlatformOptions::default() })
        .assert_passed();
}
