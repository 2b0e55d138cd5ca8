//! What the benchmarks share: the daemon's real watch set behind its real host vtable
//! (`paywatch::bench`), filled with random-looking scripts, and the real mainnet block of
//! `plugin-api/testdata/`.

pub use paywatch::bench::BenchWatchSet;
use paywatch_plugin_api::abi::HostVTable;

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

/// A plugin library loaded and instantiated the way the daemon does it (C ABI, release
/// cdylib), for benchmarks of the real crossing.
pub struct AbiPlugin {
    vt: &'static paywatch_plugin_api::abi::PluginVTable,
    inst: paywatch_plugin_api::abi::Instance,
    _lib: libloading::Library,
}

impl std::fmt::Debug for AbiPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AbiPlugin").finish_non_exhaustive()
    }
}

impl AbiPlugin {
    /// Loads `path` and creates an instance from `config`; panics on any failure (benches).
    pub fn load(path: &std::path::Path, config: &serde_json::Value, hvt: &HostVTable) -> Self {
        use paywatch_plugin_api::abi::{self, Bytes, OwnedBuf};
        // SAFETY: a paywatch plugin built by this repository; the library lives as long as the
        // vtable and instance taken from it (fields drop after `Drop::drop`).
        let lib = unsafe { libloading::Library::new(path) }.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // SAFETY: the entry symbol's type is fixed by the ABI.
        let entry = unsafe { lib.get::<abi::EntryFn>(abi::ENTRY_SYMBOL.as_bytes()) }.unwrap();
        // SAFETY: a plugin of this repository returns its 'static vtable; `lib` outlives it.
        let vt: &'static abi::PluginVTable = unsafe { &*entry() };
        let mut inst: abi::Instance = std::ptr::null_mut();
        let mut reply = OwnedBuf::EMPTY;
        let cfg = config.to_string();
        // SAFETY: per the ABI: config and host vtable live for the call; out-pointers valid.
        let status = unsafe { (vt.create)(Bytes::new(cfg.as_bytes()), hvt, &mut inst, &mut reply) };
        assert_eq!(status, abi::Status::OK, "create {}", path.display());
        // SAFETY: the reply came from this plugin and is returned once.
        unsafe { (vt.free_buf)(reply) };
        Self { vt, inst, _lib: lib }
    }

    /// One `scan` crossing; `read` sees the reply before it is freed.
    pub fn scan<R>(&self, what: u32, raw: &[u8], hvt: &HostVTable, read: impl FnOnce(&[u8]) -> R) -> R {
        let mut reply = paywatch_plugin_api::abi::OwnedBuf::EMPTY;
        let bytes = paywatch_plugin_api::abi::Bytes::new(raw);
        // SAFETY: a live instance of this vtable; arguments live for the call.
        let status = unsafe { (self.vt.scan)(self.inst, what, bytes, hvt, &mut reply) };
        self.finish(status, reply, read)
    }

    /// One control-plane `call` crossing; `read` sees the reply before it is freed.
    pub fn call<R>(&self, method: &str, payload: &[u8], hvt: &HostVTable, read: impl FnOnce(&[u8]) -> R) -> R {
        use paywatch_plugin_api::abi::{Bytes, OwnedBuf};
        let mut reply = OwnedBuf::EMPTY;
        let status =
            // SAFETY: a live instance of this vtable; arguments live for the call.
            unsafe { (self.vt.call)(self.inst, Bytes::new(method.as_bytes()), Bytes::new(payload), hvt, &mut reply) };
        self.finish(status, reply, read)
    }

    fn finish<R>(
        &self,
        status: paywatch_plugin_api::abi::Status,
        reply: paywatch_plugin_api::abi::OwnedBuf,
        read: impl FnOnce(&[u8]) -> R,
    ) -> R {
        assert_eq!(status, paywatch_plugin_api::abi::Status::OK);
        // SAFETY: the plugin filled `reply` (ptr/len of its own allocation, or empty).
        let bytes = if reply.len == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(reply.ptr, reply.len) } };
        let out = read(bytes);
        // SAFETY: the reply came from this plugin and is returned once.
        unsafe { (self.vt.free_buf)(reply) };
        out
    }
}

impl Drop for AbiPlugin {
    fn drop(&mut self) {
        // SAFETY: the instance came from this vtable and is not used after.
        unsafe { (self.vt.destroy)(self.inst) };
    }
}
