//! The node's JSON-RPC, on a minimal surface every bitcoind-family node answers alike
//! (`getbestblockhash`, `getblockcount`, `getblockhash`, `getblock HASH 0`, `getrawmempool`,
//! `getrawtransaction`, `getblockchaininfo`, `getblockheader`), with results of our own minimal
//! types. bitcoincore-rpc over jsonrpc's
//! minreq transport: it reads chunked replies, and every call has the configured timeout.

use crate::config::RpcAuth;
use bitcoincore_rpc::RpcApi;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum RpcError {
    #[error("node unreachable: {0}")]
    Transport(String),
    #[error("node refused {method}: {message} (code {code})")]
    Node { method: &'static str, code: i32, message: String },
    #[error("unexpected reply to {method}: {reason}")]
    BadReply { method: &'static str, reason: String },
}

impl RpcError {
    /// Worth retrying: the node is away or still warming up.
    pub(crate) fn is_transient(&self) -> bool {
        matches!(self, RpcError::Transport(_) | RpcError::Node { code: -28, .. })
    }
}

/// What the follower asks of a node. Behind a trait so the follower runs on canned chains in
/// unit tests.
pub(crate) trait BitcoinNode: Send + Sync {
    fn best_block_hash(&self) -> Result<String, RpcError>;
    fn block_count(&self) -> Result<u64, RpcError>;
    fn block_hash(&self, height: u64) -> Result<String, RpcError>;
    /// The raw block (consensus bytes).
    fn block(&self, hash: &str) -> Result<Vec<u8>, RpcError>;
    fn mempool(&self) -> Result<Vec<String>, RpcError>;
    /// A mempool transaction's raw bytes; `None` when the node no longer has it.
    fn transaction(&self, txid: &str) -> Result<Option<Vec<u8>>, RpcError>;
    /// Whether the transaction is in the node's mempool now (`getmempoolentry`).
    fn in_mempool(&self, txid: &str) -> Result<bool, RpcError>;
    /// Why the node says it is still syncing (initial block download), or `None`.
    fn syncing(&self) -> Result<Option<String>, RpcError>;
    /// Whether a block is in the node's best chain; `None` when the node does not know it.
    fn in_best_chain(&self, hash: &str) -> Result<Option<bool>, RpcError>;
}

/// What `getblockchaininfo` says of the node's sync. `initialblockdownload` is absent on some
/// Bitcoin-family nodes (Bitcoin SV's): such a node is never taken for syncing (its `headers`
/// stay ahead of its `blocks` after `invalidateblock`, so they cannot tell), only for behind.
#[derive(Debug, serde::Deserialize)]
pub(super) struct ChainInfo {
    blocks: u64,
    headers: u64,
    #[serde(default)]
    initialblockdownload: Option<bool>,
}

impl ChainInfo {
    /// Why the node is still syncing, or `None`.
    pub(super) fn syncing(&self) -> Option<String> {
        (self.initialblockdownload == Some(true))
            .then(|| format!("initial block download, at height {} of {}", self.blocks, self.headers))
    }
}

/// The real node client. The HTTP client is rebuilt after a transport error (re-reading the
/// cookie file, which changes when the node restarts).
#[derive(Debug)]
pub(crate) struct RpcClient {
    url: String,
    auth: RpcAuth,
    timeout: Duration,
    client: Mutex<Option<Arc<bitcoincore_rpc::Client>>>,
}

impl RpcClient {
    pub(crate) fn new(url: &url::Url, auth: RpcAuth, timeout: Duration) -> Self {
        Self { url: url.to_string(), auth, timeout, client: Mutex::new(None) }
    }

    fn client(&self) -> Result<Arc<bitcoincore_rpc::Client>, RpcError> {
        let mut slot = self.client.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = &*slot {
            return Ok(c.clone());
        }
        let transport = jsonrpc::minreq_http::MinreqHttpTransport::builder()
            .url(&self.url)
            .map_err(|e| RpcError::Transport(format!("bad rpc_url {}: {e}", crate::config::redact_url(&self.url))))?
            .timeout(self.timeout);
        let transport = match &self.auth {
            RpcAuth::UserPass { user, password } => transport.basic_auth(user.clone(), Some(password.expose().into())),
            RpcAuth::Cookie(path) => {
                let cookie = std::fs::read_to_string(path)
                    .map_err(|e| RpcError::Transport(format!("cannot read rpc_cookie {}: {e}", path.display())))?;
                transport.cookie_auth(cookie.trim())
            }
        };
        let c = Arc::new(bitcoincore_rpc::Client::from_jsonrpc(jsonrpc::Client::with_transport(transport.build())));
        *slot = Some(c.clone());
        Ok(c)
    }

    fn call<T: DeserializeOwned>(&self, method: &'static str, args: &[Value]) -> Result<T, RpcError> {
        use bitcoincore_rpc::Error as E;
        match self.client()?.call::<T>(method, args) {
            Ok(v) => Ok(v),
            Err(E::JsonRpc(jsonrpc::Error::Rpc(e))) => Err(RpcError::Node { method, code: e.code, message: e.message }),
            Err(E::JsonRpc(jsonrpc::Error::Json(e)) | E::Json(e)) => {
                Err(RpcError::BadReply { method, reason: e.to_string() })
            }
            Err(e) => {
                *self.client.lock().unwrap_or_else(|p| p.into_inner()) = None;
                Err(RpcError::Transport(e.to_string()))
            }
        }
    }
}

fn unhex(method: &'static str, s: &str) -> Result<Vec<u8>, RpcError> {
    hex::decode(s).map_err(|e| RpcError::BadReply { method, reason: format!("not hex: {e}") })
}

impl BitcoinNode for RpcClient {
    fn best_block_hash(&self) -> Result<String, RpcError> {
        self.call("getbestblockhash", &[])
    }

    fn block_count(&self) -> Result<u64, RpcError> {
        self.call("getblockcount", &[])
    }

    fn block_hash(&self, height: u64) -> Result<String, RpcError> {
        self.call("getblockhash", &[json!(height)])
    }

    fn block(&self, hash: &str) -> Result<Vec<u8>, RpcError> {
        let hex: String = self.call("getblock", &[json!(hash), json!(0)])?;
        unhex("getblock", &hex)
    }

    fn mempool(&self) -> Result<Vec<String>, RpcError> {
        self.call("getrawmempool", &[])
    }

    fn syncing(&self) -> Result<Option<String>, RpcError> {
        Ok(self.call::<ChainInfo>("getblockchaininfo", &[])?.syncing())
    }

    fn in_best_chain(&self, hash: &str) -> Result<Option<bool>, RpcError> {
        /// `confirmations` is -1 for a block off the best chain.
        #[derive(serde::Deserialize)]
        struct Header {
            confirmations: i64,
        }
        match self.call::<Header>("getblockheader", &[json!(hash), json!(true)]) {
            Ok(h) => Ok(Some(h.confirmations >= 0)),
            // -5: block not found.
            Err(RpcError::Node { code: -5, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn in_mempool(&self, txid: &str) -> Result<bool, RpcError> {
        match self.call::<serde_json::Value>("getmempoolentry", &[json!(txid)]) {
            Ok(_) => Ok(true),
            // -5: not in the mempool.
            Err(RpcError::Node { code: -5, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn transaction(&self, txid: &str) -> Result<Option<Vec<u8>>, RpcError> {
        match self.call::<String>("getrawtransaction", &[json!(txid)]) {
            Ok(hex) => unhex("getrawtransaction", &hex).map(Some),
            // -5: no such mempool transaction (it was mined or evicted meanwhile).
            Err(RpcError::Node { code: -5, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
