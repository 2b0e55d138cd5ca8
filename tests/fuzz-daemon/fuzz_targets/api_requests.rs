//! Hostile JSON bodies, paths and queries through the daemon's real router, store and plugins
//! (`PAYWATCH_FUZZ_PLUGINS`: a directory of built plugins; `scripts/fuzz.sh` sets it). A 5xx
//! answer or a panic is a crash.
#![no_main]
use std::sync::OnceLock;

/// The harness and its store's directory, made once and kept (reachable, so not a leak) for
/// the life of the process.
fn api() -> &'static paywatch::fuzzing::Api {
    static API: OnceLock<(tempfile::TempDir, paywatch::fuzzing::Api)> = OnceLock::new();
    &API.get_or_init(|| {
        let plugins = std::env::var_os("PAYWATCH_FUZZ_PLUGINS").expect("PAYWATCH_FUZZ_PLUGINS: a directory of built plugins");
        let dir = tempfile::tempdir().expect("a temp dir");
        let api = paywatch::fuzzing::Api::new(std::path::Path::new(&plugins), &dir.path().join("data"))
            .unwrap_or_else(|e| panic!("the harness does not start: {e}"));
        (dir, api)
    })
    .1
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    api().request(data);
});
