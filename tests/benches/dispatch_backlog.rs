//! The daemon's memory while it drains a backlog of 1,000,000 signed webhooks (a shop that was
//! down), and the drain rate. The backlog is written into the store before the daemon starts
//! (through `paywatch::bench`), the receiver only counts. Prints figures (progress every 10 %):
//! the RSS range, the peak RSS (`VmHWM`) against `storage.memory_budget`, and RocksDB's own
//! figures as `/metrics` gives them (memory held, memtables, SST and WAL on disk).
//!
//!     cargo bench --workspace   (bench `dispatch_backlog`; about 10 minutes here)
//!
//! `PAYWATCH_BENCH_BACKLOG` sets the backlog (default 1,000,000), `PAYWATCH_BENCH_MEMORY_BUDGET`
//! the budget (default `64MiB`).
// A benchmark prints its figures.
#![allow(clippy::print_stdout)]

use paywatch_tests::daemon::{install_plugins, test_config, Daemon};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The backlog and the memory budget, from the environment.
fn workload() -> (usize, String) {
    let n = std::env::var("PAYWATCH_BENCH_BACKLOG").ok().and_then(|v| v.replace('_', "").parse().ok());
    let budget = std::env::var("PAYWATCH_BENCH_MEMORY_BUDGET").unwrap_or_else(|_| "64MiB".into());
    (n.unwrap_or(1_000_000), budget)
}

/// The daemon's peak RSS so far (`VmHWM`), in MB.
fn peak_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// RocksDB's figures from `/metrics`, in MB: held, memtables, budget, SST files, WAL.
async fn rocksdb_mb(daemon: &Daemon) -> [f64; 5] {
    let text = daemon
        .req(reqwest::Method::GET, "/metrics", paywatch_tests::daemon::ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    ["memory", "memtables", "memory_budget", "sst_files", "wal"].map(|m| {
        let prefix = format!("paywatch_rocksdb_{m}_bytes ");
        let v = text.lines().find_map(|l| l.strip_prefix(prefix.as_str())).and_then(|v| v.trim().parse::<f64>().ok());
        v.unwrap_or(f64::NAN) / (1024.0 * 1024.0)
    })
}

fn rss_mb(pid: u32) -> f64 {
    paywatch_tests::bench::rss_of_pid(pid) as f64 / (1024.0 * 1024.0)
}

#[tokio::main]
async fn main() {
    let (n, budget) = workload();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let app = axum::Router::new().fallback(move || {
        c.fetch_add(1, Ordering::Relaxed);
        async { axum::http::StatusCode::NO_CONTENT }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    paywatch::bench::write_backlog(
        &dir.path().join("data"),
        "shop1",
        &url,
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        n,
    )
    .unwrap();
    println!("dispatch backlog: {n} events written in {:.1} s", t.elapsed().as_secs_f64());
    install_plugins(dir.path(), &[paywatch_tests::plugin_lib("webhook")]).unwrap();
    let port = paywatch_tests::free_port();
    let config_path = dir.path().join("paywatch.toml");
    let config = test_config(dir.path(), port, "\n[dispatch]\nallow_private = [\"127.0.0.1/32\"]\n")
        .replace("[storage]\n", &format!("[storage]\nmemory_budget = \"{budget}\"\n"));
    std::fs::write(&config_path, config).unwrap();
    let started = Instant::now();
    let daemon = Daemon::start_with(dir, port, config_path, reqwest::Client::new(), false).await.unwrap();
    let pid = daemon.pid().unwrap();
    let (mut low, mut high) = (f64::MAX, 0.0f64);
    let mut next_report = n / 10;
    let mut rocks_peak = [0.0f64; 5];
    loop {
        let done = count.load(Ordering::Relaxed);
        let rss = rss_mb(pid);
        (low, high) = (low.min(rss), high.max(rss));
        if done >= next_report {
            let r = rocksdb_mb(&daemon).await;
            for (peak, now) in rocks_peak.iter_mut().zip(r) {
                *peak = peak.max(now);
            }
            println!(
                "  {done:>8} delivered after {:>5.0} s: RSS {rss:.0} MB (range so far {low:.0}-{high:.0} MB, peak {:.0} MB); \
                 RocksDB {:.0} MB held ({:.0} MB memtables) of {:.0} MB, {:.0} MB SST, {:.0} MB WAL",
                started.elapsed().as_secs_f64(),
                peak_mb(pid),
                r[0],
                r[1],
                r[2],
                r[3],
                r[4]
            );
            next_report += (n / 10).max(1);
        }
        if done >= n {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(3600), "only {done} delivered in an hour");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let r = rocksdb_mb(&daemon).await;
    println!(
        "dispatch backlog: {n} signed webhooks delivered in {secs:.0} s ({:.0}/s durable); daemon RSS {low:.0}-{high:.0} MB \
         throughout, peak (VmHWM) {:.0} MB; storage.memory_budget {budget} ({:.0} MB): RocksDB held at most {:.0} MB \
         (memtables at most {:.0} MB) at the reports, the rest of the peak is the daemon's own; on disk {:.0} MB SST, {:.0} MB WAL",
        n as f64 / secs,
        peak_mb(pid),
        r[2],
        rocks_peak[0].max(r[0]),
        rocks_peak[1].max(r[1]),
        r[3],
        r[4]
    );
}
