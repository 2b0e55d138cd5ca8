//! What ties a fetched EVM block to the hash chain the follower links by: its header hashes
//! (keccak of its RLP) to the block's hash, each transaction hashes (keccak of its EIP-2718
//! encoding) to the hash the node gave it, and the transactions and the receipts hash to the
//! header's `transactionsRoot` and `receiptsRoot`. So a transaction or receipt the node (or
//! anything between it and us) substituted is refused, whatever its JSON says.
//!
//! Blocks whose transactions are all of Ethereum's types (legacy, EIP-2930, 1559, 4844, 7702)
//! are checked in full. A block with a type of another chain (OP-stack deposits, Arbitrum's)
//! cannot be re-encoded here: it is checked by its header hash only ([`Checked::HeaderOnly`]).

use alloy::consensus::proofs::ordered_trie_root_encoded;
use alloy::consensus::transaction::{from_eip155_value, RlpEcdsaEncodableTx};
use alloy::consensus::{
    Eip658Value, Header, Receipt, RlpEncodableReceipt, TxEip1559, TxEip2930, TxEip4844, TxEip7702, TxLegacy,
};
use alloy::primitives::{keccak256, Address, Bloom, Bytes, Log, Signature, B256, U256, U64};
use serde::Deserialize;
use serde_json::value::RawValue;

/// How much of a block was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checked {
    /// Header hash, every transaction hash, both roots.
    Full,
    /// The header hash only: a transaction is of this type, not one of Ethereum's.
    HeaderOnly { tx_type: u64 },
}

/// A block that does not hash to what the chain vouches for. Transient for the follower: the
/// block is fetched again, and the chain is `degraded` with this message meanwhile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum VerifyError {
    #[error("the block's header cannot be read: {0}")]
    HeaderUnreadable(String),
    #[error("block {number} {hash}: cannot be checked: {reason}")]
    Unreadable { number: u64, hash: B256, reason: String },
    #[error("block {number}: its header hashes to {computed}, not to {hash} as the node says")]
    HeaderHash { number: u64, hash: B256, computed: B256 },
    #[error("block {number} {hash}: transaction {index} hashes to {computed}, not to {claimed} as the node says")]
    TxHash { number: u64, hash: B256, index: usize, claimed: B256, computed: B256 },
    #[error(
        "block {number} {hash}: its transactions hash to {computed}, but its header's transactionsRoot is {header}"
    )]
    TransactionsRoot { number: u64, hash: B256, header: B256, computed: B256 },
    #[error("block {number} {hash}: its receipts hash to {computed}, but its header's receiptsRoot is {header}")]
    ReceiptsRoot { number: u64, hash: B256, header: B256, computed: B256 },
}

/// The fields of a transaction's JSON that are not its type's own: type, hash, signature.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TxMeta {
    #[serde(rename = "type", default)]
    ty: U64,
    hash: B256,
    /// The signature; other chains' types may have none.
    r: Option<U256>,
    s: Option<U256>,
    v: Option<U256>,
    y_parity: Option<U64>,
}

