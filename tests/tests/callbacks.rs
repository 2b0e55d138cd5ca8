//! Callbacks end to end: the real daemon delivers to real HTTP receivers on loopback through the
//! `webhook` and `woocommerce` plugins: signatures checked by the docs' Python, Node and PHP
//! snippets, retries, 410, kill -9 mid-delivery, a slow receiver, the SSRF guard.

use paywatch_tests::btc::{BtcRig, SHOP3_KEY};
use paywatch_tests::receiver::{Received, Receiver};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const SHOP3: &str = SHOP3_KEY;
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn config() -> String {
    let dispatch =
        "\n[dispatch]\nallow_private = [\"127.0.0.1/32\"]\nretry_schedule = [\"1s\", \"1s\", \"1s\", \"1s\", \"1s\"]\n";
    format!("{dispatch}{}", paywatch_tests::btc::shop3(86_400, 604_800))
}

async fn rig() -> BtcRig {
    BtcRig::start_with(1, &config()).await.unwrap()
}

async fn call(rig: &BtcRig, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    rig.call(method, path, SHOP3, body).await
}

async fn endpoint(rig: &BtcRig, body: Value) -> String {
    let (status, v) = call(rig, Method::POST, "/v1/endpoints", Some(body)).await;
    assert_eq!(status, 201, "{v}");
    assert!(v.get("secret").is_none() && v.to_string().find("whsec_").is_none(), "secrets are write-only: {v}");
    v["id"].as_str().unwrap().to_string()
}

async fn invoice(rig: &BtcRig, order: &str) -> Value {
    let (status, v) =
        call(rig, Method::POST, "/v1/invoices", Some(json!({"asset": "BTC", "amount": "0.001", "order_id": order})))
            .await;
    assert_eq!(status, 201, "{v}");
    v
}

fn verify_with(cmd: &str, file: &str, r: &Received, body: &str) -> bool {
    use std::io::Write;
    let script = paywatch_tests::workspace_root().join("docs/webhooks").join(file);
    let mut child = std::process::Command::new(cmd)
        .arg(&script)
        .arg(SECRET)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd} (scripts/setup.sh installs it): {e}"));
    let input = json!({"headers": r.headers, "body": body}).to_string();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(said == "ok" || said == "invalid", "{cmd} {file}: {said:?}");
    out.status.success() && said == "ok"
}

