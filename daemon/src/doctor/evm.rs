//! An EVM chain's node: requests over `http_url` (or the WebSocket when there is none):
//! `eth_chainId`, `eth_syncing`, `eth_getBlockByNumber`, and the traces the config asks for
//! (`trace_block` or `debug_traceBlockByNumber`); an `eth_subscribe newHeads` on `ws_url`.
//! The verdicts are pure functions of the answers, unit-tested on canned ones.

use super::{key, skew_text, Check, CALL_TIMEOUT, MAX_SKEW_SECS};
use crate::config::{ChainConfig, EvmNode, Traces};
use alloy::providers::{Provider, ProviderBuilder, WsConnect};
use alloy::rpc::client::{ClientBuilder, RpcClient};
use serde_json::{json, Value};

/// A head older than this on a chain that makes blocks steadily: the node stopped following.
const MAX_HEAD_AGE_SECS: i64 = 600;
/// Chain ids of development nodes (anvil, Hardhat, Ganache), which mine only on demand.
const DEV_CHAINS: [u64; 2] = [31337, 1337];

/// Why a request got no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Fail {
    Transport(String),
    /// The node's JSON-RPC error.
    Node {
        code: i64,
        message: String,
    },
}

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fail::Transport(e) => write!(f, "{e}"),
            Fail::Node { code, message } => write!(f, "{message} (code {code})"),
        }
    }
}

impl Fail {
    /// "Method not found" (-32601) and the wordings nodes use for it.
    fn is_method_missing(&self) -> bool {
        match self {
            Fail::Node { code, message } => {
                let m = message.to_lowercase();
                *code == -32601
                    || m.contains("not found")
                    || m.contains("not supported")
                    || m.contains("does not exist")
            }
            Fail::Transport(_) => false,
        }
    }
}

/// Where requests go.
enum Requests {
    Http(reqwest::Client, String),
    Ws(RpcClient),
}

impl Requests {
    async fn new(node: &EvmNode) -> Result<Self, Fail> {
        match &node.http_url {
            Some(url) => reqwest::Client::builder()
                .no_proxy()
                .timeout(CALL_TIMEOUT)
                .build()
                .map(|c| Requests::Http(c, url.to_string()))
                .map_err(|e| Fail::Transport(format!("cannot build an HTTP client: {e}"))),
            None => tokio::time::timeout(CALL_TIMEOUT, ClientBuilder::default().connect(node.ws_url.as_str()))
                .await
                .map_err(|_| Fail::Transport(format!("no WebSocket handshake within {} s", CALL_TIMEOUT.as_secs())))?
                .map(Requests::Ws)
                .map_err(|e| Fail::Transport(e.to_string())),
        }
    }

    async fn call(&self, method: &'static str, params: Value) -> Result<Value, Fail> {
        match self {
            Requests::Http(client, url) => {
                let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
                let reply = client
                    .post(url)
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| Fail::Transport(e.without_url().to_string()))?;
                let status = reply.status();
                let answer: Value =
                    reply.json().await.map_err(|e| Fail::Transport(format!("HTTP {status}: {}", e.without_url())))?;
                match answer.get("error") {
                    Some(e) if !e.is_null() => Err(Fail::Node {
                        code: e["code"].as_i64().unwrap_or_default(),
                        message: e["message"].as_str().unwrap_or_default().to_string(),
                    }),
                    _ => Ok(answer["result"].clone()),
                }
            }
            Requests::Ws(client) => {
                let r = tokio::time::timeout(CALL_TIMEOUT, client.request::<Value, Value>(method, params))
                    .await
                    .map_err(|_| Fail::Transport(format!("no answer within {} s", CALL_TIMEOUT.as_secs())))?;
                r.map_err(|e| match e {
                    alloy::transports::RpcError::ErrorResp(p) => {
                        Fail::Node { code: p.code, message: p.message.to_string() }
                    }
                    e => Fail::Transport(e.to_string()),
                })
            }
        }
    }
}

fn hex_u64(v: &Value) -> Option<u64> {
    u64::from_str_radix(v.as_str()?.trim_start_matches("0x"), 16).ok()
}

