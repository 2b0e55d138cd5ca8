//! Checks for `bitcoin` chain plugins, over the real mainnet block and its reference index.

use super::{garbage_never_panics, truncations_are_errors, Ctx, Report};
use crate::messages::{
    currency_method as m, AddressReply, KeyToAddressRequest, Match, ParseAddressRequest, ParsedAddress,
};
use crate::messages::{Hex, OutPoint};
use crate::testing::fixtures::{self, bitcoin_outpoint_key, BlockIndex, IndexedTx};
use crate::testing::TestHost;
use std::collections::HashSet;

pub(super) fn run(r: &mut Report, ctx: &Ctx<'_>) {
    let block = fixtures::bitcoin_mainnet_block();
    let index = fixtures::bitcoin_mainnet_index();
    let matches = scan_block_finds_the_reference(r, ctx, block, &index);
    if let Some(matches) = matches {
        scan_tx_agrees(r, ctx, block, &index, &matches);
    }
    spends(r, ctx, block, &index);
    merkle_root(r, ctx, block, &index);
    keys_only_cost(r, ctx, block, &index);
    addresses_round_trip(r, ctx, &index);
    let cuts = [0, 1, 79, 80, 81, 82, 1000, block.len() / 2, block.len() - 1];
    truncations_are_errors(r, ctx, "truncated blocks are errors", block, &cuts, |p, raw, h| p.scan_block(raw, h));
    let tx = index.txs.iter().find(|t| t.segwit && t.position > 0).expect("the index has a segwit tx").raw(block);
    let cuts = [0, 1, 4, 6, 10, tx.len() / 2, tx.len() - 4, tx.len() - 1];
    truncations_are_errors(r, ctx, "truncated transactions are errors", tx, &cuts, |p, raw, h| p.scan_tx(raw, h));
    garbage_never_panics(r, ctx, true, true);
}

/// `ScanReply::merkle_root`, when reported, is the header's for the real block, and a mutated
/// transaction list (the last transaction repeated: the same root) is refused, never given a
/// root the host would accept.
fn merkle_root(r: &mut Report, ctx: &Ctx<'_>, block: &[u8], index: &BlockIndex) {
    let name = "the merkle root reported is the header's, a mutated list is refused";
    let host = TestHost::new();
    let Some(plugin) = ctx.instance(r, name, &host) else { return };
    let mut header_root = block[36..68].to_vec();
    header_root.reverse();
    let header_root = Hex(header_root).to_string();
    let reported = match plugin.scan_block(block, &host) {
        Ok(reply) => reply.merkle_root,
        Err(e) => return r.fail(name, format!("scan_block: {e}")),
    };
    match reported {
        None => return r.pass(name, "not reported: the host decodes the block to compute it (several times slower)"),
        Some(root) if root != header_root => {
            return r.fail(
                name,
                format!("merkle_root {root}, the header says {header_root} (display order, byte-reversed)"),
            )
        }
        Some(_) => {}
    }
    // Three real transactions, the last one twice: [a, b, c, c] has the root of [a, b, c].
    let txs: Vec<&[u8]> = index.txs.iter().skip(1).take(3).map(|t| t.raw(block)).collect();
    let mut mutated = block[..80].to_vec();
    mutated.push(4);
    for t in [txs[0], txs[1], txs[2], txs[2]] {
        mutated.extend_from_slice(t);
    }
    match plugin.scan_block(&mutated, &host) {
        Ok(reply) if reply.merkle_root.is_some() => r.fail(
            name,
            "a block whose last transaction is repeated got a merkle root: it equals the unrepeated list's, so the host would accept the altered block; refuse two equal hashes side by side at any level (CVE-2012-2459)",
        ),
        _ => r.pass(name, format!("block {}: {header_root}; a repeated transaction refused", index.height)),
    }
}

/// Every sampled output's scriptPubKey.
fn keys(index: &BlockIndex) -> Vec<Vec<u8>> {
    index.txs.iter().flat_map(|t| &t.outputs).map(|o| Hex::decode(&o.script_pubkey).expect("index hex").0).collect()
}