#[derive(Debug, Deserialize)]
struct BlockJson {
    hash: B256,
    transactions: Vec<Box<RawValue>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReceiptJson {
    #[serde(rename = "type", default)]
    ty: U64,
    /// Absent before Byzantium, which had `root` instead.
    status: Option<U64>,
    root: Option<B256>,
    cumulative_gas_used: U64,
    logs_bloom: Bloom,
    logs: Vec<LogJson>,
}

#[derive(Debug, Deserialize)]
struct LogJson {
    address: Address,
    topics: Vec<B256>,
    data: Bytes,
}

/// The highest transaction type of Ethereum (EIP-7702).
const LAST_ETHEREUM_TYPE: u64 = 4;

/// Checks a block (the node's JSON, with full transactions) and its receipts (in transaction
/// order; their count and hashes are `normalize`'s to check) against its header.
pub(crate) fn verify(block: &str, receipts: &[Box<RawValue>]) -> Result<Checked, VerifyError> {
    let header: Header = serde_json::from_str(block).map_err(|e| VerifyError::HeaderUnreadable(e.to_string()))?;
    let number = header.number;
    let computed = header.hash_slow();
    let unreadable = |hash, what: &str, e: serde_json::Error| VerifyError::Unreadable {
        number,
        hash,
        reason: format!("{what}: {e}"),
    };
    let body: BlockJson = serde_json::from_str(block).map_err(|e| unreadable(computed, "block", e))?;
    let hash = body.hash;
    if computed != hash {
        return Err(VerifyError::HeaderHash { number, hash, computed });
    }
    let mut txs = Vec::with_capacity(body.transactions.len());
    for (index, raw) in body.transactions.iter().enumerate() {
        let meta: TxMeta = serde_json::from_str(raw.get()).map_err(|e| unreadable(hash, "transaction", e))?;
        let ty = meta.ty.to::<u64>();
        if ty > LAST_ETHEREUM_TYPE {
            return Ok(Checked::HeaderOnly { tx_type: ty });
        }
        let encoded =
            encode_tx(ty, &meta, raw.get()).map_err(|e| unreadable(hash, &format!("transaction {index}"), e))?;
        let computed = keccak256(&encoded);
        if computed != meta.hash {
            return Err(VerifyError::TxHash { number, hash, index, claimed: meta.hash, computed });
        }
        txs.push(encoded);
    }
    let computed = ordered_trie_root_encoded(&txs);
    if computed != header.transactions_root {
        return Err(VerifyError::TransactionsRoot { number, hash, header: header.transactions_root, computed });
    }
    let mut encoded = Vec::with_capacity(receipts.len());
    for raw in receipts {
        let r: ReceiptJson = serde_json::from_str(raw.get()).map_err(|e| unreadable(hash, "receipt", e))?;
        encoded.push(encode_receipt(r).map_err(|e| unreadable(hash, "receipt", e))?);
    }
    let computed = ordered_trie_root_encoded(&encoded);
    if computed != header.receipts_root {
        return Err(VerifyError::ReceiptsRoot { number, hash, header: header.receipts_root, computed });
    }
    Ok(Checked::Full)
}

/// A transaction of one of Ethereum's types, EIP-2718 encoded (what its hash and the
/// transactions root are taken over).
fn encode_tx(ty: u64, meta: &TxMeta, json: &str) -> Result<Vec<u8>, serde_json::Error> {
    use serde::de::Error;
    let (r, s) = meta.r.zip(meta.s).ok_or_else(|| Error::custom("no signature (r, s)"))?;
    let typed_parity = || match (meta.y_parity, meta.v) {
        (Some(p), _) => Ok(p == U64::from(1)),
        (None, Some(v)) if v <= U256::from(1) => Ok(v == U256::from(1)),
        _ => Err(serde_json::Error::custom("no yParity")),
    };
    let mut out = Vec::new();
    match ty {
        0 => {
            let v = meta.v.and_then(|v| u128::try_from(v).ok()).ok_or_else(|| Error::custom("no v"))?;
            let (parity, chain_id) = from_eip155_value(v).ok_or_else(|| Error::custom(format!("v {v}")))?;
            let tx = TxLegacy { chain_id, ..serde_json::from_str(json)? };
            tx.eip2718_encode(&Signature::new(r, s, parity), &mut out);
        }
        1 => serde_json::from_str::<TxEip2930>(json)?.eip2718_encode(&Signature::new(r, s, typed_parity()?), &mut out),
        2 => serde_json::from_str::<TxEip1559>(json)?.eip2718_encode(&Signature::new(r, s, typed_parity()?), &mut out),
        3 => serde_json::from_str::<TxEip4844>(json)?.eip2718_encode(&Signature::new(r, s, typed_parity()?), &mut out),
        _ => serde_json::from_str::<TxEip7702>(json)?.eip2718_encode(&Signature::new(r, s, typed_parity()?), &mut out),
    }
    Ok(out)
}

/// A receipt in its consensus encoding (what the receipts root is taken over): type ‖ RLP of
/// status, cumulative gas, bloom and logs.
fn encode_receipt(r: ReceiptJson) -> Result<Vec<u8>, serde_json::Error> {
    use serde::de::Error;
    let status = match (r.status, r.root) {
        (Some(s), _) => Eip658Value::Eip658(s == U64::from(1)),
        (None, Some(root)) => Eip658Value::PostState(root),
        (None, None) => return Err(Error::custom("neither status nor root")),
    };
    let ty = u8::try_from(r.ty.to::<u64>()).map_err(|_| Error::custom(format!("type {}", r.ty)))?;
    let logs = r.logs.into_iter().map(|l| Log::new_unchecked(l.address, l.topics, l.data)).collect();
    let receipt = Receipt { status, cumulative_gas_used: r.cumulative_gas_used.to(), logs };
    let mut out = Vec::new();
    if ty != 0 {
        out.push(ty);
    }
    receipt.rlp_encode_with_bloom(&r.logs_bloom, &mut out);
    Ok(out)
}

#[cfg(test)]
pub(super) mod fixture;
#[cfg(test)]
mod tests;
