//! A Bitcoin-family chain's node, over its JSON-RPC (`getblockchaininfo`, `getblockhash 0`,
//! `getzmqnotifications` or Bitcoin SV's `activezmqnotifications`) and its ZMQ endpoints
//! (`zmq.rs`). The client is our own small one on reqwest, not the follower's: the checks need
//! the HTTP status (a 401 names the credentials) and the `Date` header (the node's clock).
//! The verdicts are pure functions of the node's answers, unit-tested on canned ones.

use super::zmq::{self, Listed, Notification};
use super::{key, skew_text, Check, CALL_TIMEOUT, MAX_SKEW_SECS};
use crate::chain::bitcoin::{expected_genesis, network_name};
use crate::config::{BitcoinNetwork, BitcoinNode, ChainConfig, RpcAuth};
use serde_json::{json, Value};
use time::OffsetDateTime;

/// Why a call got no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Fail {
    /// No HTTP answer: refused, timed out, unreadable cookie…
    Transport(String),
    /// An HTTP status without a JSON-RPC answer (401: credentials; 403: `-rpcallowip`).
    Status(u16),
    /// The node's JSON-RPC error (-32601: no such method).
    Node { code: i64, message: String },
    /// An answer that is not JSON-RPC.
    Bad(String),
}

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fail::Transport(e) => write!(f, "{e}"),
            Fail::Status(s) => write!(f, "HTTP {s}"),
            Fail::Node { code, message } => write!(f, "{message} (code {code})"),
            Fail::Bad(e) => write!(f, "unexpected reply: {e}"),
        }
    }
}

/// `getblockchaininfo`, the fields the checks read (Bitcoin Core and Bitcoin SV alike;
/// `initialblockdownload` and `pruneheight` are absent on some nodes).
#[derive(Debug, Clone, serde::Deserialize)]
pub(super) struct ChainInfo {
    pub(super) chain: String,
    pub(super) blocks: u64,
    pub(super) headers: u64,
    #[serde(default)]
    pub(super) initialblockdownload: Option<bool>,
    #[serde(default)]
    pub(super) pruned: bool,
    #[serde(default)]
    pub(super) pruneheight: Option<u64>,
}

struct Rpc {
    http: reqwest::Client,
    url: String,
    /// `url` without credentials, as the checks show it.
    shown: String,
    user: String,
    password: String,
}

