//! The claim path and the API's smaller holes under hostile input, against the real binary on the
//! regtest node (issue 15): megabyte addresses, claim tokens, order ids, idempotency keys,
//! batches; each test named after the hostile input and its safe outcome.

use paywatch_tests::btc::SHOP3_KEY;
use paywatch_tests::claims::{claim, claim_body, claim_declaring, claimable_refund, invoice, rig, wait_invoice_event};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A wrong-network address: the plugin refuses it (regtest store, mainnet address).
const MAINNET: &str = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq";

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or_default()
}

/// One hostile request of the flood: what it was, its answer, how long it took.
type Answer = (&'static str, (u16, String), Duration);

#[tokio::test]
async fn megabyte_addresses_are_refused_at_once_while_another_invoice_is_paid() {
    let rig = Arc::new(rig().await.unwrap());
    let c = claimable_refund(&rig, "refund-me").await.unwrap();
    let (id, address) = invoice(&rig, "paid-meanwhile", "0.002").await.unwrap();
    // Base58 digits throughout: before the cap, the plugin decoded them (quadratic in the
    // length) under the daemon-wide invoice lock, and the payment below waited minutes.
    let stop = Arc::new(AtomicBool::new(false));
    let flood = {
        let (stop, rig, c) = (stop.clone(), rig.clone(), c.clone());
        let refunds = format!("/v1/invoices/{}/refunds", c.invoice);
        // As much as the test config's `max_body_bytes` (64 KiB) lets through.
        let huge_refund = json!({"amount": "0.001", "address": "1".repeat(60_000)});
        let under_kib = claim_body(&"1".repeat(1000));
        tokio::spawn(async move {
            let mut answers: Vec<Answer> = Vec::new();
            let seen = |(status, v): (u16, Value)| (status, code(&v).to_string());
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let got = seen(claim_declaring(&rig, &c.path, 1 << 20).await.unwrap());
                answers.push(("a claim of 1 MiB", got, t.elapsed()));
                let t = Instant::now();
                let got = seen(claim(&rig, &c.path, under_kib.clone()).await);
                answers.push(("a claim of 1000 digits", got, t.elapsed()));
                // The merchant's route takes bigger bodies: the address is refused by its length.
                let t = Instant::now();
                let got = seen(rig.call(Method::POST, &refunds, SHOP3_KEY, Some(huge_refund.clone())).await);
                answers.push(("a refund to 60,000 digits", got, t.elapsed()));
            }
            answers
        })
    };
    let sent = Instant::now();
    rig.send(&address, 0.002).unwrap();
    let detected = wait_invoice_event(&rig, &id, "invoice.payment_detected").await.unwrap();
    stop.store(true, Ordering::Relaxed);
    let answers = flood.await.unwrap();
    assert!(answers.len() >= 3, "the flood ran while the payment was detected");
    for (what, got, _) in &answers {
        let want = match *what {
            "a claim of 1 MiB" => (413, "body_too_large"),
            _ => (422, "invalid_address"),
        };
        assert_eq!((got.0, got.1.as_str()), want, "{what}");
    }
    let slowest = answers.iter().map(|a| a.2).max().unwrap();
    eprintln!(
        "{} hostile requests, slowest answered in {slowest:?}; payment detected {:?} after sending",
        answers.len(),
        detected - sent
    );
    // Refusals by length never reach the plugin nor count against the token: it still works.
    let customer = rig.new_address().unwrap();
    let (status, v) = claim(&rig, &c.path, claim_body(&customer)).await;
    assert_eq!((status, v["status"].as_str()), (200, Some("awaiting_payment")), "{v}");
}

