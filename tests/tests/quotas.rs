//! Per-store quotas against the real binary: one store cannot fill the index with watches
//! (`stores[].max_watches`: its own, its invoices' addresses and its refunds' destinations
//! all count, across restarts) nor pile refunds on one invoice
//! (`stores[].max_refunds_per_invoice`); the other stores are not affected.

use paywatch_tests::btc::{BtcRig, SHOP3_KEY};
use paywatch_tests::daemon::{Daemon, Launch, SHOP1_KEY, SHOP2_KEY};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// `n` distinct EVM addresses, from `from` on.
fn watches(from: u32, n: u32) -> Value {
    let ws: Vec<Value> =
        (from..from + n).map(|i| json!({"chain": "eth", "address": format!("0x{:040x}", 0x1000 + i)})).collect();
    json!({ "watches": ws })
}

fn quota_refusal(status: u16, v: &Value, key: &str) {
    assert_eq!((status, v["error"]["code"].as_str()), (409, Some("quota_exceeded")), "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains(key), "the message names {key}: {v}");
}

/// Every watch of the store, paged through the API.
async fn listed(d: &Daemon, key: &str) -> usize {
    let (status, page) = d.call(Method::GET, "/v1/watches?limit=1000", key, None).await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_store_at_its_watch_quota_gets_409_and_the_other_store_still_creates_watches() {
    let launch = Launch::env("PAYWATCH_STORES__SHOP1__MAX_WATCHES", "3");
    let mut d = Daemon::start_launched(|dir, port| paywatch_tests::daemon::test_config(dir, port, ""), &[], launch)
        .await
        .unwrap();
    let (status, v) = d.call(Method::POST, "/v1/watches/batch", SHOP1_KEY, Some(watches(0, 2))).await;
    assert_eq!(status, 201, "{v}");
    // A batch that would pass the quota is refused whole.
    let (status, v) = d.call(Method::POST, "/v1/watches/batch", SHOP1_KEY, Some(watches(2, 2))).await;
    quota_refusal(status, &v, "max_watches");
    assert_eq!(listed(&d, SHOP1_KEY).await, 2, "nothing of the refused batch is watched");
    let one = |i: u32| json!({"chain": "eth", "address": format!("0x{:040x}", 0x1000 + i)});
    let (status, last) = d.call(Method::POST, "/v1/watches", SHOP1_KEY, Some(one(2))).await;
    assert_eq!(status, 201, "{last}");
    let (status, v) = d.call(Method::POST, "/v1/watches", SHOP1_KEY, Some(one(3))).await;
    quota_refusal(status, &v, "max_watches");
    // The other store has its own quota (the default), the same addresses included.
    let (status, v) = d.call(Method::POST, "/v1/watches/batch", SHOP2_KEY, Some(watches(0, 10))).await;
    assert_eq!((status, listed(&d, SHOP2_KEY).await), (201, 10), "{v}");
    // The count is the store's, read again at start: still full after a restart.
    d.restart().await.unwrap();
    let (status, v) = d.call(Method::POST, "/v1/watches", SHOP1_KEY, Some(one(3))).await;
    quota_refusal(status, &v, "max_watches");
    // A delete makes room for one, and only one.
    let (status, _) =
        d.call(Method::DELETE, &format!("/v1/watches/{}", last["id"].as_str().unwrap()), SHOP1_KEY, None).await;
    assert_eq!(status, 204);
    let (status, v) = d.call(Method::POST, "/v1/watches", SHOP1_KEY, Some(one(3))).await;
    assert_eq!(status, 201, "room again after a delete: {v}");
    let (status, v) = d.call(Method::POST, "/v1/watches", SHOP1_KEY, Some(one(4))).await;
    quota_refusal(status, &v, "max_watches");
}

/// Waits for an event of `kind` about `id`.
async fn wait_event(rig: &BtcRig, id: &str, kind: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !rig.events(SHOP3_KEY).await.unwrap().iter().any(|e| e["data"]["id"] == id && e["type"] == kind) {
        assert!(Instant::now() < deadline, "no {kind} for {id}; log:\n{}", rig.daemon.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn call(rig: &BtcRig, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    rig.call(method, path, SHOP3_KEY, body).await
}

/// A customer's claim with a fresh address of the node's wallet: (status, JSON).
async fn claim(rig: &BtcRig, path: &str) -> (u16, Value) {
    let body = json!({"address": rig.new_address().unwrap()});
    let r = rig.daemon.http.post(rig.daemon.url(path)).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Refunds of one invoice stop at `max_refunds_per_invoice`; invoices' addresses and refunds'
/// destinations count against `max_watches`, and a claim at the quota leaves its token usable.
#[tokio::test]
async fn an_invoice_at_its_refund_quota_gets_409_and_invoices_and_refunds_count_as_watches() {
    let mut launch = Launch::env("PAYWATCH_STORES__SHOP3__MAX_REFUNDS_PER_INVOICE", "3");
    launch.env.push(("PAYWATCH_STORES__SHOP3__MAX_WATCHES".into(), "4".into()));
    let rig = BtcRig::start_custom(1, "", &paywatch_tests::btc::shop3(86_400, 3600), launch).await.unwrap();
    let (status, inv) =
        call(&rig, Method::POST, "/v1/invoices", Some(json!({"asset": "BTC", "amount": "0.004", "order_id": "q1"})))
            .await;
    assert_eq!(status, 201, "{inv}");
    let id = inv["id"].as_str().unwrap().to_string();
    rig.send(inv["address"].as_str().unwrap(), 0.004).unwrap();
    rig.mine(1).unwrap();
    wait_event(&rig, &id, "invoice.settled").await;
    let refunds = format!("/v1/invoices/{id}/refunds");
    // Watches: the invoice's address (1), a refund's destination (2), one of the store's own (3).
    let to = rig.new_address().unwrap();
    let (status, r) = call(&rig, Method::POST, &refunds, Some(json!({"amount": "0.001", "address": to}))).await;
    assert_eq!(status, 201, "{r}");
    let (status, w) =
        call(&rig, Method::POST, "/v1/watches", Some(json!({"chain": "btc", "address": rig.new_address().unwrap()})))
            .await;
    assert_eq!(status, 201, "{w}");
    // Two refunds waiting for their claims: no watch yet.
    let mut claims = Vec::new();
    for _ in 0..2 {
        let (status, r) = call(&rig, Method::POST, &refunds, Some(json!({"amount": "0.0005"}))).await;
        assert_eq!(status, 201, "{r}");
        claims.push(r["claim_path"].as_str().unwrap().to_string());
    }
    let (status, v) = call(&rig, Method::POST, &refunds, Some(json!({"amount": "0.0001"}))).await;
    quota_refusal(status, &v, "max_refunds_per_invoice");
    let (status, list) = call(&rig, Method::GET, &refunds, None).await;
    assert_eq!((status, list["items"].as_array().map(Vec::len)), (200, Some(3)), "{list}");
    let (_, refundable) = call(&rig, Method::GET, &format!("/v1/invoices/{id}/refundable"), None).await;
    assert_eq!(refundable["refunded"], "0.002", "the running total: {refundable}");
    assert_eq!(refundable["refundable"], "0.002", "{refundable}");
    // The 4th watch: a second invoice; a third invoice finds the store full.
    let new_invoice = |order: &str| json!({"asset": "BTC", "amount": "0.001", "order_id": order});
    let (status, v) = call(&rig, Method::POST, "/v1/invoices", Some(new_invoice("q2"))).await;
    assert_eq!(status, 201, "{v}");
    let (status, v) = call(&rig, Method::POST, "/v1/invoices", Some(new_invoice("q3"))).await;
    quota_refusal(status, &v, "max_watches");
    // A claim needs a watch too: refused at the quota, its token still good once there is room.
    let (status, v) = claim(&rig, &claims[0]).await;
    quota_refusal(status, &v, "max_watches");
    let (status, _) = call(&rig, Method::DELETE, &format!("/v1/watches/{}", w["id"].as_str().unwrap()), None).await;
    assert_eq!(status, 204);
    let (status, v) = claim(&rig, &claims[0]).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "awaiting_payment", "{v}");
}

/// A store at its watch quota hammered with invoices, many at once, all refused: once it has
/// room, the next invoice gets the next address of its descriptor (the refused ones gave their
/// indexes back, leaving no gap a wallet's gap limit would stop at).
#[tokio::test]
async fn invoices_refused_at_the_watch_quota_leave_no_gap_in_the_derivation() {
    let launch = Launch::env("PAYWATCH_STORES__SHOP3__MAX_WATCHES", "2");
    let rig = BtcRig::start_custom(1, "", &paywatch_tests::btc::shop3(86_400, 3600), launch).await.unwrap();
    let new_invoice = |order: String| json!({"asset": "BTC", "amount": "0.001", "order_id": order});
    let (status, first) = call(&rig, Method::POST, "/v1/invoices", Some(new_invoice("g0".into()))).await;
    assert_eq!(status, 201, "{first}");
    let own = json!({"chain": "btc", "address": rig.new_address().unwrap()});
    let (status, w) = call(&rig, Method::POST, "/v1/watches", Some(own)).await;
    assert_eq!(status, 201, "{w}");
    let refused = (0..24).map(|i| call(&rig, Method::POST, "/v1/invoices", Some(new_invoice(format!("g-{i}")))));
    for (status, v) in futures::future::join_all(refused).await {
        quota_refusal(status, &v, "max_watches");
    }
    let (status, _) = call(&rig, Method::DELETE, &format!("/v1/watches/{}", w["id"].as_str().unwrap()), None).await;
    assert_eq!(status, 204);
    let (status, next) = call(&rig, Method::POST, "/v1/invoices", Some(new_invoice("g1".into()))).await;
    assert_eq!(status, 201, "{next}");
    // The same descriptor in a daemon that never refused one: the addresses at 0 and 1.
    let oracle = BtcRig::start_with(1, &paywatch_tests::btc::shop3(86_400, 3600)).await.unwrap();
    let fresh: Vec<Value> = {
        let mut v = Vec::new();
        for order in ["f0", "f1"] {
            let (status, inv) = call(&oracle, Method::POST, "/v1/invoices", Some(new_invoice(order.into()))).await;
            assert_eq!(status, 201, "{inv}");
            v.push(inv["address"].clone());
        }
        v
    };
    assert_eq!([&first["address"], &next["address"]], [&fresh[0], &fresh[1]], "a gap after the refused invoices");
}
