//! How fast the binary answers `paywatch config check` on the commented example config (an
//! operator's edit-check loop; also what a supervisor's pre-start check costs). Prints figures.
//!
//! Its other purpose: a benchmark of this package makes `cargo bench --workspace` build the
//! release `paywatch` binary, which the end-to-end benchmarks in `tests/benches/` run.
// A benchmark prints its figures.
#![allow(clippy::print_stdout)]

use std::process::Command;
use std::time::Instant;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/example.toml");
    let run = || {
        let t = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_paywatch"))
            .args(["config", "check", "--no-plugins", "--config", example])
            .env("PAYWATCH_PLUGINS__DIR", dir.path())
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        t.elapsed().as_secs_f64() * 1e3
    };
    run();
    let mut ms: Vec<f64> = (0..30).map(|_| run()).collect();
    ms.sort_by(f64::total_cmp);
    println!(
        "paywatch config check --no-plugins (example.toml, every key): median {:.1} ms, best {:.1} ms",
        ms[15], ms[0]
    );
}
