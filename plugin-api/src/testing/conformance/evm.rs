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
    let contract = ctx
        .config
        .get("contract")
        .and_then(|c| c.as_str())
        .and_then(|c| decode_hex(c.trim_start_matches("0x")))
        .and_then(|b| Address::try_from(b).ok())
        .unwrap_or([0x33; 20]);
    let block = sample_block(contract);
    let raw = block.encode();
    scan_finds_payments(r, ctx, &block, &raw);
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
/// from `contract` (tx 2) with Ether forwarded by that contract (an internal transfer).
fn sample_block(contract: Address) -> Block {
    let tx = |h: u8, to: Address, value: u128, success: bool| Tx {
        hash: word(h),
        from: SENDER,
        to: Some(to),
        value: u256(value),
        success,
    };
    let transfer = decode_hex(TRANSFER).and_then(|t| B256::try_from(t).ok()).expect("constant");
    Block {
        number: 19_000_000,
        timestamp: 1_700_000_000,
        hash: word(0xb1),
        parent: word(0xb0),
        txs: vec![
            tx(0xa0, WATCHED, 1_000_000_000_000_000_000, true),
            tx(0xa1, WATCHED, 5, false),
            tx(0xa2, contract, 0, true),
        ],
        logs: vec![Log {
            tx: 2,
            index: 0,
            address: contract,
            topics: vec![transfer, topic(&SENDER), topic(&WATCHED)],
            data: u256(1_000_000).to_vec(),
        }],
        internal: vec![Internal { tx: 2, from: contract, to: WATCHED, value: u256(7) }],
    }
}

fn scan_finds_payments(r: &mut Report, ctx: &Ctx<'_>, block: &Block, raw: &[u8]) {
    let name = "scan_block finds payments to a watched address";
    let host = TestHost::with_keys([WATCHED.to_vec()]);
    let Ok(plugin) = ctx.instance(&host) else { return };
    let reply = match plugin.scan_block(raw, &host) {
        Ok(reply) => reply,
        Err(e) => return r.fail(name, e.to_string()),
    };
    let hash = |t: &Tx| format!("0x{}", t.hash.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let ok: Vec<String> = block.txs.iter().filter(|t| t.success).map(hash).collect();
    let failed: Vec<String> = block.txs.iter().filter(|t| !t.success).map(hash).collect();
    let mut problems = Vec::new();
    if reply.matches.is_empty() {
        problems.push(
            "found nothing (Ether in tx 0, a Transfer log of the config's contract and an internal transfer in tx 2)"
                .to_string(),
        );
    }
    for m in &reply.matches {
        if failed.contains(&m.txid) {
            problems.push(format!("credited the failed transaction {}", m.txid));
        } else if !ok.contains(&m.txid) {
            problems.push(format!(
                "Match.txid {:?} is not a transaction hash of the block as 0x + 64 lowercase hex digits",
                m.txid
            ));
        }
        if m.key.0 != WATCHED {
            problems.push(format!("Match.key {:?} is not the watched 20-byte address", m.key));
        }
        if m.asset != ctx.asset {
            problems
                .push(format!("Match.asset is {:?}: it must be the asset id {:?} of the config", m.asset, ctx.asset));
        }
        if m.amount_base.is_empty() || !m.amount_base.bytes().all(|b| b.is_ascii_digit()) {
            problems.push(format!("Match.amount_base {:?} is not a decimal integer", m.amount_base));
        }
    }
    let quiet = TestHost::new();
    match plugin.scan_block(raw, &quiet) {
        Ok(reply) if reply.matches.is_empty() => {}
        Ok(reply) => problems.push(format!("a host watching nothing got {} matches", reply.matches.len())),
        Err(e) => problems.push(e.to_string()),
    }
    if problems.is_empty() {
        r.pass(name, format!("{} matches, none from the failed transaction", reply.matches.len()));
    } else {
        r.fail(name, problems.join("; "));
    }
}
