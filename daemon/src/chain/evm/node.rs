//! The EVM node as the follower needs it, behind a small trait (canned chains in tests), and
//! its JSON-RPC client on alloy: requests over HTTP (or the WebSocket when there is no HTTP
//! URL), each with a timeout, several blocks in flight, `eth_getBlockReceipts` with a fallback
//! to per-transaction receipts for nodes without it. A client whose transport failed is
//! rebuilt on the next call.

use super::normalize::{hash_str, normalize, RpcBlock, RpcHeader, RpcReceipt};
use super::traces::{self, ParityTrace};
use super::verify::{verify, Checked, VerifyError};
use crate::config::Traces;
use alloy::rpc::client::{ClientBuilder, RpcClient};
use alloy::transports::{RpcError, TransportErrorKind};
use futures::{StreamExt, TryStreamExt};
use paywatch_plugin_api::evm::{Block, Internal};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::runtime::Handle;

/// Blocks fetched at once during catch-up.
const IN_FLIGHT: usize = 8;

/// A block of the node's chain: number, hash, parent hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeadRef {
    pub(crate) number: u64,
    pub(crate) hash: String,
    pub(crate) parent: String,
}

/// Why the node did not answer. Every node error is transient for the follower; the follower
/// decides what is fatal (a block the node should have but does not serve).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct NodeError(pub(crate) String);

pub(crate) trait EvmNode: Send + Sync {
    /// The chain id the node serves.
    fn chain_id(&self) -> Result<u64, NodeError>;
    /// The node's best block.
    fn head(&self) -> Result<HeadRef, NodeError>;
    /// The block at a height of the node's best chain; `None` above its head.
    fn header(&self, number: u64) -> Result<Option<HeadRef>, NodeError>;
    /// A block the node knows by hash, in its best chain or not; `None` when it does not.
    fn block_by_hash(&self, hash: &str) -> Result<Option<HeadRef>, NodeError>;
    /// Blocks `from..=to` with their receipts, normalized, in order. A height the node does
    /// not serve is an error naming it.
    fn blocks(&self, from: u64, to: u64) -> Result<Vec<Block>, NodeError>;
    /// What an ERC-20 contract's `decimals()` returns; `None` when it has no such function.
    fn token_decimals(&self, contract: &str) -> Result<Option<u8>, NodeError>;
    /// Why the node says it is still syncing (`eth_syncing`), or `None`.
    fn syncing(&self) -> Result<Option<String>, NodeError>;
}

/// `eth_syncing`'s answer: `false`, or the sync's progress (`currentBlock`, `highestBlock`).
pub(super) fn syncing_of(reply: &serde_json::Value) -> Result<Option<String>, NodeError> {
    let number = |k: &str| {
        let v = reply.get(k).and_then(serde_json::Value::as_str).unwrap_or_default();
        u64::from_str_radix(v.trim_start_matches("0x"), 16).ok()
    };
    match reply {
        serde_json::Value::Bool(false) => Ok(None),
        serde_json::Value::Object(_) => match (number("currentBlock"), number("highestBlock")) {
            (Some(at), Some(of)) => Ok(Some(format!("eth_syncing: at block {at} of {of}"))),
            _ => Ok(Some(format!("eth_syncing: {reply}"))),
        },
        other => Err(NodeError(format!("eth_syncing: unexpected reply {other}"))),
    }
}

/// The alloy JSON-RPC client. Calls block the follower's thread on the chain's runtime.
pub(crate) struct RpcNode {
    rt: Handle,
    url: String,
    /// `url` as logs and errors show it (without the API key hosted providers put in it).
    shown: String,
    timeout: Duration,
    client: Mutex<Option<RpcClient>>,
    /// Cleared once the node says it has no `eth_getBlockReceipts`.
    block_receipts: AtomicBool,
    traces: Traces,
    /// Check each block against its header (`verify`).
    verify_blocks: bool,
    /// Whether the log said that blocks of other transaction types are checked by header only.
    told_header_only: AtomicBool,
    /// Counts blocks that fail `verify`.
    metrics: crate::metrics::ChainMetrics,
}

