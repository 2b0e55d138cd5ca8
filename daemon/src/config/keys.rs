//! API keys (store and admin) must be random: at least 128 bits of it, which a guesser cannot
//! try through. A key given in clear is judged by its shape (a hash given as `*_sha256` cannot
//! be, and is taken as is); `paywatch keys new` makes a good one.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Bits of randomness a key must carry.
const MIN_BITS: usize = 128;
/// Distinct characters a random key of the shortest length has with near certainty (a
/// 22-character base64url key has about 19, a 32-digit hex key about 15; fewer than these
/// came up in none of a million random draws of each).
const MIN_DISTINCT_HEX: usize = 8;
const MIN_DISTINCT_BASE64: usize = 10;
/// How to make one, for every error about a weak key.
pub(crate) const HOW: &str =
    "make one with `paywatch keys new` (it prints the key and its sha256 form; or `openssl rand -hex 32`)";
/// The prefix of keys made by `paywatch keys new` (secret scanners find them by it).
const PREFIX: &str = "pwk_";

/// Why `key` does not look like 128 random bits, or `None` if it does. Never names the key.
pub(crate) fn weakness(key: &str) -> Option<String> {
    // The example config's keys, and anything still saying so, are public.
    if key.to_ascii_lowercase().contains("changeme") {
        return Some("is a placeholder (it says changeme): the example's keys are public".into());
    }
    let base64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if !key.bytes().all(base64url) {
        return Some("has characters other than A-Z a-z 0-9 - _ (a key is random letters and digits)".into());
    }
    let hex = key.bytes().all(|b| b.is_ascii_hexdigit());
    let (bits_per_char, min_distinct) = if hex { (4, MIN_DISTINCT_HEX) } else { (6, MIN_DISTINCT_BASE64) };
    let needed = MIN_BITS.div_ceil(bits_per_char);
    if key.len() < needed {
        let form = if hex { "hex digits" } else { "characters" };
        return Some(format!("is too short for 128 random bits ({} {form}, at least {needed})", key.len()));
    }
    let mut seen = [false; 256];
    key.bytes().for_each(|b| seen[b as usize] = true);
    let distinct = seen.iter().filter(|s| **s).count();
    if distinct < min_distinct {
        return Some(format!("does not look random ({distinct} distinct characters)"));
    }
    // Neighbours equal or one apart (`aa`, `01`, `ba`): about one pair in six of random hex,
    // nearly every pair of a typed sequence.
    let steps = key.as_bytes().windows(2).filter(|w| w[0].abs_diff(w[1]) <= 1).count();
    if steps * 3 > key.len() * 2 {
        return Some("does not look random (runs and sequences like 0123 or aaaa)".into());
    }
    None
}

/// A fresh key (256 random bits, base64url, prefixed) and the hex SHA-256 a config may hold
/// instead (`api_key_sha256`, `admin_key_sha256`).
pub fn new_key() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut key = String::from(PREFIX);
    // 6 bits per character: 43 characters carry the 256 bits.
    let mut acc: u32 = 0;
    let mut have = 0;
    for b in bytes {
        acc = (acc << 8) | u32::from(b);
        have += 8;
        while have >= 6 {
            have -= 6;
            key.push(ALPHABET[((acc >> have) & 63) as usize] as char);
        }
    }
    if have > 0 {
        key.push(ALPHABET[((acc << (6 - have)) & 63) as usize] as char);
    }
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    (key, hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn weak_keys_are_refused_with_the_reason() {
        for (key, says) in [
            ("shop1-key-0123456789", "too short"),
            ("correct horse battery staple", "characters other than"),
            ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "distinct"),
            ("0123456789abcdef0123456789abcdef", "sequences"),
            ("abcdefghijklmnopqrstuvwxyz0123456789", "sequences"),
            ("4f9a8c2e1b7d6035aa91e0c4d2b8f7", "too short"),
            ("passwordpasswordpassword", "distinct"),
            ("changeme_admin_6dEyuRUEKHfJfNViVXMY92MRN3", "placeholder"),
        ] {
            let why = weakness(key).unwrap_or_else(|| panic!("{key} accepted"));
            assert!(why.contains(says), "{key}: {why}");
            assert!(!why.contains(key), "{why}");
        }
    }

    #[test]
    fn random_looking_keys_are_accepted() {
        for key in [
            "4f9a8c2e1b7d6035aa91e0c4d2b8f713",
            "Xq3_vR9LkT2mWz7pYc5NbH",
            "pwk_0kFq1V2bZ8yN3cTj6xWm4rPa9eHs5LdGu7oQiBnCvX",
        ] {
            assert_eq!(weakness(key), None, "{key}");
        }
    }

    #[test]
    fn a_new_key_is_strong_and_its_hash_matches() {
        let (key, hash) = new_key();
        assert_eq!(key.len(), PREFIX.len() + 43);
        assert_eq!(weakness(&key), None, "{key}");
        assert!(super::super::secret::KeyHash::from_hex(&hash).unwrap().matches(&key));
        assert_ne!(new_key().0, key);
    }

    proptest! {
        /// Keys drawn at random at the shortest accepted length pass (the checks refuse
        /// shapes, not chance draws): 128 bits of hex, 132 of base64url.
        #[test]
        fn random_keys_of_the_shortest_length_pass(
            bytes in proptest::collection::vec(any::<u8>(), 16),
            chars in proptest::collection::vec(0usize..64, 22),
        ) {
            prop_assert_eq!(weakness(&hex::encode(&bytes)), None);
            const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let key: String = chars.iter().map(|&i| ALPHABET[i] as char).collect();
            prop_assert_eq!(weakness(&key), None, "{}", key);
        }
    }
}
