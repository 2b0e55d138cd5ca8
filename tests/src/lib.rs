//! Shared helpers of the end-to-end scenarios: free ports, real nodes, a real daemon process,
//! HTTP clients. Every scenario file in `tests/tests/` uses these; none starts processes itself.

pub mod bench;
pub mod browser;
pub mod btc;
pub mod claims;
pub mod compat;
pub mod daemon;
pub mod evm;
pub mod hostile;
pub mod nodes;
pub mod rate_api;
pub mod receiver;
pub mod sse;

use std::net::TcpListener;
use std::path::{Path, PathBuf};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the workspace").to_owned()
}

/// A client whose connections come from `ip` (any 127/8 address is this host on Linux, so
/// scenarios can tell a hostile client from a well-behaved one), a new connection per request:
/// the daemon closes a connection after refusing a body it did not read (413), and a pooled
/// connection reused at that moment fails on the client's side, which no scenario is about.
pub fn client_from(ip: &str) -> reqwest::Client {
    let ip: std::net::IpAddr = ip.parse().expect("an IP address");
    let b = reqwest::Client::builder().local_address(ip).timeout(std::time::Duration::from_secs(30));
    b.pool_max_idle_per_host(0).build().expect("a reqwest client")
}

/// A loopback port that was free a moment ago (bound, then released).
pub fn free_port() -> u16 {
    // Never the same port twice in one process: the kernel may hand a just-closed port out
    // again, and two parts of one scenario would then collide.
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind 127.0.0.1:0").port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Runs `scripts/NAME` with `args` (its progress on our stderr) and returns the path it prints.
pub fn run_script(name: &str, args: &[&str]) -> Result<PathBuf, String> {
    let script = workspace_root().join("scripts").join(name);
    let out = std::process::Command::new("bash")
        .arg(&script)
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!("{} failed with {}", script.display(), out.status));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// The folder of built plugin libraries (`scripts/build-plugins.sh`), built once per process.
pub fn plugins_dir() -> PathBuf {
    static OUT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    OUT.get_or_init(|| run_script("build-plugins.sh", &[]).unwrap_or_else(|e| panic!("{e}"))).clone()
}

/// A built plugin library by crate suffix, e.g. `template_currency`.
pub fn plugin_lib(name: &str) -> PathBuf {
    plugins_dir().join(format!("libpaywatch_plugin_{name}.{}", std::env::consts::DLL_EXTENSION))
}

/// A shared library whose constructor (run by `dlopen`, before any check of the library could
/// run) creates the file `marker`: built with the C compiler RocksDB's build needs already
/// (`$CC`, else `cc`) into `out`.
pub fn marker_library(out: &Path, marker: &Path) -> std::io::Result<()> {
    let src = out.with_extension("c");
    let code = format!(
        "#include <fcntl.h>\n#include <unistd.h>\n__attribute__((constructor)) static void mark(void) {{ int fd = open({:?}, O_CREAT | O_WRONLY, 0644); if (fd >= 0) close(fd); }}\n",
        marker.to_str().expect("a UTF-8 marker path")
    );
    std::fs::write(&src, code)?;
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = std::process::Command::new(cc).args(["-shared", "-fPIC", "-o"]).arg(out).arg(&src).status()?;
    std::fs::remove_file(&src)?;
    if !status.success() {
        return Err(std::io::Error::other(format!("cc failed with {status}")));
    }
    Ok(())
}

/// Logs of the helpers (not of the daemon, which logs to its own file).
pub fn init_test_logging() {
    let _ = tracing_subscriber::fmt().with_env_filter("info").with_test_writer().try_init();
}