impl std::fmt::Debug for RpcNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcNode").field("url", &self.shown).finish()
    }
}

fn n(number: u64) -> String {
    format!("{number:#x}")
}

/// An HTTP(S) node's client, without the `HTTP(S)_PROXY` of the environment (alloy's default
/// client takes it: the node would be reached, and its name resolved, by whatever the variable
/// names); `None` for a WebSocket URL.
fn http_client(url: &str) -> Result<Option<RpcClient>, NodeError> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Ok(None);
    }
    use alloy::transports::http::{reqwest, Http};
    let parsed = url.parse::<reqwest::Url>().map_err(|e| NodeError(format!("{url} is not a URL: {e}")))?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| NodeError(format!("cannot build an HTTP client for {url}: {e}")))?;
    let transport = Http::with_client(client, parsed);
    let is_local = transport.guess_local();
    Ok(Some(ClientBuilder::default().transport(transport, is_local)))
}

impl RpcNode {
    pub(crate) fn new(rt: Handle, url: String, timeout: Duration, traces: Traces, verify_blocks: bool) -> Self {
        Self {
            rt,
            shown: crate::config::redact_url(&url),
            url,
            timeout,
            client: Mutex::new(None),
            block_receipts: AtomicBool::new(true),
            traces,
            verify_blocks,
            told_header_only: AtomicBool::new(false),
            metrics: crate::metrics::ChainMetrics::detached(),
        }
    }

