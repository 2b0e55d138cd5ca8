//! Tokens and IPN signatures.
//!
//! A BitPay API token is `base58(HMAC-SHA256(key, token_id))`: the daemon keeps one random
//! key (in its `compat` column family, given to every store's `bitpay` endpoint as its secret
//! `token_key` param) and, per token, only its id and `sha256(token)`. An invoice's
//! `gateway.data` names the token's id, so this plugin recomputes the token to sign the IPN
//! (`x-signature`: base64 of HMAC-SHA256 of the body keyed with the token, as BitPay's
//! WooCommerce plugin checks it), and no token is ever in an event or a delivery log.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The key's length in bytes (hex in the endpoint param).
pub const KEY_LEN: usize = 32;

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// The token of `token_id` under `key`.
pub fn derive_token(key: &[u8; KEY_LEN], token_id: &str) -> String {
    bs58::encode(hmac(key, token_id.as_bytes())).into_string()
}

/// BitPay's IPN `x-signature`: base64(HMAC-SHA256(key = token, body)).
pub fn ipn_signature(token: &str, body: &str) -> String {
    B64.encode(hmac(token.as_bytes(), body.as_bytes()))
}

/// The key from its hex text.
pub fn parse_key(hex_text: &str) -> Option<[u8; KEY_LEN]> {
    let bytes = hex_text.as_bytes();
    if bytes.len() != KEY_LEN * 2 || !bytes.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut key = [0u8; KEY_LEN];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        key[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(key)
}
