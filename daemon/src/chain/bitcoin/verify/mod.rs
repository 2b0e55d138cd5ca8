//! A Bitcoin-family block is checked before anything in it is recorded, whatever its source
//! (RPC over plain HTTP can be tampered with; a plugin only reports what it walked): its header
//! hash is the hash asked for (`Follower::connect`), its proof of work meets its `bits` and
//! `bits` the network's limit, and the merkle root of its transactions' txids is the header's.
//!
//! The merkle root normally comes from the currency plugin's scan, which hashes each
//! transaction once as it walks the block ([`ScanReply::merkle_root`]). When no plugin of the
//! chain reports it, the block is decoded here and its txids computed (several times slower).

use bitcoincore_rpc::bitcoin::block::Header;
use bitcoincore_rpc::bitcoin::consensus::Decodable;
use bitcoincore_rpc::bitcoin::hashes::{sha256d, Hash, HashEngine};
use bitcoincore_rpc::bitcoin::pow::{CompactTarget, Target};
use bitcoincore_rpc::bitcoin::{Network, Transaction, TxMerkleNode, VarInt};

/// Why a block was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Invalid {
    #[error("bits {bits:#010x} is not a valid compact target")]
    BadBits { bits: u32 },
    #[error("bits {bits:#010x} claims less work than the network's limit allows ({limit:#010x})")]
    AboveLimit { bits: u32, limit: u32 },
    #[error("bits {bits:#010x} at height {height}, its parent's {parent:#010x}: the difficulty only changes at a retarget (every 2016 blocks)")]
    Difficulty { height: u64, bits: u32, parent: u32 },
    #[error("bits {bits:#010x} at retarget height {height} is more than 4x away from its parent's {parent:#010x}")]
    Retarget { height: u64, bits: u32, parent: u32 },
    #[error("its hash does not meet the target of its bits {bits:#010x}: no proof of work")]
    NoWork { bits: u32 },
    #[error(
        "its transactions do not hash to the header's merkle root (header {header}, transactions {computed}): the block's transactions were altered on the way"
    )]
    Merkle { header: String, computed: String },
    #[error("its transactions do not decode: {0}")]
    Undecodable(String),
    #[error("mutated transaction list: merkle level {level} repeats hash {position} (CVE-2012-2459)")]
    Mutated { level: u32, position: usize },
}

/// How a chain's headers are checked: the proof-of-work limit, if the coin's proof of work is
/// the header's double SHA-256, and how `bits` may change from a block to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rules {
    pub(crate) pow_limit: Option<Target>,
    pub(crate) retarget: Retarget,
}

/// How `bits` may change from a block to its child. Without this a man in the middle would only
/// need the network's minimum work per forged block (difficulty 1 on mainnet: seconds on a GPU).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retarget {
    /// Not checked: another coin, with its own difficulty algorithm.
    Unchecked,
    /// Never (regtest): every block carries its parent's `bits`.
    Never,
    /// Every 2,016 blocks, by at most 4× either way; in between, the parent's `bits`. With
    /// `min_difficulty` (testnets) a block may also claim the limit, and the next one go back to
    /// the last difficulty that was not the limit.
    Every2016 { min_difficulty: bool },
}

/// What the child of a block may be checked against: the block's `bits`, and on testnets the
/// last `bits` that were not the limit (unknown after a restart on a minimum-difficulty block).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parent {
    pub(crate) bits: u32,
    pub(crate) last_normal: Option<u32>,
}

impl Rules {
    /// Bitcoin's rules on one of its networks.
    pub(crate) fn network(n: Network) -> Self {
        let retarget = match n {
            Network::Regtest => Retarget::Never,
            Network::Testnet | Network::Testnet4 => Retarget::Every2016 { min_difficulty: true },
            _ => Retarget::Every2016 { min_difficulty: false },
        };
        Self { pow_limit: Some(n.params().max_attainable_target), retarget }
    }

    /// Rules that check nothing but what the caller states (another coin).
    pub(crate) fn other_coin(pow_limit: Option<Target>) -> Self {
        Self { pow_limit, retarget: Retarget::Unchecked }
    }

    /// Whether [`Rules::check_bits`] needs the parent's `bits`.
    pub(crate) fn follows_bits(&self) -> bool {
        self.retarget != Retarget::Unchecked
    }

    /// What a block with `bits` leaves its child to be checked against.
    pub(crate) fn after(&self, parent: Option<&Parent>, bits: u32) -> Parent {
        let limit = self.pow_limit.map(|l| l.to_compact_lossy().to_consensus());
        let last_normal = if Some(bits) == limit { parent.and_then(|p| p.last_normal) } else { Some(bits) };
        Parent { bits, last_normal }
    }

