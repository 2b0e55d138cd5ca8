use super::*;
use paywatch_plugin_api::testing::conformance::sample_events;
use paywatch_plugin_api::testing::harness::PluginLib;
use paywatch_plugin_api::testing::TestHost;

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn key_bytes() -> [u8; 32] {
    token::parse_key(KEY).unwrap()
}

/// The sample event of `kind`, its invoice made through the BitPay routes with `gateway`.
fn event(kind: &str, gateway: Value, patch: Value) -> Value {
    let mut e = sample_events()
        .into_iter()
        .find(|e| e["type"].as_str().is_some_and(|t| t.starts_with("invoice.")))
        .expect("an invoice sample");
    e["type"] = json!(kind);
    e["data"]["gateway"] = json!({"kind": "bitpay", "data": gateway});
    for (k, v) in patch.as_object().unwrap() {
        e["data"][k] = v.clone();
    }
    e
}

fn gateway(extended: bool, full: bool) -> Value {
    json!({"token_id": "tok1", "facade": "pos", "order_id": "1042", "pos_data": "{\"ref\":7}",
           "notification_url": "https://shop.example/ipn", "extended_notifications": extended,
           "full_notifications": full, "transaction_speed": "medium", "buyer": {"email": "a@b.example"}})
}

/// Renders through the C ABI, exactly as the daemon calls the plugin.
fn render_abi(event: Value) -> Result<Vec<HttpRequest>, String> {
    let lib = PluginLib::from_exported(&crate::PAYWATCH_PLUGIN).unwrap();
    let host = TestHost::new();
    let inst = lib.create(&json!({}), &host).unwrap();
    let req = RenderRequest { event, endpoint: json!({"url": "", "token_key": KEY}), attempt: 1, now: 1_800_000_000 };
    let reply: Result<RenderReply, _> = inst.call(platform_method::RENDER, &req, &host);
    reply.map(|r| r.requests).map_err(|e| e.to_string())
}

fn header<'a>(r: &'a HttpRequest, name: &str) -> &'a str {
    r.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap()
}

