//! Small text helpers plugins share.

use crate::PluginError;

/// The longest address string a plugin decodes, in bytes. Real addresses are far shorter: a
/// bech32/bech32m string is at most 90 characters by BIP 173 (mainnet P2TR/P2WSH are 62), base58
/// ones 35, CashAddr with its `bitcoincash:` prefix 54, EVM ones 42. The margin leaves room for
/// a longer human-readable prefix, while a decoder (base58 is quadratic in the length) never
/// sees megabytes.
pub const MAX_ADDRESS_LEN: usize = 128;

/// Refuses an address string longer than [`MAX_ADDRESS_LEN`] bytes, before any decoding (the
/// error says the length, never the text: it may be megabytes).
pub fn check_address_len(address: &str) -> Result<(), PluginError> {
    match address.len() {
        n if n > MAX_ADDRESS_LEN => Err(PluginError::new(
            "invalid_address",
            format!("address of {n} bytes is longer than any address ({MAX_ADDRESS_LEN} at most)"),
        )),
        _ => Ok(()),
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for URI query values and
/// path segments).
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Whether `s` is what a rate must be ([`crate::messages::QuotedRate::rate`]): a plain positive
/// decimal, digits with at most one `.` between digits (`"64123.5"`, `"0.07946600"`), no sign,
/// no exponent, no spaces, not zero.
pub fn is_plain_positive_decimal(s: &str) -> bool {
    let (int, frac) = s.split_once('.').unwrap_or((s, "0"));
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    digits(int) && digits(frac) && s.bytes().any(|b| (b'1'..=b'9').contains(&b))
}

#[cfg(test)]
mod tests {
    #[test]
    fn plain_positive_decimals() {
        for ok in ["1", "64123.5", "0.07946600", "007", "0.000000000000000001"] {
            assert!(super::is_plain_positive_decimal(ok), "{ok}");
        }
        for bad in ["", "0", "0.000", ".5", "5.", "-1", "+1", "1e5", "1.2.3", " 1", "1,5", "NaN", "inf", "１"] {
            assert!(!super::is_plain_positive_decimal(bad), "{bad}");
        }
    }

    #[test]
    fn only_unreserved_characters_stay() {
        assert_eq!(super::percent_encode("order 1042/a~b"), "order%201042%2Fa~b");
        assert_eq!(super::percent_encode("é"), "%C3%A9");
    }

    #[test]
    fn an_address_past_the_bound_is_refused_without_echoing_it() {
        let at_bound = "a".repeat(super::MAX_ADDRESS_LEN);
        assert!(super::check_address_len(&at_bound).is_ok());
        let e = super::check_address_len(&"a".repeat(1 << 20)).unwrap_err();
        assert_eq!(e.code, "invalid_address");
        assert!(e.message.contains("1048576 bytes") && !e.message.contains("aaaa"), "{}", e.message);
    }
}
