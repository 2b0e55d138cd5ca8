//! The Bitcoin follower against the real regtest node, daemon and plugin as in production.
//! Prints figures only.
//!
//! * detection latency: `sendtoaddress` returned → `payment.detected` committed to the outbox
//!   (its `created_at`), p50/p99 over 200 payments;
//! * catch-up: blocks/s connecting 1,000 blocks mined while the daemon was stopped.
//!
//!     cargo bench --workspace   (bench `bitcoin_follow`)
// A benchmark prints its figures.
#![allow(clippy::print_stdout)]

use paywatch_tests::bench::{ms_to_event, percentiles};
use paywatch_tests::btc::{BtcRig, SHOP};
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
        ms.push(ms_to_event(&rig.daemon, SHOP, &mut after, &txid, returned).await);
        if i % 50 == 49 {
            rig.mine(1).unwrap();
        }
    }
    println!(
        "detection latency (sendtoaddress returned -> payment.detected in the outbox), {n} payments: \
         {} (negative: recorded before the wallet RPC returned)",
        percentiles(ms)
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
