//! Through the C ABI, as the daemon calls the plugin.

use super::*;
use paywatch_plugin_api::testing::conformance::sample_events;
use paywatch_plugin_api::testing::harness::{CallError, PluginLib};
use paywatch_plugin_api::testing::TestHost;
use serde_json::json;

const SECRET: &str = "ipn secret with spaces & symbols!";

fn lib() -> PluginLib {
    PluginLib::from_exported(&crate::PAYWATCH_PLUGIN).unwrap()
}

fn endpoint() -> Value {
    json!({"url": "", "merchant_id": "m-7f3a", "ipn_secret": SECRET})
}

/// A sample event of `kind`, made a CoinPayments transaction with these gateway fields.
fn event(kind: &str, gateway: Option<Value>) -> Value {
    let mut e = sample_events().into_iter().find(|e| e["type"] == kind).unwrap();
    if let Some(data) = gateway {
        e["data"]["gateway"] = json!({"kind": "coinpayments", "data": data});
    }
    e
}

fn gateway() -> Value {
    json!({"ipn_url": "https://shop.example/cp/ipn?x=1", "buyer_name": "Ada L", "buyer_email": "ada@example.com",
           "item_name": "Blue mug (large)", "item_number": "SKU-9", "invoice": "1042", "custom": "user=7&x"})
}

fn render(event: Value, endpoint: Value) -> Result<Vec<HttpRequest>, CallError> {
    let lib = lib();
    let host = TestHost::new();
    let inst = lib.create(&json!({}), &host).unwrap();
    let req = RenderRequest { event, endpoint, attempt: 2, now: 1_800_000_000 };
    inst.call::<_, RenderReply>(platform_method::RENDER, &req, &host).map(|r| r.requests)
}

fn form(body: &str) -> Vec<(String, String)> {
    let dec = |s: &str| {
        let s = s.replace('+', " ");
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    };
    body.split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (dec(k), dec(v))
        })
        .collect()
}

fn field<'a>(f: &'a [(String, String)], k: &str) -> &'a str {
    f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no field {k}"))
}

#[test]
fn a_settled_invoice_is_a_signed_status_100_ipn_to_its_ipn_url() {
    let reqs = render(event("invoice.settled", Some(gateway())), endpoint()).unwrap();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!((r.method.as_str(), r.url.as_str()), ("POST", "https://shop.example/cp/ipn?x=1"));
    let header = |n: &str| r.headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str()).unwrap();
    assert_eq!(header("content-type"), "application/x-www-form-urlencoded");
    assert_eq!(header("hmac"), sign(SECRET.as_bytes(), &r.body));
    assert_eq!(header("hmac").len(), 128, "hex of a SHA-512 HMAC");
    // A changed body, or the same body under another secret, does not verify.
    assert_ne!(header("hmac"), sign(SECRET.as_bytes(), &r.body.replace("status=100", "status=101")));
    assert_ne!(header("hmac"), sign(b"another secret", &r.body));

    let f = form(&r.body);
    let names: Vec<&str> = f.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "ipn_version",
            "ipn_id",
            "ipn_mode",
            "merchant",
            "ipn_type",
            "txn_id",
            "status",
            "status_text",
            "currency1",
            "currency2",
            "amount1",
            "amount2",
            "fee",
            "buyer_name",
            "email",
            "item_name",
            "item_number",
            "invoice",
            "custom",
            "received_amount",
            "received_confirms"
        ]
    );
    let invoice = &event("invoice.settled", None)["data"];
    assert_eq!(field(&f, "ipn_mode"), "hmac");
    assert_eq!(field(&f, "ipn_type"), "api");
    assert_eq!(field(&f, "merchant"), "m-7f3a");
    assert_eq!(field(&f, "txn_id"), invoice["id"]);
    assert_eq!(field(&f, "status"), "100");
    assert_eq!(field(&f, "status_text"), "Complete");
    assert_eq!(field(&f, "currency1"), invoice["currency"]);
    assert_eq!(field(&f, "currency2"), invoice["asset"]);
    assert_eq!(field(&f, "amount1"), invoice["amount"]);
    assert_eq!(field(&f, "amount2"), invoice["amount_due"]);
    assert_eq!(field(&f, "received_amount"), invoice["amount_paid"]);
    assert_eq!(field(&f, "received_confirms"), "1");
    assert_eq!(field(&f, "item_name"), "Blue mug (large)");
    assert_eq!(field(&f, "custom"), "user=7&x");
    assert_eq!(field(&f, "email"), "ada@example.com");
    assert_eq!(field(&f, "ipn_id"), ipn_id(invoice["id"].as_str().unwrap(), invoice["sequence"].as_u64().unwrap()));
}

#[test]
fn the_body_is_encoded_as_php_does() {
    let body = form_encode(&[("a", "x y&z=1/é".into()), ("b", "-_.~!*'()".into())]);
    assert_eq!(body, "a=x+y%26z%3D1%2F%C3%A9&b=-_.%7E%21%2A%27%28%29");
}

