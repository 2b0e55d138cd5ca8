use super::*;
use paywatch_plugin_api::evm::{Block, Internal, Log, Tx};
use paywatch_plugin_api::testing::{noop_host_vtable, TestHost};

fn plugin() -> Ethereum {
    let vt = noop_host_vtable();
    Ethereum::create(serde_json::json!({"asset": "ETH", "chain_id": 31337}), &Host::new(&vt)).unwrap()
}

fn wei(n: u128) -> [u8; 32] {
    let mut v = [0u8; 32];
    v[16..].copy_from_slice(&n.to_be_bytes());
    v
}

fn tx(n: u8, to: Option<[u8; 20]>, value: [u8; 32], success: bool) -> Tx {
    Tx { hash: [n; 32], from: [0xee; 20], to, value, success }
}

#[test]
fn credits_successful_top_level_transfers_to_watched_addresses() {
    let (a, b) = ([0xa1; 20], [0xb2; 20]);
    let block = Block {
        number: 5,
        txs: vec![
            tx(1, Some(a), wei(1_500_000_000_000_000_000), true),
            tx(2, Some(a), wei(7), false), // reverted: never counts
            tx(3, Some(b), wei(9), true),  // not watched
            tx(4, Some(a), wei(0), true),  // a call without value
            tx(5, None, wei(3), true),     // contract creation
            tx(6, Some(a), [0xff; 32], true),
        ],
        logs: vec![Log { tx: 0, index: 0, address: a, topics: vec![], data: vec![] }],
        ..Block::default()
    };
    let host = TestHost::with_keys([a.to_vec()]);
    let reply = plugin().scan_block(&block.encode(), &host.host()).unwrap();
    let got: Vec<_> = reply.matches.iter().map(|m| (m.txid.as_str(), m.amount_base.as_str(), m.index)).collect();
    let h = |n: u8| format!("0x{}", format!("{n:02x}").repeat(32));
    assert_eq!(
        got,
        [
            (h(1).as_str(), "1500000000000000000", NATIVE_INDEX),
            (
                h(6).as_str(),
                "115792089237316195423570985008687907853269984665640564039457584007913129639935",
                NATIVE_INDEX
            )
        ]
    );
    assert!(reply.matches.iter().all(|m| m.key.0 == a && m.asset == "ETH"));
}

#[test]
fn malformed_blocks_are_errors() {
    let vt = noop_host_vtable();
    let e = plugin().scan_block(b"EVB1 and then nothing", &Host::new(&vt)).unwrap_err();
    assert_eq!(e.code, "invalid_input");
    assert!(e.message.contains("malformed evm block"), "{e}");
}

#[test]
fn addresses_uris_and_amounts() {
    let p = plugin();
    let parsed = p.parse_address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed").unwrap();
    assert_eq!(parsed.address, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed");
    assert_eq!(p.key_to_address(&parsed.key.0).unwrap(), parsed.address);
    assert!(p.key_to_address(&[1; 19]).is_err());
    let req = PaymentUriRequest {
        address: parsed.address.clone(),
        amount_base: "10000000000000000".into(),
        label: None,
        message: None,
    };
    assert_eq!(
        p.payment_uri(&req).unwrap(),
        "ethereum:0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed@31337?value=10000000000000000"
    );
    assert_eq!(p.format_amount("1230000000000000000").unwrap(), "1.23");
    assert_eq!(p.info().decimals, 18);
}

#[test]
fn bad_config_is_refused() {
    let vt = noop_host_vtable();
    let host = Host::new(&vt);
    assert!(Ethereum::create(serde_json::json!({"asset": "ETH"}), &host).unwrap_err().message.contains("chain_id"));
    let e = Ethereum::create(serde_json::json!({"asset": "ETH", "chain_id": 1, "decimals": 300}), &host).unwrap_err();
    assert!(e.message.contains("decimals"), "{e}");
}

#[test]
fn credits_internal_transfers_of_successful_transactions_with_their_own_indexes() {
    let (a, c) = ([0xa1; 20], [0xc0; 20]);
    let internal = |tx, to, value| Internal { tx, from: c, to, value };
    let block = Block {
        txs: vec![tx(1, Some(c), wei(0), true), tx(2, Some(c), wei(0), false)],
        internal: vec![
            internal(0, [0xb2; 20], wei(1)), // not watched, still counted for the index
            internal(0, a, wei(5)),
            internal(0, a, wei(6)),
            internal(1, a, wei(7)), // the transaction reverted
        ],
        ..Block::default()
    };
    let host = TestHost::with_keys([a.to_vec()]);
    let reply = plugin().scan_block(&block.encode(), &host.host()).unwrap();
    let got: Vec<_> = reply.matches.iter().map(|m| (m.amount_base.as_str(), m.index)).collect();
    assert_eq!(got, [("5", internal_index(1)), ("6", internal_index(2))]);
    assert_eq!(internal_index(0), u32::MAX - 1);
}

#[test]
fn passes_the_conformance_kit() {
    use paywatch_plugin_api::testing::conformance::{check_currency, CurrencyOptions};
    use paywatch_plugin_api::testing::harness::PluginLib;
    let lib = PluginLib::from_exported(&crate::PAYWATCH_PLUGIN).unwrap();
    let config = serde_json::json!({"asset": "ETH-L1", "symbol": "ETH", "chain": "eth", "chain_id": 1});
    check_currency(&lib, &CurrencyOptions::new(config)).assert_passed();
}
