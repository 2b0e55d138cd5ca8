//! Real chain data for the conformance checks and plugin authors' own tests, embedded in the
//! SDK (`plugin-api/testdata/`, with its sources and licences in the README there).

use crate::messages::{Hex, OutPoint};
use serde::Deserialize;

/// Bitcoin mainnet block 702,861 (`000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae`),
/// 1,381,836 bytes, 2,500 transactions, in its consensus serialization.
pub fn bitcoin_mainnet_block() -> &'static [u8] {
    include_bytes!("../../testdata/mainnet_block_000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae.raw")
}

/// The reference for [`bitcoin_mainnet_block`]: a sample of its transactions (the coinbase,
/// segwit and legacy ones, every standard output type, one with many outputs), each with its
/// txid, byte range, outputs whose scriptPubKey is unique in the block, and what it spends.
/// Computed independently of any plugin (and checked against rust-bitcoin by paywatch's tests).
pub fn bitcoin_mainnet_index() -> BlockIndex {
    serde_json::from_slice(include_bytes!("../../testdata/mainnet_block_index.json"))
        .expect("the embedded block index is valid JSON")
}

/// BIP 341's wallet test vectors (`bip-0341/wallet-test-vectors.json`), as published.
pub fn bip341_vectors() -> &'static str {
    include_str!("../../testdata/bip341_tests.json")
}

/// See [`bitcoin_mainnet_index`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BlockIndex {
    /// The block hash, display order.
    pub block_hash: String,
    /// Its height.
    pub height: u64,
    /// Transactions in the block.
    pub tx_count: usize,
    /// The sampled transactions, in block order.
    pub txs: Vec<IndexedTx>,
}

/// One sampled transaction of a [`BlockIndex`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IndexedTx {
    /// Position in the block (0 is the coinbase).
    pub position: usize,
    /// The txid in display order (as `bitcoind` prints it: the double SHA-256 reversed).
    pub txid: String,
    /// Byte offset of the transaction in the block.
    pub offset: usize,
    /// Its length in bytes (witness included).
    pub len: usize,
    /// Whether it is serialized with a witness.
    pub segwit: bool,
    /// Outputs whose scriptPubKey appears once in the whole block.
    pub outputs: Vec<IndexedOutput>,
    /// The outpoints it spends (txids in display order); empty for the coinbase.
    pub spends: Vec<OutPoint>,
}

impl IndexedTx {
    /// The transaction's bytes within the block.
    pub fn raw<'a>(&self, block: &'a [u8]) -> &'a [u8] {
        &block[self.offset..self.offset + self.len]
    }
}

/// One output of an [`IndexedTx`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IndexedOutput {
    /// Output index in the transaction.
    pub index: u32,
    /// The scriptPubKey, hex: the watch key on a `bitcoin` chain.
    pub script_pubkey: String,
    /// Satoshis.
    pub value: u64,
}

/// A Bitcoin outpoint as the host's `is_watched_spend` is asked it: the txid in wire order
/// (the display hex reversed) ‖ the index as u32 little-endian.
pub fn bitcoin_outpoint_key(o: &OutPoint) -> Option<Vec<u8>> {
    let mut txid = Hex::decode(&o.txid).ok()?.0;
    if txid.len() != 32 {
        return None;
    }
    txid.reverse();
    txid.extend_from_slice(&o.index.to_le_bytes());
    Some(txid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_describes_the_block() {
        let block = bitcoin_mainnet_block();
        let index = bitcoin_mainnet_index();
        assert_eq!(index.tx_count, 2500);
        assert!(index.txs.len() >= 6);
        for t in &index.txs {
            let raw = t.raw(block);
            assert_eq!(raw.len(), t.len);
            for o in &t.outputs {
                let spk = Hex::decode(&o.script_pubkey).unwrap().0;
                // Each sampled scriptPubKey is in the transaction's bytes.
                assert!(raw.windows(spk.len()).any(|w| w == spk), "{} output {}", t.txid, o.index);
            }
        }
        let o = OutPoint { txid: format!("{}01", "00".repeat(31)), index: 2 };
        let k = bitcoin_outpoint_key(&o).unwrap();
        assert_eq!(k[0], 1);
        assert_eq!(&k[32..], &[2, 0, 0, 0]);
    }
}
