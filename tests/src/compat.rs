//! The gateway-compatible APIs' published clients (`tests/compat/GATEWAY/`), installed as
//! pinned by `scripts/compat-clients.sh`, and run: each client script prints one JSON document.

use crate::{run_script, workspace_root};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::PathBuf;

/// The folder of `gateway`'s installed clients (`venv/`, `node_modules/`), installed once per
/// process and per content of its pins.
pub fn clients(gateway: &str) -> PathBuf {
    static DONE: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut done = DONE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, dir)) = done.iter().find(|(g, _)| g == gateway) {
        return dir.clone();
    }
    let dir = run_script("compat-clients.sh", &[gateway]).unwrap_or_else(|e| panic!("{e}"));
    done.push((gateway.to_string(), dir.clone()));
    dir
}

/// The python of `gateway`'s venv.
pub fn python(gateway: &str) -> PathBuf {
    clients(gateway).join("venv/bin/python")
}

/// `gateway`'s `node_modules` (for `NODE_PATH`).
pub fn node_modules(gateway: &str) -> PathBuf {
    clients(gateway).join("node_modules")
}

/// Runs `tests/compat/GATEWAY/SCRIPT` (python for `.py`, node for `.js`) with `args` and
/// `env`, and parses what it printed as JSON. A failing script is an error carrying its output.
pub async fn run(gateway: &str, script: &str, args: &[&str], env: &[(&str, &str)]) -> Result<Value> {
    let path = workspace_root().join("tests/compat").join(gateway).join(script);
    let mut cmd = if script.ends_with(".js") {
        let mut c = tokio::process::Command::new("node");
        c.env("NODE_PATH", node_modules(gateway));
        c
    } else {
        tokio::process::Command::new(python(gateway))
    };
    cmd.arg(&path).args(args).envs(env.iter().copied()).kill_on_drop(true);
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output())
        .await
        .with_context(|| format!("{script} ran for more than 120 s"))?
        .with_context(|| format!("cannot run {}", path.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("{script} {args:?} failed with {}:\n{stdout}\n{stderr}", out.status);
    }
    serde_json::from_str(stdout.trim()).with_context(|| format!("{script} printed no JSON:\n{stdout}\n{stderr}"))
}

/// The fields of a form-encoded body (a CoinGate callback, a CoinPayments IPN), in order.
pub fn form(body: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body.as_bytes()).into_owned().collect()
}
