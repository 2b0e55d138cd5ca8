//! What the benchmarks share: the daemon's real watch set behind its real host vtable
//! (`paywatch::bench`), filled with random-looking scripts, the release plugins its instances
//! are made from, and the real mainnet block of `plugin-api/testdata/`.

pub use paywatch::bench::{BenchChain, BenchPlugin, BenchWatchSet};
use std::path::PathBuf;

/// A watch set in `dir` with `n` random-looking P2WPKH scripts (fingerprints only), sized at
/// once as the daemon sizes it when it loads its watches at start.
pub fn watch_set_with(dir: &std::path::Path, n: u64) -> BenchWatchSet {
    let set = BenchWatchSet::open(dir).expect("open the bench store");
    set.reserve(n as usize);
    for i in 0..n {
        set.insert_fingerprint(&random_script(i));
    }
    set
}

/// The i-th of a family of distinct P2WPKH-shaped scripts.
pub fn random_script(i: u64) -> Vec<u8> {
    let mut s = vec![0x00, 0x14];
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5151_5151;
    for _ in 0..20 {
        x ^= x >> 29;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        s.push((x >> 56) as u8);
    }
    s
}

/// The folder of release plugin libraries (`scripts/build-plugins.sh --release`), built once
/// per process: load one with [`BenchWatchSet::currency_plugin`].
pub fn release_plugins() -> PathBuf {
    static OUT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    OUT.get_or_init(|| crate::run_script("build-plugins.sh", &["--release"]).unwrap_or_else(|e| panic!("{e}"))).clone()
}

/// The raw mainnet block of `plugin-api/testdata/`.
pub fn mainnet_block() -> Vec<u8> {
    let dir = crate::workspace_root().join("plugin-api/testdata");
    let file = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|f| f.to_string_lossy().starts_with("mainnet_block_")))
        .unwrap_or_else(|| panic!("no mainnet_block_* in {}", dir.display()));
    std::fs::read(file).expect("read the mainnet block")
}

/// Resident set size of this process, in bytes (Linux).
pub fn rss_bytes() -> u64 {
    rss_of("self")
}

/// Resident set size of another process (the daemon), in bytes (Linux).
pub fn rss_of_pid(pid: u32) -> u64 {
    rss_of(&pid.to_string())
}

fn rss_of(proc: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{proc}/status")).unwrap_or_default();
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    kb * 1024
}

/// Median and best of `runs` single runs of `f`, in ms, after 20 warm-up runs (this 2-core VM
/// has noisy neighbours: medians, not means).
pub fn median_and_best_ms(runs: usize, f: &dyn Fn()) -> (f64, f64) {
    for _ in 0..20 {
        f();
    }
    let mut ms: Vec<f64> = (0..runs)
        .map(|_| {
            let t = std::time::Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], ms[0])
}

/// Milliseconds from `since` to the commit of the first event about `txid` after `*after`
/// (its `created_at`), long-polling the outbox; `*after` moves on.
pub async fn ms_to_event(
    daemon: &crate::daemon::Daemon,
    key: &str,
    after: &mut u64,
    txid: &str,
    since: time::OffsetDateTime,
) -> f64 {
    let event = loop {
        let path = format!("/v1/events?after={after}&wait=10");
        let v: serde_json::Value =
            daemon.req(reqwest::Method::GET, &path, key).send().await.unwrap().json().await.unwrap();
        *after = v["next"].as_u64().unwrap();
        if let Some(e) = v["events"].as_array().unwrap().iter().find(|e| e["data"]["txid"] == txid) {
            break e.clone();
        }
    };
    let created = time::OffsetDateTime::parse(
        event["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    (created - since).as_seconds_f64() * 1e3
}

/// "p50 …, p99 …, max …" of latencies in ms.
pub fn percentiles(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    let p = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    format!("p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms", p(0.5), p(0.99), ms[ms.len() - 1])
}

/// Runs the real daemon in this process (`paywatch::run_with`, as `paywatch run` does; release
/// builds for the benches) on the config file at `config`, hands `work` its base URL and an
/// HTTP client with room for many connections, then stops it.
pub fn with_daemon<F, Fut>(config: &std::path::Path, work: F)
where
    F: FnOnce(String, reqwest::Client) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let config = paywatch::config::load(Some(config)).unwrap();
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
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(128)
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .unwrap();
        work(format!("http://{addr}"), client).await;
        let _ = stop_tx.send(());
        server.await.unwrap().unwrap();
    });
}

/// The invoice benches' assets and store, as TOML to append to the test config: BTC, ETH and
/// USDT (the test config's placeholder chains: no follower needs a node to make invoices), a
/// fixed USD rate source, and store `bench` with `key` receiving all three (`store_keys` are
/// more keys of its table, e.g. `name = "…"`).
pub fn three_methods(key: &str, store_keys: &str) -> String {
    format!(
        r#"
[[assets]]
id = "BTC"
chain = "btc"
plugin = "bitcoin"

[[assets]]
id = "ETH"
chain = "eth"
plugin = "ethereum"

[[assets]]
id = "USDT"
chain = "eth"
plugin = "erc20"
contract = "0xdAC17F958D2ee523a2206206994597C13D831ec7"
decimals = 6

[rates.sources.bench]
fixed = {{ BTC_USD = "64123.45", ETH_USD = "3210.987654321", USDT_USD = "1.0002" }}
ttl_secs = 3600
max_age_secs = 7200

[[stores]]
id = "bench"
api_key = "{key}"
max_watches = 10000000
{store_keys}
[stores.receive.BTC]
descriptor = "wpkh(tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp/0/*)"
[stores.receive.ETH]
xpub = "xpub6Ce9NcJvTk36xtLSrJLZqE7wtgA5deCeYs7rSQtreh4cj6ByPtrg9sD7V2FNFLPnf8heNP3FGkeV9qwfzvZNSd54JoNXVsXFYSYwHsnJxqP"
[stores.receive.USDT]
xpub = "xpub6BosfCnifzxcFwrSzQiqu2DBVTshkCXacvNsWGYJVVhhawA7d4R5WSWGFNbi8Aw6ZRc1brxMyWMzG3DSSSSoekkudhUd9yLb6qx39T9nMdj"
[stores.rates]
rules = [{{ pair = "*_USD", sources = ["bench"] }}]
"#
    )
}
