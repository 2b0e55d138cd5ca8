//! Amounts and dust end to end on the real regtest node: invoices above the asset's largest
//! (the old u128 overflow example among them) or below its dust limit are refused; dust does
//! not stop a cancellation; a flood of dust to an invoice's address is recorded but neither
//! counts nor emits invoice events, the real payment settles the invoice, every event stays a
//! few KB and the outbox grows linearly (sizes printed).

use paywatch_tests::btc::{shop3, BtcRig, SHOP3_KEY};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// What an invoice event may take here (one payment counts; with five listed and a cause one is
/// still under about 5 KB: `invoices/payments.rs`), whatever else is sent to the address.
const MAX_EVENT_BYTES: usize = 4096;

/// The store that takes invoices (P2PKH addresses, which the test node pays; it relays outputs
/// of any value, so dust below the default `min_payment` of 546 sat reaches the daemon as a
/// miner's or a permissive relay's would).
async fn rig() -> BtcRig {
    BtcRig::start_with(1, &shop3(86_400, 604_800)).await.unwrap()
}

async fn create(rig: &BtcRig, amount: &str, order_id: &str) -> (u16, Value) {
    let body = json!({"asset": "BTC", "amount": amount, "order_id": order_id});
    rig.call(Method::POST, "/v1/invoices", SHOP3_KEY, Some(body)).await
}

async fn get(rig: &BtcRig, path: &str) -> Value {
    let (status, v) = rig.call(Method::GET, path, SHOP3_KEY, None).await;
    assert_eq!(status, 200, "{path}: {v}");
    v
}

/// Events of this type about a payment to `address`.
fn count(events: &[Value], kind: &str, address: &str) -> usize {
    events.iter().filter(|e| e["type"] == kind && e["data"]["address"] == address).count()
}

/// The bytes of an event as `GET /v1/events` serves it.
fn size(e: &Value) -> usize {
    e.to_string().len()
}

#[tokio::test]
async fn invoices_above_the_largest_or_below_the_dust_limit_are_refused() {
    let rig = rig().await;
    // The example: `due × 10 000` wrapped a u128 and it settled for 1 satoshi.
    let (status, v) = create(&rig, "340282366920938463463374607.43176822", "overflow").await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("amount_too_large")), "{v}");
    assert_eq!(
        v["error"]["message"],
        "amount 340282366920938463463374607.43176822 BTC is more than the largest invoice of BTC, 21000000 \
         (assets.max_invoice_amount)"
    );
    let (status, v) = create(&rig, "21000000.00000001", "above").await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("amount_too_large")), "{v}");
    let (status, v) = create(&rig, "0.00000545", "dust").await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("amount_below_min_payment")), "{v}");
    assert_eq!(
        v["error"]["message"],
        "amount 0.00000545 BTC is less than the smallest payment of BTC that counts, 0.00000546 \
         (assets.min_payment): no payment could pay it"
    );
    for order in ["overflow", "above", "dust"] {
        let page = get(&rig, &format!("/v1/invoices?order_id={order}")).await;
        assert_eq!(page["items"], json!([]), "a refused invoice was made: {page}");
    }
    // Both ends are invoices.
    let (status, supply) = create(&rig, "21000000", "supply").await;
    assert_eq!(status, 201, "{supply}");
    assert_eq!(
        (supply["amount_due"].as_str(), supply["amount_due_base"].as_str()),
        (Some("21000000"), Some("2100000000000000"))
    );
    assert_eq!(
        (supply["min_payment"].as_str(), supply["min_payment_base"].as_str()),
        (Some("0.00000546"), Some("546"))
    );
    assert_eq!(
        (supply["payments_count"].as_u64(), &supply["payments"], &supply["payment"]),
        (Some(0), &json!([]), &Value::Null)
    );
    let (status, v) = create(&rig, "0.00000546", "smallest").await;
    assert_eq!(status, 201, "{v}");

    // Dust to an invoice does not stop its cancellation; a payment does.
    let (_, dusted) = create(&rig, "0.001", "dusted").await;
    let (_, paid) = create(&rig, "0.001", "paid").await;
    let (dusted_at, paid_at) = (dusted["address"].as_str().unwrap(), paid["address"].as_str().unwrap());
    rig.send(dusted_at, 0.000003).unwrap();
    rig.send(paid_at, 0.00001).unwrap();
    let evs = rig
        .wait_events(SHOP3_KEY, "both payments", |e| {
            count(e, "payment.detected", dusted_at) == 1 && count(e, "invoice.payment_detected", paid_at) == 1
        })
        .await
        .unwrap();
    assert_eq!(count(&evs, "invoice.payment_detected", dusted_at), 0, "dust made an invoice event");
    let v = get(&rig, &format!("/v1/invoices/{}", dusted["id"].as_str().unwrap())).await;
    assert_eq!(
        (v["amount_paid"].as_str(), v["exception"].as_str(), v["payments_count"].as_u64(), &v["payments"]),
        (Some("0"), Some("none"), Some(1), &json!([])),
        "{v}"
    );
    let (status, v) = rig
        .call(Method::POST, &format!("/v1/invoices/{}/cancel", dusted["id"].as_str().unwrap()), SHOP3_KEY, None)
        .await;
    assert_eq!((status, v["status"].as_str()), (200, Some("invalid")), "{v}");
    let (status, v) =
        rig.call(Method::POST, &format!("/v1/invoices/{}/cancel", paid["id"].as_str().unwrap()), SHOP3_KEY, None).await;
    assert_eq!((status, v["error"]["code"].as_str()), (409, Some("not_cancellable")), "{v}");
}