impl Rpc {
    /// The client, or why the cookie file cannot be read.
    fn new(node: &BitcoinNode) -> Result<Self, String> {
        let (user, password) = match &node.rpc_auth {
            RpcAuth::UserPass { user, password } => (user.clone(), password.expose().to_string()),
            RpcAuth::Cookie(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                let (u, p) = text
                    .trim()
                    .split_once(':')
                    .ok_or_else(|| format!("{} is not a cookie file (user:password)", path.display()))?;
                (u.to_string(), p.to_string())
            }
        };
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(CALL_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        let url = node.rpc_url.to_string();
        Ok(Self { http, shown: crate::config::redact_url(&url), url, user, password })
    }

    /// One call: its result and the time the reply's `Date` header gives.
    async fn call(&self, method: &str, params: Value) -> Result<(Value, Option<OffsetDateTime>), Fail> {
        let body = json!({"jsonrpc": "1.0", "id": "paywatch-doctor", "method": method, "params": params});
        let reply = self
            .http
            .post(&self.url)
            .basic_auth(&self.user, Some(&self.password))
            .json(&body)
            .send()
            .await
            .map_err(|e| Fail::Transport(without_url(e)))?;
        let status = reply.status().as_u16();
        let date = reply.headers().get(reqwest::header::DATE).and_then(|d| d.to_str().ok()).and_then(http_date);
        let text = reply.text().await.map_err(|e| Fail::Transport(without_url(e)))?;
        // Bitcoin Core answers errors with 404/500 and a JSON-RPC body: the body decides.
        let Ok(answer) = serde_json::from_str::<Value>(&text) else {
            return Err(if status == 200 { Fail::Bad(text.chars().take(200).collect()) } else { Fail::Status(status) });
        };
        match answer.get("error") {
            Some(e) if !e.is_null() => Err(Fail::Node {
                code: e["code"].as_i64().unwrap_or_default(),
                message: e["message"].as_str().unwrap_or_default().to_string(),
            }),
            _ => Ok((answer["result"].clone(), date)),
        }
    }
}

/// reqwest's error text without the URL (which may hold credentials).
fn without_url(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

/// An HTTP `Date` header (`Wed, 02 Dec 2026 09:36:24 GMT`).
pub(super) fn http_date(s: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(s.trim(), format).ok().map(time::PrimitiveDateTime::assume_utc)
}

/// Every check of one Bitcoin-family chain.
pub(super) async fn check(chain: &ChainConfig, node: &BitcoinNode) -> Vec<Check> {
    let name = chain.name.as_str();
    let rpc = match Rpc::new(node) {
        Ok(rpc) => rpc,
        Err(e) => {
            let fix = format!(
                "point {} at the node's cookie file (DATADIR/.cookie, or DATADIR/NETWORK/.cookie off mainnet; rewritten at each start) and let this user read it",
                key(name, "rpc_cookie")
            );
            let mut out = vec![Check::problem("credentials", Some(name), e, fix)];
            out.extend(zmq::probe_all(name, &node.zmq).await);
            return out;
        }
    };
    let before = OffsetDateTime::now_utc();
    let answer = rpc.call("getblockchaininfo", json!([])).await;
    let after = OffsetDateTime::now_utc();
    let mut out = reached(name, node, &rpc.shown, answer.as_ref().map(|_| ()));
    let Ok((info, date)) = answer else {
        out.extend(zmq::probe_all(name, &node.zmq).await);
        return out;
    };
    let info: ChainInfo = match serde_json::from_value(info) {
        Ok(i) => i,
        Err(e) => {
            let detail = format!("getblockchaininfo: unexpected reply: {e}");
            out.push(Check::problem("network", Some(name), detail, "point rpc_url at a bitcoind-family node"));
            return out;
        }
    };
    let genesis = rpc.call("getblockhash", json!([0])).await.map(|(v, _)| v.as_str().unwrap_or_default().to_string());
    out.push(network(name, node, &info.chain, genesis.as_deref().ok()));
    out.push(synced(name, &info));
    out.push(pruning(name, chain.start_height, &info));
    out.push(clock(name, date, before + (after - before) / 2));
    let listed = match rpc.call("getzmqnotifications", json!([])).await {
        Err(Fail::Node { code: -32601, .. }) => match rpc.call("activezmqnotifications", json!([])).await {
            Err(Fail::Node { code: -32601, .. }) => {
                Listed::Unavailable("it has neither getzmqnotifications nor activezmqnotifications".into())
            }
            r => listed_of("activezmqnotifications", r),
        },
        r => listed_of("getzmqnotifications", r),
    };
    out.extend(zmq::topics(name, &node.zmq, &listed, node.poll_secs));
    out.extend(zmq::probe_all(name, &node.zmq).await);
    out
}

fn listed_of(method: &'static str, r: Result<(Value, Option<OffsetDateTime>), Fail>) -> Listed {
    match r.map(|(v, _)| serde_json::from_value::<Vec<Notification>>(v)) {
        Ok(Ok(list)) => Listed::By(method, list),
        Ok(Err(e)) => Listed::Unavailable(format!("{method}: unexpected reply: {e}")),
        Err(e) => Listed::Unavailable(format!("{method}: {e}")),
    }
}

/// `rpc` (the node answers) and `credentials` (it takes ours), from the first call.
pub(super) fn reached(chain: &str, node: &BitcoinNode, url: &str, first: Result<(), &Fail>) -> Vec<Check> {
    let c = Some(chain);
    let creds = match &node.rpc_auth {
        RpcAuth::UserPass { .. } => format!("{} / {}", key(chain, "rpc_user"), key(chain, "rpc_password")),
        RpcAuth::Cookie(p) => format!("the cookie of {} ({})", key(chain, "rpc_cookie"), p.display()),
    };
    let answered = || Check::ok("rpc", c, format!("the node answers at {url}"));
    match first {
        Ok(()) => vec![answered(), Check::ok("credentials", c, format!("accepted: {creds}"))],
        Err(Fail::Status(401)) => {
            let fix = match &node.rpc_auth {
                RpcAuth::UserPass { .. } => format!(
                    "set {} and {} to the node's -rpcuser/-rpcpassword (or an -rpcauth entry), or use {} = \"DATADIR/.cookie\"",
                    key(chain, "rpc_user"), key(chain, "rpc_password"), key(chain, "rpc_cookie")
                ),
                RpcAuth::Cookie(_) => format!(
                    "point {} at the running node's cookie (the node writes a new one at every start; with -rpcuser set it writes none)",
                    key(chain, "rpc_cookie")
                ),
            };
            vec![
                Check::ok("rpc", c, format!("the node answers at {url} (HTTP 401)")),
                Check::problem("credentials", c, format!("the node refused {creds} (HTTP 401 Unauthorized)"), fix),
            ]
        }
        Err(Fail::Status(403)) => vec![Check::problem(
            "rpc",
            c,
            format!("the node at {url} refuses this machine's address (HTTP 403 Forbidden)"),
            "allow it in bitcoind's config: -rpcallowip=ADDRESS (and -rpcbind on an address this machine reaches)",
        )],
        Err(Fail::Transport(e)) => vec![Check::problem(
            "rpc",
            c,
            format!("cannot reach the node at {url}: {e}"),
            format!(
                "start bitcoind with -server=1, and check {}: the port is the node's -rpcport (Bitcoin Core: 8332 mainnet, 18332 testnet, 48332 testnet4, 38332 signet, 18443 regtest), and -rpcbind/-rpcallowip must let this machine in",
                key(chain, "rpc_url")
            ),
        )],
        // -28: warming up (loading the block index, verifying blocks).
        Err(Fail::Node { code: -28, message }) => vec![Check::problem(
            "rpc",
            c,
            format!("the node at {url} is still starting: {message}"),
            "wait until it has started, then run paywatch doctor again",
        )],
        Err(e) => vec![Check::problem(
            "rpc",
            c,
            format!("getblockchaininfo at {url}: {e}"),
            format!("point {} at a bitcoind-family node's RPC", key(chain, "rpc_url")),
        )],
    }
}

/// The config's `network` as `getblockchaininfo`'s `chain` says it (Bitcoin Core and SV).
fn chain_name(n: BitcoinNetwork) -> &'static str {
    match n {
        BitcoinNetwork::Mainnet => "main",
        BitcoinNetwork::Testnet => "test",
        BitcoinNetwork::Testnet4 => "testnet4",
        BitcoinNetwork::Signet => "signet",
        BitcoinNetwork::Regtest => "regtest",
    }
}

/// The node's `chain` as the config spells a network, when it is one.
fn config_name(chain: &str) -> Option<&'static str> {
    [
        BitcoinNetwork::Mainnet,
        BitcoinNetwork::Testnet,
        BitcoinNetwork::Testnet4,
        BitcoinNetwork::Signet,
        BitcoinNetwork::Regtest,
    ]
    .into_iter()
    .find(|n| chain_name(*n) == chain)
    .map(network_name)
}

