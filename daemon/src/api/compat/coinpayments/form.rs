//! A CoinPayments command as it arrives: a form-encoded body and its `HMAC` header.

use hmac::{Hmac, Mac};
use sha2::Sha512;
use std::collections::HashMap;

/// The fields of a form body. A name given twice keeps its last value, as PHP (CoinPayments'
/// backend) reads `$_POST`.
#[derive(Debug, Default)]
pub(super) struct Form(HashMap<String, String>);

impl Form {
    pub(super) fn parse(body: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(body).into_owned().collect())
    }

    /// A field, trimmed; `None` when absent or blank.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }
}

/// Echoed input in an error: at most 40 characters.
pub(super) fn cut(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Whether `header` is the hex HMAC-SHA512 of `body` keyed with `private_key` (either case of
/// hex digits; compared in constant time).
pub(super) fn hmac_matches(private_key: &str, body: &[u8], header: &str) -> bool {
    let Ok(given) = hex::decode(header.trim()) else { return false };
    let mut mac = Hmac::<Sha512>::new_from_slice(private_key.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// The hex HMAC-SHA512 of `body` with `key` (what a client sends; for tests).
#[cfg(test)]
pub(super) fn sign(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha512>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// CoinPayments' amounts in "satoshis": the decimal `amount` times 10^8, truncated (its API
/// gives every coin's integer amounts in units of 10^-8). `None` for what is not a plain
/// decimal or does not fit.
pub(super) fn sats(amount: &str) -> Option<u64> {
    let (int, frac) = amount.split_once('.').unwrap_or((amount, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac: String = frac.chars().chain(std::iter::repeat('0')).take(8).collect();
    int.parse::<u64>().ok()?.checked_mul(100_000_000)?.checked_add(frac.parse::<u64>().ok()?)
}

/// `amount` with exactly 8 decimals (CoinPayments' `amountf`), truncated.
pub(super) fn eight_decimals(amount: &str) -> String {
    match sats(amount) {
        Some(s) => format!("{}.{:08}", s / 100_000_000, s % 100_000_000),
        None => amount.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_of_a_repeated_field_counts_and_blanks_are_absent() {
        let f = Form::parse(b"cmd=rates&amount=1&amount=2&item_name=Blue+mug%21&x=+");
        assert_eq!(f.get("amount"), Some("2"));
        assert_eq!(f.get("item_name"), Some("Blue mug!"));
        assert_eq!(f.get("x"), None);
        assert_eq!(f.get("missing"), None);
    }

    #[test]
    fn the_hmac_is_of_the_raw_body_with_the_private_key() {
        let body = b"version=1&cmd=get_basic_info&key=pub&format=json";
        let sig = sign("private", body);
        assert!(hmac_matches("private", body, &sig));
        assert!(hmac_matches("private", body, &sig.to_uppercase()));
        assert!(!hmac_matches("other", body, &sig));
        assert!(!hmac_matches("private", b"version=1&cmd=get_basic_info&key=pub&format=xml", &sig));
        assert!(!hmac_matches("private", body, &sig[..64]));
        assert!(!hmac_matches("private", body, "not hex"));
        assert!(!hmac_matches("private", body, ""));
    }

    #[test]
    fn amounts_in_satoshis() {
        assert_eq!(sats("0.00153846"), Some(153_846));
        assert_eq!(sats("1"), Some(100_000_000));
        assert_eq!(sats("0.000000001"), Some(0));
        assert_eq!(sats("2.5"), Some(250_000_000));
        assert_eq!(sats("-1"), None);
        assert_eq!(sats("1e5"), None);
        assert_eq!(sats("999999999999999"), None);
        assert_eq!(eight_decimals("0.0015"), "0.00150000");
        assert_eq!(eight_decimals("12.123456789"), "12.12345678");
    }
}
