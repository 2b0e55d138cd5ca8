//! The hot path: walk raw consensus bytes (with or without segwit) and ask the host about each
//! output script, without building a `Block`. In a block every transaction's txid bytes are
//! hashed once, as they are walked, for the merkle root the host checks against the header; a
//! single transaction is hashed only when it pays or spends something watched.

use crate::merkle;
use bitcoin::hashes::{sha256d, Hash, HashEngine};
use bitcoin::{TxMerkleNode, Txid};
use paywatch_plugin_api::messages::{Hex, Match, OutPoint, ScanReply, WatchedSpend};
use paywatch_plugin_api::{Host, PluginError};

/// Why raw bytes did not parse. Small and `Copy`, so the hot loop returns it cheaply; it
/// becomes a [`PluginError`] at the edge.
#[derive(Debug, Clone, Copy)]
enum Bad {
    Truncated { need: usize, at: usize, have: usize },
    Overrun { len: u64, at: usize },
}

impl From<Bad> for PluginError {
    #[cold]
    fn from(b: Bad) -> Self {
        PluginError::invalid_input(match b {
            Bad::Truncated { need, at, have } => format!("truncated: need {need} bytes at offset {at}, have {have}"),
            Bad::Overrun { len, at } => format!("length {len} at offset {at} runs past the end"),
        })
    }
}

/// A cursor over raw bytes; every read is bounds-checked.
struct Reader<'a> {
    raw: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    #[inline(always)]
    fn take(&mut self, n: usize) -> Result<&'a [u8], Bad> {
        let rest = &self.raw[self.pos..];
        if n > rest.len() {
            return Err(Bad::Truncated { need: n, at: self.pos, have: rest.len() });
        }
        self.pos += n;
        Ok(&rest[..n])
    }

    #[inline(always)]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], Bad> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }

    #[inline(always)]
    fn varint(&mut self) -> Result<u64, Bad> {
        Ok(match self.array::<1>()?[0] {
            0xfd => u16::from_le_bytes(self.array()?) as u64,
            0xfe => u32::from_le_bytes(self.array()?) as u64,
            0xff => u64::from_le_bytes(self.array()?),
            n => n as u64,
        })
    }

    /// A length prefix, refusing lengths past the end of the input (no huge allocations).
    #[inline(always)]
    fn len(&mut self) -> Result<usize, Bad> {
        let n = self.varint()?;
        if n > (self.raw.len() - self.pos) as u64 {
            return Err(Bad::Overrun { len: n, at: self.pos });
        }
        Ok(n as usize)
    }

    /// Skips a length-prefixed field.
    #[inline(always)]
    fn skip_prefixed(&mut self) -> Result<(), Bad> {
        let l = self.len()?;
        self.take(l).map(|_| ())
    }
}

/// Scans a raw block: header, then every transaction.
pub(crate) fn block(raw: &[u8], asset: &str, host: &Host<'_>) -> Result<ScanReply, PluginError> {
    let mut r = Reader { raw, pos: 0 };
    r.take(80)?;
    let n = r.varint()?;
    let mut out = ScanReply::default();
    let spends = host.has_watched_spends();
    // Each transaction is at least 60 bytes: never reserve more than the bytes can hold.
    let mut txids = Vec::with_capacity((n as usize).min(raw.len() / 60));
    for _ in 0..n {
        let txid = tx(&mut r, asset, host, spends, true, &mut out)?;
        txids.push(txid.expect("every txid is computed in a block"));
    }
    if r.pos != raw.len() {
        return Err(PluginError::invalid_input(format!("{} trailing bytes after {n} transactions", raw.len() - r.pos)));
    }
    let root = merkle::root(&mut txids).map_err(|e| PluginError::invalid_input(e.to_string()))?;
    out.merkle_root = Some(TxMerkleNode::from_raw_hash(root).to_string());
    Ok(out)
}

/// Scans one raw transaction.
pub(crate) fn transaction(raw: &[u8], asset: &str, host: &Host<'_>) -> Result<ScanReply, PluginError> {
    let mut r = Reader { raw, pos: 0 };
    let mut out = ScanReply::default();
    tx(&mut r, asset, host, host.has_watched_spends(), false, &mut out)?;
    if r.pos != raw.len() {
        return Err(PluginError::invalid_input(format!("{} trailing bytes after the transaction", raw.len() - r.pos)));
    }
    Ok(out)
}

