//! Private keys pasted by mistake into a receive source: paywatch only ever needs public data,
//! so a source holding an extended private key, a WIF key, a raw 32-byte key or a seed phrase
//! is refused at validation, by its shape, and never echoed.

use super::types::ReceiveConfig;

/// Version prefixes of BIP 32 / SLIP-132 extended private keys.
const XPRV_PREFIXES: [&str; 10] = ["xprv", "yprv", "zprv", "Yprv", "Zprv", "tprv", "uprv", "vprv", "Uprv", "Vprv"];

/// What private material `receive` holds, if any, named for the error message.
pub(super) fn find(receive: &ReceiveConfig) -> Option<&'static str> {
    match receive {
        // A descriptor may hold 64-hex-digit x-only public keys: only WIF and xprv are private.
        ReceiveConfig::Descriptor(d) => in_text(d, false),
        ReceiveConfig::Xpub(x) => in_text(x, true),
        ReceiveConfig::Addresses(list) => list.iter().find_map(|a| in_text(a, true)),
    }
}

fn in_text(text: &str, raw_hex_is_private: bool) -> Option<&'static str> {
    if looks_like_seed_phrase(text) {
        return Some("a seed phrase");
    }
    let tokens = text.split(|c: char| !c.is_ascii_alphanumeric()).filter(|t| !t.is_empty());
    for token in tokens {
        if is_base58(token) && (107..=112).contains(&token.len()) && XPRV_PREFIXES.iter().any(|p| token.starts_with(p))
        {
            return Some("an extended private key (xprv, tprv, …)");
        }
        if is_wif(token) {
            return Some("a WIF private key");
        }
        let hex = token.strip_prefix("0x").unwrap_or(token);
        if raw_hex_is_private && hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Some("a raw private key (64 hex digits)");
        }
    }
    None
}

fn is_base58(token: &str) -> bool {
    token.bytes().all(|b| b.is_ascii_alphanumeric() && !matches!(b, b'0' | b'O' | b'I' | b'l'))
}

/// Base58Check WIF: 51 characters uncompressed (`5` mainnet, `9` testnet), 52 compressed (`K`
/// or `L` mainnet, `c` testnet). Addresses are at most 35 base58 characters.
fn is_wif(token: &str) -> bool {
    is_base58(token)
        && match token.len() {
            51 => token.starts_with(['5', '9']),
            52 => token.starts_with(['K', 'L', 'c']),
            _ => false,
        }
}

/// Twelve or more lowercase words (BIP 39 phrases are 12 to 24).
fn looks_like_seed_phrase(text: &str) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    words.len() >= 12 && words.iter().all(|w| w.len() >= 3 && w.bytes().all(|b| b.is_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Published test vectors (BIP 32 vector 1, Bitcoin wiki WIF example, BIP 84), not funds.
    const XPRV: &str = "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi";
    const TPRV: &str = "tprv8ZgxMBicQKsPd7Uf69XL1XwhmjHopUGep8GuEiJDZmbQz6o58LninorQAfcKZWARbtRtfnLcJ5MQ2AtHcQJCCRUcMRvmDUjyEmNUWwx8UbK";
    const ZPRV: &str = "zprvAWgYBBk7JR8Gjrh4UJQ2uJdG1r3WNRRfURiABBE3RvMXYSrRJL62XuezvGdPvG6GFBZduosCc1YP5wixPox7zhZLfiUm8aunE96BBa4Kei5";
    const WIF: &str = "5HueCGU8rMjxEXxiPuD5BDku4MkFqeZyd4dZ1jvhTVqvbTLvyTJ";
    const WIF_COMPRESSED: &str = "KwdMAjGmerYanjeui5SHS7JkmpZvVipYvB2LJGU1ZxJwYvP98617";
    const TPUB: &str = "tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp";
    const XONLY: &str = "cc8a4bc64d897bddc5fbc2f670f7a8ba0b386779106cf1223c6fc5d7cd6fc115";

    #[test]
    fn private_material_is_found_wherever_it_is_pasted() {
        let cases = [
            ReceiveConfig::Xpub(XPRV.into()),
            ReceiveConfig::Xpub(format!(" {TPRV}\n")),
            ReceiveConfig::Xpub(ZPRV.into()),
            ReceiveConfig::Descriptor(format!("wpkh({XPRV}/0/*)")),
            ReceiveConfig::Descriptor(format!("wpkh([d34db33f/84'/0'/0']{TPRV}/1/*)#abcdefgh")),
            ReceiveConfig::Descriptor(format!("wpkh({WIF_COMPRESSED})")),
            ReceiveConfig::Addresses(vec!["bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080".into(), WIF.into()]),
            ReceiveConfig::Addresses(vec![format!("0x{}", "ab".repeat(32))]),
            ReceiveConfig::Xpub(
                "abandon ability able about above absent absorb abstract absurd abuse access accident".into(),
            ),
        ];
        for c in cases {
            assert!(find(&c).is_some(), "{c:?} not refused");
        }
    }

    #[test]
    fn public_sources_are_accepted() {
        let cases = [
            ReceiveConfig::Xpub(TPUB.into()),
            ReceiveConfig::Descriptor(format!("wpkh({TPUB}/0/*)#qvnrzae8")),
            ReceiveConfig::Descriptor(format!("tr({XONLY})")),
            ReceiveConfig::Descriptor(format!("sh(wpkh([d34db33f/49'/0'/0']{TPUB}/0/*))")),
            ReceiveConfig::Addresses(vec![
                "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq".into(),
                "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297".into(),
                "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2".into(),
                "0x52908400098527886E0F7030069857D2E4169EE7".into(),
            ]),
        ];
        for c in cases {
            assert_eq!(find(&c), None, "{c:?}");
        }
    }
}
