//! Checks for chain kinds the kit has no reference data for: the author brings a block, its
//! transactions and what a scan must find.

use super::{garbage_never_panics, Ctx, Report};
use crate::messages::{Hex, Match};
use crate::testing::TestHost;
use serde::Deserialize;

/// An author's reference data for a chain kind the kit does not know. As JSON (for
/// `paywatch plugins check --fixture FILE`), bytes in hex:
///
/// ```json
/// {"block": "74312064656d6f31…", "txs": [{"txid": "t1", "raw": "74312064…"}],
///  "watch": ["abab…"], "expected": [{"txid": "t1", "index": 0, "amount_base": "150000000"}]}
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CustomFixture {
    /// A block in the chain's wire format.
    #[serde(deserialize_with = "hex_bytes")]
    pub block: Vec<u8>,
    /// Some of its transactions, each in the wire format `scan_tx` reads.
    #[serde(default)]
    pub txs: Vec<FixtureTx>,
    /// The keys the host watches.
    #[serde(deserialize_with = "hex_list")]
    pub watch: Vec<Vec<u8>>,
    /// Exactly what `scan_block` must find.
    pub expected: Vec<Expected>,
}

/// One transaction of a [`CustomFixture`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FixtureTx {
    /// Its id, as `Match.txid` must spell it.
    pub txid: String,
    /// Its bytes.
    #[serde(deserialize_with = "hex_bytes")]
    pub raw: Vec<u8>,
}

/// One payment a scan must find.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub struct Expected {
    /// The chain's transaction id, as the chain's explorers show it.
    pub txid: String,
    /// Output (or log) index.
    pub index: u32,
    /// Base units, decimal.
    pub amount_base: String,
}

fn hex_bytes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    Hex::deserialize(d).map(|h| h.0)
}

fn hex_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
    Vec::<Hex>::deserialize(d).map(|v| v.into_iter().map(|h| h.0).collect())
}

impl CustomFixture {
    /// Reads the JSON form (see the type's docs).
    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("not a conformance fixture: {e}"))
    }
}

fn expected(m: &Match) -> Expected {
    Expected { txid: m.txid.clone(), index: m.index, amount_base: m.amount_base.clone() }
}

pub(super) fn run(r: &mut Report, ctx: &Ctx<'_>, f: &CustomFixture) {
    let host = TestHost::with_keys(f.watch.iter().cloned());
    let name = "scan_block finds exactly the expected payments";
    if f.expected.is_empty() || f.watch.is_empty() {
        return r.fail(name, "the fixture watches or expects nothing: it would check nothing");
    }
    let Some(plugin) = ctx.instance(r, name, &host) else { return };
    let block = match plugin.scan_block(&f.block, &host) {
        Ok(reply) => reply.matches,
        Err(e) => return r.fail(name, e.to_string()),
    };
    let mut got: Vec<Expected> = block.iter().map(expected).collect();
    let mut want: Vec<Expected> = f.expected.clone();
    got.sort();
    want.sort();
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
    for tx in &f.txs {
        match plugin.scan_tx(&tx.raw, &host) {
            Ok(reply) => {
                let mut from_tx: Vec<&Match> = reply.matches.iter().collect();
                let mut from_block: Vec<&Match> = block.iter().filter(|m| m.txid == tx.txid).collect();
                from_tx.sort_by_key(|m| m.index);
                from_block.sort_by_key(|m| m.index);
                if from_tx != from_block {
                    problems.push(format!("{}: scan_tx {from_tx:?} vs scan_block {from_block:?}", tx.txid));
                }
            }
            Err(e) => problems.push(format!("{}: {e}", tx.txid)),
        }
    }
    match (problems.is_empty(), f.txs.is_empty()) {
        (_, true) => r.skip(name, "the fixture has no transactions"),
        (true, false) => r.pass(name, format!("{} transactions, matches identical", f.txs.len())),
        (false, false) => r.fail(name, problems.join("; ")),
    }
    garbage_never_panics(r, ctx, false, false);
}