/// One transaction; `spends`: ask the host about each input's outpoint. Returns its txid when it
/// was computed: always with `every_txid`, otherwise only for a transaction that pays or spends
/// something watched.
fn tx(
    r: &mut Reader<'_>,
    asset: &str,
    host: &Host<'_>,
    spends: bool,
    every_txid: bool,
    out: &mut ScanReply,
) -> Result<Option<sha256d::Hash>, Bad> {
    let start = r.pos;
    r.take(4)?; // version
    let segwit = r.raw.get(r.pos) == Some(&0) && r.raw.get(r.pos + 1) == Some(&1);
    if segwit {
        r.take(2)?;
    }
    let body_start = r.pos; // inputs and outputs: part of the txid serialization
    let n_in = r.varint()?;
    let inputs_start = r.pos;
    let first_spend = out.watched_spends.len();
    for _ in 0..n_in {
        let outpoint = r.take(36)?;
        if spends && !is_null(outpoint) && host.is_watched_spend(outpoint) {
            let spend = WatchedSpend {
                txid: String::new(),
                spends: outpoint_of(outpoint),
                outpoint_key: Hex(outpoint.to_vec()),
            };
            out.watched_spends.push(spend);
        }
        r.skip_prefixed()?; // scriptSig
        r.take(4)?; // sequence
    }
    let inputs_end = r.pos;
    let n_out = r.varint()?;
    let first = out.matches.len();
    for index in 0..n_out {
        let value = u64::from_le_bytes(r.array()?);
        let l = r.len()?;
        let script = r.take(l)?;
        if host.is_watched(script) {
            out.matches.push(Match {
                key: Hex(script.to_vec()),
                asset: asset.to_string(),
                amount_base: value.to_string(),
                txid: String::new(),
                index: index as u32,
                spends: Vec::new(),
                outpoint_keys: Vec::new(),
            });
        }
    }
    let body_end = r.pos;
    if segwit {
        for _ in 0..n_in {
            for _ in 0..r.varint()? {
                r.skip_prefixed()?;
            }
        }
    }
    let lock_start = r.pos;
    r.take(4)?;
    let matched = out.matches.len() > first;
    let watched = matched || out.watched_spends.len() > first_spend;
    if !watched && !every_txid {
        return Ok(None);
    }
    let hash = txid(r.raw, start, body_start, body_end, lock_start);
    if watched {
        let txid = Txid::from_raw_hash(hash).to_string();
        for s in &mut out.watched_spends[first_spend..] {
            s.txid = txid.clone();
        }
        if matched {
            let (spends, keys) = outpoints(&r.raw[inputs_start..inputs_end], n_in)?;
            for m in &mut out.matches[first..] {
                m.txid = txid.clone();
                m.spends = spends.clone();
                m.outpoint_keys = keys.clone();
            }
        }
    }
    Ok(Some(hash))
}

/// The txid: double SHA-256 of version ‖ inputs ‖ outputs ‖ locktime (no marker, no witness),
/// in wire order (shown byte-reversed).
fn txid(raw: &[u8], start: usize, body_start: usize, body_end: usize, lock_start: usize) -> sha256d::Hash {
    let mut e = sha256d::Hash::engine();
    e.input(&raw[start..start + 4]);
    e.input(&raw[body_start..body_end]);
    e.input(&raw[lock_start..lock_start + 4]);
    sha256d::Hash::from_engine(e)
}

/// The outpoints a transaction spends, shown and as their raw 36 bytes (the keys the host
/// watches); a coinbase's null outpoint is not a spend.
fn outpoints(inputs: &[u8], n: u64) -> Result<(Vec<OutPoint>, Vec<Hex>), Bad> {
    let mut r = Reader { raw: inputs, pos: 0 };
    let (mut shown, mut keys) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let o = r.take(36)?;
        if !is_null(o) {
            shown.push(outpoint_of(o));
            keys.push(Hex(o.to_vec()));
        }
        r.skip_prefixed()?;
        r.take(4)?;
    }
    Ok((shown, keys))
}

/// A coinbase input's outpoint: all-zero txid, index 0xffffffff.
fn is_null(outpoint: &[u8]) -> bool {
    outpoint[..32].iter().all(|&b| b == 0) && outpoint[32..36] == [0xff; 4]
}

/// 32-byte txid in wire order ‖ u32 LE index → an outpoint (txid shown byte-reversed).
fn outpoint_of(o: &[u8]) -> OutPoint {
    let txid = Txid::from_slice(&o[..32]).expect("32 bytes").to_string();
    OutPoint { txid, index: u32::from_le_bytes(o[32..36].try_into().expect("4 bytes")) }
}
