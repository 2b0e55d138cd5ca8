//! Real regtest nodes (see shared/NODES.md): fetched once by `scripts/fetch-nodes.sh`, each
//! started on free ports in a temp dir and killed on drop.

use anyhow::{bail, Context, Result};
use bitcoincore_rpc::RpcApi;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const STARTUP: Duration = Duration::from_secs(60);

/// The folder with `bitcoind` and `anvil`, fetching them on first use.
pub fn node_bin_dir() -> Result<PathBuf> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| crate::run_script("fetch-nodes.sh", &[])).clone().map_err(anyhow::Error::msg)
}

/// A regtest bitcoind-family node with RPC and ZMQ on free loopback ports.
#[derive(Debug)]
pub struct Bitcoind {
    child: Child,
    pub dir: tempfile::TempDir,
    pub rpc_port: u16,
    pub zmq_port: u16,
    pub p2p_port: u16,
    pub user: String,
    pub password: String,
    /// Appended to the command line at the next (re)start.
    pub extra_args: Vec<String>,
    /// Publishes ZMQ on `zmq_port` and keeps a transaction index ([`Bitcoind::start`]'s node).
    zmq: bool,
    txindex: bool,
}

impl Bitcoind {
    pub fn start() -> Result<Self> {
        Self::start_with(true, true, Vec::new())
    }

