//! EVM addresses: 20 bytes, written `0x` + 40 hex digits with the EIP-55 mixed-case checksum.
//! All-lowercase and all-uppercase forms carry no checksum and are accepted; mixed case must
//! match it.

use paywatch_plugin_api::PluginError;
use sha3::{Digest, Keccak256};

pub fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// Parses an address, checking its EIP-55 checksum when it is mixed-case.
pub fn parse(address: &str) -> Result<[u8; 20], PluginError> {
    let invalid = |why: String| PluginError::new("invalid_address", why);
    let digits = address
        .strip_prefix("0x")
        .or_else(|| address.strip_prefix("0X"))
        .ok_or_else(|| invalid(format!("{address:?} does not start with 0x")))?;
    if digits.len() != 40 {
        return Err(invalid(format!("{address:?} has {} hex digits, an address has 40", digits.len())));
    }
    let mut out = [0u8; 20];
    for (i, pair) in digits.as_bytes().chunks(2).enumerate() {
        let d = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        match (d(pair[0]), d(pair[1])) {
            (Some(h), Some(l)) => out[i] = h << 4 | l,
            _ => return Err(invalid(format!("{address:?} is not hex"))),
        }
    }
    let has_lower = digits.bytes().any(|c| c.is_ascii_lowercase());
    let has_upper = digits.bytes().any(|c| c.is_ascii_uppercase());
    if has_lower && has_upper && to_checksum(&out)[2..] != *digits {
        return Err(invalid(format!(
            "{address:?} has a bad EIP-55 checksum (expected {}); check for a typo",
            to_checksum(&out)
        )));
    }
    Ok(out)
}

/// The EIP-55 form of an address.
pub fn to_checksum(address: &[u8; 20]) -> String {
    let lower: String = address.iter().map(|b| format!("{b:02x}")).collect();
    let hash = keccak256(lower.as_bytes());
    let mut out = String::with_capacity(42);
    out.push_str("0x");
    for (i, c) in lower.chars().enumerate() {
        let nibble = hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 }) & 0xf;
        out.push(if c.is_ascii_alphabetic() && nibble >= 8 { c.to_ascii_uppercase() } else { c });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vectors of EIP-55.
    const EIP55: [&str; 8] = [
        "0x52908400098527886E0F7030069857D2E4169EE7",
        "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
        "0xde709f2102306220921060314715629080e2fb77",
        "0x27b1fdb04752bbc536007a920d24acb045561c26",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ];

    #[test]
    fn eip55_vectors() {
        for a in EIP55 {
            let bytes = parse(a).unwrap();
            assert_eq!(to_checksum(&bytes), a);
            assert_eq!(parse(&a.to_lowercase()).unwrap(), bytes);
            assert_eq!(parse(&format!("0x{}", a[2..].to_uppercase())).unwrap(), bytes);
        }
    }

    #[test]
    fn rejects_bad_checksums_and_shapes() {
        let typo = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD";
        let e = parse(typo).unwrap_err();
        assert!(
            e.message.contains("bad EIP-55 checksum")
                && e.message.contains("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")
        );
        assert!(parse("5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed").unwrap_err().message.contains("0x"));
        assert!(parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA").unwrap_err().message.contains("38 hex digits"));
        assert!(parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAzz").unwrap_err().message.contains("not hex"));
        assert!(parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed").is_ok());
    }
}
