//! `POST /v1/watches` throughput: the real daemon (`paywatch::run_with`, release build, real
//! RocksDB with synced writes) over loopback HTTP. Prints figures; asserts nothing about speed.
//!
//!     cargo bench -p paywatch-tests --bench api_watches

use paywatch_tests::daemon::{test_config, SHOP1_KEY};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

static NEXT: AtomicU64 = AtomicU64::new(1);

fn fresh_address() -> String {
    format!("0x{:040x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// `total` single creates with `concurrency` clients; returns watches/s.
async fn singles(client: &reqwest::Client, base: &str, total: usize, concurrency: usize) -> f64 {
    let started = Instant::now();
    let per = total / concurrency;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url) = (client.clone(), format!("{base}/v1/watches"));
            tokio::spawn(async move {
                for _ in 0..per {
                    let r = client
                        .post(&url)
                        .bearer_auth(SHOP1_KEY)
                        .json(&json!({"chain": "eth", "address": fresh_address()}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 201);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (per * concurrency) as f64 / started.elapsed().as_secs_f64()
}

/// `batches` batch creates of `size` with `concurrency` clients; returns watches/s.
async fn batches(client: &reqwest::Client, base: &str, batches: usize, size: usize, concurrency: usize) -> f64 {
    let started = Instant::now();
    let per = batches / concurrency;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url) = (client.clone(), format!("{base}/v1/watches/batch"));
            tokio::spawn(async move {
                for _ in 0..per {
                    let watches: Vec<_> =
                        (0..size).map(|_| json!({"chain": "eth", "address": fresh_address()})).collect();
                    let r = client
                        .post(&url)
                        .bearer_auth(SHOP1_KEY)
                        .json(&json!({"watches": watches}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 201);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (per * concurrency * size) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let port = paywatch_tests::free_port();
    let path = dir.path().join("paywatch.toml");
    // The batch endpoint takes up to 1000 watches: allow its ~80 KB bodies.
    let config = test_config(dir.path(), port, "").replace("max_body_bytes = 65536", "max_body_bytes = 1048576");
    std::fs::write(&path, config).unwrap();
    let config = paywatch::config::load(Some(&path)).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(paywatch::run_with(
            config,
            async move {
                let _ = stop_rx.await;
            },
            move |addr| {
                let _ = ready_tx.send(addr);
            },
        ));
        let addr = ready_rx.await.unwrap();
        let base = format!("http://{addr}");
        let client =
            reqwest::Client::builder().pool_max_idle_per_host(128).timeout(Duration::from_secs(60)).build().unwrap();
        singles(&client, &base, 200, 8).await; // warm-up
        println!("POST /v1/watches, real RocksDB (synced writes), loopback HTTP, {} cores", num_cpus());
        for concurrency in [1, 16, 64] {
            let rate = singles(&client, &base, 4096, concurrency).await;
            println!("  single creates, {concurrency:>2} concurrent clients: {rate:>8.0} watches/s");
        }
        for (size, concurrency) in [(1000, 1), (1000, 4)] {
            let rate = batches(&client, &base, 40, size, concurrency).await;
            println!("  batch of {size}, {concurrency} concurrent clients:     {rate:>8.0} watches/s");
        }
        let _ = stop_tx.send(());
        server.await.unwrap().unwrap();
    });
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
