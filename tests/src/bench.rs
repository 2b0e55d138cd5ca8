//! What the benchmarks share: the daemon's real watch set behind its real host vtable
//! (`paywatch::bench`), filled with random-looking scripts, and the real mainnet block of
//! `shared/data/`.

pub use paywatch::bench::BenchWatchSet;

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

/// The raw mainnet block of `shared/data/` (beside the repository, as CI lays it out).
pub fn mainnet_block() -> Vec<u8> {
    let dir = crate::workspace_root().join("../shared/data");
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
