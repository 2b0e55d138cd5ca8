//! Checks for `evm` chain plugins, over normalized blocks built with [`crate::evm::Block`].

use super::{garbage_never_panics, truncations_are_errors, Ctx, Report};
use crate::evm::{Address, Block, Internal, Log, Tx, B256};
use crate::testing::fixtures::decode_hex;
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
        .and_then(|c| decode_hex(c.trim_start_matches("0x")))
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

/// Ether to the watched address (tx 0), a failed payment to it (tx 1), a token transfer to it
/// from `contract` (tx 2, log 0) with a Transfer of another contract (log 1) and Ether
/// forwarded by `contract` (an internal transfer), and a token transfer in a failed
/// transaction (tx 3, log 2).
fn sample_block(contract: Address) -> Block {
    let tx = |h: u8, to: Address, value: u128, success: bool| Tx {
        hash: word(h),
        from: SENDER,
        to: Some(to),
        value: u256(value),
        success,
    };
    let transfer = decode_hex(TRANSFER).and_then(|t| B256::try_from(t).ok()).expect("constant");
    let log = |tx: u32, index: u32, address: Address, amount: u128| Log {
        tx,
        index,
        address,
        topics: vec![transfer, topic(&SENDER), topic(&WATCHED)],
        data: u256(amount).to_vec(),
    };
    Block {
        number: 19_000_000,
        timestamp: 1_700_000_000,
        hash: word(0xb1),
        parent: word(0xb0),
        txs: vec![
            tx(0xa0, WATCHED, ETHER, true),
            tx(0xa1, WATCHED, 5, false),
            tx(0xa2, contract, 0, true),
            tx(0xa3, contract, 0, false),
        ],
        logs: vec![log(2, 0, contract, TOKENS), log(2, 1, FOREIGN, 999), log(3, 2, contract, 888)],
        internal: vec![Internal { tx: 2, from: contract, to: WATCHED, value: u256(FORWARDED) }],
    }
}

const ETHER: u128 = 1_000_000_000_000_000_000;
const FORWARDED: u128 = 7;
const TOKENS: u128 = 1_000_000;
const FOREIGN: Address = [0x44; 20];

fn hash(h: u8) -> String {
    format!("0x{}", format!("{h:02x}").repeat(32))
}

/// `(txid, amount)` a plugin must credit (`token`: the config names a contract), and for
/// tokens the log index each must carry.
fn expected(token: bool) -> Vec<(String, String, Option<u32>)> {
    if token {
        vec![(hash(0xa2), TOKENS.to_string(), Some(0))]
    } else {
        vec![(hash(0xa0), ETHER.to_string(), None), (hash(0xa2), FORWARDED.to_string(), None)]
    }
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
    let mut got: Vec<(String, String, Option<u32>)> =
        reply.matches.iter().map(|m| (m.txid.clone(), m.amount_base.clone(), token.then_some(m.index))).collect();
    got.sort();
    let want = expected(token);
    if got != want {
        let what = if token {
            "the Transfer log of the config's contract in tx 2 (log index 0), not another contract's, not Ether, not a failed transaction's"
        } else {
            "Ether to the watched address in tx 0 and forwarded to it by a contract in tx 2, not the failed tx 1"
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
        r.pass(name, format!("{} {kind}, nothing from failed transactions or other contracts", reply.matches.len()));
    } else {
        r.fail(name, problems.join("; "));
    }
}
