use super::*;
use base64::Engine;
use ed25519_dalek::Verifier;
use serde_json::json;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[test]
fn the_standard_webhooks_test_vector() {
    let raw = base64::engine::general_purpose::STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    assert_eq!(
        hmac_v1(&raw, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, r#"{"test": 2432232314}"#),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
}

fn render(endpoint: Value) -> Result<HttpRequest, PluginError> {
    let vt = paywatch_plugin_api::testing::noop_host_vtable();
    let event = json!({"seq": 7, "id": "01a21c43-7095-77ca-98aa-2f877f696014", "type": "invoice.settled",
                       "store": "shop1", "created_at": "2026-11-27T09:00:00Z", "data": {"id": "inv", "status": "settled"}});
    let req = RenderRequest { event, endpoint, attempt: 1, now: 1_800_000_000 };
    Webhook.render(&req, &Host::new(&vt)).map(|r| r.requests.into_iter().next().unwrap())
}

fn header<'a>(r: &'a HttpRequest, name: &str) -> &'a str {
    r.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap()
}

#[test]
fn a_rendered_request_carries_the_body_and_standard_headers() {
    let r = render(json!({"url": "https://shop.example/hook", "secret": SECRET})).unwrap();
    assert_eq!((r.method.as_str(), r.url.as_str()), ("POST", "https://shop.example/hook"));
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        body,
        json!({"id": "01a21c43-7095-77ca-98aa-2f877f696014", "type": "invoice.settled",
                           "timestamp": "2026-11-27T09:00:00Z", "data": {"id": "inv", "status": "settled"}})
    );
    assert_eq!(header(&r, "webhook-id"), "01a21c43-7095-77ca-98aa-2f877f696014");
    assert_eq!(header(&r, "webhook-timestamp"), "1800000000");
    let raw = base64::engine::general_purpose::STANDARD.decode(&SECRET[6..]).unwrap();
    assert_eq!(header(&r, "webhook-signature"), hmac_v1(&raw, header(&r, "webhook-id"), 1_800_000_000, &r.body));
    // A tampered body or another timestamp does not verify.
    assert_ne!(
        header(&r, "webhook-signature"),
        hmac_v1(&raw, header(&r, "webhook-id"), 1_800_000_000, &r.body.replace("settled", "expired"))
    );
    assert_ne!(header(&r, "webhook-signature"), hmac_v1(&raw, header(&r, "webhook-id"), 1_700_000_000, &r.body));
}

#[test]
fn rotation_signs_with_every_secret_and_ed25519_adds_v1a() {
    let other = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode([7u8; 32]));
    let seed = format!("whsk_{}", base64::engine::general_purpose::STANDARD.encode([9u8; 32]));
    let endpoint = json!({"url": "http://x/", "secrets": [SECRET, other], "ed25519_secret_key": seed});
    let r = render(endpoint.clone()).unwrap();
    let sigs: Vec<&str> = header(&r, "webhook-signature").split(' ').collect();
    assert_eq!(sigs.len(), 3);
    assert!(sigs[0].starts_with("v1,") && sigs[1].starts_with("v1,") && sigs[2].starts_with("v1a,"));
    // v1a verifies with the public key the operator publishes.
    let signer = Signer::from_endpoint(&endpoint).unwrap();
    let public = signer.ed25519_public_key().unwrap();
    let pk: [u8; 32] = base64::engine::general_purpose::STANDARD.decode(&public[5..]).unwrap().try_into().unwrap();
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&pk).unwrap();
    let sig: [u8; 64] = base64::engine::general_purpose::STANDARD.decode(&sigs[2][4..]).unwrap().try_into().unwrap();
    let signed = format!("{}.{}.{}", header(&r, "webhook-id"), 1_800_000_000, r.body);
    assert!(vk.verify(signed.as_bytes(), &ed25519_dalek::Signature::from_bytes(&sig)).is_ok());
    assert!(vk.verify(signed.replace("settled", "x").as_bytes(), &ed25519_dalek::Signature::from_bytes(&sig)).is_err());
}

#[test]
fn bad_endpoint_config_is_a_clear_error() {
    for (endpoint, says) in [
        (json!({"secret": SECRET}), "no url"),
        (json!({"url": "http://x/"}), "no secret"),
        (json!({"url": "http://x/", "secret": "whsec_not base64!"}), "not whsec_<base64>"),
        (json!({"url": "http://x/", "secret": "whsec_c2hvcnQ="}), "too weak"),
        (json!({"url": "http://x/", "secrets": "one"}), "must be a list"),
        (json!({"url": "http://x/", "ed25519_secret_key": "whsk_AAAA"}), "bytes"),
    ] {
        let e = render(endpoint.clone()).unwrap_err();
        assert!(e.message.contains(says), "{endpoint}: {e}");
    }
}

#[test]
fn responses_are_classified() {
    let c = |status: u16, headers: &[(&str, &str)]| {
        let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        classify(&ClassifyRequest { status, headers, body: String::new() })
    };
    assert_eq!(c(200, &[]), Verdict::Ack);
    assert_eq!(c(204, &[]), Verdict::Ack);
    assert!(matches!(c(410, &[]), Verdict::Disable { .. }));
    assert!(matches!(c(301, &[]), Verdict::Fail { reason } if reason.contains("redirects")));
    assert_eq!(c(500, &[]), Verdict::Retry { after_secs: None, reason: "http 500".into() });
    assert_eq!(c(429, &[("Retry-After", "30")]), Verdict::Retry { after_secs: Some(30), reason: "http 429".into() });
    assert!(matches!(c(404, &[]), Verdict::Retry { .. }), "a misconfigured shop may be fixed: keep trying");
}

#[test]
fn passes_the_conformance_kit() {
    use paywatch_plugin_api::testing::conformance::{check_platform, PlatformOptions};
    use paywatch_plugin_api::testing::harness::PluginLib;
    let lib = PluginLib::from_exported(&crate::PAYWATCH_PLUGIN).unwrap();
    let opts = PlatformOptions {
        endpoint: json!({"url": "https://shop.example/paywatch", "secret": SECRET}),
        ..PlatformOptions::default()
    };
    check_platform(&lib, &opts).assert_passed();
}

#[test]
fn endpoints_without_a_usable_secret_are_refused_and_never_retried() {
    let url = "https://shop.example/paywatch";
    for bad in [
        json!({"url": url}),
        json!({"url": url, "secret": "nope"}),
        json!({"secret": SECRET}),
        json!({"url": "ftp://x", "secret": SECRET}),
    ] {
        assert_eq!(Webhook.validate_endpoint(&bad).unwrap_err().code, "bad_config", "{bad}");
        assert_eq!(render(bad.clone()).unwrap_err().code, PluginError::UNDELIVERABLE, "{bad}");
    }
    Webhook.validate_endpoint(&json!({"url": url, "secret": SECRET})).unwrap();
    // The decoder's message would name a character of the secret and its offset: not echoed.
    let e = Webhook.validate_endpoint(&json!({"url": url, "secret": "whsec_TopSecretValue!xyz"})).unwrap_err();
    assert_eq!(e.message, "secret is not whsec_<base64>");
}