/// `(txid, index, satoshis, key)` of what the index says a scan must find, sorted (a Vec, not a
/// set: a match reported twice is a difference).
type Found = Vec<(String, u32, String, Vec<u8>)>;

fn expected(txs: &[&IndexedTx]) -> Found {
    txs.iter()
        .flat_map(|t| {
            t.outputs.iter().map(|o| {
                (t.txid.clone(), o.index, o.value.to_string(), Hex::decode(&o.script_pubkey).expect("index hex").0)
            })
        })
        .collect()
}

fn found(matches: &[Match]) -> Found {
    let mut v: Found =
        matches.iter().map(|m| (m.txid.clone(), m.index, m.amount_base.clone(), m.key.0.clone())).collect();
    v.sort();
    v
}

/// Reversed hex: a txid shown in wire order instead of display order.
fn reversed(txid: &str) -> String {
    Hex::decode(txid)
        .map(|mut b| {
            b.0.reverse();
            b.to_string()
        })
        .unwrap_or_default()
}

fn scan_block_finds_the_reference(
    r: &mut Report,
    ctx: &Ctx<'_>,
    block: &[u8],
    index: &BlockIndex,
) -> Option<Vec<Match>> {
    let name = "scan_block finds the reference outputs";
    let host = TestHost::with_keys(keys(index));
    let plugin = ctx.instance(r, name, &host)?;
    let reply = match plugin.scan_block(block, &host) {
        Ok(reply) => reply,
        Err(e) => {
            r.fail(name, format!("the mainnet block {}: {e}", index.block_hash));
            return None;
        }
    };
    let mut want = expected(&index.txs.iter().collect::<Vec<_>>());
    want.sort();
    let got = found(&reply.matches);
    let mut problems = Vec::new();
    let txids: HashSet<&str> = index.txs.iter().map(|t| t.txid.as_str()).collect();
    if let Some(m) =
        reply.matches.iter().find(|m| !txids.contains(m.txid.as_str()) && txids.contains(reversed(&m.txid).as_str()))
    {
        problems.push(format!(
            "txid {} is in wire order: Match.txid must be in display order ({}), as bitcoind prints it",
            m.txid,
            reversed(&m.txid)
        ));
    }
    if let Some(m) = reply.matches.iter().find(|m| m.asset != ctx.asset) {
        problems.push(format!("Match.asset is {:?}: it must be the asset id {:?} of the config", m.asset, ctx.asset));
    }
    let missing: Vec<_> = want.iter().filter(|w| !got.contains(w)).collect();
    let extra: Vec<_> = got.iter().filter(|g| !want.contains(g)).collect();
    let show = |v: &[&(String, u32, String, Vec<u8>)]| {
        v.iter().take(3).map(|(t, i, a, _)| format!("{t}:{i} ({a} sat)")).collect::<Vec<_>>().join(", ")
    };
    if !missing.is_empty() {
        problems.push(format!("missing {} of {}: {}", missing.len(), want.len(), show(&missing)));
    }
    if !extra.is_empty() {
        problems.push(format!("unexpected or wrong: {}", show(&extra)));
    } else if missing.is_empty() && got != want {
        problems.push(format!("{} matches for {} outputs: some reported more than once", got.len(), want.len()));
    }
    if problems.is_empty() {
        r.pass(name, format!("{} outputs of {} transactions of block {}", want.len(), index.txs.len(), index.height));
    } else {
        r.fail(name, problems.join("; "));
    }
    Some(reply.matches)
}

fn scan_tx_agrees(r: &mut Report, ctx: &Ctx<'_>, block: &[u8], index: &BlockIndex, block_matches: &[Match]) {
    let name = "scan_tx agrees with scan_block";
    let host = TestHost::with_keys(keys(index));
    let Some(plugin) = ctx.instance(r, name, &host) else { return };
    let mut problems = Vec::new();
    for t in &index.txs {
        match plugin.scan_tx(t.raw(block), &host) {
            Ok(reply) => {
                let mut from_block: Vec<&Match> = block_matches.iter().filter(|m| m.txid == t.txid).collect();
                let mut from_tx: Vec<&Match> = reply.matches.iter().collect();
                from_block.sort_by_key(|m| m.index);
                from_tx.sort_by_key(|m| m.index);
                if from_block != from_tx {
                    problems.push(format!("{}: scan_tx {:?} vs scan_block {:?}", t.txid, from_tx, from_block));
                }
            }
            Err(e) => problems.push(format!("{}: {e}", t.txid)),
        }
    }
    if problems.is_empty() {
        r.pass(name, format!("{} transactions, matches identical (spends included)", index.txs.len()));
    } else {
        r.fail(name, problems.join("; "));
    }
}

