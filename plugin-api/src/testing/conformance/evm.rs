//! Checks for `evm` chain plugins, over normalized blocks built with [`crate::evm::Block`].

use super::{garbage_never_panics, truncations_are_errors, Ctx, Report};
use crate::evm::{Address, Block, Internal, Log, Tx, B256};
use crate::messages::Hex;
use crate::testing::TestHost;

/// keccak256("Transfer(address,address,uint256)").
const TRANSFER: &str = "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";
const WATCHED: Address = [0x11; 20];
const SENDER: Address = [0x22; 20];

pub(super) fn run(r: &mut Report, ctx: &Ctx<'_>) {
    // A token plugin names its contract in the config; a native-coin plugin does not.
    let contract = ctx
        .config
        .get("contract")
        .and_then(|c| c.as_str())
        .and_then(|c| Hex::decode(c.trim_start_matches("0x")).ok().map(|h| h.0))
        .and_then(|b| Address::try_from(b).ok());
    let token = contract.is_some();
    let raw = sample_block(contract.unwrap_or([0x33; 20])).encode();
    scan_finds_payments(r, ctx, token, &raw);
    let header = 4 + 8 + 8 + 32 + 32;
    let cuts = [0, 3, 4, 20, header, header + 3, header + 4 + 50, raw.len() / 2, raw.len() - 1];
    truncations_are_errors(r, ctx, "truncated blocks are errors", &raw, &cuts, |p, raw, h| p.scan_block(raw, h));
    garbage_never_panics(r, ctx, true, false);
}

fn word(b: u8) -> B256 {
    [b; 32]
}

fn u256(v: u128) -> B256 {
    let mut w = [0u8; 32];
    w[16..].copy_from_slice(&v.to_be_bytes());
    w
}

fn topic(a: &Address) -> B256 {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(a);
    w
}

/// keccak256("Approval(address,address,uint256)").
const APPROVAL: &str = "8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925";

/// One of each case a scanner must get right, for `contract` (the config's token, if any):
///
/// | tx | what | pays the watched address? |
/// |---|---|---|
/// | 0 | Ether to it | native: yes |
/// | 1 | Ether to it, failed | no |
/// | 2 | a call to `contract`: its `Transfer` to it (log 0), another contract's `Transfer` to it (log 1), an `Approval` naming it (log 2), a `Transfer` *from* it (log 3); Ether forwarded to it (internal) | token: log 0; native: the internal transfer |
/// | 3 | a call to `contract`, failed: a `Transfer` to it (log 4) and Ether forwarded to it | no |
/// | 4 | Ether to it, and more forwarded to it within the same transaction | native: both, under distinct indexes |
/// | 5 | Ether *from* it | no |
fn sample_block(contract: Address) -> Block {
    let tx = |h: u8, from: Address, to: Address, value: u128, success: bool| Tx {
        hash: word(h),
        from,
        to: Some(to),
        value: u256(value),
        success,
    };
    let b256 = |hex: &str| Hex::decode(hex).ok().and_then(|t| B256::try_from(t.0).ok()).expect("constant");
    let log = |tx: u32, index: u32, address: Address, event: &str, from: Address, to: Address, amount: u128| Log {
        tx,
        index,
        address,
        topics: vec![b256(event), topic(&from), topic(&to)],
        data: u256(amount).to_vec(),
    };
    let internal = |tx: u32, value: u128| Internal { tx, from: contract, to: WATCHED, value: u256(value) };
    Block {
        number: 19_000_000,
        timestamp: 1_700_000_000,
        hash: word(0xb1),
        parent: word(0xb0),
        txs: vec![
            tx(0xa0, SENDER, WATCHED, ETHER, true),
            tx(0xa1, SENDER, WATCHED, 5, false),
            tx(0xa2, SENDER, contract, 0, true),
            tx(0xa3, SENDER, contract, 0, false),
            tx(0xa4, SENDER, WATCHED, 2, true),
            tx(0xa5, WATCHED, SENDER, 4, true),
        ],
        logs: vec![
            log(2, 0, contract, TRANSFER, SENDER, WATCHED, TOKENS),
            log(2, 1, FOREIGN, TRANSFER, SENDER, WATCHED, 999),
            log(2, 2, contract, APPROVAL, SENDER, WATCHED, 555),
            log(2, 3, contract, TRANSFER, WATCHED, SENDER, 444),
            log(3, 4, contract, TRANSFER, SENDER, WATCHED, 888),
        ],
        internal: vec![internal(2, FORWARDED), internal(3, 6), internal(4, 3)],
    }
}

