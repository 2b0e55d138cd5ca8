use super::*;
use bitcoin::consensus::deserialize;
use bitcoin::Network;
use paywatch_plugin_api::abi::{self, Bytes, HostVTable};
use std::collections::HashSet;
use std::ffi::c_void;

fn plugin(network: Network) -> Bitcoin {
    let name = match network {
        Network::Bitcoin => "mainnet",
        Network::Testnet => "testnet",
        Network::Testnet4 => "testnet4",
        Network::Signet => "signet",
        _ => "regtest",
    };
    with_config(serde_json::json!({"network": name}))
}

fn with_config(config: serde_json::Value) -> Bitcoin {
    let set = HashSet::new();
    let vt = host_for(&set);
    Bitcoin::create(config, &Host::new(&vt)).unwrap()
}

unsafe extern "C" fn log(_: *const c_void, _: u32, _: Bytes) {}
/// Per the ABI, an empty outpoint asks whether any is watched.
unsafe extern "C" fn spend(ctx: *const c_void, outpoint: Bytes) -> bool {
    // SAFETY: ctx is the test's set, outpoint valid for the call.
    let (set, o) = unsafe { (&*ctx.cast::<HashSet<Vec<u8>>>(), outpoint.as_slice()) };
    if o.is_empty() {
        set.iter().any(|k| k.len() == 36)
    } else {
        set.contains(o)
    }
}

unsafe extern "C" fn watched(ctx: *const c_void, key: Bytes) -> bool {
    // SAFETY: ctx is the test's set, key valid for the call.
    unsafe { (*ctx.cast::<HashSet<Vec<u8>>>()).contains(key.as_slice()) }
}

fn host_for(set: &HashSet<Vec<u8>>) -> HostVTable {
    HostVTable {
        struct_size: std::mem::size_of::<HostVTable>(),
        abi_major: abi::ABI_MAJOR,
        abi_minor: abi::ABI_MINOR,
        ctx: (set as *const HashSet<Vec<u8>>).cast(),
        log,
        is_watched: watched,
        // Outpoints (36 bytes) and scripts share the test's set.
        is_watched_spend: spend,
    }
}

#[test]
fn every_address_type_round_trips_on_its_network() {
    let cases = [
        (Network::Bitcoin, "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"),
        (Network::Bitcoin, "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"),
        (Network::Bitcoin, "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"),
        (Network::Bitcoin, "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3"),
        (Network::Bitcoin, "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr"),
        (Network::Testnet, "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn"),
        (Network::Testnet, "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"),
        (Network::Regtest, "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn"),
        (Network::Regtest, "bcrt1qs758ursh4q9z627kt3pp5yysm78ddny6txaqgw"),
    ];
    for (net, addr) in cases {
        let p = plugin(net);
        let parsed = p.parse_address(addr).unwrap_or_else(|e| panic!("{addr} on {net}: {e}"));
        assert_eq!(parsed.address, addr);
        assert_eq!(p.key_to_address(&parsed.key.0).unwrap(), addr);
    }
    // Bech32 is case-insensitive; the normalized form is lowercase.
    let p = plugin(Network::Bitcoin);
    assert_eq!(
        p.parse_address("BC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ").unwrap().address,
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
    );
}

#[test]
fn wrong_network_bad_checksum_and_garbage_are_refused() {
    let main = plugin(Network::Bitcoin);
    let e = main.parse_address("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn").unwrap_err();
    assert!(e.message.contains("is a testnet address, this chain is mainnet"), "{e}");
    for bad in ["1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdx", "", "hello"] {
        assert_eq!(main.parse_address(bad).unwrap_err().code, "invalid_address", "{bad}");
    }
    assert!(plugin(Network::Regtest).parse_address("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq").is_err());
    // An OP_RETURN script has no address.
    assert!(main.key_to_address(&[0x6a, 0x01, 0x00]).is_err());
}

#[test]
fn payment_uris_follow_bip21() {
    let p = plugin(Network::Bitcoin);
    let req = PaymentUriRequest {
        address: "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq".into(),
        amount_base: "150000".into(),
        label: Some("order 1042".into()),
        message: None,
    };
    assert_eq!(
        p.payment_uri(&req).unwrap(),
        "bitcoin:bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq?amount=0.0015&label=order%201042"
    );
}

