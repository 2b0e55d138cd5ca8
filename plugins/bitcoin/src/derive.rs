//! Receiving addresses from public data: extended public keys (xpub/ypub/zpub and their
//! testnet forms tpub/upub/vpub, SLIP-132) and output descriptors (`pkh()`, `sh(wpkh())`,
//! `wpkh()`, `tr()`, and whatever else miniscript understands). Parsing, checksums and
//! derivation are the `bitcoin` and `miniscript` crates'; nothing is hand-rolled here.

use bitcoin::{base58, NetworkKind, ScriptBuf};
use miniscript::descriptor::{Descriptor, DescriptorPublicKey, Wildcard};
use miniscript::ForEachKey;
use paywatch_plugin_api::PluginError;
use std::str::FromStr;

/// At most this many addresses per request.
pub(crate) const MAX_COUNT: u32 = 10_000;

/// SLIP-132 version bytes → (descriptor wrapper, BIP32 version to parse with, network kind).
const VERSIONS: [([u8; 4], &str, [u8; 4], NetworkKind); 6] = [
    ([0x04, 0x88, 0xb2, 0x1e], "pkh", XPUB, NetworkKind::Main), // xpub (BIP44)
    ([0x04, 0x9d, 0x7c, 0xb2], "sh(wpkh", XPUB, NetworkKind::Main), // ypub (BIP49)
    ([0x04, 0xb2, 0x47, 0x46], "wpkh", XPUB, NetworkKind::Main), // zpub (BIP84)
    ([0x04, 0x35, 0x87, 0xcf], "pkh", TPUB, NetworkKind::Test), // tpub
    ([0x04, 0x4a, 0x52, 0x62], "sh(wpkh", TPUB, NetworkKind::Test), // upub
    ([0x04, 0x5f, 0x1c, 0x46], "wpkh", TPUB, NetworkKind::Test), // vpub
];
const XPUB: [u8; 4] = [0x04, 0x88, 0xb2, 0x1e];
const TPUB: [u8; 4] = [0x04, 0x35, 0x87, 0xcf];

fn bad(message: String) -> PluginError {
    PluginError::new("invalid_source", message)
}

/// The scriptPubKeys at indexes `start..start+count` of `source`'s `branch` (0 receive,
/// 1 change; a descriptor's own path wins, except that a multipath `<0;1>` step picks by it).
pub(crate) fn derive(
    source: &str,
    branch: u32,
    start: u32,
    count: u32,
    network: NetworkKind,
) -> Result<Vec<(u32, ScriptBuf)>, PluginError> {
    if count > MAX_COUNT {
        return Err(PluginError::invalid_input(format!("count {count} is more than {MAX_COUNT}")));
    }
    let end = start
        .checked_add(count)
        .filter(|e| *e <= 1 << 31)
        .ok_or_else(|| PluginError::invalid_input(format!("indexes {start}+{count} pass the last unhardened index")))?;
    let source = source.trim();
    let descriptor = if source.contains('(') { source.to_string() } else { xpub_descriptor(source, branch, network)? };
    let desc = Descriptor::<DescriptorPublicKey>::from_str(&descriptor)
        .map_err(|e| bad(format!("descriptor {descriptor:?}: {e}")))?;
    check_keys(&desc, network)?;
    let desc = single_path(desc, branch)?;
    if !desc.has_wildcard() && (start, count) != (0, 1) && count > 0 {
        return Err(PluginError::invalid_input(format!(
            "descriptor {descriptor:?} has no wildcard: it has one address (start 0, count 1)"
        )));
    }
    (start..end)
        .map(|i| {
            let d = desc.at_derivation_index(i).map_err(|e| bad(format!("index {i} of {descriptor:?}: {e}")))?;
            Ok((i, d.script_pubkey()))
        })
        .collect()
}

/// An extended key → the descriptor its SLIP-132 version implies, on `/branch/*`.
fn xpub_descriptor(key: &str, branch: u32, network: NetworkKind) -> Result<String, PluginError> {
    let mut data = base58::decode_check(key).map_err(|e| bad(format!("{key:?} is not an extended public key: {e}")))?;
    if data.len() != 78 {
        return Err(bad(format!("{key:?} decodes to {} bytes, an extended key has 78", data.len())));
    }
    let version: [u8; 4] = data[..4].try_into().expect("78 bytes");
    let &(_, wrapper, bip32, kind) = VERSIONS.iter().find(|v| v.0 == version).ok_or_else(|| {
        bad(format!(
            "{key:?} has version {} (not an xpub/ypub/zpub/tpub/upub/vpub; private keys are refused)",
            hex(&version)
        ))
    })?;
    if kind != network {
        return Err(bad(format!("{key:?} is a {} key, this chain is {}", name(kind), name(network))));
    }
    if branch > 1 {
        return Err(PluginError::invalid_input(format!("branch {branch}: use 0 (receive) or 1 (change)")));
    }
    data[..4].copy_from_slice(&bip32);
    let xpub = base58::encode_check(&data);
    let close = if wrapper.contains('(') { "))" } else { ")" };
    Ok(format!("{wrapper}({xpub}/{branch}/*{close}"))
}

fn single_path(
    desc: Descriptor<DescriptorPublicKey>,
    branch: u32,
) -> Result<Descriptor<DescriptorPublicKey>, PluginError> {
    if !desc.is_multipath() {
        return Ok(desc);
    }
    let mut paths = desc.into_single_descriptors().map_err(|e| bad(format!("multipath descriptor: {e}")))?;
    let n = paths.len();
    if branch as usize >= n {
        return Err(PluginError::invalid_input(format!("branch {branch}: the descriptor has {n} paths")));
    }
    Ok(paths.swap_remove(branch as usize))
}

/// Every extended key of the descriptor must belong to the chain's network, and be derivable
/// from public data (no hardened step after the key).
fn check_keys(desc: &Descriptor<DescriptorPublicKey>, network: NetworkKind) -> Result<(), PluginError> {
    let mut problem = None;
    desc.for_each_key(|k| {
        let (kind, hardened) = match k {
            DescriptorPublicKey::XPub(x) => (
                Some(x.xkey.network),
                x.wildcard == Wildcard::Hardened || x.derivation_path.into_iter().any(|c| c.is_hardened()),
            ),
            DescriptorPublicKey::MultiXPub(x) => (
                Some(x.xkey.network),
                x.wildcard == Wildcard::Hardened
                    || x.derivation_paths.paths().iter().any(|p| p.into_iter().any(|c| c.is_hardened())),
            ),
            DescriptorPublicKey::Single(_) => (None, false),
        };
        if kind.is_some_and(|kind| kind != network) {
            problem = Some(format!("key {k} is a {} key, this chain is {}", name(other(network)), name(network)));
        } else if hardened {
            problem =
                Some(format!("key {k} has a hardened step after the extended public key: it needs a private key"));
        }
        problem.is_none()
    });
    problem.map_or(Ok(()), |p| Err(bad(p)))
}

fn name(kind: NetworkKind) -> &'static str {
    match kind {
        NetworkKind::Main => "mainnet",
        NetworkKind::Test => "testnet/signet/regtest",
    }
}

fn other(kind: NetworkKind) -> NetworkKind {
    match kind {
        NetworkKind::Main => NetworkKind::Test,
        NetworkKind::Test => NetworkKind::Main,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}