#[tokio::test]
async fn deliveries_are_signed_and_the_docs_snippets_verify_them() {
    let rig = rig().await;
    let rx = Receiver::ok().await;
    endpoint(&rig, json!({"plugin": "webhook", "url": rx.url("/hook"), "secret": SECRET, "events": ["invoice.*"]}))
        .await;
    let inv = invoice(&rig, "sig-1").await;
    let got = rx.wait("one callback", |g| !g.is_empty()).await;
    let r = &got[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/hook"));
    assert_eq!(r.headers["content-type"], "application/json");
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!((body["type"].as_str(), body["data"]["id"].as_str()), (Some("invoice.created"), inv["id"].as_str()));
    let events = rig.events(SHOP3).await.unwrap();
    assert_eq!(r.headers["webhook-id"], events[0]["id"].as_str().unwrap());
    assert_eq!(body["id"], events[0]["id"]);
    let docs = std::fs::read_to_string(paywatch_tests::workspace_root().join("docs/webhooks.md")).unwrap();
    for (cmd, file) in [("python3", "verify.py"), ("node", "verify.js"), ("php", "verify.php")] {
        let snippet =
            std::fs::read_to_string(paywatch_tests::workspace_root().join("docs/webhooks").join(file)).unwrap();
        assert!(docs.contains(snippet.trim()), "docs/webhooks.md shows docs/webhooks/{file} as it is");
        assert!(verify_with(cmd, file, r, &r.body), "{cmd} rejects a genuine delivery");
        assert!(
            !verify_with(cmd, file, r, &r.body.replace("invoice.created", "invoice.settled")),
            "{cmd}: tampered body"
        );
        let mut old = r.clone();
        old.headers.insert(
            "webhook-timestamp".into(),
            (r.headers["webhook-timestamp"].parse::<i64>().unwrap() - 3600).to_string(),
        );
        assert!(!verify_with(cmd, file, &old, &r.body), "{cmd}: an hour-old timestamp");
    }
}

#[tokio::test]
async fn failures_are_retried_and_recorded_and_410_disables_the_endpoint() {
    let rig = rig().await;
    let flaky = Receiver::scripted(|_, n| (if n < 3 { 500 } else { 200 }, Duration::ZERO)).await;
    let id = endpoint(
        &rig,
        json!({"plugin": "webhook", "url": flaky.url("/"), "secret": SECRET, "events": ["invoice.created"]}),
    )
    .await;
    invoice(&rig, "retry-1").await;
    let got = flaky.wait("four attempts", |g| g.len() >= 4).await;
    assert_eq!(got.iter().map(|r| r.headers["webhook-id"].clone()).collect::<BTreeSet<_>>().len(), 1, "one webhook-id");
    let deadline = Instant::now() + Duration::from_secs(30);
    let d = loop {
        let (_, v) = call(&rig, Method::GET, &format!("/v1/endpoints/{id}/deliveries"), None).await;
        if v["items"][0]["status"] == "delivered" {
            break v["items"][0].clone();
        }
        assert!(Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let verdicts: Vec<&str> =
        d["attempts"].as_array().unwrap().iter().map(|a| a["verdict"].as_str().unwrap()).collect();
    assert_eq!(verdicts, ["retry", "retry", "retry", "ack"]);
    assert_eq!(d["attempts"][0]["http_status"], 500);
    assert!(d["attempts"][3]["latency_ms"].is_u64());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(flaky.received().len(), 4, "delivered once: no more attempts");
    // Redelivery on request: the same event, the same webhook-id, once more.
    let seq = rig.events(SHOP3).await.unwrap()[0]["seq"].as_u64().unwrap();
    let (status, r) = call(&rig, Method::POST, &format!("/v1/events/{seq}/redeliver"), None).await;
    assert_eq!((status, r["endpoints"].as_array().map(Vec::len)), (202, Some(1)), "{r}");
    let again = flaky.wait("the redelivery", |g| g.len() >= 5).await;
    assert_eq!(again[4].headers["webhook-id"], again[0].headers["webhook-id"]);

    let gone = Receiver::scripted(|_, _| (410, Duration::ZERO)).await;
    let id = endpoint(&rig, json!({"plugin": "webhook", "url": gone.url("/"), "secret": SECRET})).await;
    invoice(&rig, "gone-1").await;
    gone.wait("the 410", |g| !g.is_empty()).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, e) = call(&rig, Method::GET, &format!("/v1/endpoints/{id}"), None).await;
        if e["enabled"] == false {
            assert!(e["disabled_reason"].as_str().unwrap().contains("410"), "{e}");
            break;
        }
        assert!(Instant::now() < deadline, "{e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    invoice(&rig, "gone-2").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(gone.received().len(), 1, "a disabled endpoint gets nothing more");
}

#[tokio::test]
async fn a_kill_9_mid_delivery_loses_nothing_and_keeps_each_invoice_in_order() {
    let mut rig = rig().await;
    let port = paywatch_tests::free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    endpoint(&rig, json!({"plugin": "webhook", "url": url, "secret": SECRET, "events": ["invoice.*"]})).await;
    // 50 invoices, each created then cancelled: 100 events, receiver down.
    for i in 0..50 {
        let inv = invoice(&rig, &format!("k-{i}")).await;
        let (status, _) =
            call(&rig, Method::POST, &format!("/v1/invoices/{}/cancel", inv["id"].as_str().unwrap()), None).await;
        assert_eq!(status, 200);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await; // some attempts fail meanwhile
    rig.daemon.kill();
    let rx = Receiver::on_port(port, |_, _| (200, Duration::ZERO)).await;
    rig.daemon.restart().await.unwrap();
    let events: Vec<Value> = rig.events(SHOP3).await.unwrap();
    assert_eq!(events.len(), 100);
    let want: BTreeSet<String> = events.iter().map(|e| e["id"].as_str().unwrap().to_string()).collect();
    let got = rx
        .wait("all 100 events", |g| {
            g.iter().map(|r| r.headers["webhook-id"].clone()).collect::<BTreeSet<_>>().len() >= 100
        })
        .await;
    let ids: BTreeSet<String> = got.iter().map(|r| r.headers["webhook-id"].clone()).collect();
    assert_eq!(ids, want, "every event, nothing invented");
    // Per invoice: created arrives before invalid.
    let mut first: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (i, r) in got.iter().enumerate() {
        let b: Value = serde_json::from_str(&r.body).unwrap();
        first.entry((b["data"]["id"].as_str().unwrap().into(), b["type"].as_str().unwrap().into())).or_insert(i);
    }
    for e in events.iter().filter(|e| e["type"] == "invoice.invalid") {
        let inv = e["data"]["id"].as_str().unwrap().to_string();
        assert!(first[&(inv.clone(), "invoice.created".into())] < first[&(inv, "invoice.invalid".into())]);
    }
}

#[tokio::test]
async fn a_slow_receiver_does_not_delay_another_endpoint() {
    let rig = rig().await;
    let slow = Receiver::scripted(|_, _| (200, Duration::from_secs(10))).await;
    let fast = Receiver::ok().await;
    endpoint(&rig, json!({"plugin": "webhook", "url": slow.url("/"), "secret": SECRET})).await;
    endpoint(&rig, json!({"plugin": "webhook", "url": fast.url("/"), "secret": SECRET})).await;
    let started = Instant::now();
    invoice(&rig, "slow-1").await;
    fast.wait("the fast endpoint's callback", |g| !g.is_empty()).await;
    assert!(started.elapsed() < Duration::from_secs(5), "the fast endpoint waited {:?}", started.elapsed());
    slow.wait("the slow endpoint's request", |g| !g.is_empty()).await;
}

#[tokio::test]
async fn private_destinations_are_refused_unless_allowlisted() {
    let rig = rig().await;
    for url in
        ["http://10.1.2.3/hook", "http://169.254.169.254/latest/meta-data", "http://[::1]:9/", "http://192.168.1.1/"]
    {
        let (status, e) =
            call(&rig, Method::POST, "/v1/endpoints", Some(json!({"plugin": "webhook", "url": url, "secret": SECRET})))
                .await;
        assert_eq!((status, e["error"]["code"].as_str()), (422, Some("forbidden_address")), "{url}: {e}");
    }
    let (status, e) = call(
        &rig,
        Method::POST,
        "/v1/endpoints",
        Some(json!({"plugin": "nope", "url": "http://127.0.0.1:9/", "secret": SECRET})),
    )
    .await;
    assert_eq!(status, 422, "{e}");
    let rx = Receiver::ok().await;
    let id = endpoint(&rig, json!({"plugin": "webhook", "url": rx.url("/"), "secret": SECRET})).await;
    // A test ping goes out signed, now.
    let (status, t) = call(&rig, Method::POST, &format!("/v1/endpoints/{id}/test"), None).await;
    assert_eq!((status, t["verdict"].as_str(), t["http_status"].as_u64()), (200, Some("ack"), Some(200)), "{t}");
    let got = rx.received();
    assert_eq!(serde_json::from_str::<Value>(&got[0].body).unwrap()["type"], "ping");
}

#[tokio::test]
async fn woocommerce_orders_follow_their_invoices() {
    let rig = rig().await;
    let auth = format!("Basic {}", "Y2tfdGVzdDpjc190ZXN0"); // base64("ck_test:cs_test")
                                                            // What a WooCommerce server checks: the consumer key/secret, the route, a JSON body.
    let shop = Receiver::scripted(move |r, _| {
        let route = r.path.strip_prefix("/wp-json/wc/v3/orders/").unwrap_or_default();
        let body: Option<Value> = serde_json::from_str(&r.body).ok();
        let status = if r.headers.get("authorization") != Some(&auth) {
            401
        } else if route == "w-1" && r.method == "PUT" && body.as_ref().is_some_and(|b| b["status"].is_string()) {
            200
        } else if route == "w-1/notes" && r.method == "POST" && body.as_ref().is_some_and(|b| b["note"].is_string()) {
            201
        } else {
            404
        };
        (status, Duration::ZERO)
    })
    .await;
    endpoint(
        &rig,
        json!({"plugin": "woocommerce", "url": shop.url(""), "events": ["invoice.*"],
                          "params": {"consumer_key": "ck_test", "consumer_secret": "cs_test"}}),
    )
    .await;
    let inv = invoice(&rig, "w-1").await;
    let txid = rig.send(inv["address"].as_str().unwrap(), 0.001).unwrap();
    rig.mine(1).unwrap();
    let got = shop
        .wait("the order set to processing", |g| {
            g.iter().any(|r| r.method == "PUT" && r.body.contains("\"processing\""))
        })
        .await;
    let puts: Vec<String> = got
        .iter()
        .filter(|r| r.method == "PUT")
        .map(|r| serde_json::from_str::<Value>(&r.body).unwrap()["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(puts.last().unwrap(), "processing", "{puts:?}");
    assert!(puts.contains(&"on-hold".to_string()) || puts.len() == 1, "{puts:?}");
    shop.wait("the note with the txid", |g| g.iter().any(|r| r.path.ends_with("/notes") && r.body.contains(&txid)))
        .await;
    assert!(shop.received().iter().all(|r| r.headers.contains_key("authorization")));
}
