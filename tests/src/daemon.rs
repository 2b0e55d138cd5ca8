//! The real `paywatch` binary, started with a real config in a temp dir, on a free port.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Keys the default test config gives its two stores and the operator.
pub const SHOP1_KEY: &str = "shop1_p0Cw5yCiQhKmPZBSioL43yrnC2";
pub const SHOP2_KEY: &str = "shop2_co8sfRpHLwCI9nhKZDiNtiTYgN";
pub const ADMIN_KEY: &str = "admin_ANtQLP1kb2eRtEYFMuHmwJguJQ";

/// Path of the `paywatch` binary: `$PAYWATCH_BIN`, or the one `cargo test --workspace` built
/// next to this test (the daemon package's own integration tests make cargo build it, with the
/// same features as everything else, so no second RocksDB build).
pub fn paywatch_bin() -> Result<PathBuf> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("PAYWATCH_BIN") {
            return Ok(PathBuf::from(p));
        }
        // Tests run from <target>/debug/deps/; the binary is <target>/debug/paywatch.
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let bin = exe.parent().and_then(Path::parent).map(|d| d.join("paywatch")).ok_or("no target dir")?;
        let built = std::fs::metadata(&bin).and_then(|m| m.modified()).map_err(|_| {
            format!(
                "{} is missing: run `cargo test --workspace` (it builds the daemon) or set PAYWATCH_BIN",
                bin.display()
            )
        })?;
        let newest_source = newest_mtime(&crate::workspace_root().join("daemon/src"));
        if newest_source.is_some_and(|s| s > built) {
            return Err(format!(
                "{} is older than daemon/src: run `cargo test --workspace` so it is rebuilt",
                bin.display()
            ));
        }
        Ok(bin)
    })
    .clone()
    .map_err(anyhow::Error::msg)
}

/// The newest source the binary is built from: unit tests (`tests.rs`, `tests/`) are not.
fn newest_mtime(dir: &Path) -> Option<std::time::SystemTime> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| !matches!(e.file_name().to_str(), Some("tests.rs" | "tests")))
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            if m.is_dir() {
                newest_mtime(&e.path())
            } else {
                m.modified().ok()
            }
        })
        .max()
}

/// The default test config: two stores, a bitcoin and an evm chain (no followers needed),
/// storage and plugins in `dir`. `extra` is appended as TOML.
pub fn test_config(dir: &Path, port: u16, extra: &str) -> String {
    let chains = r#"
[[chains]]
name = "btc"
kind = "bitcoin"
network = "regtest"
rpc_url = "http://127.0.0.1:1"
rpc_user = "u"
rpc_password = "p"
zmq = "tcp://127.0.0.1:2"

[[chains]]
name = "eth"
kind = "evm"
chain_id = 31337
ws_url = "ws://127.0.0.1:3"
"#;
    config_with_chains(dir, port, chains, extra)
}

/// The shipped platform plugins: endpoints created through the API may use those installed
/// (`plugins.enable` of the test configs).
const PLATFORMS: [&str; 3] = ["webhook", "woocommerce", "template-platform"];

