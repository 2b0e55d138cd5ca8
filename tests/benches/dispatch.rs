//! Callbacks, with the real daemon, node, plugins and a local HTTP receiver. Prints figures.
//!
//! * durable delivery rate: signed webhooks/s draining a backlog (every attempt recorded in
//!   RocksDB, synced), and the daemon's RSS while it drains;
//! * end to end: `sendtoaddress` returned → the shop has the signed `invoice.payment_detected`,
//!   p50/p99 over 200 invoices.
//!
//!     cargo bench --workspace   (bench `dispatch`)
// A benchmark prints its figures.
#![allow(clippy::print_stdout)]

use paywatch_tests::btc::BtcRig;
use paywatch_tests::receiver::Receiver;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KEY: &str = paywatch_tests::btc::SHOP3_KEY;
const BACKLOG: usize = 20_000;

fn config() -> String {
    format!("\n[dispatch]\nallow_private = [\"127.0.0.1/32\"]\n{}", paywatch_tests::btc::shop3(86_400, 604_800))
}

async fn post(rig: &BtcRig, path: &str, body: Value) -> Value {
    rig.daemon.req(Method::POST, path, KEY).json(&body).send().await.unwrap().json().await.unwrap()
}

fn rss_kb(pid: u32) -> u64 {
    paywatch_tests::bench::rss_of_pid(pid) / 1024
}

#[tokio::main]
async fn main() {
    let rig = Arc::new(BtcRig::start_with(1, &config()).await.unwrap());
    throughput(&rig).await;
    latency(&rig).await;
}

async fn throughput(rig: &Arc<BtcRig>) {
    let rx = Receiver::ok().await;
    let ep = post(
        rig,
        "/v1/endpoints",
        json!({"plugin": "webhook", "url": rx.url("/"), "events": ["invoice.created"],
        "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "enabled": false}),
    )
    .await;
    let id = ep["id"].as_str().unwrap().to_string();
    // The backlog: invoices created while the endpoint is off.
    let next = Arc::new(Mutex::new(0usize));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (rig, next) = (rig.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let n = {
                        let mut g = next.lock().unwrap();
                        *g += 1;
                        *g
                    };
                    if n > BACKLOG {
                        return;
                    }
                    post(&rig, "/v1/invoices", json!({"asset": "BTC", "amount": "0.001", "order_id": format!("b{n}")}))
                        .await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let pid = rig.daemon.pid().unwrap();
    let before = rss_kb(pid);
    let started = Instant::now();
    let r = rig
        .daemon
        .req(Method::PATCH, &format!("/v1/endpoints/{id}"), KEY)
        .json(&json!({"enabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (mut low, mut high) = (u64::MAX, 0);
    loop {
        let got = rx.received().iter().map(|r| r.headers["webhook-id"].clone()).collect::<BTreeSet<_>>().len();
        let rss = rss_kb(pid);
        (low, high) = (low.min(rss), high.max(rss));
        if got >= BACKLOG {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "only {got} delivered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "dispatch: backlog of {BACKLOG} signed webhooks drained in {secs:.1} s: {:.0}/s durable (each attempt synced); \
         daemon RSS {:.0} MB before, {:.0}-{:.0} MB while draining",
        BACKLOG as f64 / secs,
        before as f64 / 1024.0,
        low as f64 / 1024.0,
        high as f64 / 1024.0
    );
}

async fn latency(rig: &Arc<BtcRig>) {
    let rx = Receiver::ok().await;
    post(
        rig,
        "/v1/endpoints",
        json!({"plugin": "webhook", "url": rx.url("/"), "events": ["invoice.payment_detected"],
        "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}),
    )
    .await;
    let mut ms = Vec::new();
    for i in 0..200 {
        let inv =
            post(rig, "/v1/invoices", json!({"asset": "BTC", "amount": "0.001", "order_id": format!("l{i}")})).await;
        let id = inv["id"].as_str().unwrap().to_string();
        rig.send(inv["address"].as_str().unwrap(), 0.001).unwrap();
        let sent = Instant::now();
        rx.wait("the callback", |g| g.iter().any(|r| r.body.contains(&id))).await;
        ms.push(sent.elapsed().as_secs_f64() * 1e3);
        if i % 50 == 49 {
            rig.mine(1).unwrap();
        }
    }
    ms.sort_by(f64::total_cmp);
    println!(
        "end to end: sendtoaddress returned -> shop has the signed invoice.payment_detected, 200 invoices: \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms[ms.len() / 2],
        ms[(ms.len() * 99) / 100 - 1],
        ms[ms.len() - 1]
    );
}