fn mainnet_block() -> Vec<u8> {
    paywatch_plugin_api::testing::fixtures::bitcoin_mainnet_block().to_vec()
}

/// What a transaction spends, as `Match.spends` lists it: a coinbase's null outpoint is not a
/// spend (docs/plugins.md, the bitcoin contract).
fn spends_of(tx: &bitcoin::Transaction) -> Vec<OutPoint> {
    if tx.is_coinbase() {
        return Vec::new();
    }
    tx.input
        .iter()
        .map(|i| OutPoint { txid: i.previous_output.txid.to_string(), index: i.previous_output.vout })
        .collect()
}

/// What a transaction spends, as `Match.outpoint_keys` lists it: each outpoint's consensus
/// serialization (txid in wire order ‖ vout u32 LE), which `is_watched_spend` is asked.
fn outpoint_keys_of(tx: &bitcoin::Transaction) -> Vec<Hex> {
    if tx.is_coinbase() {
        return Vec::new();
    }
    tx.input.iter().map(|i| Hex(bitcoin::consensus::serialize(&i.previous_output))).collect()
}

/// The SDK's reference index of the mainnet block (what the conformance kit checks plugins
/// against) agrees with rust-bitcoin, an implementation independent of it and of this plugin.
#[test]
fn the_sdks_block_index_agrees_with_rust_bitcoin() {
    use paywatch_plugin_api::testing::fixtures::bitcoin_mainnet_index;
    let raw = mainnet_block();
    let block: bitcoin::Block = deserialize(&raw).unwrap();
    let index = bitcoin_mainnet_index();
    assert_eq!(index.block_hash, block.block_hash().to_string());
    assert_eq!(index.tx_count, block.txdata.len());
    let mut scripts = std::collections::HashMap::<Vec<u8>, usize>::new();
    for o in block.txdata.iter().flat_map(|t| &t.output) {
        *scripts.entry(o.script_pubkey.to_bytes()).or_default() += 1;
    }
    for t in &index.txs {
        let tx = &block.txdata[t.position];
        assert_eq!(t.txid, tx.compute_txid().to_string());
        assert_eq!(deserialize::<bitcoin::Transaction>(t.raw(&raw)).unwrap(), *tx, "{}: byte range", t.txid);
        for o in &t.outputs {
            let out = &tx.output[o.index as usize];
            let spk = Hex::decode(&o.script_pubkey).unwrap().0;
            assert_eq!((spk.as_slice(), o.value), (out.script_pubkey.as_bytes(), out.value.to_sat()));
            assert_eq!(scripts[&spk], 1, "{}: a sampled script is unique in the block", t.txid);
        }
        assert_eq!(t.spends, spends_of(tx));
    }
}

#[test]
fn passes_the_conformance_kit_on_every_network() {
    use paywatch_plugin_api::testing::conformance::{check_currency, CurrencyOptions};
    use paywatch_plugin_api::testing::harness::PluginLib;
    let lib = PluginLib::from_exported(&crate::PAYWATCH_PLUGIN).unwrap();
    for network in ["mainnet", "testnet", "signet", "regtest"] {
        let config = serde_json::json!({"asset": "BTC-MAIN", "symbol": "BTC", "chain": "btc", "network": network});
        let report = check_currency(&lib, &CurrencyOptions::new(config));
        report.assert_passed();
        assert!(report.checks.len() >= 10, "{report}");
    }
}