#[test]
fn statuses_follow_the_invoice() {
    use paywatch_plugin_api::events::InvoiceStatus::*;
    assert_eq!(status(New).0, 0);
    assert_eq!(status(Processing).0, 1);
    assert_eq!(status(Settled).0, 100);
    assert_eq!(status(Expired), (-1, "Cancelled / Timed Out"));
    assert_eq!(status(Invalid).0, -1);
    let expired = render(event("invoice.expired", Some(gateway())), endpoint()).unwrap();
    let f = form(&expired[0].body);
    assert_eq!((field(&f, "status"), field(&f, "received_confirms")), ("-1", "0"));
}

#[test]
fn the_ipn_id_is_stable_per_notification_and_new_for_the_next() {
    let once = render(event("invoice.settled", Some(gateway())), endpoint()).unwrap();
    let again = render(event("invoice.settled", Some(gateway())), endpoint()).unwrap();
    assert_eq!(once, again, "a retry sends the same bytes, the same ipn_id");
    let mut next = event("invoice.settled", Some(gateway()));
    next["data"]["sequence"] = json!(next["data"]["sequence"].as_u64().unwrap() + 1);
    let next = render(next, endpoint()).unwrap();
    assert_ne!(field(&form(&once[0].body), "ipn_id"), field(&form(&next[0].body), "ipn_id"));
    assert_eq!(field(&form(&once[0].body), "ipn_id").len(), 32);
}

#[test]
fn other_events_and_other_invoices_send_nothing() {
    // No gateway, another gateway, no ipn_url: nothing to send (acknowledged as skipped).
    assert!(render(event("invoice.settled", None), endpoint()).unwrap().is_empty());
    let mut bitpay = event("invoice.settled", None);
    bitpay["data"]["gateway"] = json!({"kind": "bitpay", "data": {"ipn_url": "https://x/"}});
    assert!(render(bitpay, endpoint()).unwrap().is_empty());
    assert!(render(event("invoice.settled", Some(json!({"invoice": "1"}))), endpoint()).unwrap().is_empty());
    // invoice.created is the answer to the shop's own request; payment and refund events are
    // not CoinPayments notifications.
    for kind in ["invoice.created", "payment.confirmed", "refund.completed", "ping"] {
        assert!(render(event(kind, Some(gateway())), endpoint()).unwrap().is_empty(), "{kind}");
    }
}

#[test]
fn an_endpoint_without_merchant_or_secret_is_refused_and_never_retried() {
    let lib = lib();
    let host = TestHost::new();
    let inst = lib.create(&json!({}), &host).unwrap();
    for bad in [json!({"merchant_id": "m"}), json!({"ipn_secret": "s"}), json!({"merchant_id": "", "ipn_secret": "s"})]
    {
        let e = inst.call::<_, Value>(platform_method::VALIDATE_ENDPOINT, &bad, &host).unwrap_err();
        assert!(
            matches!(&e, CallError::Plugin(p) if p.code == "bad_config" && p.message.starts_with("endpoint has no")),
            "{e:?}"
        );
        let e = render(event("invoice.settled", Some(gateway())), bad.clone()).unwrap_err();
        assert!(matches!(&e, CallError::Plugin(p) if p.code == PluginError::UNDELIVERABLE), "{bad}: {e:?}");
    }
    inst.call::<_, Value>(platform_method::VALIDATE_ENDPOINT, &endpoint(), &host).unwrap();
    let info: PlatformInfo = inst.call(platform_method::INFO, &json!({}), &host).unwrap();
    assert_eq!(info.secret_params, Some(vec!["ipn_secret".to_string()]));
}

#[test]
fn responses_are_classified() {
    let lib = lib();
    let host = TestHost::new();
    let inst = lib.create(&json!({}), &host).unwrap();
    let c = |status: u16, headers: &[(&str, &str)], body: &str| -> Verdict {
        let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        inst.call(platform_method::CLASSIFY, &ClassifyRequest { status, headers, body: body.into() }, &host).unwrap()
    };
    assert_eq!(c(200, &[], "IPN OK"), Verdict::Ack);
    assert_eq!(c(204, &[], ""), Verdict::Ack);
    assert!(matches!(c(302, &[], ""), Verdict::Fail { reason } if reason.contains("redirects")));
    assert!(matches!(c(410, &[], ""), Verdict::Fail { .. }), "one gone URL never disables the store's endpoint");
    assert_eq!(c(500, &[], "IPN Error"), Verdict::Retry { after_secs: None, reason: "http 500".into() });
    assert_eq!(
        c(503, &[("retry-after", "20")], ""),
        Verdict::Retry { after_secs: Some(20), reason: "http 503".into() }
    );
    assert!(matches!(c(404, &[], ""), Verdict::Retry { .. }), "a shop being fixed: keep trying");
}

#[test]
fn passes_the_conformance_kit() {
    use paywatch_plugin_api::testing::conformance::{check_platform, PlatformOptions};
    let opts = PlatformOptions { endpoint: endpoint(), ..PlatformOptions::default() };
    check_platform(&lib(), &opts).assert_passed();
}
