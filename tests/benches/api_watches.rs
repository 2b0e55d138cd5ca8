//! `POST /v1/watches` throughput: the real daemon (`paywatch::run_with`, release build, real
//! RocksDB with synced writes) over loopback HTTP. Prints figures; asserts nothing about speed.
//!
//!     cargo bench -p paywatch-tests --bench api_watches
// A benchmark prints its figures.
#![allow(clippy::print_stdout)]

use paywatch_tests::daemon::{test_config, SHOP1_KEY};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

static NEXT: AtomicU64 = AtomicU64::new(1);

fn fresh_address() -> String {
    format!("0x{:040x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Runs `clients` concurrent clients, each sending `per_client` requests built by `body` to
/// `path` (each request creating `watches_per_request`); returns watches/s.
async fn drive(
    client: &reqwest::Client,
    url: String,
    clients: usize,
    per_client: usize,
    watches_per_request: usize,
    body: fn() -> serde_json::Value,
) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                for _ in 0..per_client {
                    let r = client.post(&url).bearer_auth(SHOP1_KEY).json(&body()).send().await.unwrap();
                    assert_eq!(r.status(), 201);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (clients * per_client * watches_per_request) as f64 / started.elapsed().as_secs_f64()
}

fn one_watch() -> serde_json::Value {
    json!({"chain": "eth", "address": fresh_address()})
}

fn batch_of_1000() -> serde_json::Value {
    json!({"watches": (0..1000).map(|_| one_watch()).collect::<Vec<_>>()})
}

async fn singles(client: &reqwest::Client, base: &str, total: usize, clients: usize) -> f64 {
    drive(client, format!("{base}/v1/watches"), clients, total / clients, 1, one_watch).await
}

async fn batches(client: &reqwest::Client, base: &str, batches: usize, clients: usize) -> f64 {
    drive(client, format!("{base}/v1/watches/batch"), clients, batches / clients, 1000, batch_of_1000).await
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let port = paywatch_tests::free_port();
    let path = dir.path().join("paywatch.toml");
    // The batch endpoint takes up to 1000 watches: allow its ~80 KB bodies.
    let config = test_config(dir.path(), port, "").replace("max_body_bytes = 65536", "max_body_bytes = 1048576");
    std::fs::write(&path, config).unwrap();
    paywatch_tests::bench::with_daemon(&path, |base, client| async move {
        singles(&client, &base, 200, 8).await; // warm-up
        println!("POST /v1/watches, real RocksDB (synced writes), loopback HTTP, {} cores", num_cpus());
        for concurrency in [1, 16, 64] {
            let rate = singles(&client, &base, 4096, concurrency).await;
            println!("  single creates, {concurrency:>2} concurrent clients: {rate:>8.0} watches/s");
        }
        for concurrency in [1, 4] {
            let rate = batches(&client, &base, 40, concurrency).await;
            println!("  batch of 1000, {concurrency} concurrent clients:     {rate:>8.0} watches/s");
        }
    });
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
