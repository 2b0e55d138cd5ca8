//! Hostile parts beside a real node: a ZMQ publisher that anything on the machine could run
//! (ZMQ is unauthenticated), blocks and transactions forged for it, and an RPC proxy that
//! tampers with `getblock` replies (a man in the middle on plain-HTTP RPC).

use anyhow::{Context, Result};
use bitcoincore_rpc::bitcoin::{
    absolute::LockTime, block, consensus, hashes::Hash, transaction::Version, Address, Amount, Block, BlockHash,
    CompactTarget, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxMerkleNode, TxOut, Txid, Witness,
};
use serde_json::Value;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A ZMQ publisher on a free loopback port, speaking bitcoind's framing (topic, body, 4-byte
/// little-endian sequence number).
pub struct ZmqForger {
    _ctx: zmq::Context,
    socket: zmq::Socket,
    pub endpoint: String,
    seq: u32,
}

impl std::fmt::Debug for ZmqForger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZmqForger").field("endpoint", &self.endpoint).field("seq", &self.seq).finish()
    }
}

impl ZmqForger {
    pub fn bind() -> Result<Self> {
        let ctx = zmq::Context::new();
        let socket = ctx.socket(zmq::PUB)?;
        let endpoint = format!("tcp://127.0.0.1:{}", crate::free_port());
        socket.bind(&endpoint).with_context(|| format!("bind {endpoint}"))?;
        Ok(Self { _ctx: ctx, socket, endpoint, seq: 0 })
    }

    /// Publishes one message under `topic` (`rawblock`, `rawtx`…).
    pub fn publish(&mut self, topic: &str, body: &[u8]) -> Result<()> {
        self.socket.send_multipart([topic.as_bytes(), body, &self.seq.to_le_bytes()], 0)?;
        self.seq += 1;
        Ok(())
    }
}

/// The scriptPubKey of a regtest address.
pub fn script_of(address: &str) -> Result<ScriptBuf> {
    Ok(Address::from_str(address)?.require_network(Network::Regtest)?.script_pubkey())
}

/// A block on top of `prev` whose coinbase pays `sats` to `script`, with regtest proof of work:
/// everything a header check can see is right, but no node has it.
pub fn forged_block(prev: &str, script: ScriptBuf, sats: u64) -> Result<Block> {
    let coinbase = Transaction {
        version: Version::ONE,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: ScriptBuf::from_bytes(b"\x03\x66\x66\x66forged".to_vec()),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut { value: Amount::from_sat(sats), script_pubkey: script }],
    };
    let mut header = block::Header {
        version: block::Version::from_consensus(0x2000_0000),
        prev_blockhash: BlockHash::from_str(prev)?,
        merkle_root: TxMerkleNode::from_raw_hash(coinbase.compute_txid().to_raw_hash()),
        time: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as u32,
        bits: CompactTarget::from_consensus(0x207f_ffff),
        nonce: 0,
    };
    while !header.target().is_met_by(header.block_hash()) {
        header.nonce += 1;
    }
    Ok(Block { header, txdata: vec![coinbase] })
}

/// A transaction paying `sats` to `script` from an outpoint that does not exist.
pub fn forged_tx(script: ScriptBuf, sats: u64) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint { txid: Txid::from_byte_array([0x66; 32]), vout: 0 },
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut { value: Amount::from_sat(sats), script_pubkey: script }],
    }
}

/// `block` with its coinbase's first output paying `script` instead: the real header, other
/// transactions.
pub fn substituted(block: &Block, script: &ScriptBuf) -> Block {
    let mut b = block.clone();
    b.txdata[0].output[0].script_pubkey = script.clone();
    b
}

/// An HTTP JSON-RPC proxy on a free loopback port in front of a node (the proxy's task lives as
/// long as the test's runtime). Told to tamper, it alters each `getblock HASH 0` reply of a
/// block above a height so that its coinbase pays a script: the header stays the node's.
#[derive(Debug, Clone)]
pub struct RpcProxy {
    pub url: String,
    tamper: Arc<std::sync::Mutex<Option<(ScriptBuf, u64)>>>,
    /// `getblock` replies altered so far.
    pub altered: Arc<AtomicUsize>,
}

impl RpcProxy {
    pub async fn start(node_url: &str) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let proxy = Self { url, tamper: Arc::default(), altered: Arc::default() };
        let state = (proxy.clone(), node_url.to_string(), reqwest::Client::new());
        let app = axum::Router::new().fallback(axum::routing::post(forward)).with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(proxy)
    }

    /// Alters every block above `height` that passes through, to pay `script`.
    pub fn tamper_above(&self, height: u64, script: ScriptBuf) {
        *self.tamper.lock().unwrap() = Some((script, height));
    }

    /// Passes everything through unchanged from now on.
    pub fn stop_tampering(&self) {
        *self.tamper.lock().unwrap() = None;
    }
}

async fn forward(
    axum::extract::State((proxy, node, http)): axum::extract::State<(RpcProxy, String, reqwest::Client)>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut req = http.post(&node).body(body.clone()).header("content-type", "application/json");
    if let Some(auth) = headers.get("authorization") {
        req = req.header("authorization", auth);
    }
    let reply = match req.send().await {
        Ok(r) => r,
        Err(e) => return (axum::http::StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = reply.status();
    let bytes = reply.bytes().await.unwrap_or_default();
    let tamper = proxy.tamper.lock().unwrap().clone();
    let out = match (tamper, serde_json::from_slice::<Value>(&body)) {
        (Some((script, above)), Ok(call)) if call["method"] == "getblock" => {
            alter(&bytes, &script, above).inspect(|_| {
                proxy.altered.fetch_add(1, Ordering::Relaxed);
            })
        }
        _ => None,
    };
    (status, out.unwrap_or_else(|| bytes.to_vec())).into_response()
}

/// The reply with the block's coinbase paying `script`, for a block above `above` (its height
/// read from the coinbase, BIP 34); None to pass it unchanged.
fn alter(reply: &[u8], script: &ScriptBuf, above: u64) -> Option<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(reply).ok()?;
    let raw = hex::decode(v["result"].as_str()?).ok()?;
    let block: Block = consensus::deserialize(&raw).ok()?;
    if block.bip34_block_height().ok()? <= above {
        return None;
    }
    v["result"] = Value::String(hex::encode(consensus::serialize(&substituted(&block, script))));
    serde_json::to_vec(&v).ok()
}
