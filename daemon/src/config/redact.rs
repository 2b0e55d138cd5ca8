//! What the daemon prints of URLs and receive sources (`config check`, logs): URLs without
//! credentials (user info, query values, path segments that look like API keys, as hosted node
//! providers use), receive sources (xpubs, descriptors) as a fingerprint only.

use super::secret::REDACTED;
use super::types::ReceiveConfig;
use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};
use url::Url;

/// A path segment at least this long, of letters and digits (and `-`, `_`) with at least one
/// digit, is taken for an API key (Infura's 32 hex digits, Alchemy's 32 characters…).
const KEY_SEGMENT_MIN: usize = 16;

/// `url` with its user info, query values, fragment and key-looking path segments replaced.
pub(crate) fn url(url: &Url) -> String {
    let mut u = url.clone();
    if !u.username().is_empty() || u.password().is_some() {
        // Only fails for URLs that cannot have user info, which then have none.
        let _ = u.set_username(REDACTED);
        let _ = u.set_password(None);
    }
    if u.query().is_some() {
        let keys: Vec<String> = u.query_pairs().map(|(k, _)| k.into_owned()).collect();
        u.query_pairs_mut().clear().extend_pairs(keys.iter().map(|k| (k.as_str(), REDACTED)));
    }
    u.set_fragment(None);
    let segments: Option<Vec<String>> = u
        .path_segments()
        .map(|s| s.map(|seg| if looks_like_key(seg) { REDACTED.into() } else { seg.into() }).collect());
    if let Some(segments) = segments {
        u.set_path(&segments.join("/"));
    }
    u.to_string()
}

/// [`url`] of a URL given as text; text that is not a URL is not shown at all.
pub(crate) fn url_text(text: &str) -> String {
    Url::parse(text).map(|u| url(&u)).unwrap_or_else(|_| REDACTED.into())
}

fn looks_like_key(segment: &str) -> bool {
    segment.len() >= KEY_SEGMENT_MIN
        && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && segment.bytes().any(|b| b.is_ascii_digit())
}

/// A receive source as printed: its kind and the start of its SHA-256, enough to tell two
/// apart, nothing to derive from (an xpub links every address and payment of a shop).
pub(crate) fn source(text: &str) -> String {
    format!("{REDACTED} sha256:{}", &hex::encode(Sha256::digest(text.trim().as_bytes()))[..16])
}

/// A message about a receive source (a plugin's error) without the source: its text (16
/// characters or more) and every run of 50 or more letters and digits (extended keys, WIF and
/// raw keys) replaced.
pub(crate) fn scrub(message: &str, source: &str) -> String {
    // A short "source" (no real one is) could be part of any word.
    let source = source.trim();
    let message = if source.len() < 16 { message.to_string() } else { message.replace(source, REDACTED) };
    let mut out = String::with_capacity(message.len());
    let mut run = String::new();
    for c in message.chars().chain(std::iter::once('\0')) {
        if c.is_ascii_alphanumeric() {
            run.push(c);
            continue;
        }
        out.push_str(if run.len() >= 50 { REDACTED } else { &run });
        run.clear();
        if c != '\0' {
            out.push(c);
        }
    }
    out
}

pub(super) fn serialize_url<S: Serializer>(u: &Url, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&url(u))
}

pub(super) fn serialize_opt_url<S: Serializer>(u: &Option<Url>, s: S) -> Result<S::Ok, S::Error> {
    u.as_ref().map(url).serialize(s)
}

impl Serialize for ReceiveConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum Shown<'a> {
            Descriptor(String),
            Xpub(String),
            Addresses(&'a [String]),
        }
        match self {
            ReceiveConfig::Descriptor(d) => Shown::Descriptor(source(d)),
            ReceiveConfig::Xpub(x) => Shown::Xpub(source(x)),
            ReceiveConfig::Addresses(a) => Shown::Addresses(a),
        }
        .serialize(s)
    }
}

impl std::fmt::Debug for ReceiveConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReceiveConfig::Descriptor(d) => f.debug_tuple("Descriptor").field(&source(d)).finish(),
            ReceiveConfig::Xpub(x) => f.debug_tuple("Xpub").field(&source(x)).finish(),
            ReceiveConfig::Addresses(a) => f.debug_tuple("Addresses").field(a).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(text: &str) -> String {
        url(&Url::parse(text).unwrap())
    }

    #[test]
    fn credentials_and_key_paths_are_not_shown() {
        let cases = [
            ("wss://user:hunter2@eth.example:8546/", "wss://%3Credacted%3E@eth.example:8546/"),
            (
                "https://mainnet.infura.io/v3/9aa3d95b3bc440fa88ea12eaa4456161",
                "https://mainnet.infura.io/v3/%3Credacted%3E",
            ),
            (
                "wss://eth-mainnet.g.alchemy.com/v2/Ab3dEfGhIjKlMnOpQrStUvWxYz012345",
                "wss://eth-mainnet.g.alchemy.com/v2/%3Credacted%3E",
            ),
            (
                "https://node.example/rpc?apikey=s3cr3t&x=1#frag",
                "https://node.example/rpc?apikey=%3Credacted%3E&x=%3Credacted%3E",
            ),
            ("http://127.0.0.1:8545/", "http://127.0.0.1:8545/"),
            ("https://node.example/ethereum/mainnet-archive", "https://node.example/ethereum/mainnet-archive"),
        ];
        for (given, want) in cases {
            let got = shown(given);
            assert_eq!(got, want, "{given}");
            for secret in ["hunter2", "9aa3d95b", "Ab3dEfGh", "s3cr3t", "frag"] {
                assert!(!got.contains(secret), "{got}");
            }
        }
        assert_eq!(url_text("not a url with a key 9aa3d95b3bc440fa88ea"), REDACTED);
    }

    #[test]
    fn a_message_about_a_source_does_not_repeat_it() {
        let tpub = "tpubD6NzVbkrYhZ4XgiXtGrdW5XDAPFCL9h7we1vwNCpn8tGbBcgfVYjXyhWo4E1xkh56hjod1RhGjxbaTLV3X4FyWuejifB9jusQ46QzG87VKp";
        let source = format!("wpkh({tpub}/0/*)");
        let msg = format!("{tpub:?} is a test key, this chain is mainnet (in {source})");
        assert_eq!(scrub(&msg, &source), "\"<redacted>\" is a test key, this chain is mainnet (in <redacted>)");
        assert_eq!(scrub("no address at index 0", "x"), "no address at index 0");
        assert_eq!(scrub("bad checksum", ""), "bad checksum");
    }

    #[test]
    fn a_receive_source_is_shown_as_a_fingerprint() {
        let xpub = "xpub6CUGRUonZSQ4TWtTMmzXdrXDtypWKiKrhko4egpiMZbpiaQL2jkwSB1icqYh2cfDfVxdx4df189oLKnC5fSwqPfgyP3hooxujYzAu3fDVmz";
        let printed = toml::to_string(&ReceiveConfig::Xpub(xpub.into())).unwrap();
        assert!(!printed.contains("xpub6CUG") && printed.contains("sha256:"), "{printed}");
        assert_eq!(source(xpub), source(&format!(" {xpub}\n")), "the same source, the same fingerprint");
        assert_ne!(source(xpub), source("xpub6CUGRUonZSQ4TWtTMmzXdrXDtypWKiKrhko4egpiMZbpiaQL2jkwSB1icqYh2cfDfVxdx4df189oLKnC5fSwqPfgyP3hooxujYzAu3fDVmy"));
    }
}