#[test]
fn scanning_the_mainnet_block_finds_exactly_the_planted_outputs() {
    let raw = mainnet_block();
    let block: bitcoin::Block = deserialize(&raw).unwrap();
    // Plant: the coinbase's first output, and the first output of a segwit and a legacy tx.
    let segwit =
        block.txdata.iter().position(|t| t.input.iter().any(|i| !i.witness.is_empty()) && !t.is_coinbase()).unwrap();
    let legacy = block.txdata.iter().position(|t| t.input.iter().all(|i| i.witness.is_empty()) && !t.is_coinbase());
    let mut planted: Vec<usize> = vec![0, segwit];
    planted.extend(legacy);
    let set: HashSet<Vec<u8>> = planted.iter().map(|&i| block.txdata[i].output[0].script_pubkey.to_bytes()).collect();
    // Expected: every output of the block paying a planted script (scripts can repeat).
    let mut expected = Vec::new();
    for tx in &block.txdata {
        for (i, o) in tx.output.iter().enumerate() {
            if set.contains(o.script_pubkey.as_bytes()) {
                let txid = tx.compute_txid().to_string();
                expected.push((txid, i as u32, o.value.to_sat().to_string(), spends_of(tx), outpoint_keys_of(tx)));
            }
        }
    }
    let vt = host_for(&set);
    let found = plugin(Network::Bitcoin).scan_block(&raw, &Host::new(&vt)).unwrap().matches;
    let got: Vec<_> = found
        .iter()
        .map(|m| (m.txid.clone(), m.index, m.amount_base.clone(), m.spends.clone(), m.outpoint_keys.clone()))
        .collect();
    assert_eq!(got, expected);
    assert!(expected.len() >= 3);
    // One transaction alone scans the same way.
    let tx = &block.txdata[segwit];
    let one = plugin(Network::Bitcoin).scan_tx(&bitcoin::consensus::serialize(tx), &Host::new(&vt)).unwrap();
    assert_eq!(one.matches[0].txid, tx.compute_txid().to_string());
}

#[test]
fn truncated_and_garbage_input_is_an_error_not_a_panic() {
    let raw = mainnet_block();
    let set = HashSet::new();
    let vt = host_for(&set);
    let p = plugin(Network::Bitcoin);
    for cut in [0, 79, 81, 1000, raw.len() / 2, raw.len() - 1] {
        let e = p.scan_block(&raw[..cut], &Host::new(&vt)).unwrap_err();
        assert_eq!(e.code, "invalid_input", "cut at {cut}");
    }
    let mut extra = raw.clone();
    extra.push(0);
    assert!(p.scan_block(&extra, &Host::new(&vt)).unwrap_err().message.contains("trailing"));
    // A huge length prefix does not allocate or read past the end.
    let mut huge = raw[..81].to_vec();
    huge.extend([0x01, 0, 0, 0, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    assert!(p.scan_block(&huge, &Host::new(&vt)).is_err());
}

mod addresses;
mod derivation;

#[test]
fn spends_of_watched_outpoints_are_reported_with_the_spending_txid() {
    let raw = mainnet_block();
    let block: bitcoin::Block = deserialize(&raw).unwrap();
    let tx = &block.txdata[7];
    let prev = tx.input[0].previous_output;
    let mut outpoint = bitcoin::consensus::serialize(&prev);
    assert_eq!(outpoint.len(), 36);
    let set: HashSet<Vec<u8>> = [outpoint.clone()].into();
    let vt = host_for(&set);
    let reply = plugin(Network::Bitcoin).scan_block(&raw, &Host::new(&vt)).unwrap();
    assert!(reply.matches.is_empty());
    assert_eq!(
        reply.watched_spends,
        vec![WatchedSpend {
            txid: tx.compute_txid().to_string(),
            spends: OutPoint { txid: prev.txid.to_string(), index: prev.vout },
            outpoint_key: Hex(outpoint.clone()),
        }]
    );
    outpoint[35] ^= 1;
    let set: HashSet<Vec<u8>> = [outpoint].into();
    let vt = host_for(&set);
    assert!(plugin(Network::Bitcoin).scan_block(&raw, &Host::new(&vt)).unwrap().watched_spends.is_empty());
}

/// The plugin hashes every transaction of a block once and reports the merkle root, which the
/// host compares with the header (`scan_block` of a single transaction reports none).
#[test]
fn the_merkle_root_of_the_mainnet_block_is_its_headers() {
    let raw = mainnet_block();
    let set = HashSet::new();
    let vt = host_for(&set);
    let reply = plugin(Network::Bitcoin).scan_block(&raw, &Host::new(&vt)).unwrap();
    let block: bitcoin::Block = bitcoin::consensus::deserialize(&raw).unwrap();
    assert_eq!(reply.merkle_root, Some(block.header.merkle_root.to_string()));
    let tx = bitcoin::consensus::serialize(&block.txdata[1]);
    assert_eq!(plugin(Network::Bitcoin).scan_tx(&tx, &Host::new(&vt)).unwrap().merkle_root, None);
}
