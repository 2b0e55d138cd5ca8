//! Shared helpers of the end-to-end scenarios: free ports, real nodes, a real daemon process,
//! HTTP clients. Every scenario file in `tests/tests/` uses these; none starts processes itself.

pub mod daemon;
pub mod nodes;

use std::net::TcpListener;
use std::path::PathBuf;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the workspace").to_owned()
}

/// A loopback port that was free a moment ago (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind 127.0.0.1:0").port()
}

/// The folder of built plugin libraries (`scripts/build-plugins.sh`), built once per process.
pub fn plugins_dir() -> PathBuf {
    static OUT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    OUT.get_or_init(|| {
        let script = workspace_root().join("scripts/build-plugins.sh");
        let out = std::process::Command::new("bash")
            .arg(&script)
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("run build-plugins.sh");
        assert!(out.status.success(), "{} failed", script.display());
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
    .clone()
}

/// A built plugin library by crate suffix, e.g. `template_currency`.
pub fn plugin_lib(name: &str) -> PathBuf {
    plugins_dir().join(format!("libpaywatch_plugin_{name}.{}", std::env::consts::DLL_EXTENSION))
}

/// Logs of the helpers (not of the daemon, which logs to its own file).
pub fn init_test_logging() {
    let _ = tracing_subscriber::fmt().with_env_filter("info").with_test_writer().try_init();
}
