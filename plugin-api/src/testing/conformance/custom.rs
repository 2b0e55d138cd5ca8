//! Checks for chain kinds the kit has no reference data for: the author brings a block, its
//! transactions and what a scan must find.

use super::{garbage_never_panics, Ctx, Report};
use crate::messages::Match;
use crate::testing::TestHost;
use std::collections::BTreeSet;

/// An author's reference data for a chain kind the kit does not know.
#[derive(Debug, Clone, Default)]
pub struct CustomFixture {
    /// A block in the chain's wire format.
    pub block: Vec<u8>,
    /// Some of its transactions, each in the wire format `scan_tx` reads.
    pub txs: Vec<Vec<u8>>,
    /// The keys the host watches.
    pub watch: Vec<Vec<u8>>,
    /// Exactly what `scan_block` must find.
    pub expected: Vec<Expected>,
}

/// One payment a scan must find.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expected {
    /// The chain's transaction id, as the chain's explorers show it.
    pub txid: String,
    /// Output (or log) index.
    pub index: u32,
    /// Base units, decimal.
    pub amount_base: String,
}

fn expected(m: &Match) -> Expected {
    Expected { txid: m.txid.clone(), index: m.index, amount_base: m.amount_base.clone() }
}

pub(super) fn run(r: &mut Report, ctx: &Ctx<'_>, f: &CustomFixture) {
    let host = TestHost::with_keys(f.watch.iter().cloned());
    let Ok(plugin) = ctx.instance(&host) else { return };
    let name = "scan_block finds exactly the expected payments";
    let block = match plugin.scan_block(&f.block, &host) {
        Ok(reply) => reply.matches,
        Err(e) => return r.fail(name, e.to_string()),
    };
    let got: BTreeSet<Expected> = block.iter().map(expected).collect();
    let want: BTreeSet<Expected> = f.expected.iter().cloned().collect();
    let mut problems = Vec::new();
    if got != want {
        problems.push(format!("found {got:?}, expected {want:?}"));
    }
    if let Some(m) = block.iter().find(|m| m.asset != ctx.asset) {
        problems.push(format!("Match.asset is {:?}: it must be the asset id {:?} of the config", m.asset, ctx.asset));
    }
    if problems.is_empty() {
        r.pass(name, format!("{} payments", want.len()));
    } else {
        r.fail(name, problems.join("; "));
    }
    let name = "scan_tx agrees with scan_block";
    let mut problems = Vec::new();
    for (i, tx) in f.txs.iter().enumerate() {
        match plugin.scan_tx(tx, &host) {
            Ok(reply) => {
                for m in &reply.matches {
                    if !block.contains(m) {
                        problems.push(format!("tx {i}: {m:?} is not what scan_block found"));
                    }
                }
                let ids: BTreeSet<&str> = reply.matches.iter().map(|m| m.txid.as_str()).collect();
                let of_block = block.iter().filter(|m| ids.contains(m.txid.as_str())).count();
                if of_block != reply.matches.len() {
                    problems.push(format!("tx {i}: {} matches, scan_block has {of_block} for it", reply.matches.len()));
                }
            }
            Err(e) => problems.push(format!("tx {i}: {e}")),
        }
    }
    if problems.is_empty() {
        r.pass(name, format!("{} transactions", f.txs.len()));
    } else {
        r.fail(name, problems.join("; "));
    }
    garbage_never_panics(r, ctx, false, false);
}