/// The `plugins.enable` list of the platform plugins installed in `plugins` (their files as
/// `scripts/build-plugins.sh` names them), as TOML: the daemon loads nothing it is not told to.
pub fn enabled_platforms(plugins: &Path) -> String {
    let installed = PLATFORMS.iter().filter(|p| {
        let file = format!("libpaywatch_plugin_{}.{}", p.replace('-', "_"), std::env::consts::DLL_EXTENSION);
        plugins.join(file).exists()
    });
    let quoted: Vec<String> = installed.map(|p| format!("{p:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

/// [`test_config`] with other `[[chains]]` (and assets) than the placeholders. The config
/// enables the platform plugins already installed in `dir/plugins` ([`enabled_platforms`]).
pub fn config_with_chains(dir: &Path, port: u16, chains: &str, extra: &str) -> String {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugins dir");
    format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
admin_key = "{ADMIN_KEY}"
log_filter = "info,paywatch=debug"
max_body_bytes = 65536

[storage]
path = "{data}"

[plugins]
dir = "{plugins}"
enable = {enable}
{chains}
[[stores]]
id = "shop1"
api_key = "{SHOP1_KEY}"

[[stores]]
id = "shop2"
api_key_sha256 = "{shop2_hash}"
{extra}
"#,
        data = dir.join("data").display(),
        plugins = plugins.display(),
        enable = enabled_platforms(&plugins),
        shop2_hash = sha256_hex(SHOP2_KEY),
    )
}

/// The default test config served over HTTPS with a self-signed certificate for `names`,
/// written into `dir`: (port, config path, the certificate's PEM).
pub fn tls_test_config(dir: &Path, names: &[&str]) -> (u16, PathBuf, String) {
    let cert = rcgen::generate_simple_self_signed(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .expect("a self-signed certificate");
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).expect("write the certificate");
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).expect("write the key");
    let port = crate::free_port();
    let config = test_config(dir, port, "").replacen(
        "[server]\n",
        &format!("[server]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n", cert_path.display(), key_path.display()),
        1,
    );
    let config_path = dir.join("paywatch.toml");
    std::fs::write(&config_path, config).expect("write the config");
    (port, config_path, cert.cert.pem())
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

/// Copies plugin libraries into `dir/plugins`.
pub fn install_plugins(dir: &Path, plugins: &[PathBuf]) -> Result<()> {
    let target = dir.join("plugins");
    std::fs::create_dir_all(&target)?;
    for p in plugins {
        std::fs::copy(p, target.join(p.file_name().context("plugin file name")?))?;
    }
    Ok(())
}

/// A running daemon process. Killed on drop; its log is in `dir/paywatch.log`.
#[derive(Debug)]
pub struct Daemon {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub config_path: PathBuf,
    scheme: &'static str,
    pub http: reqwest::Client,
    /// How the process is started besides its config (every start).
    pub launch: Launch,
}

/// How the daemon process is started besides its config.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// Environment variables set for it.
    pub env: Vec<(String, String)>,
    /// A command the binary runs under, its own arguments following (e.g. `unshare …`);
    /// `{data}` in it stands for the store's directory.
    pub under: Vec<String>,
}

impl Launch {
    /// With this environment variable set.
    pub fn env(key: &str, value: &str) -> Self {
        Self { env: vec![(key.to_string(), value.to_string())], ..Self::default() }
    }
}

impl Daemon {
    /// Starts the daemon with [`test_config`] plus `extra`.
    pub async fn start(extra: &str) -> Result<Self> {
        Self::start_with_plugins(extra, &[]).await
    }

    /// As [`Daemon::start`], with copies of these plugin libraries in its plugin directory.
    pub async fn start_with_plugins(extra: &str, plugins: &[PathBuf]) -> Result<Self> {
        Self::start_configured(|dir, port| test_config(dir, port, extra), plugins).await
    }

    /// Starts the daemon on the config `config(dir, port)` returns, with these plugins.
    pub async fn start_configured(config: impl FnOnce(&Path, u16) -> String, plugins: &[PathBuf]) -> Result<Self> {
        Self::start_launched(config, plugins, Launch::default()).await
    }

    /// [`Daemon::start_configured`], the process started as `launch` says.
    pub async fn start_launched(
        config: impl FnOnce(&Path, u16) -> String,
        plugins: &[PathBuf],
        launch: Launch,
    ) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        install_plugins(dir.path(), plugins)?;
        let port = crate::free_port();
        let config_path = dir.path().join("paywatch.toml");
        std::fs::write(&config_path, config(dir.path(), port))?;
        let mut d = Self { child: None, dir, port, config_path, scheme: "http", http: keep_alive_client(), launch };
        d.spawn_and_wait().await?;
        Ok(d)
    }

    /// Starts the daemon on a config the caller wrote (`https` picks the scheme checked).
    pub async fn start_with(
        dir: tempfile::TempDir,
        port: u16,
        config_path: PathBuf,
        http: reqwest::Client,
        https: bool,
    ) -> Result<Self> {
        let scheme = if https { "https" } else { "http" };
        let mut d = Self { child: None, dir, port, config_path, scheme, http, launch: Launch::default() };
        d.spawn_and_wait().await?;
        Ok(d)
    }

    /// The daemon's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{path}", self.scheme, self.port)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("paywatch.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    async fn spawn_and_wait(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path())?;
        let data = self.dir.path().join("data").display().to_string();
        let mut command = match self.launch.under.split_first() {
            None => Command::new(paywatch_bin()?),
            Some((under, args)) => {
                let mut c = Command::new(under);
                c.args(args.iter().map(|a| a.replace("{data}", &data))).arg(paywatch_bin()?);
                c
            }
        };
        let child = command
            .args(["run", "--config"])
            .arg(&self.config_path)
            .env_remove("RUST_LOG")
            .envs(self.launch.env.iter().map(|(k, v)| (k, v)))
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start paywatch")?;
        self.child = Some(child);
        let started = Instant::now();
        loop {
            if let Ok(r) = self.http.get(self.url("/health")).send().await {
                // Up once it answers: 503 is a daemon reporting a component down (a stopped chain).
                if r.status().is_success() || r.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE {
                    return Ok(());
                }
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!("paywatch exited during startup with {status}; log:\n{}", self.log());
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("paywatch did not answer /health within 30 s; log:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then waits for the exit status.
    pub async fn stop(&mut self) -> Result<ExitStatus> {
        let mut child = self.child.take().context("not running")?;
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("paywatch did not stop within 30 s of SIGTERM; log:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts again on the same config and data.
    pub async fn restart(&mut self) -> Result<()> {
        if self.child.is_some() {
            let status = self.stop().await?;
            if !status.success() {
                bail!("paywatch exited with {status} on SIGTERM; log:\n{}", self.log());
            }
        }
        self.spawn_and_wait().await
    }

    /// A request builder with a bearer key.
    /// One API call with a store key: (status, JSON body or null).
    pub async fn call(&self, method: reqwest::Method, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.req(method, path, key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("the daemon answers");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Every event of a store so far.
    pub async fn events(&self, key: &str) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        loop {
            let path =
                format!("/v1/events?after={}&limit=1000", out.last().map_or(0, |e: &Value| e["seq"].as_u64().unwrap()));
            let v: Value = self.req(reqwest::Method::GET, &path, key).send().await?.json().await?;
            let page = v["events"].as_array().context("events")?.clone();
            if page.is_empty() {
                return Ok(out);
            }
            out.extend(page);
        }
    }

    /// Waits until `done` holds for the store's events; returns them.
    pub async fn wait_events(&self, key: &str, what: &str, done: impl Fn(&[Value]) -> bool) -> Result<Vec<Value>> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let evs = self.events(key).await?;
            if done(&evs) {
                return Ok(evs);
            }
            if Instant::now() > deadline {
                bail!("timed out waiting for {what}; events: {:#}\nlog:\n{}", json!(summary(&evs)), self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs another `paywatch` command on this daemon's config (`paywatch ARGS --config FILE`):
    /// (exit code, stdout, stderr).
    pub fn command(&self, args: &[&str]) -> Result<(Option<i32>, String, String)> {
        let out = Command::new(paywatch_bin()?)
            .args(args)
            .arg("--config")
            .arg(&self.config_path)
            .env_remove("RUST_LOG")
            .output()
            .context("cannot run paywatch")?;
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        Ok((out.status.code(), text(&out.stdout), text(&out.stderr)))
    }

    /// `/health` as the operator sees it (with the admin key: each component's detail).
    pub async fn health(&self) -> Result<Value> {
        Ok(self.req(reqwest::Method::GET, "/health", ADMIN_KEY).send().await?.json().await?)
    }

    /// Waits until `/health`'s component for `chain` satisfies `done` (it gets `{status,
    /// detail}`); returns it.
    pub async fn wait_chain_health(&self, chain: &str, what: &str, done: impl Fn(&Value) -> bool) -> Result<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let h = self.health().await?;
            if done(&h["chains"][chain]) {
                return Ok(h["chains"][chain].clone());
            }
            if Instant::now() > deadline {
                bail!("timed out waiting for {what} on {chain:?}: {h}\nlog:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `/health` reports `chain` synced at block `hash` (the node's best).
    pub async fn wait_chain_at(&self, chain: &str, hash: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let h = self.health().await?;
            let c = &h["chains"][chain];
            if c["status"] == "ok" && c["detail"].as_str().unwrap_or_default().contains(hash) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the daemon did not reach the node's tip {hash} on {chain:?}: {h}\nlog:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn req(&self, method: reqwest::Method, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(key)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// (type, txid, index, status, confirmations, final) per event: what scenarios compare.
pub fn summary(events: &[Value]) -> Vec<(String, String, u64, String, u64, bool)> {
    events
        .iter()
        .map(|e| {
            let d = &e["data"];
            (
                e["type"].as_str().unwrap_or_default().to_string(),
                d["txid"].as_str().unwrap_or_default().to_string(),
                d["index"].as_u64().unwrap_or(u64::MAX),
                d["status"].as_str().unwrap_or_default().to_string(),
                d["confirmations"].as_u64().unwrap_or(u64::MAX),
                d["final"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

/// The tests' client drops an idle connection after 1 s, well before the daemon's
/// keep-alive timeout (`server.header_read_timeout_secs`, 10 s by default, 2 s in one test)
/// closes it: otherwise a request sent at the moment the daemon closes its connection
/// fails with "connection closed", a race of the test's timing, not of the daemon.
fn keep_alive_client() -> reqwest::Client {
    reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(1)).build().expect("a reqwest client")
}
