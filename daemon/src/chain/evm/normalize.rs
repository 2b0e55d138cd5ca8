//! Node JSON → the normalized block plugins scan ([`paywatch_plugin_api::evm::Block`]). Only
//! the fields every EVM chain's nodes serve are read (hash, from, to, value; receipt status and
//! logs), so chains with their own transaction types (OP deposits, Arbitrum's) decode too.
//! Inconsistent answers (receipts of another block, missing receipts) are errors, never
//! guessed around.

use alloy::primitives::{Address, Bytes, B256, U256, U64};
use paywatch_plugin_api::evm::{Block, Log, Tx};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RpcHeader {
    pub(crate) number: U64,
    pub(crate) hash: B256,
    pub(crate) parent_hash: B256,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RpcBlock {
    #[serde(flatten)]
    pub(crate) header: RpcHeader,
    pub(crate) timestamp: U64,
    pub(crate) transactions: Vec<RpcTx>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RpcTx {
    pub(crate) hash: B256,
    pub(crate) from: Address,
    pub(crate) to: Option<Address>,
    pub(crate) value: U256,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RpcReceipt {
    pub(crate) transaction_hash: B256,
    pub(crate) block_hash: Option<B256>,
    /// Absent before Byzantium (then the receipt has a state root and no status).
    pub(crate) status: Option<U64>,
    pub(crate) logs: Vec<RpcLog>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RpcLog {
    pub(crate) address: Address,
    pub(crate) topics: Vec<B256>,
    pub(crate) data: Bytes,
    #[serde(default)]
    pub(crate) removed: bool,
}

/// `0x` + lowercase hex: how block and transaction hashes are stored and shown.
pub(crate) fn hash_str(h: &B256) -> String {
    format!("{h:#x}")
}

/// The block and its receipts (in transaction order) as one normalized block.
pub(crate) fn normalize(block: &RpcBlock, receipts: &[RpcReceipt]) -> Result<Block, String> {
    let number = block.header.number.to::<u64>();
    let at = || format!("block {number} {}", hash_str(&block.header.hash));
    if receipts.len() != block.transactions.len() {
        return Err(format!("{}: {} receipts for {} transactions", at(), receipts.len(), block.transactions.len()));
    }
    let mut txs = Vec::with_capacity(block.transactions.len());
    let mut logs = Vec::new();
    for (i, (tx, r)) in block.transactions.iter().zip(receipts).enumerate() {
        if r.transaction_hash != tx.hash {
            return Err(format!("{}: receipt {i} is of {}, not {}", at(), r.transaction_hash, tx.hash));
        }
        if r.block_hash.is_some_and(|h| h != block.header.hash) {
            return Err(format!("{}: the receipt of {} is from another block (a reorg meanwhile?)", at(), tx.hash));
        }
        txs.push(Tx {
            hash: tx.hash.0,
            from: tx.from.0 .0,
            to: tx.to.map(|a| a.0 .0),
            value: tx.value.to_be_bytes(),
            success: r.status.is_none_or(|s| s == U64::from(1)),
        });
        for l in &r.logs {
            // A block's receipts have no removed logs (that flag is for log subscriptions), and
            // the receipts root commits to every log: one said removed is an answer to refuse,
            // never a verified log to drop.
            if l.removed {
                return Err(format!("{}: a log of {} is marked removed in its receipt", at(), tx.hash));
            }
            if l.topics.len() > 4 {
                return Err(format!("{}: a log of {} has {} topics", at(), tx.hash, l.topics.len()));
            }
            // A log's index is its position in the block (what the receipts root commits to),
            // not the node's `logIndex`, which nothing verifies.
            let index = logs.len() as u64;
            logs.push(Log {
                tx: i as u32,
                index: u32::try_from(index).map_err(|_| format!("{}: log index {index}", at()))?,
                address: l.address.0 .0,
                topics: l.topics.iter().map(|t| t.0).collect(),
                data: l.data.to_vec(),
            });
        }
    }
    Ok(Block {
        number,
        timestamp: block.timestamp.to::<u64>(),
        hash: block.header.hash.0,
        parent: block.header.parent_hash.0,
        txs,
        logs,
        internal: Vec::new(),
    })
}
