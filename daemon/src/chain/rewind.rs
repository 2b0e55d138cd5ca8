//! `paywatch chain rewind`: the operator's way out of a reorg deeper than `reorg_window`, run
//! while the daemon is stopped (the store is locked while it runs).
//!
//! It never guesses. The rewind target must be a block known to be in the node's chain: the
//! highest height where a block we know (a recorded block of the window, or the block a
//! confirmed payment is recorded in) is the node's block at that height. Everything we know
//! above it left the node's chain, so every confirmed payment above it is reversed
//! (`payment.reversed`, its invoice re-evaluated, through the indexer as a disconnect does);
//! everything at or below it is the node's, by the hash chain. The target becomes the
//! chain's cursor, and the follower connects the node's blocks above it at the next start.

use super::{FollowError, NodeTip, Transient};
use crate::config::{ChainConfig, ChainNode};
use crate::db::{Db, DbError, PaymentRecord, PaymentRef, PaymentStatus};
use crate::index::{IndexError, Indexer};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// The node as the rewind command reads it.
pub(crate) trait ChainReader {
    /// The node serves the configured network (genesis block) or chain id.
    fn check(&self) -> Result<(), FollowError>;
    fn tip(&self) -> Result<NodeTip, FollowError>;
    /// The hash of the node's block at `height`; `None` above its tip.
    fn hash_at(&self, height: u64) -> Result<Option<String>, FollowError>;
    /// The parent hash of the node's block `hash` at `height`.
    fn parent_of(&self, height: u64, hash: &str) -> Result<String, FollowError>;
}

/// Rewinds `chain` (its indexer loaded with the invoices' hook): the plan, applied when
/// `apply`, else only reported.
pub(crate) fn rewind(
    chain: &ChainConfig,
    indexer: &mut Indexer,
    db: &Db,
    height: Option<u64>,
    apply: bool,
) -> Result<RewindReport, RewindError> {
    rewind_with(&*reader(chain)?, indexer, db, height, apply)
}

/// [`rewind`] with this node.
pub(super) fn rewind_with(
    node: &dyn ChainReader,
    indexer: &mut Indexer,
    db: &Db,
    height: Option<u64>,
    apply: bool,
) -> Result<RewindReport, RewindError> {
    let plan = plan(indexer, db, node, height)?;
    match apply {
        true => applied(indexer, plan),
        false => Ok(RewindReport { plan, applied: None }),
    }
}

/// The node of a configured chain, read as the rewind command needs it.
fn reader(chain: &ChainConfig) -> Result<Box<dyn ChainReader>, RewindError> {
    match &chain.node {
        ChainNode::Bitcoin(node) => Ok(Box::new(super::bitcoin::reader(node))),
        ChainNode::Evm(node) => super::evm::reader(node).map(|r| Box::new(r) as Box<dyn ChainReader>).map_err(|e| {
            RewindError::Node { chain: chain.name.clone(), reason: format!("cannot start its client: {e}") }
        }),
    }
}

/// Payment blocks below the window looked at per pass over the chain's payments (memory stays
/// bounded whatever the history; a deeper search takes another pass).
const KNOWN_PER_PASS: usize = 10_000;

/// Why a chain was not rewound. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum RewindError {
    #[error("no chain named {chain:?} in the config (chains: {known})")]
    UnknownChain { chain: String, known: String },
    #[error("chain {chain:?} has no recorded block: it was never followed, there is nothing to rewind")]
    NeverFollowed { chain: String },
    #[error("chain {chain:?}: {reason}")]
    Node { chain: String, reason: String },
    #[error(
        "chain {chain:?}: none of the {checked} heights we know a block of (recorded blocks, payments' blocks; from {from} down) has the node's block: is this the chain's node?"
    )]
    NoCommonBlock { chain: String, checked: usize, from: u64 },
    #[error("chain {chain:?}: the node's chain holds the local tip {tip} ({hash}): nothing to rewind")]
    NothingToRewind { chain: String, tip: u64, hash: String },
    #[error(
        "chain {chain:?}: height {height} is above {common}, the highest block known to be in the node's chain: the blocks between may not be the node's and would never be scanned again; rewind to {common} or lower"
    )]
    AboveCommon { chain: String, height: u64, common: u64 },
    #[error("chain {chain:?}: {source}")]
    Store { chain: String, source: DbError },
    #[error("chain {chain:?}: {reason}")]
    Index { chain: String, reason: String },
}