/// `network`: the node's chain (`getblockchaininfo`) is the configured one, and its genesis
/// block (`getblockhash 0`) the one the follower will insist on.
pub(super) fn network(chain: &str, node: &BitcoinNode, node_chain: &str, genesis: Option<&str>) -> Check {
    let c = Some(chain);
    let configured = network_name(node.network);
    if node_chain != chain_name(node.network) {
        let theirs = config_name(node_chain).map_or_else(|| node_chain.to_string(), str::to_string);
        return Check::problem(
            "network",
            c,
            format!(
                "the node is on {node_chain:?} ({theirs}), the config says {} = {configured:?}: the follower would refuse it",
                key(chain, "network")
            ),
            format!(
                "set {} = {theirs:?}, or point {} at a {configured} node",
                key(chain, "network"),
                key(chain, "rpc_url")
            ),
        );
    }
    let (expected, from) = expected_genesis(node);
    match genesis {
        Some(g) if g != expected => Check::problem(
            "network",
            c,
            format!("the node's genesis block is {g}, not {expected} ({from}): the follower would refuse it"),
            format!(
                "point {} at a node of the configured coin, or set {} to its genesis block",
                key(chain, "rpc_url"),
                key(chain, "genesis_hash")
            ),
        ),
        Some(_) => Check::ok("network", c, format!("{node_chain:?}, genesis block as {from} says")),
        None => Check::ok("network", c, format!("{node_chain:?} (the genesis block was not read)")),
    }
}