/// Every check of one EVM chain.
pub(super) async fn check(chain: &ChainConfig, node: &EvmNode) -> Vec<Check> {
    let name = chain.name.as_str();
    let c = Some(name);
    let (url, url_key) = match &node.http_url {
        Some(u) => (u.as_str(), key(name, "http_url")),
        None => (node.ws_url.as_str(), key(name, "ws_url")),
    };
    let shown = crate::config::redact_url(url);
    let mut out = Vec::new();
    let ready = match Requests::new(node).await {
        Ok(r) => r.call("eth_chainId", json!([])).await.map(|id| (r, id)),
        Err(e) => Err(e),
    };
    match ready {
        Ok((requests, id)) => {
            out.push(Check::ok("rpc", c, format!("the node answers at {shown}")));
            out.push(chain_id(name, node.chain_id, hex_u64(&id)));
            out.push(match requests.call("eth_syncing", json!([])).await {
                Ok(reply) => synced(name, &reply),
                Err(e) => Check::problem(
                    "synced",
                    c,
                    format!("eth_syncing: {e}"),
                    format!("point {url_key} at an Ethereum JSON-RPC node"),
                ),
            });
            let latest = requests.call("eth_getBlockByNumber", json!(["latest", false])).await;
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let head = latest.as_ref().ok().map(|b| (hex_u64(&b["number"]), hex_u64(&b["timestamp"])));
            out.push(match head {
                Some((_, Some(ts))) => clock(name, node.chain_id, ts as i64, now),
                _ => Check::warning(
                    "clock",
                    c,
                    "the node did not give its latest block's timestamp",
                    "check the node's logs",
                ),
            });
            let tip = head.and_then(|(n, _)| n);
            if let Some(start) = chain.start_height {
                out.push(history(
                    name,
                    start,
                    tip,
                    &requests
                        .call("eth_getBlockByNumber", json!([format!("{:#x}", start.saturating_sub(1)), false]))
                        .await,
                ));
            }
            if node.traces != Traces::Off {
                let at = chain.start_height.or(tip).unwrap_or_default();
                let (method, params) = match node.traces {
                    Traces::Parity => ("trace_block", json!([format!("{at:#x}")])),
                    _ => ("debug_traceBlockByNumber", json!([format!("{at:#x}"), {"tracer": "callTracer"}])),
                };
                out.push(traces(name, node.traces, at, &requests.call(method, params).await.map(|_| ())));
            }
        }
        Err(e) => out.push(Check::problem(
            "rpc",
            c,
            format!("cannot reach the node at {shown}: {e}"),
            format!("start the node with its JSON-RPC enabled (geth: --http, --ws) and check {url_key}"),
        )),
    }
    out.push(subscription(
        name,
        &crate::config::redact_url(node.ws_url.as_str()),
        &subscribe(node.ws_url.as_str()).await,
    ));
    out
}

/// `eth_subscribe newHeads` on the WebSocket, as the follower's trigger does it.
async fn subscribe(ws_url: &str) -> Result<(), String> {
    let connect = ProviderBuilder::new().disable_recommended_fillers().connect_ws(WsConnect::new(ws_url));
    let provider = tokio::time::timeout(CALL_TIMEOUT, connect)
        .await
        .map_err(|_| format!("no WebSocket handshake within {} s", CALL_TIMEOUT.as_secs()))?
        .map_err(|e| format!("cannot connect: {e}"))?;
    let sub = tokio::time::timeout(CALL_TIMEOUT, async { provider.subscribe::<_, Value>(("newHeads",)).await })
        .await
        .map_err(|_| format!("no answer to eth_subscribe within {} s", CALL_TIMEOUT.as_secs()))?
        .map_err(|e| format!("eth_subscribe newHeads refused: {e}"))?;
    drop(sub);
    Ok(())
}

/// `chain_id`: the node's `eth_chainId` is the configured one.
pub(super) fn chain_id(chain: &str, configured: u64, node: Option<u64>) -> Check {
    let c = Some(chain);
    match node {
        Some(id) if id == configured => Check::ok("chain_id", c, format!("{id}")),
        Some(id) => Check::problem(
            "chain_id",
            c,
            format!(
                "the node serves chain {id}, the config says {} = {configured}: the follower would refuse it",
                key(chain, "chain_id")
            ),
            format!("set {} = {id}, or point the chain's URLs at a node of chain {configured}", key(chain, "chain_id")),
        ),
        None => Check::problem(
            "chain_id",
            c,
            "eth_chainId gave no number",
            "point the chain's URLs at an Ethereum JSON-RPC node",
        ),
    }
}

/// `synced`: `eth_syncing` is `false`.
pub(super) fn synced(chain: &str, reply: &Value) -> Check {
    let c = Some(chain);
    match reply {
        Value::Bool(false) => Check::ok("synced", c, "eth_syncing: false"),
        other => {
            let at = match (hex_u64(&other["currentBlock"]), hex_u64(&other["highestBlock"])) {
                (Some(a), Some(b)) => format!("at block {a} of {b}"),
                _ => other.to_string(),
            };
            Check::problem(
                "synced",
                c,
                format!("the node is syncing ({at})"),
                "wait until it is synced before taking payments: the follower waits for it meanwhile and payments are not seen",
            )
        }
    }
}

