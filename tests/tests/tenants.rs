//! One store against another, against the real binary: a store's own `allow_private` reaches
//! its receiver while another store's endpoint to the same address is refused (naming that
//! store's key), a store flooding events does not hold back another store's delivery, and the
//! long-poll quota (per store and global) answers 429 at once and frees slots when clients go.

use paywatch_tests::btc::{shop3, BtcRig, SHOP3_KEY};
use paywatch_tests::daemon::{Daemon, Launch, ADMIN_KEY, SHOP1_KEY, SHOP2_KEY};
use paywatch_tests::receiver::Receiver;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

const SHOP4_KEY: &str = "shop4_Qm7XkP2vLr9sWd4hNz8cTy3bGf";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// `shop3` (stores[2]) and `shop4` (stores[3]), both taking invoices (their own receive
/// sources); `shop3_keys` and `shop4_keys` go into their tables.
fn two_invoice_stores(shop3_keys: &str, shop4_keys: &str) -> String {
    let three = shop3(86_400, 604_800).replace("speed = 1\n", &format!("speed = 1\n{shop3_keys}\n"));
    format!(
        r#"{three}
[[stores]]
id = "shop4"
api_key = "{SHOP4_KEY}"
{shop4_keys}
[stores.receive.BTC]
descriptor = "pkh(tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp/1/*)"
"#
    )
}

async fn create_endpoint(rig: &BtcRig, key: &str, url: &str) -> (u16, Value) {
    let body = json!({"plugin": "webhook", "url": url, "secret": SECRET, "events": ["invoice.*"]});
    rig.call(Method::POST, "/v1/endpoints", key, Some(body)).await
}

