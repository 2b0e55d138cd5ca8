//! Derivation against the BIP 84/86 test vectors and `plugin-api/testdata/bip341_tests.json` (through the SDK's fixtures).

use super::plugin;
use crate::CurrencyPlugin;
use bitcoin::Network;
use paywatch_plugin_api::messages::DeriveRequest;

fn derive(net: Network, source: &str, branch: u32, start: u32, count: u32) -> Vec<String> {
    let req = DeriveRequest { source: source.into(), branch, start, count };
    plugin(net)
        .derive_addresses(&req)
        .unwrap_or_else(|e| panic!("{source}: {e}"))
        .into_iter()
        .map(|d| d.address)
        .collect()
}

// BIP 84, account 0 of "abandon abandon … about".
const BIP84_ZPUB: &str =
    "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs";
// BIP 86, account 0 of the same mnemonic.
const BIP86_XPUB: &str =
    "xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49yfdDEHGCtMMj92pReUsQ";

#[test]
fn bip84_zpub_and_wpkh_descriptor() {
    let receive = derive(Network::Bitcoin, BIP84_ZPUB, 0, 0, 2);
    assert_eq!(receive, ["bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"]);
    let change = derive(Network::Bitcoin, BIP84_ZPUB, 1, 0, 1);
    assert_eq!(change, ["bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el"]);
    // The same key as a descriptor (xpub form of the zpub), with origin and a multipath step.
    let xpub = {
        let mut d = bitcoin::base58::decode_check(BIP84_ZPUB).unwrap();
        d[..4].copy_from_slice(&[0x04, 0x88, 0xb2, 0x1e]);
        bitcoin::base58::encode_check(&d)
    };
    let desc = format!("wpkh([73c5da0a/84h/0h/0h]{xpub}/<0;1>/*)");
    assert_eq!(derive(Network::Bitcoin, &desc, 0, 0, 2), receive);
    assert_eq!(derive(Network::Bitcoin, &desc, 1, 0, 1), change);
    assert_eq!(derive(Network::Bitcoin, &format!("wpkh({xpub}/0/*)"), 0, 1, 1), receive[1..]);
}

#[test]
fn bip86_taproot_descriptor() {
    let got = derive(Network::Bitcoin, &format!("tr({BIP86_XPUB}/0/*)"), 0, 0, 2);
    assert_eq!(
        got,
        [
            "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr",
            "bc1p4qhjn9zdvkux4e44uhx8tc55attvtyu358kutcqkudyccelu0was9fqzwh"
        ]
    );
    let change = derive(Network::Bitcoin, &format!("tr({BIP86_XPUB}/1/*)"), 0, 0, 1);
    assert_eq!(change, ["bc1p3qkhfews2uk44qtvauqyr2ttdsw7svhkl9nkm9s9c3x4ax5h60wqwruhk7"]);
}

#[test]
fn bip341_key_path_vectors_and_their_addresses() {
    let vectors = paywatch_plugin_api::testing::fixtures::bip341_vectors();
    let json: serde_json::Value = serde_json::from_str(vectors).unwrap();
    let p = plugin(Network::Bitcoin);
    let mut key_path_only = 0;
    for v in json["scriptPubKey"].as_array().unwrap() {
        let spk = v["expected"]["scriptPubKey"].as_str().unwrap();
        let address = v["expected"]["bip350Address"].as_str().unwrap();
        // Every vector's address parses to its scriptPubKey and back.
        let parsed = p.parse_address(address).unwrap();
        assert_eq!(hex(&parsed.key.0), spk);
        assert_eq!(p.key_to_address(&parsed.key.0).unwrap(), address);
        // Key-path-only outputs are `tr(internal key)` descriptors.
        if v["given"]["scriptTree"].is_null() {
            let internal = v["given"]["internalPubkey"].as_str().unwrap();
            assert_eq!(derive(Network::Bitcoin, &format!("tr({internal})"), 0, 0, 1), [address]);
            key_path_only += 1;
        }
    }
    assert!(key_path_only >= 1);
}

#[test]
fn slip132_keys_pick_their_script_type_and_network() {
    // tpub (BIP44 test) → P2PKH "m/n"; the regtest chain accepts test keys, mainnet refuses them.
    let tpub = "tpubDC8msFGeGuwnKG9Upg7DM2b4DaRqg3CUZa5g8v2SRQ6K4NSkxUgd7HsL2XVWbVm39yBA4LAxysQAm397zwQSQoQgewGiYZqrA9DsP4zbQ1M";
    let a = derive(Network::Regtest, tpub, 0, 0, 3);
    assert_eq!(a.len(), 3);
    assert!(a.iter().all(|a| a.starts_with('m') || a.starts_with('n')), "{a:?}");
    let e = plugin(Network::Bitcoin)
        .derive_addresses(&DeriveRequest { source: tpub.into(), branch: 0, start: 0, count: 1 })
        .unwrap_err();
    assert!(e.message.contains("this chain is mainnet"), "{e}");
    // The wpkh descriptor of the same key on regtest gives bcrt1 addresses.
    let w = derive(Network::Regtest, &format!("wpkh({tpub}/0/*)"), 0, 0, 1);
    assert!(w[0].starts_with("bcrt1q"), "{w:?}");
    // sh(wpkh) gives P2SH.
    let s = derive(Network::Regtest, &format!("sh(wpkh({tpub}/0/*))"), 0, 0, 1);
    assert!(s[0].starts_with('2'), "{s:?}");
}

#[test]
fn bad_sources_are_clear_errors() {
    let p = plugin(Network::Bitcoin);
    let err = |source: &str, count| {
        p.derive_addresses(&DeriveRequest { source: source.into(), branch: 0, start: 0, count }).unwrap_err().message
    };
    assert!(err("xpubnotakey", 1).contains("not an extended public key"));
    // A private key is refused (version xprv).
    let xprv = "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi";
    assert!(err(xprv, 1).contains("private keys are refused"));
    assert!(err(&format!("wpkh({BIP84_ZPUB}/0/*)"), 1).contains("descriptor"));
    assert!(err(BIP84_ZPUB, 10_001).contains("more than"));
    // A hardened step after an xpub cannot be derived.
    assert!(err(&format!("tr({BIP86_XPUB}/0h/*)"), 1).contains("hardened"));
    assert!(err(&format!("tr({BIP86_XPUB}/0/*h)"), 1).contains("hardened"));
    // No wildcard: one address only.
    assert!(err(&format!("tr({BIP86_XPUB}/0/0)"), 2).contains("no wildcard"));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}
