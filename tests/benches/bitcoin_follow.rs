//! The Bitcoin follower against the real regtest node, daemon and plugin as in production.
//! Prints figures only.
//!
//! * detection latency: `sendtoaddress` returned → `payment.detected` committed to the outbox
//!   (its `created_at`), p50/p99 over 200 payments;
//! * catch-up: blocks/s connecting 1,000 blocks mined while the daemon was stopped.
//!
//!     cargo bench --workspace   (bench `bitcoin_follow`)

use paywatch_tests::btc::{BtcRig, SHOP};
use serde_json::Value;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

#[tokio::main]
async fn main() {
    let mut rig = BtcRig::start(1).await.expect("regtest node and daemon");
    latency(&rig).await;
    catch_up(&mut rig).await;
}

async fn latency(rig: &BtcRig) {
    let n = 200;
    let addrs: Vec<String> = (0..n).map(|_| rig.new_address().unwrap()).collect();
    for a in &addrs {
        rig.watch(SHOP, a, 1).await.unwrap();
    }
    let mut after = rig.events(SHOP).await.unwrap().last().map_or(0, |e| e["seq"].as_u64().unwrap());
    let mut ms = Vec::with_capacity(n);
    for (i, a) in addrs.iter().enumerate() {
        let txid = rig.send(a, 0.001).unwrap();
        let returned = OffsetDateTime::now_utc();
        let event = loop {
            let path = format!("/v1/events?after={after}&wait=10");
            let v: Value =
                rig.daemon.req(reqwest::Method::GET, &path, SHOP).send().await.unwrap().json().await.unwrap();
            after = v["next"].as_u64().unwrap();
            if let Some(e) = v["events"].as_array().unwrap().iter().find(|e| e["data"]["txid"] == txid.as_str()) {
                break e.clone();
            }
        };
        let created = OffsetDateTime::parse(
            event["created_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        ms.push((created - returned).as_seconds_f64() * 1e3);
        if i % 50 == 49 {
            rig.mine(1).unwrap();
        }
    }
    ms.sort_by(f64::total_cmp);
    let p = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    println!(
        "detection latency (sendtoaddress returned -> payment.detected in the outbox), {n} payments: \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (negative: recorded before the wallet RPC returned)",
        p(0.5),
        p(0.99),
        ms[ms.len() - 1]
    );
}

async fn catch_up(rig: &mut BtcRig) {
    let blocks = 1000;
    rig.wait_synced().await.unwrap();
    rig.daemon.stop().await.unwrap();
    // Mined in chunks (the node's RPC answers faster that way).
    for _ in 0..blocks / 100 {
        rig.mine(100).unwrap();
    }
    let started = Instant::now();
    rig.daemon.restart().await.unwrap();
    let up = started.elapsed();
    rig.wait_synced().await.unwrap();
    let total = started.elapsed();
    let connecting = total - up;
    println!(
        "catch-up: {blocks} regtest blocks mined while stopped: synced {:.2} s after start ({:.0} blocks/s; \
         daemon startup {:.2} s)",
        total.as_secs_f64(),
        blocks as f64 / connecting.max(Duration::from_millis(1)).as_secs_f64(),
        up.as_secs_f64()
    );
}