#[tokio::test]
async fn a_dust_flood_then_the_real_payment_settles_with_small_events_and_a_linear_outbox() {
    const BATCHES: u64 = 4;
    const PER_TX: u64 = 500;
    let rig = rig().await;
    let (status, inv) = create(&rig, "0.001", "flooded").await;
    assert_eq!(status, 201, "{inv}");
    let (id, address) = (inv["id"].as_str().unwrap().to_string(), inv["address"].as_str().unwrap().to_string());
    let address = address.as_str();

    // 2,000 dust payments, 500 outputs per transaction, each from 1 to 545 sat.
    let start = rig.events(SHOP3_KEY).await.unwrap();
    let mut seen = (start.len(), start.iter().map(size).sum::<usize>());
    let mut growth = Vec::new();
    let mut dust_total = 0;
    for k in 1..=BATCHES {
        let sats: Vec<u64> = (0..PER_TX).map(|i| 1 + (k * PER_TX + i * 7) % 545).collect();
        dust_total += sats.iter().sum::<u64>();
        rig.send_outputs(address, &sats).unwrap();
        let evs = rig
            .wait_events(SHOP3_KEY, "a batch of dust", |e| count(e, "payment.detected", address) as u64 == k * PER_TX)
            .await
            .unwrap();
        let now = (evs.len(), evs.iter().map(size).sum::<usize>());
        let (events, bytes) = (now.0 - seen.0, now.1 - seen.1);
        eprintln!(
            "dust transaction {k}: {events} events, {bytes} bytes ({} bytes/event); outbox {} events, {} bytes",
            bytes / events,
            now.0,
            now.1
        );
        growth.push(bytes);
        seen = now;
    }
    rig.mine(1).unwrap();
    let evs = rig
        .wait_events(SHOP3_KEY, "the dust confirmed", |e| {
            count(e, "payment.confirmed", address) as u64 == BATCHES * PER_TX
        })
        .await
        .unwrap();
    let now = (evs.len(), evs.iter().map(size).sum::<usize>());
    eprintln!(
        "block confirming the dust: {} events, {} bytes ({} bytes/event); outbox {} events, {} bytes",
        now.0 - seen.0,
        now.1 - seen.1,
        (now.1 - seen.1) / (now.0 - seen.0),
        now.0,
        now.1
    );
    // Linear: each batch of dust adds as much as the first, none of it an invoice event.
    let (least, most) = (*growth.iter().min().unwrap(), *growth.iter().max().unwrap());
    assert!(most * 100 <= least * 105, "the outbox grew by {growth:?} bytes per batch: not linear");
    let of_invoice =
        |evs: &[Value]| -> Vec<Value> { evs.iter().filter(|e| e["data"]["id"] == id.as_str()).cloned().collect() };
    assert_eq!(of_invoice(&evs).len(), 1, "dust made invoice events: {:?}", of_invoice(&evs));

    // The real payment, behind 2,000 dust payments: detected, then settled at one confirmation.
    let real = rig.send(address, 0.001).unwrap();
    rig.wait_events(SHOP3_KEY, "processing", |e| of_invoice(e).iter().any(|e| e["type"] == "invoice.processing"))
        .await
        .unwrap();
    rig.mine(1).unwrap();
    let evs = rig
        .wait_events(SHOP3_KEY, "settled", |e| of_invoice(e).iter().any(|e| e["type"] == "invoice.settled"))
        .await
        .unwrap();
    let mine = of_invoice(&evs);
    let kinds: Vec<&str> = mine.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["invoice.created", "invoice.payment_detected", "invoice.processing", "invoice.settled"]);
    for e in &mine {
        eprintln!("{}: {} bytes", e["type"], size(e));
        assert!(size(e) < MAX_EVENT_BYTES, "{} is {} bytes", e["type"], size(e));
    }
    for e in &mine[1..] {
        assert_eq!(e["data"]["payment"]["txid"], real.as_str(), "{} names its cause", e["type"]);
    }
    let settled = &mine[3]["data"];
    assert_eq!(
        (settled["amount_paid"].as_str(), settled["amount_confirmed"].as_str(), settled["exception"].as_str()),
        (Some("0.001"), Some("0.001"), Some("none")),
        "{settled}"
    );
    assert_eq!(settled["payments_count"], BATCHES * PER_TX + 1);
    let listed: Vec<&str> =
        settled["payments"].as_array().unwrap().iter().map(|p| p["txid"].as_str().unwrap()).collect();
    assert_eq!(listed, [real.as_str()], "only the payment that counts is listed");

    // The API shows the same small invoice, and every payment page by page.
    let view = get(&rig, &format!("/v1/invoices/{id}")).await;
    eprintln!("GET /v1/invoices/{{id}}: {} bytes", view.to_string().len());
    assert!(view.to_string().len() < MAX_EVENT_BYTES);
    assert_eq!(
        (view["status"].as_str(), view["payments_count"].as_u64()),
        (Some("settled"), Some(BATCHES * PER_TX + 1))
    );
    let (mut all, mut pages, mut after) = (Vec::new(), Vec::new(), String::new());
    loop {
        let page = get(&rig, &format!("/v1/invoices/{id}/payments?limit=1000{after}")).await;
        let items = page["items"].as_array().unwrap().clone();
        pages.push(items.len());
        all.extend(items);
        match page["next"].as_str() {
            Some(next) => after = format!("&after={next}"),
            None => break,
        }
    }
    assert_eq!(pages, [1000, 1000, 1]);
    let distinct: BTreeSet<(String, u64)> =
        all.iter().map(|p| (p["txid"].as_str().unwrap().to_string(), p["index"].as_u64().unwrap())).collect();
    assert_eq!(distinct.len() as u64, BATCHES * PER_TX + 1);
    let total: u64 = all.iter().map(|p| p["amount_base"].as_str().unwrap().parse::<u64>().unwrap()).sum();
    assert_eq!(total, dust_total + 100_000);
    let (status, v) = rig.call(Method::GET, &format!("/v1/invoices/{id}/payments?after=nope"), SHOP3_KEY, None).await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("invalid_field")), "{v}");
}
