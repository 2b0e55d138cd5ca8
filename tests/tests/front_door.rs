//! The front door under hostile input, against the real binary on the regtest node: each test
//! named after the hostile input and its safe outcome (issue 15).

use paywatch_tests::btc::SHOP3_KEY;
use paywatch_tests::front_door::{
    claim, claim_body, claim_declaring, claimable_refund, invoice, rig, wait_invoice_event,
};
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