/// `clock`: the latest block's timestamp against this machine's clock. A block from the
/// future means a clock is off (this machine's behind, or the node's chain's); an old head on
/// a chain that makes blocks steadily means the node stopped following (or this machine's
/// clock is ahead). A development chain mines on demand: its head's age says nothing.
pub(super) fn clock(chain: &str, chain_id: u64, block_time: i64, now: i64) -> Check {
    let c = Some(chain);
    let age = now - block_time;
    let ntp = "run NTP (chrony, systemd-timesyncd): invoices expire and rates age by this machine's clock";
    if -age > MAX_SKEW_SECS {
        return Check::warning(
            "clock",
            c,
            format!("the latest block's timestamp is {}: this machine's clock is behind", skew_text(-age)),
            ntp,
        );
    }
    if DEV_CHAINS.contains(&chain_id) {
        return Check::ok(
            "clock",
            c,
            format!("the latest block is {age} s old (a development chain mines on demand: its age says nothing of the clocks)"),
        );
    }
    if age > MAX_HEAD_AGE_SECS {
        return Check::warning(
            "clock",
            c,
            format!("the latest block is {age} s old: the node is not following its chain (no peers, stalled), or this machine's clock is ahead"),
            format!("check the node's peers and sync; {ntp}"),
        );
    }
    Check::ok("clock", c, format!("the latest block is {age} s old"))
}

/// `history`: the node serves the block before `start_height`, where the follower starts.
pub(super) fn history(chain: &str, start: u64, tip: Option<u64>, block: &Result<Value, Fail>) -> Check {
    let c = Some(chain);
    let at = key(chain, "start_height");
    match (block, tip) {
        (Ok(b), _) if !b.is_null() => {
            Check::ok("history", c, format!("the node serves block {} ({at} = {start})", start.saturating_sub(1)))
        }
        (_, Some(tip)) if start > tip => Check::warning(
            "history",
            c,
            format!("{at} = {start} is above the node's head {tip}: the follower waits for it"),
            format!("check {at}"),
        ),
        (r, _) => Check::problem(
            "history",
            c,
            format!(
                "the node does not serve block {} ({at} = {start}){}",
                start.saturating_sub(1),
                r.as_ref().err().map(|e| format!(": {e}")).unwrap_or_default()
            ),
            format!("point the chain at a node that keeps its whole history (no history expiry), or raise {at}"),
        ),
    }
}

/// `traces`: the node traces a block the follower will trace (the first it scans).
pub(super) fn traces(chain: &str, traces: Traces, at: u64, traced: &Result<(), Fail>) -> Check {
    let c = Some(chain);
    let method = if traces == Traces::Parity { "trace_block" } else { "debug_traceBlockByNumber" };
    let setting = key(chain, "traces");
    match traced {
        Ok(()) => Check::ok("traces", c, format!("{method} answers (block {at})")),
        Err(e) if e.is_method_missing() => Check::problem(
            "traces",
            c,
            format!("the node has no {method} ({e}): Ether sent by contracts would not be seen, and the chain stops at the first block with transactions"),
            format!(
                "use a node that serves it ({}), set {setting} to the style the node has, or {setting} = \"off\" (Ether sent by contracts is then not seen)",
                if traces == Traces::Parity { "Erigon, Nethermind, Reth" } else { "Geth, Reth" }
            ),
        ),
        Err(e) => Check::problem(
            "traces",
            c,
            format!("{method} of block {at}: {e}"),
            format!("tracing old blocks needs an archive node: use one, raise {}, or set {setting} = \"off\"", key(chain, "start_height")),
        ),
    }
}

/// `websocket`: the newHeads subscription the follower's trigger relies on.
pub(super) fn subscription(chain: &str, ws_url: &str, subscribed: &Result<(), String>) -> Check {
    let c = Some(chain);
    match subscribed {
        Ok(()) => Check::ok("websocket", c, format!("eth_subscribe newHeads accepted at {ws_url}")),
        Err(e) => Check::problem(
            "websocket",
            c,
            format!("{ws_url}: {e}: new blocks are noticed only by polling"),
            format!(
                "enable the node's WebSocket with the eth API (geth: --ws --ws.api eth; reth: --ws) and check {}",
                key(chain, "ws_url")
            ),
        ),
    }
}