    /// The client, counting the blocks that fail verification in `metrics`.
    pub(crate) fn with_metrics(mut self, metrics: crate::metrics::ChainMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    async fn client(&self) -> Result<RpcClient, NodeError> {
        if let Some(c) = self.client.lock().expect("not poisoned").clone() {
            return Ok(c);
        }
        let c = match http_client(&self.url)? {
            Some(c) => c,
            None => tokio::time::timeout(self.timeout, ClientBuilder::default().connect(&self.url))
                .await
                .map_err(|_| NodeError(format!("cannot connect to {} within {:?}", self.shown, self.timeout)))?
                .map_err(|e| NodeError(format!("cannot connect to {}: {e}", self.shown)))?,
        };
        *self.client.lock().expect("not poisoned") = Some(c.clone());
        Ok(c)
    }

    /// One request with the timeout; a transport failure drops the client (rebuilt next call).
    async fn call<P, R>(&self, method: &'static str, params: P) -> Result<R, RpcError<TransportErrorKind>>
    where
        P: serde::Serialize + Clone + Send + Sync + Unpin + std::fmt::Debug + 'static,
        R: DeserializeOwned + std::fmt::Debug + Send + Sync + Unpin + 'static,
    {
        let client = self.client().await.map_err(|e| TransportErrorKind::custom_str(&e.0))?;
        let r = tokio::time::timeout(self.timeout, client.request::<P, R>(method, params))
            .await
            .unwrap_or_else(|_| Err(TransportErrorKind::custom_str(&format!("no answer within {:?}", self.timeout))));
        if matches!(r, Err(RpcError::Transport(_))) {
            self.client.lock().expect("not poisoned").take();
        }
        r
    }

    async fn get<P, R>(&self, method: &'static str, params: P) -> Result<R, NodeError>
    where
        P: serde::Serialize + Clone + Send + Sync + Unpin + std::fmt::Debug + 'static,
        R: DeserializeOwned + std::fmt::Debug + Send + Sync + Unpin + 'static,
    {
        self.call(method, params).await.map_err(|e| NodeError(format!("{method} on {}: {e}", self.shown)))
    }

    async fn block(&self, number: u64) -> Result<Block, NodeError> {
        let raw: Option<Box<RawValue>> = self.get("eth_getBlockByNumber", (n(number), true)).await?;
        let raw = raw.ok_or_else(|| NodeError(format!("the node has no block {number}")))?;
        let unreadable =
            |what: &str, e: serde_json::Error| NodeError(format!("block {number}: unreadable {what}: {e}"));
        let block: RpcBlock = serde_json::from_str(raw.get()).map_err(|e| unreadable("block", e))?;
        if block.header.number.to::<u64>() != number {
            return Err(NodeError(format!("asked for block {number}, the node sent {}", block.header.number)));
        }
        let raw_receipts = self.receipts(&block).await?;
        let receipts = raw_receipts
            .iter()
            .map(|r| serde_json::from_str::<RpcReceipt>(r.get()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| unreadable("receipt", e))?;
        let mut out = normalize(&block, &receipts).map_err(NodeError)?;
        if self.verify_blocks {
            self.checked(verify(raw.get(), &raw_receipts).map_err(|e| {
                self.metrics.verify_failed(crate::metrics::Verified::Block);
                match e {
                    VerifyError::HeaderUnreadable(_) => NodeError(format!("block {number}: {e}")),
                    e => NodeError(e.to_string()),
                }
            })?);
        }
        out.internal = self.internal(&block).await?;
        Ok(out)
    }

    /// Says once per chain that its blocks are checked by header hash only.
    fn checked(&self, checked: Checked) {
        if let Checked::HeaderOnly { tx_type } = checked {
            if !self.told_header_only.swap(true, Ordering::Relaxed) {
                tracing::info!(url = %self.shown, tx_type,
                    "blocks with transactions of a type that is not Ethereum's are checked by their header hash only, not by their transactions and receipts roots");
            }
        }
    }

    /// Ether moved by contracts in the block, from the node's traces (when configured).
    async fn internal(&self, block: &RpcBlock) -> Result<Vec<Internal>, NodeError> {
        let number = n(block.header.number.to());
        let txs: Vec<_> = block.transactions.iter().map(|t| t.hash).collect();
        if txs.is_empty() {
            return Ok(Vec::new());
        }
        let at = |e: String| NodeError(format!("traces of block {number}: {e}"));
        match self.traces {
            Traces::Off => Ok(Vec::new()),
            Traces::Parity => {
                let t: Vec<ParityTrace> = self.get("trace_block", (number.clone(),)).await?;
                traces::from_parity(&t, &txs).map_err(at)
            }
            Traces::Geth => {
                let tracer = serde_json::json!({"tracer": "callTracer"});
                let raw: Box<RawValue> = self.get("debug_traceBlockByNumber", (number.clone(), tracer)).await?;
                let t = traces::parse_geth(raw.get()).map_err(|e| at(format!("unreadable: {e}")))?;
                traces::from_geth(&t, &txs).map_err(at)
            }
        }
    }

    /// The block's receipts as the node's JSON, in transaction order.
    async fn receipts(&self, block: &RpcBlock) -> Result<Vec<Box<RawValue>>, NodeError> {
        let hash = hash_str(&block.header.hash);
        if block.transactions.is_empty() {
            return Ok(Vec::new());
        }
        if self.block_receipts.load(Ordering::Relaxed) {
            match self.call::<_, Option<Vec<Box<RawValue>>>>("eth_getBlockReceipts", (hash.clone(),)).await {
                Ok(Some(r)) => return Ok(r),
                Ok(None) => return Err(NodeError(format!("the node has no receipts for block {hash} (reorged?)"))),
                Err(e) if is_method_missing(&e) => {
                    tracing::info!(url = %self.shown, error = %e, "no eth_getBlockReceipts: fetching receipts per transaction");
                    self.block_receipts.store(false, Ordering::Relaxed);
                }
                Err(e) => return Err(NodeError(format!("eth_getBlockReceipts {hash} on {}: {e}", self.shown))),
            }
        }
        let hash = &hash;
        futures::stream::iter(&block.transactions)
            .map(|tx| async move {
                let r: Option<Box<RawValue>> = self.get("eth_getTransactionReceipt", (hash_str(&tx.hash),)).await?;
                r.ok_or_else(|| NodeError(format!("no receipt for {} of block {hash} (reorged?)", tx.hash)))
            })
            .buffered(IN_FLIGHT)
            .try_collect()
            .await
    }
}

/// "Method not found" (JSON-RPC -32601) and the wordings nodes use for it.
fn is_method_missing(e: &RpcError<TransportErrorKind>) -> bool {
    match e {
        RpcError::ErrorResp(p) => {
            let m = p.message.to_lowercase();
            p.code == -32601 || m.contains("not found") || m.contains("not supported") || m.contains("does not exist")
        }
        _ => false,
    }
}

impl EvmNode for RpcNode {
    fn chain_id(&self) -> Result<u64, NodeError> {
        let id: alloy::primitives::U64 = self.rt.block_on(self.get("eth_chainId", ()))?;
        Ok(id.to())
    }

    fn head(&self) -> Result<HeadRef, NodeError> {
        let h: Option<RpcHeader> = self.rt.block_on(self.get("eth_getBlockByNumber", ("latest", false)))?;
        h.map(head_ref).ok_or_else(|| NodeError("the node has no latest block".into()))
    }

    fn header(&self, number: u64) -> Result<Option<HeadRef>, NodeError> {
        let h: Option<RpcHeader> = self.rt.block_on(self.get("eth_getBlockByNumber", (n(number), false)))?;
        Ok(h.map(head_ref))
    }

    fn block_by_hash(&self, hash: &str) -> Result<Option<HeadRef>, NodeError> {
        let h: Option<RpcHeader> = self.rt.block_on(self.get("eth_getBlockByHash", (hash.to_string(), false)))?;
        Ok(h.map(head_ref))
    }

    fn blocks(&self, from: u64, to: u64) -> Result<Vec<Block>, NodeError> {
        self.rt.block_on(futures::stream::iter(from..=to).map(|h| self.block(h)).buffered(IN_FLIGHT).try_collect())
    }

    fn syncing(&self) -> Result<Option<String>, NodeError> {
        let reply: serde_json::Value = self.rt.block_on(self.get("eth_syncing", ()))?;
        syncing_of(&reply)
    }

    fn token_decimals(&self, contract: &str) -> Result<Option<u8>, NodeError> {
        // decimals() = 0x313ce567; a contract without it reverts or answers nothing.
        let call = serde_json::json!({"to": contract, "data": "0x313ce567"});
        let r = self.rt.block_on(self.call::<_, alloy::primitives::Bytes>("eth_call", (call, "latest")));
        match r {
            Ok(word) if word.len() == 32 && word[..31].iter().all(|b| *b == 0) => Ok(Some(word[31])),
            Ok(_) | Err(RpcError::ErrorResp(_)) => Ok(None),
            Err(e) => Err(NodeError(format!("eth_call decimals() on {contract}: {e}"))),
        }
    }
}

fn head_ref(h: RpcHeader) -> HeadRef {
    HeadRef { number: h.number.to(), hash: hash_str(&h.hash), parent: hash_str(&h.parent_hash) }
}

#[cfg(test)]
mod tests {
    //! The client against a scripted JSON-RPC server on loopback: a node without
    //! `eth_getBlockReceipts` (anvil has it, so the fallback is tested here), and a node whose
    //! receipts belong to another block.

    use super::*;
    use axum::{extract::State, routing::post, Json, Router};
    use serde_json::{json, Value};
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    #[derive(Default)]
    struct Script {
        block_receipts_calls: AtomicUsize,
        /// The block hash receipts claim.
        receipt_block: Mutex<String>,
    }

    const BLOCK: &str = "0x00000000000000000000000000000000000000000000000000000000000000b1";

    fn tx_hash(i: u8) -> String {
        format!("0x{}", format!("{i:02x}").repeat(32))
    }

    async fn answer(State(s): State<Arc<Script>>, Json(req): Json<Value>) -> Json<Value> {
        let result = match req["method"].as_str().unwrap() {
            "eth_chainId" => json!("0x7a69"),
            "eth_getBlockByNumber" => {
                // An OP-style deposit transaction type: only the common fields are read.
                let tx = |i: u8| {
                    json!({"hash": tx_hash(i), "from": format!("0x{}", "11".repeat(20)), "to": format!("0x{}", "22".repeat(20)),
                           "value": "0x5", "type": "0x7e", "sourceHash": "0x01"})
                };
                json!({"number": "0x1", "hash": BLOCK, "parentHash": format!("0x{}", "00".repeat(32)), "timestamp": "0x10",
                       "transactions": [tx(1), tx(2)]})
            }
            "eth_getBlockReceipts" => {
                s.block_receipts_calls.fetch_add(1, Ordering::Relaxed);
                return Json(
                    json!({"jsonrpc": "2.0", "id": req["id"], "error": {"code": -32601, "message": "the method eth_getBlockReceipts does not exist/is not available"}}),
                );
            }
            "eth_getTransactionReceipt" => {
                let h = req["params"][0].as_str().unwrap().to_string();
                let status = if h == tx_hash(2) { "0x0" } else { "0x1" };
                json!({"transactionHash": h, "blockHash": *s.receipt_block.lock().unwrap(), "status": status, "logs": [
                    {"address": format!("0x{}", "33".repeat(20)), "topics": [BLOCK], "data": "0x", "logIndex": if h == tx_hash(1) { "0x0" } else { "0x1" }}]})
            }
            m => panic!("unexpected {m}"),
        };
        Json(json!({"jsonrpc": "2.0", "id": req["id"], "result": result}))
    }

    fn serve(rt: &tokio::runtime::Runtime, script: Arc<Script>) -> String {
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().route("/", post(answer)).with_state(script);
        rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    #[test]
    fn falls_back_to_receipts_per_transaction_and_checks_them_against_the_block() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let script = Arc::new(Script { receipt_block: Mutex::new(BLOCK.into()), ..Script::default() });
        let node =
            RpcNode::new(rt.handle().clone(), serve(&rt, script.clone()), Duration::from_secs(5), Traces::Off, false);
        assert_eq!(node.chain_id().unwrap(), 31337);
        for _ in 0..2 {
            let b = node.blocks(1, 1).unwrap().pop().unwrap();
            assert_eq!(b.txs.iter().map(|t| t.success).collect::<Vec<_>>(), [true, false]);
            assert_eq!(b.logs.iter().map(|l| (l.tx, l.index)).collect::<Vec<_>>(), [(0, 0), (1, 1)]);
        }
        assert_eq!(script.block_receipts_calls.load(Ordering::Relaxed), 1, "asked once, then per transaction");

        *script.receipt_block.lock().unwrap() = tx_hash(9);
        let e = node.blocks(1, 1).unwrap_err();
        assert!(e.0.contains("is from another block"), "{e}");
    }

    /// What [`fixture_node`] serves: a block and its receipts, as the test sets them.
    type Served = Arc<Mutex<(Value, Vec<Value>)>>;

    /// A node serving one block of the fixture and its receipts.
    async fn fixture_node(State(s): State<Served>, Json(req): Json<Value>) -> Json<Value> {
        let (block, receipts) = s.lock().unwrap().clone();
        let result = match req["method"].as_str().unwrap() {
            "eth_getBlockByNumber" => block,
            "eth_getBlockReceipts" => json!(receipts),
            m => panic!("unexpected {m}"),
        };
        Json(json!({"jsonrpc": "2.0", "id": req["id"], "result": result}))
    }

    /// A node on loopback answering with `block` and `receipts` (changeable through the state),
    /// and a verifying client of it (the runtime must outlive both).
    fn serve_fixture(block: Value, receipts: Vec<Value>) -> (tokio::runtime::Runtime, Served, RpcNode) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let state = Arc::new(Mutex::new((block, receipts)));
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().route("/", post(fixture_node)).with_state(state.clone());
        rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
        let node = RpcNode::new(rt.handle().clone(), url, Duration::from_secs(5), Traces::Off, true);
        (rt, state, node)
    }

    #[test]
    fn with_verify_blocks_a_substituted_receipt_is_an_error_naming_the_block_and_the_root() {
        use super::super::verify::fixture::{block, TestTx};
        let to = alloy::primitives::Address::with_last_byte(0xaa);
        let (b, receipts) = block(1, &[TestTx { ty: 2, to, wei: 5 }, TestTx { ty: 0, to, wei: 6 }]);
        let (hash, root) = (b["hash"].as_str().unwrap().to_string(), b["receiptsRoot"].as_str().unwrap().to_string());
        let (rt, state, node) = serve_fixture(b, receipts);
        let got = node.blocks(1, 1).unwrap().pop().unwrap();
        assert_eq!(got.txs.iter().map(|t| t.value[31]).collect::<Vec<_>>(), [5, 6]);
        // The first transaction's receipt says it failed: the receipts no longer hash to the root.
        state.lock().unwrap().1[0]["status"] = json!("0x0");
        let e = node.blocks(1, 1).unwrap_err();
        assert!(e.0.starts_with(&format!("block 1 {hash}: its receipts hash to 0x")), "{e}");
        assert!(e.0.ends_with(&format!("but its header's receiptsRoot is {root}")), "{e}");
        // Without verify_blocks the same answer is taken as the node gives it.
        let unchecked = RpcNode::new(rt.handle().clone(), node.url.clone(), Duration::from_secs(5), Traces::Off, false);
        assert!(!unchecked.blocks(1, 1).unwrap()[0].txs[0].success);
    }

    /// Attack review (issue 14): with verify_blocks, the receipts root commits to each log's
    /// address, topics and data, but not to the fields `normalize` also reads from the node's
    /// JSON: `removed` (a log marked removed is dropped before the plugins see it) and
    /// `logIndex` (a token payment's `index`). A proxy or a lying node can so hide a verified
    /// Transfer (the payment is lost: the block counts as scanned) or give two Transfers one
    /// index (the indexer keys payments by txid and index: one of them is lost), and the block
    /// passes every check. Receipts from `eth_getBlockReceipts` never have `removed: true`, and a
    /// log's index in the block is its position: either disagreeing is an answer to refuse.
    #[test]
    fn with_verify_blocks_unverified_log_fields_cannot_hide_or_merge_verified_logs() {
        use super::super::verify::fixture::{block, TestTx};
        let to = alloy::primitives::Address::with_last_byte(0xaa);
        let (b, receipts) = block(1, &[TestTx { ty: 2, to, wei: 5 }, TestTx { ty: 2, to, wei: 6 }]);
        let (_rt, state, node) = serve_fixture(b, receipts.clone());
        let honest = node.blocks(1, 1).unwrap().pop().unwrap();
        assert_eq!(honest.logs.iter().map(|l| (l.tx, l.index)).collect::<Vec<_>>(), [(0, 0), (1, 1)]);
        // The first log marked removed: the block still verifies, and that log is gone.
        state.lock().unwrap().1[0]["logs"][0]["removed"] = json!(true);
        match node.blocks(1, 1) {
            Err(_) => {}
            Ok(got) => assert_eq!(got[0].logs.len(), 2, "a verified log was dropped on an unverified flag"),
        }
        // Both logs given index 0: the block still verifies, and two payments share one key.
        state.lock().unwrap().1 = receipts.clone();
        state.lock().unwrap().1[0]["logs"][0]["logIndex"] = json!("0x0");
        state.lock().unwrap().1[1]["logs"][0]["logIndex"] = json!("0x0");
        match node.blocks(1, 1) {
            Err(_) => {}
            Ok(got) => assert_eq!(
                got[0].logs.iter().map(|l| l.index).collect::<Vec<_>>(),
                [0, 1],
                "log indexes are taken from an unverified field"
            ),
        }
    }

    #[test]
    fn a_node_that_does_not_answer_is_an_error_naming_it() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let node = RpcNode::new(
            rt.handle().clone(),
            format!("http://127.0.0.1:{port}"),
            Duration::from_secs(2),
            Traces::Off,
            false,
        );
        let e = node.head().unwrap_err();
        assert!(e.0.contains(&format!("127.0.0.1:{port}")), "{e}");
    }
}