const ETHER: u128 = 1_000_000_000_000_000_000;
const FORWARDED: u128 = 7;
const TOKENS: u128 = 1_000_000;
const FOREIGN: Address = [0x44; 20];

fn hash(h: u8) -> String {
    format!("0x{}", format!("{h:02x}").repeat(32))
}

/// `(txid, amount, index)` a plugin must credit, exactly (`token`: the config names a
/// contract). Indexes: the log index for tokens; for the native coin `u32::MAX` for a
/// transaction's own value and `u32::MAX - 1 - k` for its k-th internal transfer
/// (`docs/plugins.md`).
fn expected(token: bool) -> Vec<(String, String, u32)> {
    let mut want = if token {
        vec![(hash(0xa2), TOKENS.to_string(), 0)]
    } else {
        vec![
            (hash(0xa0), ETHER.to_string(), u32::MAX),
            (hash(0xa2), FORWARDED.to_string(), u32::MAX - 1),
            (hash(0xa4), "2".to_string(), u32::MAX),
            (hash(0xa4), "3".to_string(), u32::MAX - 1),
        ]
    };
    want.sort();
    want
}

fn scan_finds_payments(r: &mut Report, ctx: &Ctx<'_>, token: bool, raw: &[u8]) {
    let name = "scan_block finds exactly the payments to a watched address";
    let host = TestHost::with_keys([WATCHED.to_vec()]);
    let Some(plugin) = ctx.instance(r, name, &host) else { return };
    let reply = match plugin.scan_block(raw, &host) {
        Ok(reply) => reply,
        Err(e) => return r.fail(name, e.to_string()),
    };
    let mut problems = Vec::new();
    let mut got: Vec<(String, String, u32)> =
        reply.matches.iter().map(|m| (m.txid.clone(), m.amount_base.clone(), m.index)).collect();
    got.sort();
    let want = expected(token);
    if got != want {
        let what = if token {
            "only the Transfer of the config's contract to the watched address (tx 2, log index 0): not another contract's, not an Approval, not a transfer from it, not Ether, not a failed transaction's"
        } else {
            "the Ether sent to the watched address (tx 0, tx 4) and forwarded to it (tx 2, tx 4), at index u32::MAX for a transaction's value and u32::MAX-1-k for its k-th internal transfer; not Ether it sent, not a failed transaction's"
        };
        problems.push(format!("found (txid, amount, index) {got:?}, expected {want:?}: {what}"));
    }
    let mut pairs: Vec<(&str, u32)> = reply.matches.iter().map(|m| (m.txid.as_str(), m.index)).collect();
    pairs.sort();
    if pairs.windows(2).any(|w| w[0] == w[1]) {
        problems.push(format!("two matches share a (txid, index): {pairs:?}"));
    }
    for m in &reply.matches {
        if m.key.0 != WATCHED {
            problems.push(format!("Match.key {:?} is not the watched 20-byte address", m.key));
        }
        if m.asset != ctx.asset {
            problems
                .push(format!("Match.asset is {:?}: it must be the asset id {:?} of the config", m.asset, ctx.asset));
        }
    }
    let quiet = TestHost::new();
    match plugin.scan_block(raw, &quiet) {
        Ok(reply) if reply.matches.is_empty() => {}
        Ok(reply) => problems.push(format!("a host watching nothing got {} matches", reply.matches.len())),
        Err(e) => problems.push(e.to_string()),
    }
    if problems.is_empty() {
        let kind = if token { "token transfer" } else { "Ether payments" };
        r.pass(name, format!("{} {kind}; nothing failed, sent, approved or of another contract", reply.matches.len()));
    } else {
        r.fail(name, problems.join("; "));
    }
}