/// Watched outpoints come back with the spending txid and the bytes `is_watched_spend` was
/// asked; the coinbase's null outpoint is no spend; a match carries what its transaction
/// spends, shown and as those bytes (`Match.outpoint_keys`, what the host watches).
fn spends(r: &mut Report, ctx: &Ctx<'_>, block: &[u8], index: &BlockIndex) {
    let name = "watched spends are reported, a coinbase is not a spend";
    let host = TestHost::new();
    let mut want = Vec::new();
    for t in index.txs.iter().filter(|t| t.position > 0) {
        let o = &t.spends[0];
        host.watch_outpoint(bitcoin_outpoint_key(o).expect("index txids are 32 bytes"));
        want.push((t.txid.clone(), o.clone()));
    }
    want.sort();
    let null = OutPoint { txid: "00".repeat(32), index: u32::MAX };
    host.watch_outpoint(bitcoin_outpoint_key(&null).expect("32 bytes"));
    let Some(plugin) = ctx.instance(r, name, &host) else { return };
    let mut problems = Vec::new();
    match plugin.scan_block(block, &host) {
        Ok(reply) => {
            let mut got: Vec<(String, OutPoint)> =
                reply.watched_spends.iter().map(|s| (s.txid.clone(), s.spends.clone())).collect();
            got.sort();
            for (txid, o) in want.iter().filter(|w| !got.contains(w)) {
                problems.push(format!("{txid} spends {}:{} and was not reported", o.txid, o.index));
            }
            for s in &reply.watched_spends {
                let asked = bitcoin_outpoint_key(&s.spends).unwrap_or_default();
                if s.outpoint_key.0.is_empty() {
                    problems.push(format!(
                        "{} spends {}:{}: WatchedSpend.outpoint_key is empty, it must be the 36 bytes is_watched_spend was asked ({})",
                        s.txid, s.spends.txid, s.spends.index, Hex(asked)
                    ));
                } else if s.outpoint_key.0 != asked {
                    problems.push(format!(
                        "{} spends {}:{}: WatchedSpend.outpoint_key {}, is_watched_spend was asked {}",
                        s.txid,
                        s.spends.txid,
                        s.spends.index,
                        s.outpoint_key,
                        Hex(asked)
                    ));
                }
            }
            if got.iter().any(|(_, o)| *o == null) {
                problems.push("the coinbase's null outpoint was reported as a spend".into());
            } else if got != want {
                problems.push(format!(
                    "{} watched spends reported for {} watched outpoints (only those, once each)",
                    got.len(),
                    want.len()
                ));
            }
            // scan_tx reports the same spends as scan_block (mempool replacements).
            for t in index.txs.iter().filter(|t| t.position > 0) {
                let from_block: Vec<_> = reply.watched_spends.iter().filter(|s| s.txid == t.txid).collect();
                match plugin.scan_tx(t.raw(block), &host) {
                    Ok(r) if r.watched_spends.iter().collect::<Vec<_>>() == from_block => {}
                    Ok(r) => problems.push(format!(
                        "{}: scan_tx reports spends {:?}, scan_block {:?}",
                        t.txid, r.watched_spends, from_block
                    )),
                    Err(e) => problems.push(format!("{}: scan_tx: {e}", t.txid)),
                }
            }
            if let Some(m) = reply.matches.first() {
                problems.push(format!("a host watching no keys got a match: {m:?}"));
            }
        }
        Err(e) => problems.push(e.to_string()),
    }
    // Match.spends lists what the matched transaction spends, and nothing for a coinbase;
    // Match.outpoint_keys the same outpoints as is_watched_spend is asked them.
    let keys_host = TestHost::with_keys(keys(index));
    let mut keyless = Vec::new();
    if let Ok(reply) = plugin.scan_block(block, &keys_host) {
        for t in &index.txs {
            if let Some(m) = reply.matches.iter().find(|m| m.txid == t.txid) {
                if m.spends != t.spends {
                    problems.push(format!(
                        "{}: Match.spends {:?}, the transaction spends {:?}",
                        t.txid, m.spends, t.spends
                    ));
                }
                let want: Vec<Hex> =
                    t.spends.iter().map(|o| Hex(bitcoin_outpoint_key(o).expect("index txids are 32 bytes"))).collect();
                if m.outpoint_keys.is_empty() && !want.is_empty() {
                    keyless.push(t.txid.as_str());
                } else if m.outpoint_keys != want {
                    let show = |k: &[Hex]| k.iter().map(Hex::to_string).collect::<Vec<_>>().join(", ");
                    problems.push(format!(
                        "{}: Match.outpoint_keys [{}], the transaction spends [{}] (txid in wire order ‖ vout u32 LE)",
                        t.txid,
                        show(&m.outpoint_keys),
                        show(&want)
                    ));
                }
            }
        }
    }
    if !keyless.is_empty() {
        problems.push(format!(
            "Match.outpoint_keys is empty for {}: the host cannot watch what a pending payment spends, so its replacement goes unseen",
            keyless.join(", ")
        ));
    }
    if problems.is_empty() {
        r.pass(name, format!("{} outpoints", want.len()));
    } else {
        r.fail(name, problems.join("; "));
    }
}

