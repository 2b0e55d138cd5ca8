//! Shared helpers of the end-to-end scenarios: free ports, real nodes, a real daemon process,
//! HTTP clients. Every scenario file in `tests/tests/` uses these; none starts processes itself.

pub mod daemon;
pub mod nodes;

use std::net::TcpListener;
use std::path::PathBuf;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_owned()
}

/// A loopback port that was free a moment ago (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Logs of the helpers (not of the daemon, which logs to its own file).
pub fn init_test_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("info")
        .with_test_writer()
        .try_init();
}