/// A block we know, and how: a recorded block, or the block a payment is confirmed in.
#[derive(Debug, Clone)]
struct Known {
    hash: String,
    what: String,
}

/// What a rewind does; computed without changing anything.
#[derive(Debug)]
struct RewindPlan {
    chain: String,
    local_tip: (u64, String),
    node_tip: NodeTip,
    /// The highest height where a block we know is the node's, and that block.
    common: (u64, Known),
    /// The new cursor: the node's block at the target height, and its parent.
    target: (u64, String, String),
    /// Confirmed payments above `common` (their blocks left the node's chain), with the
    /// node's block at their height.
    reverse: Vec<(PaymentRecord, Option<String>)>,
    /// Confirmed payments above the target, at or below `common`: kept, their blocks are the
    /// node's.
    kept: usize,
}

/// What `paywatch chain rewind` prints: the plan, and what was applied.
#[derive(Debug)]
pub struct RewindReport {
    plan: RewindPlan,
    /// Payments reversed, when applied.
    applied: Option<usize>,
}

impl RewindReport {
    pub fn applied(&self) -> bool {
        self.applied.is_some()
    }
}

/// Finds where the local chain and the node's last agree and what rewinding there (or to
/// `height`, lower) changes.
fn plan(indexer: &Indexer, db: &Db, node: &dyn ChainReader, height: Option<u64>) -> Result<RewindPlan, RewindError> {
    let chain = indexer.chain().to_string();
    let tip = indexer.tip().ok_or_else(|| RewindError::NeverFollowed { chain: chain.clone() })?;
    let node_err = |e: FollowError| RewindError::Node { chain: chain.clone(), reason: e.to_string() };
    let store_err = |source| RewindError::Store { chain: chain.clone(), source };
    node.check().map_err(node_err)?;
    let node_tip = node.tip().map_err(node_err)?;
    let mut seen: HashMap<u64, Option<String>> = HashMap::new();
    let mut candidates: BTreeMap<u64, Vec<Known>> = indexer
        .recorded()
        .map(|(h, hash)| (h, vec![Known { hash: hash.to_string(), what: "a recorded block".into() }]))
        .collect();
    let mut below = indexer.lowest().unwrap_or(tip.height);
    let common = loop {
        let mut found = None;
        for (h, ours) in candidates.iter().rev() {
            let theirs = node.hash_at(*h).map_err(node_err)?;
            let agrees = ours.iter().all(|k| theirs.as_deref() == Some(k.hash.as_str()));
            seen.insert(*h, theirs);
            if agrees {
                found = Some((*h, ours[0].clone()));
                break;
            }
        }
        if let Some(c) = found {
            break c;
        }
        candidates = payment_blocks_below(db, &chain, below).map_err(store_err)?;
        match candidates.keys().next() {
            Some(lowest) => below = *lowest,
            None => return Err(RewindError::NoCommonBlock { chain, checked: seen.len(), from: tip.height }),
        }
    };
    let target = match height {
        Some(h) if h > common.0 => return Err(RewindError::AboveCommon { chain, height: h, common: common.0 }),
        Some(h) => h,
        None => common.0,
    };
    if target >= tip.height {
        return Err(RewindError::NothingToRewind { chain, tip: tip.height, hash: tip.hash });
    }
    let target_hash = match (target == common.0, node.hash_at(target).map_err(node_err)?) {
        (true, _) => common.1.hash.clone(),
        (false, Some(h)) => h,
        (false, None) => return Err(node_err(Transient::LostBlock { height: target }.into())),
    };
    let prev = node.parent_of(target, &target_hash).map_err(node_err)?;
    let (mut reverse, mut kept) = (Vec::new(), 0);
    db.each_chain_payment(&chain, |p| {
        match (p.status, p.block_height) {
            (PaymentStatus::Confirmed, Some(h)) if h > common.0 => {
                let theirs = seen.get(&h).cloned().flatten();
                reverse.push((p, theirs));
            }
            (PaymentStatus::Confirmed, Some(h)) if h > target => kept += 1,
            _ => {}
        }
        Ok(())
    })
    .map_err(store_err)?;
    reverse.sort_by(|(a, _), (b, _)| (a.block_height, &a.txid, a.index).cmp(&(b.block_height, &b.txid, b.index)));
    Ok(RewindPlan {
        chain,
        local_tip: (tip.height, tip.hash),
        node_tip,
        common,
        target: (target, target_hash, prev),
        reverse,
        kept,
    })
}

