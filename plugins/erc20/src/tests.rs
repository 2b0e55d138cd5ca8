use super::*;
use paywatch_plugin_api::evm::{Block, Log, Tx};
use paywatch_plugin_api::testing::{noop_host_vtable, TestHost};

const TOKEN: &str = "0xdAC17F958D2ee523a2206206994597C13D831ec7";

fn plugin() -> Erc20 {
    let vt = noop_host_vtable();
    let config = serde_json::json!({"asset": "USDT", "chain_id": 1, "contract": TOKEN, "decimals": 6});
    Erc20::create(config, &Host::new(&vt)).unwrap()
}

fn word(n: u128) -> Vec<u8> {
    let mut v = vec![0u8; 32];
    v[16..].copy_from_slice(&n.to_be_bytes());
    v
}

fn topic_addr(a: [u8; 20]) -> [u8; 32] {
    let mut t = [0u8; 32];
    t[12..].copy_from_slice(&a);
    t
}

fn transfer(tx: u32, index: u32, contract: [u8; 20], to: [u8; 20], amount: u128) -> Log {
    Log {
        tx,
        index,
        address: contract,
        topics: vec![TRANSFER_TOPIC, topic_addr([0xee; 20]), topic_addr(to)],
        data: word(amount),
    }
}

#[test]
fn the_transfer_topic_is_keccak_of_the_signature() {
    assert_eq!(address::keccak256(b"Transfer(address,address,uint256)"), TRANSFER_TOPIC);
}

#[test]
fn credits_transfers_of_the_configured_token_in_successful_transactions() {
    let token = address::parse(TOKEN).unwrap();
    let other_token = [0x77; 20];
    let (a, b) = ([0xa1; 20], [0xb2; 20]);
    let ok = |n| Tx { hash: [n; 32], success: true, ..Tx::default() };
    let mut erc721 = transfer(0, 5, token, a, 1);
    erc721.topics.push([0; 32]);
    let mut short_data = transfer(0, 6, token, a, 1);
    short_data.data.pop();
    let mut dirty_topic = transfer(0, 7, token, a, 1);
    dirty_topic.topics[2][0] = 1;
    let block = Block {
        txs: vec![ok(1), Tx { hash: [2; 32], success: false, ..Tx::default() }, ok(3)],
        logs: vec![
            transfer(0, 0, token, a, 2_500_000),
            transfer(1, 1, token, a, 9),       // reverted transaction
            transfer(2, 2, other_token, a, 9), // a token not configured for this asset
            transfer(2, 3, token, b, 9),       // not watched
            transfer(2, 4, token, a, 0),       // zero
            erc721,
            short_data,
            dirty_topic,
            transfer(2, 8, token, a, 1),
        ],
        ..Block::default()
    };
    let host = TestHost::with_keys([a.to_vec()]);
    let reply = plugin().scan_block(&block.encode(), &host.host()).unwrap();
    let got: Vec<_> = reply.matches.iter().map(|m| (m.txid.clone(), m.amount_base.as_str(), m.index)).collect();
    let h = |n: u8| format!("0x{}", format!("{n:02x}").repeat(32));
    assert_eq!(got, [(h(1), "2500000", 0), (h(3), "1", 8)]);
    assert!(reply.matches.iter().all(|m| m.key.0 == a && m.asset == "USDT"));
}

#[test]
fn config_and_uris() {
    let vt = noop_host_vtable();
    let host = Host::new(&vt);
    let base = serde_json::json!({"asset": "USDT", "chain_id": 1});
    let e = Erc20::create(base.clone(), &host).unwrap_err();
    assert!(e.message.contains("missing \"contract\""), "{e}");
    let mut c = base.clone();
    c["contract"] = "0xdAC17F958D2ee523a2206206994597C13D831eC7".into();
    c["decimals"] = 6.into();
    assert!(Erc20::create(c, &host).unwrap_err().message.contains("checksum"));
    let mut c = base;
    c["contract"] = TOKEN.into();
    assert!(Erc20::create(c, &host).unwrap_err().message.contains("missing \"decimals\""));
    let p = plugin();
    assert_eq!(p.info().decimals, 6);
    assert_eq!(p.format_amount("2500000").unwrap(), "2.5");
    let req = PaymentUriRequest {
        address: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".into(),
        amount_base: "2500000".into(),
        label: None,
        message: None,
    };
    assert_eq!(
        p.payment_uri(&req).unwrap(),
        format!("ethereum:{TOKEN}@1/transfer?address=0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed&uint256=2500000")
    );
}

#[test]
fn passes_the_conformance_kit() {
    use paywatch_plugin_api::testing::conformance::{check_currency, CurrencyOptions};
    use paywatch_plugin_api::testing::harness::PluginLib;
    let lib = PluginLib::from_exported(&crate::PAYWATCH_PLUGIN).unwrap();
    let config = serde_json::json!({"asset": "USDT-ETH", "symbol": "USDT", "chain": "eth", "chain_id": 1,
        "contract": "0xdAC17F958D2ee523a2206206994597C13D831ec7", "decimals": 6});
    check_currency(&lib, &CurrencyOptions::new(config)).assert_passed();
}
