//! `POST /v1/invoices` throughput: the real daemon (`paywatch::run_with`, release build, real
//! RocksDB with synced writes, the release plugins deriving every address) over loopback HTTP.
//! Invoices priced in USD with three payment methods (BTC from a descriptor, ETH and a token
//! from xpubs: three addresses derived, three watches and one invoice per write, rates from
//! the cache), beside the single-asset invoice of before. Prints figures; asserts nothing about
//! speed.
//!
//!     cargo bench -p paywatch-tests --bench invoices
// A benchmark prints its figures.
#![allow(clippy::print_stdout)]

use paywatch_tests::daemon::test_config;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const KEY: &str = "shop_bench_Xw8ZkqL2vRt5NpH7yJc3FmD9aG";

static NEXT: AtomicU64 = AtomicU64::new(1);

/// The test config's placeholder chains (no follower needs a node to make invoices), with the
/// three assets, a fixed rate source and a store receiving all three.
fn config(dir: &std::path::Path, port: u16) -> String {
    let extra = paywatch_tests::bench::three_methods(KEY, "");
    test_config(dir, port, &extra)
}

fn priced_in_usd() -> Value {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    json!({"currency": "USD", "amount": "25.00", "order_id": format!("usd-{n}")})
}

fn single_asset() -> Value {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    json!({"asset": "BTC", "amount": "0.0015", "order_id": format!("btc-{n}")})
}

/// `clients` concurrent clients making `per_client` invoices each; invoices/s.
async fn drive(client: &reqwest::Client, url: &str, clients: usize, per_client: usize, body: fn() -> Value) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (client, url) = (client.clone(), url.to_string());
            tokio::spawn(async move {
                for _ in 0..per_client {
                    let r = client.post(&url).bearer_auth(KEY).json(&body()).send().await.unwrap();
                    let status = r.status();
                    assert_eq!(status, 201, "{}", r.text().await.unwrap_or_default());
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (clients * per_client) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = paywatch_tests::bench::release_plugins();
    let libs: Vec<_> = ["bitcoin", "ethereum", "erc20", "webhook"]
        .iter()
        .map(|p| plugins.join(format!("libpaywatch_plugin_{p}.{}", std::env::consts::DLL_EXTENSION)))
        .collect();
    paywatch_tests::daemon::install_plugins(dir.path(), &libs).unwrap();
    let port = paywatch_tests::free_port();
    let path = dir.path().join("paywatch.toml");
    std::fs::write(&path, config(dir.path(), port)).unwrap();
    paywatch_tests::bench::with_daemon(&path, |base, client| async move {
        let url = format!("{base}/v1/invoices");
        drive(&client, &url, 8, 25, priced_in_usd).await; // warm-up: the rate cache, the pools
        println!("POST /v1/invoices, real RocksDB (synced writes), loopback HTTP, {} cores", num_cpus());
        for clients in [1, 16] {
            let usd = drive(&client, &url, clients, 2048 / clients, priced_in_usd).await;
            let btc = drive(&client, &url, clients, 2048 / clients, single_asset).await;
            println!(
                "  {clients:>2} concurrent clients: {usd:>7.0} invoices/s in USD with 3 methods, {btc:>7.0} invoices/s in BTC only"
            );
        }
    });
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
