//! The daemon's memory while it drains a backlog of 1,000,000 signed webhooks (a shop that was
//! down), and the drain rate. The backlog is written into the store before the daemon starts
//! (through `paywatch::bench`), the receiver only counts. Prints figures (progress every 10 %).
//!
//!     cargo bench --workspace   (bench `dispatch_backlog`; about 10 minutes here)
// A benchmark prints its figures.
#![allow(clippy::print_stdout)]

use paywatch_tests::daemon::{install_plugins, test_config, Daemon};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const N: usize = 1_000_000;

fn rss_mb(pid: u32) -> f64 {
    paywatch_tests::bench::rss_of_pid(pid) as f64 / (1024.0 * 1024.0)
}

#[tokio::main]
async fn main() {
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
        N,
    )
    .unwrap();
    println!("dispatch backlog: {N} events written in {:.1} s", t.elapsed().as_secs_f64());
    install_plugins(dir.path(), &[paywatch_tests::plugin_lib("webhook")]).unwrap();
    let port = paywatch_tests::free_port();
    let config_path = dir.path().join("paywatch.toml");
    std::fs::write(&config_path, test_config(dir.path(), port, "\n[dispatch]\nallow_private = [\"127.0.0.1/32\"]\n"))
        .unwrap();
    let started = Instant::now();
    let daemon = Daemon::start_with(dir, port, config_path, reqwest::Client::new(), false).await.unwrap();
    let pid = daemon.pid().unwrap();
    let (mut low, mut high) = (f64::MAX, 0.0f64);
    let mut next_report = N / 10;
    loop {
        let done = count.load(Ordering::Relaxed);
        let rss = rss_mb(pid);
        (low, high) = (low.min(rss), high.max(rss));
        if done >= next_report {
            println!(
                "  {done:>8} delivered after {:>5.0} s: RSS {rss:.0} MB (range so far {low:.0}-{high:.0} MB)",
                started.elapsed().as_secs_f64()
            );
            next_report += N / 10;
        }
        if done >= N {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(3600), "only {done} delivered in an hour");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "dispatch backlog: {N} signed webhooks delivered in {secs:.0} s ({:.0}/s durable); daemon RSS {low:.0}-{high:.0} MB throughout",
        N as f64 / secs
    );
}