    /// A block's `bits` at `height` against its parent's, as Bitcoin Core's
    /// `GetNextWorkRequired` allows them (the exact value at a retarget needs timestamps we do
    /// not keep: there, within 4× of the parent's).
    pub(crate) fn check_bits(&self, height: u64, bits: u32, parent: &Parent) -> Result<(), Invalid> {
        let Retarget::Every2016 { min_difficulty } = self.retarget else {
            return match self.retarget {
                Retarget::Never if bits != parent.bits => {
                    Err(Invalid::Difficulty { height, bits, parent: parent.bits })
                }
                _ => Ok(()),
            };
        };
        let limit = self.pow_limit.map(|l| l.to_compact_lossy().to_consensus());
        let testnet_ok = min_difficulty
            && (Some(bits) == limit
                || Some(bits) == parent.last_normal
                || (parent.last_normal.is_none() && Some(parent.bits) == limit));
        if !height.is_multiple_of(2016) {
            return if bits == parent.bits || testnet_ok {
                Ok(())
            } else {
                Err(Invalid::Difficulty { height, bits, parent: parent.bits })
            };
        }
        let within = |base: u32| -> Result<bool, Invalid> {
            let (old, new) = (target_of(base)?, target_of(bits)?);
            let lowest = Target::from_compact(old.min_transition_threshold().to_compact_lossy());
            Ok(lowest <= new && new <= old.max_transition_threshold_unchecked())
        };
        let bases = [Some(parent.bits), parent.last_normal.filter(|_| min_difficulty)];
        for base in bases.into_iter().flatten() {
            if within(base)? {
                return Ok(());
            }
        }
        if testnet_ok && parent.last_normal.is_none() {
            return Ok(());
        }
        Err(Invalid::Retarget { height, bits, parent: parent.bits })
    }

    /// A coin's own limit: 64 hex digits, big-endian (validated by the config).
    pub(crate) fn target(hex: &str) -> Self {
        let mut be = [0u8; 32];
        for (i, b) in be.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("the config checked the hex");
        }
        Self::other_coin(Some(Target::from_be_bytes(be)))
    }

    /// The header's proof of work: a valid compact target, no easier than the limit, met by the
    /// header's hash.
    pub(crate) fn check_work(&self, header: &Header) -> Result<(), Invalid> {
        let Some(limit) = self.pow_limit else { return Ok(()) };
        let bits = header.bits.to_consensus();
        let target = target_of(bits)?;
        if target > limit {
            return Err(Invalid::AboveLimit { bits, limit: limit.to_compact_lossy().to_consensus() });
        }
        if !target.is_met_by(header.block_hash()) {
            return Err(Invalid::NoWork { bits });
        }
        Ok(())
    }
}

/// A compact target as Bitcoin Core reads it (`arith_uint256::SetCompact`), refusing what Core
/// refuses: negative, zero and overflowing values.
fn target_of(bits: u32) -> Result<Target, Invalid> {
    let size = bits >> 24;
    let word = bits & 0x007f_ffff;
    let negative = word != 0 && bits & 0x0080_0000 != 0;
    let overflow = word != 0 && (size > 34 || (word > 0xff && size > 33) || (word > 0xffff && size > 32));
    if negative || overflow {
        return Err(Invalid::BadBits { bits });
    }
    // Past the checks above, a sign bit comes with a zero mantissa: Core's target is zero. Not
    // handed to rust-bitcoin, which shifts it into the mantissa at sizes 1 and 2 (0x02800000
    // would read 0x8000).
    match Target::from_compact(CompactTarget::from_consensus(bits & !0x0080_0000)) {
        Target::ZERO => Err(Invalid::BadBits { bits }),
        target => Ok(target),
    }
}

/// The header's merkle root must be `reported` (by a plugin that walked `raw`), or, when no
/// plugin reported one, the root computed here from `raw`.
pub(crate) fn check_merkle(header: &Header, raw: &[u8], reported: Option<&str>) -> Result<(), Invalid> {
    let computed = match reported {
        Some(r) => r.to_string(),
        None => merkle_root(raw)?.to_string(),
    };
    let header_root = header.merkle_root.to_string();
    if computed != header_root {
        return Err(Invalid::Merkle { header: header_root, computed });
    }
    Ok(())
}

/// The merkle root of a raw block's transactions, decoded with rust-bitcoin.
fn merkle_root(raw: &[u8]) -> Result<TxMerkleNode, Invalid> {
    let undecodable = |e: &dyn std::fmt::Display| Invalid::Undecodable(e.to_string());
    let mut r = raw.get(80..).ok_or_else(|| undecodable(&"shorter than a header"))?;
    let n = VarInt::consensus_decode(&mut r).map_err(|e| undecodable(&e))?.0;
    let mut txids = Vec::with_capacity((n as usize).min(raw.len() / 60));
    for _ in 0..n {
        let tx = Transaction::consensus_decode(&mut r).map_err(|e| undecodable(&e))?;
        txids.push(tx.compute_txid().to_raw_hash());
    }
    if !r.is_empty() {
        return Err(undecodable(&format!("{} trailing bytes after {n} transactions", r.len())));
    }
    root(&mut txids).map(TxMerkleNode::from_raw_hash)
}

/// The root of `hashes`, computed in place, refusing two equal hashes side by side at any level
/// (a repeated tail has the same root as the list without it; Bitcoin Core refuses it too).
fn root(hashes: &mut [sha256d::Hash]) -> Result<sha256d::Hash, Invalid> {
    let mut len = hashes.len();
    if len == 0 {
        return Err(Invalid::Undecodable("a block without transactions".into()));
    }
    let mut level = 0;
    while len > 1 {
        if let Some(position) = (0..len - 1).step_by(2).find(|&p| hashes[p] == hashes[p + 1]) {
            return Err(Invalid::Mutated { level, position });
        }
        for i in 0..len.div_ceil(2) {
            let left = hashes[2 * i];
            let right = if 2 * i + 1 < len { hashes[2 * i + 1] } else { left };
            let mut e = sha256d::Hash::engine();
            e.input(left.as_byte_array());
            e.input(right.as_byte_array());
            hashes[i] = sha256d::Hash::from_engine(e);
        }
        len = len.div_ceil(2);
        level += 1;
    }
    Ok(hashes[0])
}

#[cfg(test)]
mod tests;
