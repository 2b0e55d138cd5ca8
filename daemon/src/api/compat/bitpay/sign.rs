//! The `merchant` facade's request signatures: `x-identity` is the client's compressed
//! secp256k1 public key (hex), `x-signature` its DER ECDSA signature (hex) of SHA-256 over the
//! full request URL followed by the body (a POST) or the full URL with its query (a GET). The
//! client's id is its SIN: base58 of `0x0F 0x02`, RIPEMD-160(SHA-256(public key)) and a
//! 4-byte double-SHA-256 checksum (BitPay's key utilities, `btcpay/crypto.py`).

use bitcoin_hashes::{ripemd160, Hash};
use k256::ecdsa::signature::Verifier;
use k256::ecdsa::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

/// Why a signed request is refused (each message names what was wrong, never a key's bytes).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum SigError {
    #[error("x-identity is not a hex secp256k1 public key")]
    BadIdentity,
    #[error("x-signature is not a hex DER ECDSA signature")]
    BadSignature,
    #[error("invalid signature")]
    Mismatch,
}

/// The SIN (client id) of a compressed public key.
pub(crate) fn sin(pubkey: &[u8]) -> String {
    let hash = ripemd160::Hash::hash(&Sha256::digest(pubkey));
    let mut bytes = vec![0x0f, 0x02];
    bytes.extend_from_slice(hash.as_byte_array());
    let check = Sha256::digest(Sha256::digest(&bytes));
    bytes.extend_from_slice(&check[..4]);
    bs58::encode(bytes).into_string()
}

/// Checks `signature_hex` over `message` by `identity_hex`; the signer's SIN.
pub(crate) fn verify(identity_hex: &str, signature_hex: &str, messages: &[&str]) -> Result<String, SigError> {
    let pubkey = hex::decode(identity_hex.trim()).map_err(|_| SigError::BadIdentity)?;
    let key = VerifyingKey::from_sec1_bytes(&pubkey).map_err(|_| SigError::BadIdentity)?;
    let der = hex::decode(signature_hex.trim()).map_err(|_| SigError::BadSignature)?;
    let sig = Signature::from_der(&der).map_err(|_| SigError::BadSignature)?;
    // BitPay's clients do not normalize s; k256 verifies only low-s signatures.
    let sig = sig.normalize_s().unwrap_or(sig);
    if messages.iter().any(|m| key.verify(m.as_bytes(), &sig).is_ok()) {
        Ok(sin(key.to_encoded_point(true).as_bytes()))
    } else {
        Err(SigError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::ecdsa::signature::Signer;
    use k256::ecdsa::SigningKey;

    #[test]
    fn the_sin_as_bitpays_key_utils_compute_it() {
        // btcpay-python's crypto.py (BitPay's key utilities) gives this key this SIN.
        let pk = hex::decode("038d970d6ba29dcfa190c177140fd889fadd6d2590b1ee1a6a06e255dbf22b4017").unwrap();
        assert_eq!(sin(&pk), "TeyN4LPrXiG5t2yuSamKqP3ynVk3F52iHrX");
    }

    #[test]
    fn a_signature_verifies_for_its_message_and_key_only() {
        let sk = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let other = SigningKey::from_slice(&[8u8; 32]).unwrap();
        let identity = hex::encode(sk.verifying_key().to_encoded_point(true).as_bytes());
        let msg = "http://127.0.0.1:1/bitpay/invoices{\"price\":1}";
        let sig: Signature = sk.sign(msg.as_bytes());
        let sig_hex = hex::encode(sig.to_der().as_bytes());
        let got = verify(&identity, &sig_hex, &["nope", msg]).unwrap();
        assert_eq!(got, sin(&hex::decode(&identity).unwrap()));
        assert_eq!(
            verify(&identity, &sig_hex, &["http://127.0.0.1:1/bitpay/invoices{\"price\":2}"]),
            Err(SigError::Mismatch)
        );
        let other_sig: Signature = other.sign(msg.as_bytes());
        assert_eq!(verify(&identity, &hex::encode(other_sig.to_der().as_bytes()), &[msg]), Err(SigError::Mismatch));
        // A high-s twin of the signature (what BitPay's clients send half the time) verifies.
        let (r, s) = sig.split_scalars();
        let high = Signature::from_scalars(r, -*s).unwrap();
        assert_eq!(verify(&identity, &hex::encode(high.to_der().as_bytes()), &[msg]).unwrap(), got);
        assert_eq!(verify("zz", &sig_hex, &[msg]), Err(SigError::BadIdentity));
        assert_eq!(verify(&identity, "3045", &[msg]), Err(SigError::BadSignature));
    }
}