#[tokio::test]
async fn overlong_addresses_are_refused_with_422_on_every_route_that_takes_one() {
    let rig = rig().await.unwrap();
    let c = claimable_refund(&rig, "overlong").await.unwrap();
    let long = "1".repeat(129);
    let refunds = format!("/v1/invoices/{}/refunds", c.invoice);
    let calls = [
        ("/v1/watches", json!({"chain": "btc", "address": long}), "address"),
        ("/v1/watches/batch", json!({"watches": [{"chain": "btc", "address": long}]}), "watches[0].address"),
        (refunds.as_str(), json!({"amount": "0.001", "address": long}), "address"),
    ];
    for (path, body, field) in calls {
        let (status, v) = rig.call(Method::POST, path, SHOP3_KEY, Some(body)).await;
        assert_eq!((status, code(&v)), (422, "invalid_address"), "{path}: {v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.starts_with(&format!("{field}: address of 129 bytes")), "{path}: {msg}");
    }
    let (status, v) = claim(&rig, &c.path, claim_body(&long)).await;
    assert_eq!((status, code(&v)), (422, "invalid_address"), "{v}");
    // An address at the bound is the plugin's to judge (and it is not one).
    let (status, v) = claim(&rig, &c.path, claim_body(&"1".repeat(128))).await;
    assert_eq!((status, code(&v)), (422, "invalid_address"), "{v}");
    assert!(!v["error"]["message"].as_str().unwrap().contains("bytes is longer"), "{v}");
}

#[tokio::test]
async fn a_claim_token_locks_after_five_refused_addresses_even_across_a_restart() {
    let mut rig = rig().await.unwrap();
    let c = claimable_refund(&rig, "locks").await.unwrap();
    for n in 1..=4 {
        let (status, v) = claim(&rig, &c.path, claim_body(MAINNET)).await;
        assert_eq!((status, code(&v)), (422, "invalid_address"), "refused claim {n}: {v}");
    }
    let (status, v) = claim(&rig, &c.path, claim_body(MAINNET)).await;
    assert_eq!((status, code(&v)), (410, "claim_locked"), "the fifth refused claim: {v}");
    let customer = rig.new_address().unwrap();
    let (status, v) = claim(&rig, &c.path, claim_body(&customer)).await;
    assert_eq!((status, code(&v)), (410, "claim_locked"), "a good address after the lock: {v}");
    rig.daemon.restart().await.unwrap();
    let (status, v) = claim(&rig, &c.path, claim_body(&customer)).await;
    assert_eq!((status, code(&v)), (410, "claim_locked"), "after a restart: {v}");
    let (_, r) = rig.call(Method::GET, &format!("/v1/refunds/{}", c.refund), SHOP3_KEY, None).await;
    assert_eq!((r["status"].as_str(), r["address"].as_str()), (Some("awaiting_address"), None), "{r}");
}

#[tokio::test]
async fn order_ids_with_cr_lf_or_other_control_characters_are_refused_with_422() {
    let rig = rig().await.unwrap();
    for order_id in ["1042\r\nX-Injected: 1", "1042\n", "\r1042", "10\u{7}42", "10\t42", "10\u{85}42"] {
        let body = json!({"asset": "BTC", "amount": "0.001", "order_id": order_id});
        let (status, v) = rig.call(Method::POST, "/v1/invoices", SHOP3_KEY, Some(body)).await;
        assert_eq!((status, code(&v)), (422, "invalid_field"), "{order_id:?}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("control character"), "{v}");
    }
    invoice(&rig, "1042 a-b_c/ü", "0.001").await.unwrap();
    // Bidirectional controls and separators (they make an order id display as another), an
    // escape in a description, a line break in a refund e-mail (a header injection).
    let refused = [
        json!({"order_id": "10\u{202E}24"}),
        json!({"order_id": "1042\u{2028}"}),
        json!({"order_id": "o-bidi", "description": "red\u{1b}[31m"}),
        json!({"order_id": "o-rlo", "description": "pay \u{2066}me\u{2069}"}),
        json!({"order_id": "o-mail", "refund_email": "a@b.c\r\nBcc: x@y.z"}),
    ];
    for extra in refused {
        let mut body = json!({"asset": "BTC", "amount": "0.001"});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let (status, v) = rig.call(Method::POST, "/v1/invoices", SHOP3_KEY, Some(body.clone())).await;
        assert_eq!((status, code(&v)), (422, "invalid_field"), "{body}: {v}");
    }
    // A description may have lines.
    let body =
        json!({"asset": "BTC", "amount": "0.001", "order_id": "o-lines", "description": "2 mugs\n1 teapot\tblue"});
    let (status, v) = rig.call(Method::POST, "/v1/invoices", SHOP3_KEY, Some(body)).await;
    assert_eq!(status, 201, "{v}");
}

#[tokio::test]
async fn claim_tokens_padded_with_spaces_or_recased_are_refused_and_the_token_still_works() {
    let rig = rig().await.unwrap();
    let c = claimable_refund(&rig, "padded").await.unwrap();
    let token = c.path.rsplit('/').next().unwrap();
    let customer = rig.new_address().unwrap();
    for path in [
        format!("/v1/refunds/claim/%20{token}"),
        format!("/v1/refunds/claim/{token}%20"),
        format!("/v1/refunds/claim/{token}%0A"),
        format!("/v1/refunds/claim/{}", token.to_uppercase()),
    ] {
        let (status, v) = claim(&rig, &path, claim_body(&customer)).await;
        assert_eq!((status, code(&v)), (404, "not_found"), "{path}: {v}");
    }
    let (status, v) = claim(&rig, &c.path, claim_body(&customer)).await;
    assert_eq!((status, v["address"].as_str()), (200, Some(customer.as_str())), "{v}");
}

#[tokio::test]
async fn a_claim_naming_the_stores_own_address_is_refused() {
    let rig = rig().await.unwrap();
    let c = claimable_refund(&rig, "own").await.unwrap();
    let (_, invoice_address) = invoice(&rig, "own-2", "0.001").await.unwrap();
    let watched = rig.new_address().unwrap();
    let (status, w) =
        rig.call(Method::POST, "/v1/watches", SHOP3_KEY, Some(json!({"chain": "btc", "address": watched}))).await;
    assert_eq!(status, 201, "{w}");
    for own in [&invoice_address, &watched] {
        let (status, v) = claim(&rig, &c.path, claim_body(own)).await;
        assert_eq!((status, code(&v)), (422, "invalid_address"), "{own}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("an address of the shop itself"), "{v}");
    }
    let (_, r) = rig.call(Method::GET, &format!("/v1/refunds/{}", c.refund), SHOP3_KEY, None).await;
    assert_eq!(r["status"], "awaiting_address", "{r}");
    let customer = rig.new_address().unwrap();
    let (status, v) = claim(&rig, &c.path, claim_body(&customer)).await;
    assert_eq!((status, v["status"].as_str()), (200, Some("awaiting_payment")), "{v}");
}

#[tokio::test]
async fn one_idempotency_key_serves_an_invoice_and_a_refund_each() {
    let rig = rig().await.unwrap();
    let c = claimable_refund(&rig, "idem").await.unwrap();
    let post = |path: String, key: &'static str, body: Value| {
        rig.daemon.req(Method::POST, &path, SHOP3_KEY).header("idempotency-key", key).json(&body).send()
    };
    let refunds = format!("/v1/invoices/{}/refunds", c.invoice);
    // The same key for an invoice and a refund; and an invoice key that reads like a refund's
    // stored one (`refund:` + key) before the refund uses that key.
    for (invoice_key, refund_key, order) in [("same", "same", "idem-a"), ("refund:abc", "abc", "idem-b")] {
        let body = json!({"asset": "BTC", "amount": "0.001", "order_id": order});
        let r = post("/v1/invoices".into(), invoice_key, body).await.unwrap();
        assert_eq!(r.status(), 201, "invoice with key {invoice_key:?}");
        let r = post(refunds.clone(), refund_key, json!({"amount": "0.0001"})).await.unwrap();
        assert_eq!(r.status(), 201, "refund with key {refund_key:?}: {:?}", r.text().await);
        // Each is still idempotent in its own scope.
        let r = post(refunds.clone(), refund_key, json!({"amount": "0.0001"})).await.unwrap();
        assert_eq!(r.status(), 200, "refund retried with key {refund_key:?}");
        let r = post(refunds.clone(), refund_key, json!({"amount": "0.0002"})).await.unwrap();
        assert_eq!(r.status(), 409, "another refund with key {refund_key:?}");
    }
}

#[tokio::test]
async fn a_batch_repeating_an_address_is_refused_naming_no_watch_id() {
    let rig = rig().await.unwrap();
    let address = rig.new_address().unwrap();
    let other = rig.new_address().unwrap();
    let batch = json!({"watches": [{"chain": "btc", "address": other}, {"chain": "btc", "address": address},
        {"chain": "btc", "address": address}]});
    let (status, v) = rig.call(Method::POST, "/v1/watches/batch", SHOP3_KEY, Some(batch)).await;
    assert_eq!((status, code(&v)), (409, "duplicate_watch"), "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("index 2") && msg.contains("also at index 1 of this batch"), "{msg}");
    // The batch was rolled back: no id it made exists, and the message names none.
    let (_, page) = rig.call(Method::GET, "/v1/watches", SHOP3_KEY, None).await;
    let stored = page["items"].as_array().unwrap();
    assert!(stored.iter().all(|w| w["address"] != address && w["address"] != other), "{page}");
    let uuid_like = msg.split(|c: char| !(c.is_ascii_hexdigit() || c == '-')).any(|w| w.len() == 36);
    assert!(!uuid_like, "{msg}");
}