async fn invoice(rig: &BtcRig, key: &str, order: &str) -> String {
    let body = json!({"asset": "BTC", "amount": "0.001", "order_id": order});
    let (status, v) = rig.call(Method::POST, "/v1/invoices", key, Some(body)).await;
    assert_eq!(status, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

/// The invoice id of each callback received.
fn invoice_ids(rx: &Receiver) -> Vec<String> {
    let body = |b: &str| serde_json::from_str::<Value>(b).unwrap();
    rx.received().iter().map(|r| body(&r.body)["data"]["id"].as_str().unwrap_or_default().to_string()).collect()
}

#[tokio::test]
async fn a_stores_allow_private_reaches_its_receiver_and_another_stores_endpoint_is_refused_naming_its_key() {
    let (rx_a, rx_b) = (Receiver::ok().await, Receiver::ok().await);
    // shop4 declares an endpoint to loopback in the config file (not checked at creation):
    // its deliveries are refused at send time, by shop4's guard.
    let shop4_endpoint = format!(
        "[[stores.endpoints]]\nplugin = \"webhook\"\nurl = \"{}\"\nsecret = \"{SECRET}\"\n",
        rx_b.url("/config")
    );
    let extra = two_invoice_stores("allow_private = [\"127.0.0.1/32\"]", &shop4_endpoint);
    let rig = BtcRig::start_with(1, &extra).await.unwrap();

    let (status, a) = create_endpoint(&rig, SHOP3_KEY, &rx_a.url("/hook")).await;
    assert_eq!(status, 201, "{a}");
    let (status, e) = create_endpoint(&rig, SHOP4_KEY, &rx_b.url("/hook")).await;
    assert_eq!((status, e["error"]["code"].as_str()), (422, Some("forbidden_address")), "{e}");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(msg.contains("stores[3].allow_private"), "the refusal names shop4's key: {msg}");
    // PATCH of shop3's endpoint to the same loopback URL is shop3's to make.
    let path = format!("/v1/endpoints/{}", a["id"].as_str().unwrap());
    let (status, v) = rig.call(Method::PATCH, &path, SHOP3_KEY, Some(json!({"url": rx_a.url("/patched")}))).await;
    assert_eq!(status, 200, "{v}");

    let inv_a = invoice(&rig, SHOP3_KEY, "a-1").await;
    let inv_b = invoice(&rig, SHOP4_KEY, "b-1").await;
    rx_a.wait("shop3's callback", |g| !g.is_empty()).await;
    assert_eq!(invoice_ids(&rx_a), [inv_a]);
    assert_eq!(rx_a.received()[0].path, "/patched");

    // shop4's config endpoint: the delivery is attempted, refused by shop4's guard, with the
    // reason naming stores[3].allow_private; nothing reached the receiver.
    let (_, list) = rig.call(Method::GET, "/v1/endpoints", SHOP4_KEY, None).await;
    let id = list["items"][0]["id"].as_str().unwrap().to_string();
    let deliveries = format!("/v1/endpoints/{id}/deliveries");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let attempt = loop {
        let (_, d) = rig.call(Method::GET, &deliveries, SHOP4_KEY, None).await;
        if let Some(a) = d["items"][0]["attempts"].get(0) {
            break a.clone();
        }
        assert!(std::time::Instant::now() < deadline, "no attempt for shop4's {inv_b}: {d}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let error = attempt["error"].as_str().unwrap_or_default();
    assert!(error.contains("stores[3].allow_private"), "{attempt}");
    assert_eq!((attempt["verdict"].as_str(), attempt["http_status"].as_u64()), (Some("retry"), None), "{attempt}");
    let (_, t) = rig.call(Method::POST, &format!("/v1/endpoints/{id}/test"), SHOP4_KEY, None).await;
    assert_ne!(t["verdict"], "ack", "{t}");
    assert!(rx_b.received().is_empty(), "shop4 reached loopback: {:?}", rx_b.received());
    // shop3's test ping is sent by shop3's guard.
    let (_, t) = rig.call(Method::POST, &format!("{path}/test"), SHOP3_KEY, None).await;
    assert_eq!(t["verdict"], "ack", "{t}");
}

#[tokio::test]
async fn a_store_flooding_events_does_not_hold_back_another_stores_delivery() {
    const FLOOD: usize = 300;
    // The flooded receiver takes a second per callback: at 16 in flight, ~19 s for the flood.
    let slow = Receiver::scripted(|_, _| (200, Duration::from_secs(1))).await;
    let fast = Receiver::ok().await;
    let allow = "allow_private = [\"127.0.0.1/32\"]";
    let rig = BtcRig::start_with(1, &two_invoice_stores(allow, allow)).await.unwrap();
    let (status, v) = create_endpoint(&rig, SHOP3_KEY, &slow.url("/flood")).await;
    assert_eq!(status, 201, "{v}");
    let (status, v) = create_endpoint(&rig, SHOP4_KEY, &fast.url("/other")).await;
    assert_eq!(status, 201, "{v}");
    for i in 0..FLOOD {
        invoice(&rig, SHOP3_KEY, &format!("flood-{i}")).await;
    }
    let other = invoice(&rig, SHOP4_KEY, "other-1").await;
    fast.wait("shop4's callback", |g| !g.is_empty()).await;
    let flooded = slow.received().len();
    assert!(flooded < FLOOD, "shop4's callback came only after the whole flood ({flooded} of {FLOOD})");
    assert_eq!(invoice_ids(&fast), [other]);
    // The flood is delivered too, every invoice once.
    let got = slow.wait("the whole flood", |g| g.len() >= FLOOD).await;
    assert_eq!(got.len(), FLOOD);
}

/// `paywatch_long_polls_waiting{store="STORE"}` from `/metrics`.
async fn waiting(d: &Daemon, store: &str) -> u64 {
    let text = d.req(Method::GET, "/metrics", ADMIN_KEY).send().await.unwrap().text().await.unwrap();
    let prefix = format!("paywatch_long_polls_waiting{{store=\"{store}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&prefix)).map_or(0, |n| n.trim().parse().unwrap())
}

async fn wait_waiting(d: &Daemon, store: &str, n: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while waiting(d, store).await != n {
        assert!(std::time::Instant::now() < deadline, "{store} never had {n} long-polls waiting");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A long-poll of its own connection (a client of its own), waiting up to 60 s.
fn long_poll(d: &Daemon, key: &str) -> tokio::task::JoinHandle<reqwest::Result<reqwest::Response>> {
    let req = reqwest::Client::new().get(d.url("/v1/events?wait=60")).bearer_auth(key);
    tokio::spawn(req.send())
}

/// A long-poll that must be answered at once (well within its 60 s wait): its response.
async fn answered_at_once(d: &Daemon, key: &str) -> reqwest::Response {
    let req = d.req(Method::GET, "/v1/events?wait=60", key);
    tokio::time::timeout(Duration::from_secs(30), req.send()).await.expect("answered at once").unwrap()
}

async fn assert_refused(r: reqwest::Response, quota: &str) {
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get("retry-after").is_some(), "{:?}", r.headers());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "rate_limited", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains(quota), "{v}");
}

#[tokio::test]
async fn the_long_poll_quota_answers_429_at_once_past_it_and_frees_slots_when_clients_leave() {
    // shop2 (the last store of the test config) may have 3 waiting; the server 5.
    let launch = Launch::env("PAYWATCH_SERVER__MAX_LONG_POLLS", "5");
    let config = |dir: &std::path::Path, port| paywatch_tests::daemon::test_config(dir, port, "max_long_polls = 3\n");
    let d = Daemon::start_launched(config, &[], launch).await.unwrap();

    let shop2: Vec<_> = (0..3).map(|_| long_poll(&d, SHOP2_KEY)).collect();
    wait_waiting(&d, "shop2", 3).await;
    assert_refused(answered_at_once(&d, SHOP2_KEY).await, "store \"shop2\" has 3 long-polls waiting").await;
    // A request that would not wait is answered as always.
    let r = d.req(Method::GET, "/v1/events", SHOP2_KEY).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Another store still long-polls, up to the server's bound (5 with shop2's 3).
    let shop1: Vec<_> = (0..2).map(|_| long_poll(&d, SHOP1_KEY)).collect();
    wait_waiting(&d, "shop1", 2).await;
    assert_refused(answered_at_once(&d, SHOP1_KEY).await, "5 long-polls are waiting, the server's max_long_polls")
        .await;

    // shop2's clients leave mid-wait: their slots come back.
    for h in shop2 {
        h.abort();
        assert!(h.await.unwrap_err().is_cancelled());
    }
    wait_waiting(&d, "shop2", 0).await;
    let more: Vec<_> = (0..3).map(|_| long_poll(&d, SHOP2_KEY)).collect();
    wait_waiting(&d, "shop2", 3).await;
    for h in shop1.into_iter().chain(more) {
        h.abort();
    }
}