/// A keys-only host (nothing pending) answers "no watched spends": the plugin should ask that
/// once per scan and skip the per-input questions.
fn keys_only_cost(r: &mut Report, ctx: &Ctx<'_>, block: &[u8], index: &BlockIndex) {
    let name = "a keys-only host is asked about spends at most once per scan";
    let host = TestHost::with_keys(keys(index));
    let Some(plugin) = ctx.instance(r, name, &host) else { return };
    host.reset_counts();
    if let Err(e) = plugin.scan_block(block, &host) {
        return r.fail(name, format!("scan_block: {e}"));
    }
    let (watched, spends) = (host.watched_calls(), host.spend_calls());
    match plugin.scan_block(block, &host) {
        Ok(reply) if !reply.watched_spends.is_empty() => {
            return r.fail(
                name,
                format!("{} watched spends reported to a host watching no outpoint", reply.watched_spends.len()),
            );
        }
        _ => {}
    }
    if spends <= 1 {
        r.pass(name, format!("{watched} is_watched and {spends} is_watched_spend calls for the block"));
    } else {
        r.fail(name, format!("{spends} is_watched_spend calls for one block: ask has_watched_spends() once and skip the inputs when it says no"));
    }
}

fn addresses_round_trip(r: &mut Report, ctx: &Ctx<'_>, index: &BlockIndex) {
    let name = "key_to_address and parse_address round-trip";
    let host = TestHost::new();
    let Some(plugin) = ctx.instance(r, name, &host) else { return };
    let mut problems = Vec::new();
    let mut n = 0;
    for key in keys(index) {
        let addr = match plugin.call::<_, AddressReply>(
            m::KEY_TO_ADDRESS,
            &KeyToAddressRequest { key: Hex(key.clone()) },
            &host,
        ) {
            Ok(a) => a.address,
            // Every sampled script is a standard one (P2PKH, P2SH, P2WPKH, P2WSH): it has an address.
            Err(e) => {
                problems.push(format!("key_to_address({}): {e}", Hex(key.clone())));
                continue;
            }
        };
        match plugin.call::<_, ParsedAddress>(m::PARSE_ADDRESS, &ParseAddressRequest { address: addr.clone() }, &host) {
            Ok(p) if p.key.0 == key => n += 1,
            Ok(p) => problems.push(format!("{addr} parses to key {}, not {}", p.key, Hex(key.clone()))),
            Err(e) => problems.push(format!("{addr} (from key {}): {e}", Hex(key.clone()))),
        }
    }
    if problems.is_empty() {
        r.pass(name, format!("{n} scriptPubKeys of the mainnet block"));
    } else {
        r.fail(name, problems.join("; "));
    }
}
