//! Every standard address type on every network, against the `bitcoin` crate's own `Address`;
//! and the overridable parameters of other Bitcoin-family coins.

use super::{plugin, with_config};
use crate::CurrencyPlugin;
use bitcoin::hashes::Hash;
use bitcoin::key::UntweakedPublicKey;
use bitcoin::secp256k1::Secp256k1;
use bitcoin::{Address, Network, PubkeyHash, ScriptBuf, ScriptHash, WPubkeyHash, WScriptHash};

/// One script of every standard type.
fn scripts() -> Vec<(&'static str, ScriptBuf)> {
    let secp = Secp256k1::verification_only();
    let xonly: UntweakedPublicKey = "d6889cb081036e0faefa3a35157ad71086b123b2b144b649798b494c300a961d".parse().unwrap();
    vec![
        ("p2pkh", ScriptBuf::new_p2pkh(&PubkeyHash::from_byte_array([0x11; 20]))),
        ("p2sh", ScriptBuf::new_p2sh(&ScriptHash::from_byte_array([0x22; 20]))),
        ("p2wpkh", ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([0x33; 20]))),
        ("p2wsh", ScriptBuf::new_p2wsh(&WScriptHash::from_byte_array([0x44; 32]))),
        ("p2tr", ScriptBuf::new_p2tr(&secp, xonly, None)),
    ]
}

#[test]
fn every_type_round_trips_on_every_network_as_the_bitcoin_crate_encodes_it() {
    for net in [Network::Bitcoin, Network::Testnet, Network::Testnet4, Network::Signet, Network::Regtest] {
        let p = plugin(net);
        for (kind, script) in scripts() {
            let reference = Address::from_script(&script, net).unwrap().to_string();
            let ours = p.key_to_address(script.as_bytes()).unwrap();
            assert_eq!(ours, reference, "{kind} on {net}");
            let parsed = p.parse_address(&reference).unwrap();
            assert_eq!(parsed.key.0, script.as_bytes(), "{kind} on {net}");
            assert_eq!(parsed.address, reference);
            // Bech32 in upper case is the same address.
            if !matches!(kind, "p2pkh" | "p2sh") {
                assert_eq!(p.parse_address(&reference.to_uppercase()).unwrap().address, reference);
            }
        }
    }
}

#[test]
fn errors_say_what_is_wrong() {
    let main = plugin(Network::Bitcoin);
    let msg = |p: &crate::Bitcoin, a: &str| p.parse_address(a).unwrap_err().message;
    // Wrong network, both encodings.
    assert!(msg(&main, "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx").contains("uses bc"));
    assert!(msg(&plugin(Network::Regtest), "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2").contains("is a mainnet address"));
    // Bad checksums.
    assert!(
        msg(&main, "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3").contains("checksum"),
        "{}",
        msg(&main, "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3")
    );
    assert!(msg(&main, "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdx").contains("segwit"));
    // Unknown type: a base58 payload with a version byte no network uses.
    let odd = bitcoin::base58::encode_check(&[0x42; 21]);
    assert!(msg(&main, &odd).contains("version byte 66"), "{}", msg(&main, &odd));
    // A script without an address form.
    assert!(main.key_to_address(&[0x6a, 0x01, 0x00]).unwrap_err().message.contains("no address form"));
}

#[test]
fn other_coins_by_parameters() {
    // Litecoin: P2PKH 0x30 ("L…"), P2SH 0x32 ("M…"), hrp "ltc".
    let ltc = with_config(serde_json::json!({
        "network": "mainnet", "p2pkh_prefix": 48, "p2sh_prefix": 50, "bech32_hrp": "ltc", "uri_scheme": "litecoin"
    }));
    for (kind, script) in scripts() {
        let a = ltc.key_to_address(script.as_bytes()).unwrap();
        let prefix = match kind {
            "p2pkh" => "L",
            "p2sh" => "M",
            _ => "ltc1",
        };
        assert!(a.starts_with(prefix), "{kind}: {a}");
        assert_eq!(ltc.parse_address(&a).unwrap().key.0, script.as_bytes());
    }
    // Bitcoin's own addresses are not Litecoin's.
    assert!(ltc.parse_address("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2").is_err());
    assert!(ltc.parse_address("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq").is_err());
    let uri = ltc.payment_uri(&paywatch_plugin_api::messages::PaymentUriRequest {
        address: ltc.key_to_address(scripts()[2].1.as_bytes()).unwrap(),
        amount_base: "100000000".into(),
        label: None,
        message: None,
    });
    assert!(uri.unwrap().starts_with("litecoin:ltc1"));
    // Bad parameters are config errors.
    let set = std::collections::HashSet::new();
    let vt = super::host_for(&set);
    let host = paywatch_plugin_api::Host::new(&vt);
    for bad in [
        serde_json::json!({"network": "mainnet", "p2pkh_prefix": 300}),
        serde_json::json!({"network": "mainnet", "p2pkh_prefix": 5}),
        serde_json::json!({"network": "mainnet", "bech32_hrp": "no spaces"}),
        serde_json::json!({"network": "moonnet"}),
        serde_json::json!({}),
    ] {
        assert_eq!(crate::Bitcoin::create(bad.clone(), &host).unwrap_err().code, "bad_config", "{bad}");
    }
}
