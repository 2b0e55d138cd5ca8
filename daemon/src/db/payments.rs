//! Reading payments and the blocks of each chain's reorg window.

use super::schema::*;
use super::*;
pub(crate) use paywatch_plugin_api::events::PaymentStatus;
use paywatch_plugin_api::messages::Hex;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// One output paying one watch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PaymentRecord {
    pub(crate) watch_id: Uuid,
    pub(crate) store: String,
    pub(crate) chain: String,
    pub(crate) asset: String,
    pub(crate) address: String,
    pub(crate) txid: String,
    pub(crate) index: u32,
    /// In the asset's unit, e.g. `"1.5"`.
    pub(crate) amount: String,
    /// In base units, e.g. `"150000000"`.
    pub(crate) amount_base: String,
    pub(crate) status: PaymentStatus,
    pub(crate) confirmations: u32,
    pub(crate) required_confirmations: u32,
    #[serde(rename = "final")]
    pub(crate) is_final: bool,
    pub(crate) block_height: Option<u64>,
    pub(crate) block_hash: Option<String>,
    pub(crate) replaced_by: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) first_seen: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
    /// What the transaction spends, as its currency plugin's opaque outpoint keys
    /// (`Match.outpoint_keys`, hex): watched while the payment is pending, to notice its
    /// replacement. Internal, not part of the wire shape. Records written before it existed
    /// carry `spends` (the outpoints as txid and index) instead, which is no longer read: they
    /// learn their keys when their transaction is scanned again while pending.
    #[serde(default)]
    pub(crate) outpoint_keys: Vec<Hex>,
}

impl PaymentRecord {
    /// `amount_base`, read.
    pub(crate) fn base_amount(&self) -> Result<Amount, DbError> {
        let key = payment_key(&self.chain, &self.txid, self.index, self.watch_id);
        stored_amount(CF_PAYMENTS, &key, "amount_base", &self.amount_base)
    }
}

#[cfg(test)]
impl PaymentRecord {
    /// A pending payment of `base` satoshis to shop1's watch `watch` on `btc`, first seen at
    /// `seen` (unix seconds): what tests vary, the rest plain.
    pub(crate) fn sample(watch: Uuid, txid: &str, index: u32, base: u64, seen: i64) -> PaymentRecord {
        let seen = OffsetDateTime::from_unix_timestamp(seen).expect("a time");
        PaymentRecord {
            watch_id: watch,
            store: "shop1".into(),
            chain: "btc".into(),
            asset: "BTC".into(),
            address: "bcrt1q".into(),
            txid: txid.into(),
            index,
            amount: Amount::from(base).to_units_string(8),
            amount_base: base.to_string(),
            status: PaymentStatus::Pending,
            confirmations: 0,
            required_confirmations: 1,
            is_final: false,
            block_height: None,
            block_hash: None,
            replaced_by: None,
            first_seen: seen,
            updated_at: seen,
            outpoint_keys: vec![],
        }
    }
}

/// A connected block of a chain's local best chain, kept for the reorg window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BlockRecord {
    pub(crate) hash: String,
    pub(crate) prev: String,
    /// Payments this block confirmed: what disconnecting it reverses.
    pub(crate) undo: Vec<PaymentRef>,
}

/// A payment's identity: (chain is the block's) txid, output index, watch.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct PaymentRef {
    pub(crate) txid: String,
    pub(crate) index: u32,
    pub(crate) watch: Uuid,
}

impl Db {
    /// One payment of a chain.
    pub(crate) fn payment(&self, chain: &str, r: &PaymentRef) -> Result<Option<PaymentRecord>, DbError> {
        let key = payment_key(chain, &r.txid, r.index, r.watch);
        let raw = self.db.get_cf(self.cf(CF_PAYMENTS), &key)?;
        raw.map(|v| decode(CF_PAYMENTS, &key, &v)).transpose()
    }

    /// Every payment of one transaction (any store), in output order.
    pub(crate) fn tx_payments(&self, chain: &str, txid: &str) -> Result<Vec<PaymentRecord>, DbError> {
        self.prefix_values(CF_PAYMENTS, &payment_tx_prefix(chain, txid), usize::MAX)
    }

    /// A watch's payments, by chain, txid and output.
    pub(crate) fn watch_payments(&self, watch: Uuid, limit: usize) -> Result<Vec<PaymentRecord>, DbError> {
        self.watch_payments_after(watch, None, limit)
    }

    /// A watch's payments, by chain, txid and output, strictly after the payment `after`
    /// (chain, txid, output) when given; at most `limit`.
    pub(crate) fn watch_payments_after(
        &self,
        watch: Uuid,
        after: Option<(&str, &str, u32)>,
        limit: usize,
    ) -> Result<Vec<PaymentRecord>, DbError> {
        let prefix = watch.as_bytes().to_vec();
        let start = match after {
            Some((chain, txid, index)) => {
                let mut k = watch_payments_key(watch, &payment_key(chain, txid, index, watch));
                k.push(0); // strictly after
                k
            }
            None => prefix.clone(),
        };
        let mut out = Vec::new();
        let from = IteratorMode::From(&start, Direction::Forward);
        for item in self.db.iterator_cf(self.cf(CF_WATCH_PAYMENTS), from) {
            let (k, _) = item?;
            if !k.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            let key = &k[prefix.len()..];
            let raw = self.db.get_cf(self.cf(CF_PAYMENTS), key)?;
            let raw = raw.ok_or_else(|| corrupt(CF_WATCH_PAYMENTS, &k, "index entry without a payment"))?;
            out.push(decode(CF_PAYMENTS, key, &raw)?);
        }
        Ok(out)
    }

    /// A chain's live payments (pending, or confirmed below their target).
    pub(crate) fn live_payments(&self, chain: &str) -> Result<Vec<PaymentRecord>, DbError> {
        let prefix = chain_prefix(chain);
        let mut out = Vec::new();
        for item in self.db.prefix_iterator_cf(self.cf(CF_LIVE_PAYMENTS), &prefix) {
            let (k, _) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            let raw = self.db.get_cf(self.cf(CF_PAYMENTS), &k)?;
            let raw = raw.ok_or_else(|| corrupt(CF_LIVE_PAYMENTS, &k, "live entry without a payment"))?;
            out.push(decode(CF_PAYMENTS, &k, &raw)?);
        }
        Ok(out)
    }

    /// Every payment of a chain, one at a time, in key order: the chain's whole history, for
    /// operator commands run while the daemon is stopped (`paywatch chain rewind`).
    pub(crate) fn each_chain_payment(
        &self,
        chain: &str,
        mut f: impl FnMut(PaymentRecord) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        let prefix = chain_prefix(chain);
        for item in self.db.prefix_iterator_cf(self.cf(CF_PAYMENTS), &prefix) {
            let (k, v) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            f(decode(CF_PAYMENTS, &k, &v)?)?;
        }
        Ok(())
    }

    /// A chain's recorded blocks (the reorg window), by height.
    pub(crate) fn blocks(&self, chain: &str) -> Result<Vec<(u64, BlockRecord)>, DbError> {
        let prefix = chain_prefix(chain);
        let mut out = Vec::new();
        for item in self.db.prefix_iterator_cf(self.cf(CF_BLOCKS), &prefix) {
            let (k, v) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            let height = decode_seq(&k[prefix.len()..]).ok_or_else(|| corrupt(CF_BLOCKS, &k, "bad height"))?;
            out.push((height, decode(CF_BLOCKS, &k, &v)?));
        }
        Ok(out)
    }
}
