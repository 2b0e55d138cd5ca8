//! Invoices end to end on the real regtest node: fresh addresses from the store's descriptor
//! (and another after it changes), statuses driven by real payments, confirmations, reorgs, the
//! clock and restarts; refunds claimed by token and paid from the node's wallet, what is
//! refundable, two refunds to one address; bad input.

use bitcoincore_rpc::RpcApi;
use paywatch_tests::btc::{BtcRig, SHOP3_KEY};
use paywatch_tests::daemon::SHOP1_KEY;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const SHOP3: &str = SHOP3_KEY;

/// shop3 with a short refund-claim window (2 s) so the tests can see it end.
fn shop3(monitoring_secs: u64) -> String {
    paywatch_tests::btc::shop3(monitoring_secs, 2)
}

async fn rig() -> BtcRig {
    BtcRig::start_with(1, &shop3(86_400)).await.unwrap()
}

async fn call(rig: &BtcRig, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    rig.call(method, path, SHOP3, body).await
}

async fn invoice(rig: &BtcRig, body: Value) -> Value {
    let (status, v) = call(rig, Method::POST, "/v1/invoices", Some(body)).await;
    assert_eq!(status, 201, "{v}");
    v
}

/// The invoice's events (type, status, exception, sequence), waiting until `done` holds.
async fn invoice_events(rig: &BtcRig, id: &str, what: &str, done: impl Fn(&[String]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let evs: Vec<Value> = rig.events(SHOP3).await.unwrap().into_iter().filter(|e| e["data"]["id"] == id).collect();
        let kinds: Vec<String> = evs.iter().map(|e| e["type"].as_str().unwrap().to_string()).collect();
        if done(&kinds) {
            return evs;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {kinds:?}\nlog:\n{}", rig.daemon.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn has(kinds: &[String], k: &str) -> bool {
    kinds.iter().any(|x| x == k)
}

fn count(kinds: &[String], k: &str) -> usize {
    kinds.iter().filter(|x| *x == k).count()
}

#[tokio::test]
async fn an_exact_payment_goes_new_processing_settled_at_the_required_confirmations() {
    let rig = rig().await;
    let inv = invoice(
        &rig,
        json!({"asset": "BTC", "amount": "0.0015", "order_id": "1042", "confirmations": 2,
                                    "description": "two books", "metadata": {"cart": 7}}),
    )
    .await;
    let id = inv["id"].as_str().unwrap();
    let address = inv["address"].as_str().unwrap();
    assert_eq!((inv["status"].as_str(), inv["exception"].as_str()), (Some("new"), Some("none")));
    assert_eq!((inv["amount_due"].as_str(), inv["required_confirmations"].as_u64()), (Some("0.0015"), Some(2)));
    assert!(address.starts_with('m') || address.starts_with('n'), "{address}");
    assert_eq!(inv["payment_uri"], format!("bitcoin:{address}?amount=0.0015&label=1042&message=two%20books"));
    assert_eq!(inv["metadata"], json!({"cart": 7}));
    assert!(inv["expires_at"].as_str().unwrap() > inv["created_at"].as_str().unwrap());

    rig.send(address, 0.0015).unwrap();
    invoice_events(&rig, id, "processing", |k| has(k, "invoice.processing")).await;
    rig.mine(1).unwrap();
    rig.wait_synced().await.unwrap();
    let (_, mid) = call(&rig, Method::GET, &format!("/v1/invoices/{id}"), None).await;
    assert_eq!(mid["status"], "processing", "one confirmation of two: {mid}");
    rig.mine(1).unwrap();
    let evs = invoice_events(&rig, id, "settled", |k| has(k, "invoice.settled")).await;
    let kinds: Vec<&str> = evs.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["invoice.created", "invoice.payment_detected", "invoice.processing", "invoice.settled"]);
    let seqs: Vec<u64> = evs.iter().map(|e| e["data"]["sequence"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    let last = &evs[3]["data"];
    assert_eq!((last["amount_paid"].as_str(), last["amount_confirmed"].as_str()), (Some("0.0015"), Some("0.0015")));
    assert_eq!(last["payments"][0]["confirmations"], 2);
    let (_, got) = call(&rig, Method::GET, &format!("/v1/invoices/{id}"), None).await;
    assert_eq!((got["status"].as_str(), got["sequence"].as_u64()), (Some("settled"), Some(4)));
    // Listing by order id and status.
    let (_, page) = call(&rig, Method::GET, "/v1/invoices?order_id=1042", None).await;
    assert_eq!(page["items"][0]["id"], id);
    let (_, page) = call(&rig, Method::GET, "/v1/invoices?status=new", None).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn partial_payments_add_up_and_overpayment_is_flagged() {
    let rig = rig().await;
    let inv = invoice(&rig, json!({"asset": "BTC", "amount": "0.002", "order_id": "under"})).await;
    let (id, address) = (inv["id"].as_str().unwrap(), inv["address"].as_str().unwrap());
    rig.send(address, 0.001).unwrap();
    invoice_events(&rig, id, "first payment", |k| has(k, "invoice.payment_detected")).await;
    let (_, v) = call(&rig, Method::GET, &format!("/v1/invoices/{id}"), None).await;
    assert_eq!(
        (v["status"].as_str(), v["exception"].as_str(), v["amount_paid"].as_str()),
        (Some("new"), Some("paid_partial"), Some("0.001"))
    );
    rig.send(address, 0.0011).unwrap();
    invoice_events(&rig, id, "processing", |k| has(k, "invoice.processing")).await;
    rig.mine(1).unwrap();
    let evs = invoice_events(&rig, id, "settled", |k| has(k, "invoice.settled")).await;
    let d = &evs.last().unwrap()["data"];
    assert_eq!(
        (d["exception"].as_str(), d["amount_paid"].as_str(), d["amount_confirmed"].as_str()),
        (Some("paid_over"), Some("0.0021"), Some("0.0021"))
    );
    assert_eq!(d["payments"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_payment_after_expiry_is_recorded_as_paid_late() {
    let rig = rig().await;
    let inv = invoice(&rig, json!({"asset": "BTC", "amount": "0.001", "order_id": "late", "expires_in": 1})).await;
    let (id, address) = (inv["id"].as_str().unwrap(), inv["address"].as_str().unwrap());
    invoice_events(&rig, id, "expired", |k| has(k, "invoice.expired")).await;
    rig.send(address, 0.001).unwrap();
    rig.mine(1).unwrap();
    let evs = invoice_events(&rig, id, "paid_late", |k| has(k, "invoice.paid_late")).await;
    let d = &evs.last().unwrap()["data"];
    assert_eq!(
        (d["status"].as_str(), d["exception"].as_str(), d["amount_paid"].as_str()),
        (Some("expired"), Some("paid_late"), Some("0.001"))
    );
    let kinds: Vec<String> = evs.iter().map(|e| e["type"].as_str().unwrap().to_string()).collect();
    assert_eq!(count(&kinds, "invoice.settled"), 0);
}

#[tokio::test]
async fn a_reorg_of_the_settling_block_goes_back_to_processing_then_settles_again() {
    let rig = rig().await;
    let inv = invoice(&rig, json!({"asset": "BTC", "amount": "0.003", "order_id": "reorg"})).await;
    let (id, address) = (inv["id"].as_str().unwrap(), inv["address"].as_str().unwrap());
    rig.send(address, 0.003).unwrap();
    let block = rig.mine(1).unwrap().remove(0);
    invoice_events(&rig, id, "settled", |k| has(k, "invoice.settled")).await;
    rig.rpc().call::<Value>("invalidateblock", &[block.clone().into()]).unwrap();
    // (Whether `processing` came before the first `settled` depends on ZMQ delivering the
    // transaction before its block; after the reorg it must come.)
    let evs = invoice_events(&rig, id, "reversed and processing", |k| {
        let after = k.iter().position(|x| x == "invoice.payment_reversed").map(|i| &k[i..]);
        after.is_some_and(|a| has(a, "invoice.processing"))
    })
    .await;
    let reversed = evs.iter().find(|e| e["type"] == "invoice.payment_reversed").unwrap();
    assert_ne!(reversed["data"]["status"], "settled");
    let elsewhere = rig.new_address().unwrap();
    rig.rpc().call::<Vec<String>>("generatetoaddress", &[1.into(), elsewhere.into()]).unwrap();
    let evs = invoice_events(&rig, id, "settled again", |k| count(k, "invoice.settled") == 2).await;
    assert_eq!(evs.last().unwrap()["data"]["status"], "settled");
    let seqs: Vec<u64> = evs.iter().map(|e| e["data"]["sequence"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "sequence numbers step by one: {seqs:?}");
}

#[tokio::test]
async fn live_invoices_never_share_an_address_and_unpaid_ones_are_reused_after_monitoring() {
    let rig = BtcRig::start_with(1, &shop3(2)).await.unwrap();
    let mut seen = BTreeSet::new();
    for i in 0..5 {
        let inv = invoice(&rig, json!({"asset": "BTC", "amount": "0.001", "order_id": format!("o{i}")})).await;
        assert!(seen.insert(inv["address"].as_str().unwrap().to_string()), "address handed out twice");
    }
    // An unpaid invoice expires; within its monitoring window its address is not handed out.
    let short = invoice(&rig, json!({"asset": "BTC", "amount": "0.001", "order_id": "short", "expires_in": 1})).await;
    let addr = short["address"].as_str().unwrap().to_string();
    invoice_events(&rig, short["id"].as_str().unwrap(), "expired", |k| has(k, "invoice.expired")).await;
    let during = invoice(&rig, json!({"asset": "BTC", "amount": "0.001", "order_id": "during"})).await;
    assert_ne!(during["address"], addr.as_str());
    // After the window (2 s) it is.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after = invoice(&rig, json!({"asset": "BTC", "amount": "0.001", "order_id": "after"})).await;
    assert_eq!(after["address"], addr.as_str(), "the released address is reused first");
    // Paying it now pays the new invoice only.
    rig.send(&addr, 0.001).unwrap();
    invoice_events(&rig, after["id"].as_str().unwrap(), "paid", |k| has(k, "invoice.processing")).await;
    let (_, old) = call(&rig, Method::GET, &format!("/v1/invoices/{}", short["id"].as_str().unwrap()), None).await;
    assert_eq!((old["status"].as_str(), old["amount_paid"].as_str()), (Some("expired"), Some("0")));
}

#[tokio::test]
async fn a_restart_mid_invoice_and_an_expiry_while_down_lose_nothing() {
    let mut rig = rig().await;
    let inv =
        invoice(&rig, json!({"asset": "BTC", "amount": "0.002", "order_id": "restart", "confirmations": 2})).await;
    let id = inv["id"].as_str().unwrap().to_string();
    let short = invoice(&rig, json!({"asset": "BTC", "amount": "0.002", "order_id": "down", "expires_in": 2})).await;
    rig.send(inv["address"].as_str().unwrap(), 0.002).unwrap();
    invoice_events(&rig, &id, "processing", |k| has(k, "invoice.processing")).await;
    rig.daemon.stop().await.unwrap();
    rig.mine(2).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    rig.daemon.restart().await.unwrap();
    let evs = invoice_events(&rig, &id, "settled", |k| has(k, "invoice.settled")).await;
    let kinds: Vec<String> = evs.iter().map(|e| e["type"].as_str().unwrap().to_string()).collect();
    assert_eq!(kinds, ["invoice.created", "invoice.payment_detected", "invoice.processing", "invoice.settled"]);
    invoice_events(&rig, short["id"].as_str().unwrap(), "expired at start", |k| has(k, "invoice.expired")).await;
}

/// An invoice for 0.004 BTC, paid and settled (one confirmation); its id.
async fn settled_invoice(rig: &BtcRig, order_id: &str) -> String {
    let inv = invoice(rig, json!({"asset": "BTC", "amount": "0.004", "order_id": order_id})).await;
    let id = inv["id"].as_str().unwrap().to_string();
    rig.send(inv["address"].as_str().unwrap(), 0.004).unwrap();
    rig.mine(1).unwrap();
    invoice_events(rig, &id, "settled", |k| has(k, "invoice.settled")).await;
    id
}

#[tokio::test]
async fn a_refund_is_claimed_by_token_paid_by_the_merchant_and_completed() {
    let rig = rig().await;
    let id = &settled_invoice(&rig, "refund").await;
    // More than was paid is refused; a refund without an address gets a claim token.
    let (status, e) =
        call(&rig, Method::POST, &format!("/v1/invoices/{id}/refunds"), Some(json!({"amount": "0.005"}))).await;
    assert_eq!((status, e["error"]["code"].as_str()), (422, Some("refund_too_large")), "{e}");
    let (status, r) = call(
        &rig,
        Method::POST,
        &format!("/v1/invoices/{id}/refunds"),
        Some(json!({"amount": "0.0025", "reason": "one book returned", "rate_policy": "original"})),
    )
    .await;
    assert_eq!(status, 201, "{r}");
    assert_eq!((r["status"].as_str(), r["amount"].as_str()), (Some("awaiting_address"), Some("0.0025")));
    let claim_path = r["claim_path"].as_str().unwrap().to_string();
    let refund_id = r["id"].as_str().unwrap().to_string();
    // The customer claims it with an address (no API key); a bad address is refused.
    let claim = |body: Value| rig.daemon.http.post(rig.daemon.url(&claim_path)).json(&body).send();
    let bad = claim(json!({"address": "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"})).await.unwrap();
    assert_eq!(bad.status(), 422);
    let customer = rig.new_address().unwrap();
    let ok = claim(json!({"address": customer})).await.unwrap();
    assert_eq!(ok.status(), 200);
    let claimed: Value = ok.json().await.unwrap();
    assert_eq!(claimed["status"], "awaiting_payment");
    let uri = claimed["payment_uri"].as_str().unwrap();
    assert!(uri.starts_with(&format!("bitcoin:{customer}?amount=0.0025")), "{uri}");
    // The token works once.
    assert_eq!(claim(json!({"address": customer})).await.unwrap().status(), 404);
    // The merchant pays it; confirmed → completed.
    let txid = rig.send(&customer, 0.0025).unwrap();
    rig.mine(1).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let kinds = loop {
        let evs: Vec<Value> =
            rig.events(SHOP3).await.unwrap().into_iter().filter(|e| e["data"]["id"] == refund_id.as_str()).collect();
        let kinds: Vec<String> = evs.iter().map(|e| e["type"].as_str().unwrap().to_string()).collect();
        if has(&kinds, "refund.completed") {
            assert_eq!(evs.last().unwrap()["data"]["txid"], txid.as_str());
            break kinds;
        }
        assert!(Instant::now() < deadline, "refund not completed: {kinds:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(kinds, ["refund.created", "refund.address_submitted", "refund.completed"]);
    let (_, list) = call(&rig, Method::GET, &format!("/v1/invoices/{id}/refunds"), None).await;
    assert_eq!(list["items"][0]["status"], "completed");
    // Only what is left can still be refunded.
    let (status, _) = call(
        &rig,
        Method::POST,
        &format!("/v1/invoices/{id}/refunds"),
        Some(json!({"amount": "0.0016", "address": customer})),
    )
    .await;
    assert_eq!(status, 422);
}

/// What the refundable endpoint says of an invoice (refundable, received, late and
/// unconfirmed txids).
async fn refundable(rig: &BtcRig, id: &str) -> (String, String, Vec<String>, Vec<String>) {
    let (status, r) = call(rig, Method::GET, &format!("/v1/invoices/{id}/refundable"), None).await;
    assert_eq!(status, 200, "{r}");
    let txids = |k: &str| r[k].as_array().unwrap().iter().map(|p| p["txid"].as_str().unwrap().to_string()).collect();
    let amount = |k: &str| r[k].as_str().unwrap().to_string();
    (amount("refundable"), amount("received"), txids("late"), txids("unconfirmed"))
}

async fn refund(rig: &BtcRig, id: &str, body: Value) -> (u16, Value) {
    call(rig, Method::POST, &format!("/v1/invoices/{id}/refunds"), Some(body)).await
}

/// Waits until the refund is `completed`; the refund.
async fn completed_refund(rig: &BtcRig, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, r) = call(rig, Method::GET, &format!("/v1/refunds/{id}"), None).await;
        if r["status"] == "completed" {
            return r;
        }
        assert!(Instant::now() < deadline, "refund {id} not completed: {r}\nlog:\n{}", rig.daemon.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn only_confirmed_payments_made_in_time_are_refundable_and_the_others_are_listed() {
    let rig = rig().await;
    let inv = invoice(
        &rig,
        json!({"asset": "BTC", "amount": "0.003", "order_id": "rf", "confirmations": 2, "expires_in": 20}),
    )
    .await;
    let (id, address) = (inv["id"].as_str().unwrap(), inv["address"].as_str().unwrap());
    // In the mempool, then with one confirmation of two: listed, not refundable.
    let early = rig.send(address, 0.002).unwrap();
    invoice_events(&rig, id, "detected", |k| has(k, "invoice.payment_detected")).await;
    assert_eq!(refundable(&rig, id).await, ("0".into(), "0".into(), vec![], vec![early.clone()]));
    rig.mine(1).unwrap();
    rig.wait_synced().await.unwrap();
    assert_eq!(refundable(&rig, id).await, ("0".into(), "0".into(), vec![], vec![early.clone()]));
    // Still taking payment (0.002 of 0.003): no refund at all, whatever it would be.
    let (status, e) = refund(&rig, id, json!({"amount": "0.001", "address": rig.new_address().unwrap()})).await;
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("invoice_open")), "{e}");
    // Paid in full and waiting for confirmations: nothing refundable yet, and the refusal says why.
    let full =
        invoice(&rig, json!({"asset": "BTC", "amount": "0.001", "order_id": "rf-full", "confirmations": 2})).await;
    let full_id = full["id"].as_str().unwrap();
    rig.send(full["address"].as_str().unwrap(), 0.001).unwrap();
    invoice_events(&rig, full_id, "processing", |k| has(k, "invoice.processing")).await;
    let (status, e) = refund(&rig, full_id, json!({"amount": "0.0005", "address": rig.new_address().unwrap()})).await;
    assert_eq!((status, e["error"]["code"].as_str()), (422, Some("refund_too_large")), "{e}");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(msg.ends_with("the 0 still refundable (not refundable: 0.001 without its confirmations yet)"), "{msg}");
    // Two confirmations: refundable.
    rig.mine(1).unwrap();
    rig.wait_synced().await.unwrap();
    assert_eq!(refundable(&rig, id).await, ("0.002".into(), "0.002".into(), vec![], vec![]));
    // After expiry a payment is late: confirmed or not, it is listed and not refundable.
    invoice_events(&rig, id, "expired", |k| has(k, "invoice.expired")).await;
    let late = rig.send(address, 0.001).unwrap();
    rig.mine(2).unwrap();
    invoice_events(&rig, id, "paid_late", |k| has(k, "invoice.paid_late")).await;
    rig.wait_synced().await.unwrap();
    let (_, got) = call(&rig, Method::GET, &format!("/v1/invoices/{id}"), None).await;
    assert_eq!(got["amount_paid"], "0.003", "the invoice counts the late payment as paid: {got}");
    assert_eq!(refundable(&rig, id).await, ("0.002".into(), "0.002".into(), vec![late], vec![]));
    let (status, e) = refund(&rig, id, json!({"amount": "0.0025", "address": rig.new_address().unwrap()})).await;
    assert_eq!(status, 422, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().ends_with("(not refundable: 0.001 paid after expiry)"), "{e}");
    let (status, r) = refund(&rig, id, json!({"amount": "0.002", "address": rig.new_address().unwrap()})).await;
    assert_eq!(status, 201, "{r}");
    let (_, body) = call(&rig, Method::GET, &format!("/v1/invoices/{id}/refundable"), None).await;
    assert_eq!((body["refundable"].as_str(), body["refunded_base"].as_str()), (Some("0"), Some("200000")), "{body}");
}

#[tokio::test]
async fn two_refunds_to_one_address_are_completed_by_payments_of_their_own() {
    let rig = rig().await;
    let id = &settled_invoice(&rig, "two-refunds").await;
    let customer = rig.new_address().unwrap();
    let mut refunds = Vec::new();
    for reason in ["first book", "second book"] {
        let (status, r) = refund(&rig, id, json!({"amount": "0.001", "address": customer, "reason": reason})).await;
        assert_eq!((status, r["status"].as_str()), (201, Some("awaiting_payment")), "{r}");
        refunds.push(r["id"].as_str().unwrap().to_string());
    }
    // The merchant pays one of them: in the mempool nothing completes, mined the older one does.
    let first = rig.send(&customer, 0.001).unwrap();
    rig.wait_events(SHOP3, "the refund payment", |evs| evs.iter().any(|e| e["data"]["txid"] == first.as_str()))
        .await
        .unwrap();
    let (_, r) = call(&rig, Method::GET, &format!("/v1/refunds/{}", refunds[0]), None).await;
    assert_eq!(r["status"], "awaiting_payment", "an unconfirmed payment completes nothing: {r}");
    rig.mine(1).unwrap();
    assert_eq!(completed_refund(&rig, &refunds[0]).await["txid"], first.as_str());
    rig.wait_synced().await.unwrap();
    let (_, r) = call(&rig, Method::GET, &format!("/v1/refunds/{}", refunds[1]), None).await;
    assert_eq!(r["status"], "awaiting_payment", "one payment completed two refunds: {r}");
    // The second payment completes the second refund.
    let second = rig.send(&customer, 0.001).unwrap();
    rig.mine(1).unwrap();
    assert_eq!(completed_refund(&rig, &refunds[1]).await["txid"], second.as_str());
    let completed = rig.events(SHOP3).await.unwrap().into_iter().filter(|e| e["type"] == "refund.completed").count();
    assert_eq!(completed, 2);
}

/// The address of a new invoice for `order`.
async fn address_of(rig: &BtcRig, order: &str) -> String {
    let inv = invoice(rig, json!({"asset": "BTC", "amount": "0.001", "order_id": order})).await;
    inv["address"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn after_the_stores_descriptor_changes_no_address_of_the_old_one_is_handed_out() {
    let mut rig = BtcRig::start_with(1, &shop3(2)).await.unwrap();
    let mut old: BTreeSet<String> = BTreeSet::new();
    for i in 0..3 {
        old.insert(address_of(&rig, &format!("old-{i}")).await);
    }
    // An unpaid invoice whose address goes back to the old descriptor's pool.
    let short = invoice(&rig, json!({"asset": "BTC", "amount": "0.001", "order_id": "short", "expires_in": 1})).await;
    let released = short["address"].as_str().unwrap().to_string();
    old.insert(released.clone());
    invoice_events(&rig, short["id"].as_str().unwrap(), "expired", |k| has(k, "invoice.expired")).await;
    tokio::time::sleep(Duration::from_secs(4)).await; // past its monitoring window (2 s)
                                                      // The merchant moves to another branch of the key: restart on the new descriptor.
    let config = std::fs::read_to_string(&rig.daemon.config_path).unwrap();
    let moved = config.replace("/0/*)", "/1/*)");
    assert_ne!(moved, config);
    rig.daemon.stop().await.unwrap();
    std::fs::write(&rig.daemon.config_path, &moved).unwrap();
    rig.daemon.restart().await.unwrap();
    let mut new = BTreeSet::new();
    for i in 0..6 {
        let a = address_of(&rig, &format!("new-{i}")).await;
        assert!(!old.contains(&a), "{a} of the old descriptor was handed out again");
        assert!(new.insert(a), "an address of the new descriptor was handed out twice");
    }
    // Back to the old descriptor: its released address first, then its next fresh one.
    rig.daemon.stop().await.unwrap();
    std::fs::write(&rig.daemon.config_path, &config).unwrap();
    rig.daemon.restart().await.unwrap();
    assert_eq!(address_of(&rig, "back-0").await, released, "the old pool was kept");
    let fresh = address_of(&rig, "back-1").await;
    assert!(!old.contains(&fresh) && !new.contains(&fresh), "{fresh} was handed out before");
}

#[tokio::test]
async fn bad_requests_are_clear_errors() {
    let rig = rig().await;
    let post = |body: Value| call(&rig, Method::POST, "/v1/invoices", Some(body));
    for (body, code) in [
        (json!({"asset": "DOGE", "amount": "1", "order_id": "x"}), "unknown_asset"),
        (json!({"asset": "BTC", "amount": "-1", "order_id": "x"}), "invalid_field"),
        (json!({"asset": "BTC", "amount": "0", "order_id": "x"}), "invalid_field"),
        (json!({"asset": "BTC", "amount": "0.000000001", "order_id": "x"}), "invalid_field"),
        (json!({"asset": "BTC", "amount": "1e3", "order_id": "x"}), "invalid_field"),
        (json!({"asset": "BTC", "amount": "1", "order_id": ""}), "invalid_field"),
        (json!({"asset": "BTC", "amount": "1", "order_id": "x", "speed": "warp"}), "invalid_field"),
        (json!({"asset": "BTC", "amount": "1", "order_id": "x", "speed": "low", "confirmations": 1}), "invalid_field"),
        (json!({"asset": "BTC", "amount": "1", "order_id": "x", "payment_tolerance_percent": 80}), "invalid_field"),
        (json!({"asset": "BTC", "amount": 1, "order_id": "x"}), "invalid_body"),
    ] {
        let (status, e) = post(body.clone()).await;
        assert_eq!((status, e["error"]["code"].as_str()), (422, Some(code)), "{body}: {e}");
    }
    // The amount's message names the problem.
    let (_, e) = post(json!({"asset": "BTC", "amount": "0.000000001", "order_id": "x"})).await;
    assert!(e["error"]["message"].as_str().unwrap().contains("more than 8 decimals"), "{e}");
    // Amounts go up to 2^256 − 1 base units (an ERC-20 token's range), not one more.
    let past_u256 = format!("1{}", "0".repeat(70));
    let (status, e) = post(json!({"asset": "BTC", "amount": past_u256, "order_id": "x"})).await;
    assert_eq!((status, e["error"]["message"].as_str()), (422, Some(&*format!("amount: {past_u256:?} is too large"))));
    // Past u128 (and past any Bitcoin there is): more than the asset's largest invoice, which is
    // Bitcoin's supply by default (`amounts.rs` tests the limits).
    let past_u128 = format!("1{}", "0".repeat(40));
    let (status, big) = post(json!({"asset": "BTC", "amount": past_u128, "order_id": "big"})).await;
    assert_eq!((status, big["error"]["code"].as_str()), (422, Some("amount_too_large")), "{big}");
    // One invoice per order: a retry returns it, other terms conflict.
    let (s1, a) = post(json!({"asset": "BTC", "amount": "0.01", "order_id": "o-1"})).await;
    let (s2, b) = post(json!({"asset": "BTC", "amount": "0.01", "order_id": "o-1"})).await;
    assert_eq!((s1, s2, &a["id"]), (201, 200, &b["id"]));
    let (s3, e) = post(json!({"asset": "BTC", "amount": "0.02", "order_id": "o-1"})).await;
    assert_eq!((s3, e["error"]["code"].as_str()), (409, Some("order_conflict")), "{e}");
    // Idempotency-Key: same body → same invoice, other body → 409.
    let keyed = |body: Value| {
        rig.daemon.req(Method::POST, "/v1/invoices", SHOP3).header("Idempotency-Key", "k-1").json(&body).send()
    };
    let r1 = keyed(json!({"asset": "BTC", "amount": "0.01", "order_id": "o-2"})).await.unwrap();
    let r2 = keyed(json!({"asset": "BTC", "amount": "0.01", "order_id": "o-2"})).await.unwrap();
    assert_eq!((r1.status(), r2.status()), (reqwest::StatusCode::CREATED, reqwest::StatusCode::OK));
    let r3 = keyed(json!({"asset": "BTC", "amount": "0.01", "order_id": "o-3"})).await.unwrap();
    assert_eq!(r3.status(), 409);
    // Another store's invoice does not exist for this one; a store without receive config cannot invoice.
    let other = rig
        .daemon
        .req(Method::GET, &format!("/v1/invoices/{}", a["id"].as_str().unwrap()), SHOP1_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    let r = rig
        .daemon
        .req(Method::POST, "/v1/invoices", SHOP1_KEY)
        .json(&json!({"asset": "BTC", "amount": "1", "order_id": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    // An invoice's watch ends with the invoice, not through the watches API.
    let (_, watches) = call(&rig, Method::GET, "/v1/watches", None).await;
    let owned = watches["items"].as_array().unwrap().iter().find(|w| w["invoice"] == a["id"]).unwrap().clone();
    let (status, e) = call(&rig, Method::DELETE, &format!("/v1/watches/{}", owned["id"].as_str().unwrap()), None).await;
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("watch_owned")), "{e}");
    // Cancel: only while nothing was paid.
    let c = invoice(&rig, json!({"asset": "BTC", "amount": "0.001", "order_id": "cancel-me"})).await;
    let (status, v) =
        call(&rig, Method::POST, &format!("/v1/invoices/{}/cancel", c["id"].as_str().unwrap()), None).await;
    assert_eq!((status, v["status"].as_str()), (200, Some("invalid")));
    let p = invoice(&rig, json!({"asset": "BTC", "amount": "0.001", "order_id": "paid"})).await;
    rig.send(p["address"].as_str().unwrap(), 0.001).unwrap();
    invoice_events(&rig, p["id"].as_str().unwrap(), "paid", |k| has(k, "invoice.payment_detected")).await;
    let (status, e) =
        call(&rig, Method::POST, &format!("/v1/invoices/{}/cancel", p["id"].as_str().unwrap()), None).await;
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("not_cancellable")));
    // An expired claim token (claims last 2 s for shop3), on a refund of the payment once it is
    // confirmed (only then is it refundable).
    rig.mine(1).unwrap();
    invoice_events(&rig, p["id"].as_str().unwrap(), "settled", |k| has(k, "invoice.settled")).await;
    let (_, r) = call(
        &rig,
        Method::POST,
        &format!("/v1/invoices/{}/refunds", p["id"].as_str().unwrap()),
        Some(json!({"amount": "0.0005"})),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let late = rig
        .daemon
        .http
        .post(rig.daemon.url(r["claim_path"].as_str().unwrap()))
        .json(&json!({"address": rig.new_address().unwrap()}))
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 410);
    let unknown = rig
        .daemon
        .http
        .post(rig.daemon.url("/v1/refunds/claim/nope"))
        .json(&json!({"address": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

/// Invoices are written outside the invoice lock (concurrent creations share the disk's sync):
/// created at once from many clients, each still gets its own address, a retried order id
/// still makes one invoice, and a paid one settles.
#[tokio::test]
async fn invoices_created_at_once_get_their_own_addresses_and_one_invoice_per_order() {
    let rig = rig().await;
    let create = |body: Value| {
        let rig = &rig;
        async move { call(rig, Method::POST, "/v1/invoices", Some(body)).await }
    };
    let distinct = (0..48).map(|i| create(json!({"asset": "BTC", "amount": "0.001", "order_id": format!("c-{i}")})));
    let made: Vec<(u16, Value)> = futures::future::join_all(distinct).await;
    let mut addresses = BTreeSet::new();
    for (status, v) in &made {
        assert_eq!(*status, 201, "{v}");
        assert!(addresses.insert(v["address"].as_str().unwrap().to_string()), "an address handed out twice: {v}");
    }
    // The same order, sent 16 times at once: one invoice, the others its replays.
    let same = (0..16).map(|_| create(json!({"asset": "BTC", "amount": "0.002", "order_id": "same"})));
    let replies: Vec<(u16, Value)> = futures::future::join_all(same).await;
    let ids: BTreeSet<&str> = replies.iter().map(|(_, v)| v["id"].as_str().unwrap_or("none")).collect();
    assert_eq!(ids.len(), 1, "one invoice for one order: {replies:?}");
    assert_eq!(replies.iter().filter(|(s, _)| *s == 201).count(), 1, "{replies:?}");
    assert!(replies.iter().all(|(s, _)| *s == 200 || *s == 201), "{replies:?}");
    assert!(!addresses.contains(replies[0].1["address"].as_str().unwrap()));
    // One of them is paid and settles: its watch was written with it.
    let paid = &made[17].1;
    rig.send(paid["address"].as_str().unwrap(), 0.001).unwrap();
    rig.mine(1).unwrap();
    invoice_events(&rig, paid["id"].as_str().unwrap(), "settled", |k| k.iter().any(|k| k == "invoice.settled")).await;
}