    /// A node publishing ZMQ or not (`zmq_port` is then free), with a transaction index or not
    /// (`-prune` wants none), started with `extra_args`.
    pub fn start_with(zmq: bool, txindex: bool, extra_args: Vec<String>) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let (rpc_port, zmq_port, p2p_port) = (crate::free_port(), crate::free_port(), crate::free_port());
        let (user, password) = ("paywatch".to_string(), "paywatch".to_string());
        let child = Command::new("true").spawn()?; // replaced right below
        let mut node = Self { child, dir, rpc_port, zmq_port, p2p_port, user, password, extra_args, zmq, txindex };
        node.child = node.spawn()?;
        node.wait_ready()?;
        Ok(node)
    }

    fn spawn(&self) -> Result<Child> {
        let zmq = format!("tcp://127.0.0.1:{}", self.zmq_port);
        let bin = node_bin_dir()?.join("bitcoind");
        let zmq_args = ["rawtx", "hashblock", "rawblock", "hashtx"].map(|t| format!("-zmqpub{t}={zmq}"));
        Command::new(&bin)
            .args(["-regtest", "-server=1", "-printtoconsole=0", "-listen=0"])
            .args(self.txindex.then_some("-txindex=1"))
            .arg(format!("-datadir={}", self.dir.path().display()))
            .arg(format!("-rpcuser={}", self.user))
            .arg(format!("-rpcpassword={}", self.password))
            .arg(format!("-rpcport={}", self.rpc_port))
            .arg(format!("-port={}", self.p2p_port))
            .arg("-rpcbind=127.0.0.1")
            .arg("-rpcallowip=127.0.0.1")
            .args(if self.zmq { &zmq_args[..] } else { &[] })
            .args(["-excessiveblocksize=10000000000", "-maxstackmemoryusageconsensus=0", "-minminingtxfee=0.00000500"])
            .args(&self.extra_args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))
    }

    pub fn rpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rpc_port)
    }

    pub fn zmq_url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.zmq_port)
    }

    /// A JSON-RPC client over minreq (the node answers large replies chunked).
    pub fn rpc(&self) -> bitcoincore_rpc::Client {
        let t = jsonrpc::minreq_http::MinreqHttpTransport::builder()
            .url(&self.rpc_url())
            .expect("valid url")
            .basic_auth(self.user.clone(), Some(self.password.clone()))
            .timeout(Duration::from_secs(30))
            .build();
        bitcoincore_rpc::Client::from_jsonrpc(jsonrpc::Client::with_transport(t))
    }

    fn wait_ready(&mut self) -> Result<()> {
        let started = Instant::now();
        let rpc = self.rpc();
        loop {
            match rpc.get_block_count() {
                Ok(_) => return Ok(()),
                Err(e) if started.elapsed() > STARTUP => {
                    bail!("bitcoind did not answer RPC within {STARTUP:?}: {e}")
                }
                Err(_) => {}
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("bitcoind exited during startup with {status}: {}", stderr_of(&mut self.child));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops and starts the node on the same datadir and ports (drops ZMQ subscribers).
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.start_again()
    }

    /// Starts a stopped node again on the same datadir and ports.
    pub fn start_again(&mut self) -> Result<()> {
        self.child = self.spawn()?;
        self.wait_ready()
    }

    /// Stops the node, copies its regtest data (chain, wallet, mempool) aside and starts it
    /// again: [`Bitcoind::restore`] later restarts it from this older copy, behind whatever
    /// was mined meanwhile.
    pub fn snapshot(&mut self) -> Result<tempfile::TempDir> {
        self.stop();
        let copy = tempfile::tempdir()?;
        copy_dir(&self.dir.path().join("regtest"), &copy.path().join("regtest"))?;
        self.start_again()?;
        Ok(copy)
    }

    /// Stops the node and starts it again from an older copy of its data ([`Bitcoind::snapshot`]).
    pub fn restore(&mut self, snapshot: &Path) -> Result<()> {
        self.stop();
        let data = self.dir.path().join("regtest");
        std::fs::remove_dir_all(&data)?;
        copy_dir(&snapshot.join("regtest"), &data)?;
        self.start_again()
    }

    /// Stops the node cleanly (`stop` RPC), killing it if it lingers.
    pub fn stop(&mut self) {
        let _ = self.rpc().stop();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Bitcoind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An anvil EVM node on a free port (HTTP and WebSocket on the same port), automining each
/// transaction into its own block.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    pub port: u16,
    http: reqwest::Client,
    /// `--state` file: the chain survives [`Anvil::stop`] + [`Anvil::start_again`].
    state: Option<PathBuf>,
}

impl Anvil {
    pub async fn start() -> Result<Self> {
        Self::launch(crate::free_port(), None).await
    }

    /// An anvil that dumps its chain to `state` on exit and loads it on start.
    pub async fn start_with_state(state: &Path) -> Result<Self> {
        Self::launch(crate::free_port(), Some(state.to_path_buf())).await
    }

    async fn launch(port: u16, state: Option<PathBuf>) -> Result<Self> {
        let bin = node_bin_dir()?.join("anvil");
        let mut cmd = Command::new(&bin);
        cmd.args(["--port", &port.to_string(), "--host", "127.0.0.1", "--silent"]);
        if let Some(s) = &state {
            cmd.arg("--state").arg(s);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let mut node = Self { child, port, http: reqwest::Client::new(), state };
        let started = Instant::now();
        loop {
            match node.rpc("eth_blockNumber", serde_json::json!([])).await {
                Ok(_) => return Ok(node),
                Err(e) if started.elapsed() > STARTUP => {
                    bail!("anvil did not answer within {STARTUP:?}: {e}")
                }
                Err(_) => {}
            }
            if let Some(status) = node.child.try_wait()? {
                bail!("anvil exited during startup with {status}: {}", stderr_of(&mut node.child));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops gracefully (SIGINT: the state file is written), dropping every WebSocket.
    pub async fn stop(&mut self) -> Result<()> {
        Command::new("kill").args(["-INT", &self.child.id().to_string()]).status()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                bail!("anvil did not stop within 30 s of SIGINT");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Starts again on the same port, from the state file if it has one.
    pub async fn start_again(&mut self) -> Result<()> {
        // The old value's drop reaps its (exited) process.
        *self = Self::launch(self.port, self.state.clone()).await?;
        Ok(())
    }

    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// One JSON-RPC call; the `result`, or the node's error as an error.
    pub async fn rpc(&self, method: &str, params: serde_json::Value) -> Result<serde_json::Value> {
        let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let resp: serde_json::Value =
            self.http.post(self.http_url()).json(&body).send().await?.error_for_status()?.json().await?;
        if let Some(err) = resp.get("error") {
            bail!("{method} failed: {err}");
        }
        Ok(resp["result"].clone())
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cp -a`: a directory tree with its files' modes and times.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status()?;
    if !status.success() {
        bail!("cp -a {} {} failed with {status}", from.display(), to.display());
    }
    Ok(())
}

fn stderr_of(child: &mut Child) -> String {
    use std::io::Read;
    let mut s = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut s);
    }
    s
}