/// The highest [`KNOWN_PER_PASS`] heights below `below` that confirmed payments are recorded
/// in, with their blocks.
fn payment_blocks_below(db: &Db, chain: &str, below: u64) -> Result<BTreeMap<u64, Vec<Known>>, DbError> {
    let mut out: BTreeMap<u64, Vec<Known>> = BTreeMap::new();
    db.each_chain_payment(chain, |p| {
        if let (PaymentStatus::Confirmed, Some(h), Some(hash)) = (p.status, p.block_height, &p.block_hash) {
            if h < below {
                let what = format!("the block of payment {}:{}", p.txid, p.index);
                let known = out.entry(h).or_default();
                if !known.iter().any(|k| &k.hash == hash) {
                    known.push(Known { hash: hash.clone(), what });
                }
                if out.len() > KNOWN_PER_PASS {
                    out.pop_first();
                }
            }
        }
        Ok(())
    })?;
    Ok(out)
}

/// Applies a plan: one atomic write through the indexer.
fn applied(indexer: &mut Indexer, plan: RewindPlan) -> Result<RewindReport, RewindError> {
    let refs: Vec<PaymentRef> = plan
        .reverse
        .iter()
        .map(|(p, _)| PaymentRef { txid: p.txid.clone(), index: p.index, watch: p.watch_id })
        .collect();
    let (height, hash, prev) = &plan.target;
    let gone = indexer.rewind(*height, hash, prev, &refs).map_err(|e| match e {
        IndexError::Db(source) => RewindError::Store { chain: plan.chain.clone(), source },
        e => RewindError::Index { chain: plan.chain.clone(), reason: e.to_string() },
    })?;
    Ok(RewindReport { applied: Some(gone.len()), plan })
}

impl fmt::Display for RewindReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.plan;
        let (target, hash, prev) = &p.target;
        writeln!(f, "chain {}: local tip {} {}", p.chain, p.local_tip.0, p.local_tip.1)?;
        writeln!(f, "the node's tip: {} {}", p.node_tip.height, p.node_tip.hash)?;
        writeln!(
            f,
            "highest block known to be in the node's chain: {} {} ({})",
            p.common.0, p.common.1.hash, p.common.1.what
        )?;
        writeln!(f, "rewind to {target}: the node's block {hash} (parent {prev}) becomes the cursor; the node's blocks from {} are scanned when paywatch starts", target + 1)?;
        writeln!(f, "payments to reverse (confirmed in a block the node's chain does not hold): {}", p.reverse.len())?;
        for (pay, theirs) in &p.reverse {
            let height = pay.block_height.unwrap_or_default();
            let theirs = theirs.as_deref().map_or("no block".to_string(), |h| format!("block {h}"));
            writeln!(
                f,
                "  {}:{} store {} {} {} at height {height} in block {} (the node has {theirs} there)",
                pay.txid,
                pay.index,
                pay.store,
                pay.amount,
                pay.asset,
                pay.block_hash.as_deref().unwrap_or_default()
            )?;
        }
        writeln!(f, "confirmed payments above {target} kept (their blocks are the node's): {}", p.kept)?;
        match self.applied {
            None => write!(f, "dry run: nothing was changed; run again with --yes to apply"),
            Some(n) => write!(
                f,
                "applied: {n} payments reversed (payment.reversed events written, their invoices re-evaluated); start paywatch to follow the node from {}",
                target + 1
            ),
        }
    }
}