#[test]
fn extended_notifications_carry_bitpay_codes_and_verify_with_the_token() {
    let settled = json!({"status": "settled", "exception": "none", "required_confirmations": 6});
    let reqs = render_abi(event("invoice.settled", gateway(true, false), settled)).unwrap();
    let codes: Vec<(u64, String)> = reqs
        .iter()
        .map(|r| {
            let b: Value = serde_json::from_str(&r.body).unwrap();
            (b["event"]["code"].as_u64().unwrap(), b["event"]["name"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(codes, [(1005, "invoice_confirmed".to_string()), (1006, "invoice_completed".to_string())]);
    let token = token::derive_token(&key_bytes(), "tok1");
    for r in &reqs {
        assert_eq!((r.method.as_str(), r.url.as_str()), ("POST", "https://shop.example/ipn"));
        // What BitPay's WooCommerce plugin computes: base64(hmac_sha256(body, token)).
        assert_eq!(header(r, "x-signature"), token::ipn_signature(&token, &r.body));
        assert_ne!(header(r, "x-signature"), token::ipn_signature("another-token", &r.body));
        assert!(!r.body.contains(&token), "the token never travels in an IPN");
    }
    let first: Value = serde_json::from_str(&reqs[0].body).unwrap();
    let d = &first["data"];
    assert_eq!(d["status"], "confirmed", "the event's status, as BTCPay sends it");
    assert_eq!(d["orderId"], "1042");
    assert_eq!(d["posData"], "{\"ref\":7}");
    assert_eq!(d["exceptionStatus"], false);
    assert!(d.get("token").is_none());
    let second: Value = serde_json::from_str(&reqs[1].body).unwrap();
    assert_eq!(second["data"]["status"], "complete");
}

#[test]
fn plain_notifications_only_when_confirmed_unless_full() {
    let plain = |kind: &str, full: bool| render_abi(event(kind, gateway(false, full), json!({}))).unwrap();
    let settled = plain("invoice.settled", false);
    assert_eq!(settled.len(), 1);
    let body: Value = serde_json::from_str(&settled[0].body).unwrap();
    assert_eq!(body["status"], "confirmed");
    assert!(body.get("event").is_none(), "a plain IPN is the invoice alone");
    for kind in ["invoice.created", "invoice.payment_detected", "invoice.processing", "invoice.expired"] {
        assert!(plain(kind, false).is_empty(), "{kind}");
    }
    let settled_on = |confirmations| {
        let patch = json!({"status": "settled", "required_confirmations": confirmations});
        render_abi(event("invoice.settled", gateway(false, true), patch)).unwrap().len()
    };
    assert_eq!(settled_on(6), 2, "confirmed, then complete");
    assert_eq!(settled_on(1), 1, "confirmed only: complete is six confirmations");
    let processing = plain("invoice.processing", true);
    assert_eq!(serde_json::from_str::<Value>(&processing[0].body).unwrap()["status"], "paid");
    assert_eq!(plain("invoice.expired", true).len(), 1);
    assert!(plain("invoice.payment_detected", true).is_empty(), "no plain IPN for a partial payment");
}

#[test]
fn invalid_is_failed_to_confirm_once_paid_and_marked_invalid_otherwise() {
    let code = |patch: Value| {
        let r = render_abi(event("invoice.invalid", gateway(true, false), patch)).unwrap();
        serde_json::from_str::<Value>(&r[0].body).unwrap()["event"]["code"].as_u64().unwrap()
    };
    assert_eq!(code(json!({"status": "invalid"})), 1013);
    assert_eq!(code(json!({"status": "invalid", "amount_paid": "0", "amount_paid_base": "0"})), 1008);
    let late = render_abi(event("invoice.paid_late", gateway(true, false), json!({}))).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&late[0].body).unwrap()["event"]["code"], 1009);
}

#[test]
fn nothing_is_sent_without_a_bitpay_gateway_or_notification_url() {
    let mut other = event("invoice.settled", gateway(true, true), json!({}));
    other["data"]["gateway"]["kind"] = json!("coingate");
    assert!(render_abi(other).unwrap().is_empty());
    let mut none = event("invoice.settled", gateway(true, true), json!({}));
    none["data"].as_object_mut().unwrap().remove("gateway");
    assert!(render_abi(none).unwrap().is_empty());
    let mut no_url = gateway(true, true);
    no_url.as_object_mut().unwrap().remove("notification_url");
    assert!(render_abi(event("invoice.settled", no_url, json!({}))).unwrap().is_empty());
    for e in sample_events().into_iter().filter(|e| !e["type"].as_str().unwrap().starts_with("invoice.")) {
        assert!(render_abi(e).unwrap().is_empty());
    }
}

#[test]
fn a_bad_key_or_url_is_undeliverable() {
    let vt = paywatch_plugin_api::testing::noop_host_vtable();
    let render = |endpoint: Value, gw: Value| {
        let req = RenderRequest { event: event("invoice.settled", gw, json!({})), endpoint, attempt: 1, now: 0 };
        Bitpay.render(&req, &Host::new(&vt))
    };
    let e = render(json!({"token_key": "abc"}), gateway(true, true)).unwrap_err();
    assert_eq!(e.code, PluginError::UNDELIVERABLE);
    let mut ftp = gateway(true, true);
    ftp["notification_url"] = json!("ftp://shop.example/ipn");
    assert_eq!(render(json!({"token_key": KEY}), ftp).unwrap_err().code, PluginError::UNDELIVERABLE);
    assert!(Bitpay.validate_endpoint(&json!({"token_key": KEY})).is_ok());
    assert!(Bitpay.validate_endpoint(&json!({"token_key": format!("+{}", &KEY[1..])})).is_err());
    assert!(Bitpay.validate_endpoint(&json!({})).is_err());
}

#[test]
fn responses_are_classified_through_the_abi() {
    let lib = PluginLib::from_exported(&crate::PAYWATCH_PLUGIN).unwrap();
    let host = TestHost::new();
    let inst = lib.create(&json!({}), &host).unwrap();
    let c = |status: u16, headers: Vec<(String, String)>| -> Verdict {
        inst.call(platform_method::CLASSIFY, &ClassifyRequest { status, headers, body: String::new() }, &host).unwrap()
    };
    assert_eq!(c(200, vec![]), Verdict::Ack);
    assert_eq!(c(204, vec![]), Verdict::Ack);
    assert_eq!(c(500, vec![]), Verdict::Retry { after_secs: None, reason: "http 500".into() });
    assert_eq!(
        c(429, vec![("retry-after".into(), "30".into())]),
        Verdict::Retry { after_secs: Some(30), reason: "http 429".into() }
    );
    assert!(matches!(c(404, vec![]), Verdict::Retry { .. }));
    assert!(matches!(c(410, vec![]), Verdict::Retry { .. }), "BitPay has no give-up status");
}

#[test]
fn the_invoice_json_maps_statuses_and_amounts() {
    let payment = sample_events().into_iter().find(|e| e["type"] == "payment.confirmed").unwrap()["data"].clone();
    let e = event("invoice.processing", gateway(true, false), json!({"payments": [payment]}));
    let inv: Invoice = serde_json::from_value(e["data"].clone()).unwrap();
    let data = GatewayData::of_invoice_json(&e["data"]).unwrap();
    let j = invoice_json(&inv, &data, Some("tok"), 1_800_000_000_000);
    assert_eq!(j["token"], "tok");
    assert_eq!(j["currentTime"], 1_800_000_000_000i64);
    assert!(j["invoiceTime"].as_i64().unwrap() > 1_700_000_000_000, "milliseconds");
    assert_eq!(j["url"], json!(inv.checkout_url));
    assert_eq!(j["transactionSpeed"], "medium");
    assert_eq!(j["buyer"]["email"], "a@b.example");
    let tx = &j["transactions"][0];
    assert_eq!(tx["time"], "2026-11-27T09:01:02.000Z", "milliseconds, as BitPay writes times: {tx}");
    assert_eq!(tx["amount"], 150_000, "base units");
    let cases = [
        (json!({"status": "new", "exception": "none", "amount_paid_base": "0"}), "new", json!(false)),
        (json!({"status": "new", "exception": "none", "amount_paid_base": "5"}), "new", json!("paidPartial")),
        (json!({"status": "processing", "exception": "none"}), "paid", json!(false)),
        (
            json!({"status": "settled", "exception": "paid_over", "required_confirmations": 6}),
            "complete",
            json!("paidOver"),
        ),
        (json!({"status": "settled", "exception": "none", "required_confirmations": 2}), "confirmed", json!(false)),
        (json!({"status": "expired", "exception": "none", "amount_paid_base": "0"}), "expired", json!(false)),
        (json!({"status": "expired", "exception": "paid_late"}), "expired", json!("paidLate")),
        (json!({"status": "invalid", "exception": "none", "amount_paid_base": "0"}), "invalid", json!(false)),
    ];
    for (patch, status, exception) in cases {
        let mut d = e["data"].clone();
        for (k, v) in patch.as_object().unwrap() {
            d[k] = v.clone();
        }
        let inv: Invoice = serde_json::from_value(d).unwrap();
        let (s, x) = invoice::status(&inv);
        assert_eq!((s, &x), (status, &exception), "{patch}");
    }
}

#[test]
fn tokens_are_deterministic_per_id_and_key() {
    let t = token::derive_token(&key_bytes(), "tok1");
    assert_eq!(t, token::derive_token(&key_bytes(), "tok1"));
    assert_ne!(t, token::derive_token(&key_bytes(), "tok2"));
    assert_ne!(t, token::derive_token(&[9; 32], "tok1"));
    assert!(t.len() >= 40 && t.chars().all(|c| c.is_ascii_alphanumeric()));
}

#[test]
fn passes_the_conformance_kit() {
    use paywatch_plugin_api::testing::conformance::{check_platform, PlatformOptions};
    let lib = PluginLib::from_exported(&crate::PAYWATCH_PLUGIN).unwrap();
    let opts = PlatformOptions { endpoint: json!({"url": "", "token_key": KEY}), ..PlatformOptions::default() };
    check_platform(&lib, &opts).assert_passed();
}

/// Review of issue 18: a shop told `invoice_paidInFull` (or `confirmed`/`completed`) whose
/// payment then goes away (replaced by fee, double-spent, reorged out before the invoice
/// expires) must hear of it: paywatch's invoice goes back to `new` with an
/// `invoice.payment_reversed` event and no status event, and BitPay's code for a payment that
/// did not confirm is 1013 `invoice_failedToConfirm`. Today nothing is sent: the shop keeps an
/// order marked paid while a read says `new`.
#[test]
fn a_payment_that_goes_away_after_paid_in_full_is_notified() {
    let mut payment = sample_events().into_iter().find(|e| e["type"] == "payment.confirmed").unwrap()["data"].clone();
    payment["status"] = json!("replaced");
    payment["confirmations"] = json!(0);
    // What is due again is what the payment had paid; the event names the payment reversed.
    let mut methods = event("invoice.settled", gateway(true, true), json!({}))["data"]["payment_methods"].clone();
    methods[0]["amount_due_base"] = json!("150000");
    let back_to_new = json!({"status": "new", "exception": "none", "amount_paid": "0", "amount_paid_base": "0",
        "amount_confirmed": "0", "amount_confirmed_base": "0", "paid": "0", "confirmed": "0",
        "payments": [payment], "payment": payment, "payment_methods": methods});
    let reqs = render_abi(event("invoice.payment_reversed", gateway(true, true), back_to_new)).unwrap();
    let codes: Vec<Value> =
        reqs.iter().map(|r| serde_json::from_str::<Value>(&r.body).unwrap()["event"]["code"].clone()).collect();
    assert!(codes.contains(&json!(1013)), "a reversed payment is BitPay's failedToConfirm: {codes:?}");
}

/// A partial payment reversed on an invoice never paid in full, or a reversal that leaves it
/// paid: nothing to tell.
#[test]
fn a_reversal_that_did_not_unpay_the_invoice_sends_nothing() {
    let mut payment = sample_events().into_iter().find(|e| e["type"] == "payment.confirmed").unwrap()["data"].clone();
    payment["status"] = json!("replaced");
    payment["amount_base"] = json!("50000");
    let mut methods = event("invoice.settled", gateway(true, true), json!({}))["data"]["payment_methods"].clone();
    methods[0]["amount_due_base"] = json!("150000");
    let partial = json!({"status": "new", "amount_paid_base": "0", "payment": payment, "payment_methods": methods});
    assert!(render_abi(event("invoice.payment_reversed", gateway(true, true), partial)).unwrap().is_empty());
    let still_paid = json!({"status": "processing", "payment": payment});
    assert!(render_abi(event("invoice.payment_reversed", gateway(true, true), still_paid)).unwrap().is_empty());
}

/// Review of issue 18: BitPay's `complete` is its final status (six confirmations; the
/// `transactionSpeed` only moves `confirmed`). paywatch settles a `transactionSpeed: "high"`
/// invoice on a payment with no confirmation at all, and shows it `complete` (and sends 1006
/// `invoice_completed`): a shop that ships on `complete`, as BitPay tells it it may, ships
/// against a transaction that can still be double-spent. Settled with fewer than six
/// confirmations should read `confirmed`.
#[test]
fn complete_is_not_shown_for_an_unconfirmed_payment() {
    let mut payment = sample_events().into_iter().find(|e| e["type"] == "payment.confirmed").unwrap()["data"].clone();
    payment["status"] = json!("pending");
    payment["confirmations"] = json!(0);
    payment["required_confirmations"] = json!(0);
    let zero_conf =
        json!({"status": "settled", "exception": "none", "required_confirmations": 0, "payments": [payment]});
    let e = event("invoice.settled", gateway(true, false), zero_conf);
    let inv: Invoice = serde_json::from_value(e["data"].clone()).unwrap();
    assert_eq!(invoice::status(&inv).0, "confirmed", "0 confirmations is not BitPay's complete");
    let six = json!({"status": "settled", "exception": "none", "required_confirmations": 6});
    let inv: Invoice =
        serde_json::from_value(event("invoice.settled", gateway(true, false), six)["data"].clone()).unwrap();
    assert_eq!(invoice::status(&inv).0, "complete", "settled on six confirmations (low speed)");
}

/// Review of issue 18: an invoice turns `invalid` after it expires when a payment made in time
/// went away (replaced, dropped, reversed). That payment no longer counts, so the invoice's
/// `amount_paid_base` is 0 when it was the only one: the notification must still be 1013
/// `invoice_failedToConfirm` (what BitPay's WooCommerce plugin acts on), not 1008
/// `invoice_markedInvalid`, which is for an invoice cancelled with nothing paid.
#[test]
fn an_invoice_whose_only_payment_went_away_is_failed_to_confirm() {
    let mut payment = sample_events().into_iter().find(|e| e["type"] == "payment.confirmed").unwrap()["data"].clone();
    payment["status"] = json!("replaced");
    let gone = json!({"status": "invalid", "exception": "none", "amount_paid": "0", "amount_paid_base": "0",
        "amount_confirmed": "0", "amount_confirmed_base": "0", "payments": [payment]});
    let r = render_abi(event("invoice.invalid", gateway(true, false), gone)).unwrap();
    let code = serde_json::from_str::<Value>(&r[0].body).unwrap()["event"]["code"].clone();
    assert_eq!(code, 1013, "its payment went away");
}