/// `synced`: not in initial block download, blocks caught up with headers.
pub(super) fn synced(chain: &str, info: &ChainInfo) -> Check {
    let c = Some(chain);
    if info.initialblockdownload == Some(true) {
        return Check::problem(
            "synced",
            c,
            format!("the node is in initial block download, at height {} of {}", info.blocks, info.headers),
            "wait until it is synced before taking payments: payments in blocks it has not reached are not seen, and invoices expire meanwhile",
        );
    }
    if info.headers > info.blocks + 1 {
        return Check::warning(
            "synced",
            c,
            format!(
                "the node's blocks are {} behind its headers (at {} of {})",
                info.headers - info.blocks,
                info.blocks,
                info.headers
            ),
            "let it catch up; if it stays behind, see its log and `getchaintips` (an invalid or invalidated block)",
        );
    }
    Check::ok("synced", c, format!("at height {} of {} headers", info.blocks, info.headers))
}

/// `pruning`: a pruned node must still have the block before `start_height` (the first the
/// follower reads), and it drops blocks the daemon has not scanned while it is stopped.
pub(super) fn pruning(chain: &str, start_height: Option<u64>, info: &ChainInfo) -> Check {
    let c = Some(chain);
    if !info.pruned {
        return Check::ok("pruning", c, "the node keeps every block");
    }
    let lowest = info.pruneheight.unwrap_or_default();
    let downtime = "keep the daemon running: after a downtime longer than the node keeps blocks, the blocks it missed are gone and their payments are never seen; an unpruned node (no -prune) avoids this";
    match start_height {
        Some(start) if start.saturating_sub(1) < lowest => Check::problem(
            "pruning",
            c,
            format!(
                "the node is pruned: its lowest block is {lowest}, but {} = {start} needs block {} and every one above it",
                key(chain, "start_height"),
                start.saturating_sub(1)
            ),
            format!(
                "resync the node without -prune (or from before height {start}), point {} at an unpruned node, or set {} to {} or above (payments below it are not seen)",
                key(chain, "rpc_url"),
                key(chain, "start_height"),
                lowest + 1
            ),
        ),
        Some(start) => Check::warning(
            "pruning",
            c,
            format!("the node is pruned (its lowest block is {lowest}; {} = {start} is above it)", key(chain, "start_height")),
            downtime,
        ),
        None => Check::warning("pruning", c, format!("the node is pruned (its lowest block is {lowest})"), downtime),
    }
}

/// `clock`: the node's clock (its reply's `Date`) against this machine's at the request.
pub(super) fn clock(chain: &str, node: Option<OffsetDateTime>, local: OffsetDateTime) -> Check {
    let c = Some(chain);
    let Some(node) = node else {
        return Check::warning(
            "clock",
            c,
            "the node's reply has no Date header: its clock was not compared",
            "make sure both machines run NTP (chrony, systemd-timesyncd)",
        );
    };
    let skew = (node - local).whole_seconds();
    if skew.abs() > MAX_SKEW_SECS {
        return Check::warning(
            "clock",
            c,
            format!("the node's clock is {} (over {MAX_SKEW_SECS} s)", skew_text(skew)),
            "run NTP (chrony, systemd-timesyncd) on both machines: invoices expire and rates age by this machine's clock, blocks are timed by the node's",
        );
    }
    Check::ok("clock", c, format!("the node's clock is {}", skew_text(skew)))
}
