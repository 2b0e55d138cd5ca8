//! The EVM follower against a real anvil, daemon and plugins as in production. Prints figures
//! only.
//!
//! * detection latency: `evm_mine` returned → `payment.detected` committed to the outbox (its
//!   `created_at`), p50/p99 over 200 payments (automine off; each payment mined by `evm_mine`);
//! * catch-up: blocks/s connecting 1,000 blocks with a transaction each (every tenth paying a
//!   watched address), mined while the daemon was stopped.
//!
//!     cargo bench --workspace   (bench `evm_follow`)
// A benchmark prints its figures.
#![allow(clippy::print_stdout)]

use paywatch_tests::bench::{ms_to_event, percentiles};
use paywatch_tests::daemon::SHOP1_KEY as SHOP;
use paywatch_tests::evm::{fresh_address, EthOptions, EthRig, DEV0};
use serde_json::json;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

#[tokio::main]
async fn main() {
    let mut rig = EthRig::start_with(EthOptions { confirmations: Some(1), ..Default::default() })
        .await
        .expect("anvil and daemon");
    latency(&rig).await;
    catch_up(&mut rig).await;
}

async fn latency(rig: &EthRig) {
    let n = 200;
    let addrs: Vec<String> = (0..n).map(|i| fresh_address(100_000 + i)).collect();
    for a in &addrs {
        rig.watch(SHOP, a, 1).await.unwrap();
    }
    rig.node.rpc("evm_setAutomine", json!([false])).await.unwrap();
    let mut after = rig.daemon.events(SHOP).await.unwrap().last().map_or(0, |e| e["seq"].as_u64().unwrap());
    let mut ms = Vec::with_capacity(addrs.len());
    for a in &addrs {
        let tx = json!({"from": DEV0, "to": a, "value": "0x1000"});
        let txid = rig.node.rpc("eth_sendTransaction", json!([tx])).await.unwrap().as_str().unwrap().to_string();
        rig.node.rpc("evm_mine", json!([])).await.unwrap();
        let mined = OffsetDateTime::now_utc();
        ms.push(ms_to_event(&rig.daemon, SHOP, &mut after, &txid, mined).await);
    }
    rig.node.rpc("evm_setAutomine", json!([true])).await.unwrap();
    println!(
        "detection latency (evm_mine returned -> payment.detected in the outbox), {n} payments: {}",
        percentiles(ms)
    );
}

async fn catch_up(rig: &mut EthRig) {
    let blocks = 1000;
    let watched: Vec<String> = (0..blocks / 10).map(|i| fresh_address(200_000 + i)).collect();
    for a in &watched {
        rig.watch(SHOP, a, 1).await.unwrap();
    }
    rig.wait_synced().await.unwrap();
    let before = rig.daemon.events(SHOP).await.unwrap().len();
    rig.daemon.stop().await.unwrap();
    // One transaction per block (automine): every tenth pays a watched address. Every one is
    // mined before the daemon starts again.
    for i in 0..blocks {
        let to = if i % 10 == 0 { watched[(i / 10) as usize].clone() } else { fresh_address(300_000 + i) };
        paywatch_tests::evm::send(&rig.node, json!({"from": DEV0, "to": to, "value": "0x1000"})).await.unwrap();
    }
    let started = Instant::now();
    rig.daemon.restart().await.unwrap();
    let up = started.elapsed();
    rig.wait_synced().await.unwrap();
    let total = started.elapsed();
    let connecting = total - up;
    let found = rig.daemon.events(SHOP).await.unwrap().len() - before;
    assert_eq!(found, 2 * watched.len(), "detected + confirmed for every watched payment");
    println!(
        "catch-up: {blocks} anvil blocks with a transaction each ({} paying watched addresses) mined while stopped: \
         synced {:.2} s after start ({:.0} blocks/s; daemon startup {:.2} s)",
        watched.len(),
        total.as_secs_f64(),
        blocks as f64 / connecting.max(Duration::from_millis(1)).as_secs_f64(),
        up.as_secs_f64()
    );
}
