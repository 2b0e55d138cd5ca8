//! Addresses from an extended public key, the way wallets derive them (BIP-44, coin type 60):
//! give the account's xpub (`m/44'/60'/0'`), paywatch derives `…/branch/index` (MetaMask's
//! receive addresses are branch 0). Public data only: private keys are refused.

use crate::address::{keccak256, to_checksum};
use bitcoin::bip32::{ChildNumber, Xpub};
use bitcoin::secp256k1::Secp256k1;
use paywatch_plugin_api::messages::{DerivedAddress, Hex};
use paywatch_plugin_api::PluginError;
use std::str::FromStr;

/// At most this many addresses per call.
pub const MAX_COUNT: u32 = 10_000;

pub fn addresses(source: &str, branch: u32, start: u32, count: u32) -> Result<Vec<DerivedAddress>, PluginError> {
    let source = source.trim();
    if source.starts_with("xprv") || source.starts_with("tprv") {
        return Err(PluginError::invalid_input("that is a private key: give the account's xpub, never its xprv"));
    }
    if count > MAX_COUNT {
        return Err(PluginError::invalid_input(format!("count {count} is more than {MAX_COUNT}")));
    }
    let xpub = Xpub::from_str(source)
        .map_err(|e| PluginError::invalid_input(format!("{} is not an xpub: {e}", short(source))))?;
    let secp = Secp256k1::verification_only();
    let normal = |i: u32| {
        ChildNumber::from_normal_idx(i).map_err(|_| {
            PluginError::invalid_input(format!("index {i} is hardened; only normal steps derive from an xpub"))
        })
    };
    let branch_key = xpub
        .derive_pub(&secp, &[normal(branch)?])
        .map_err(|e| PluginError::invalid_input(format!("cannot derive branch {branch}: {e}")))?;
    let end = start
        .checked_add(count)
        .filter(|&e| e <= 1 << 31)
        .ok_or_else(|| PluginError::invalid_input(format!("indexes {start}+{count} leave the normal range")))?;
    (start..end)
        .map(|index| {
            let child = branch_key
                .derive_pub(&secp, &[normal(index)?])
                .map_err(|e| PluginError::invalid_input(format!("cannot derive index {index}: {e}")))?;
            let key = address_of(&child.public_key.serialize_uncompressed());
            Ok(DerivedAddress { index, address: to_checksum(&key), key: Hex(key.to_vec()) })
        })
        .collect()
}

/// The address of an uncompressed secp256k1 public key (`04 ‖ x ‖ y`): the last 20 bytes of
/// keccak256(x ‖ y).
fn address_of(uncompressed: &[u8; 65]) -> [u8; 20] {
    let h = keccak256(&uncompressed[1..]);
    h[12..].try_into().expect("20 bytes")
}

/// The start of a source for an error message (12 characters, never split inside one).
fn short(s: &str) -> String {
    if s.chars().count() > 16 {
        format!("{:?}…", s.chars().take(12).collect::<String>())
    } else {
        format!("{s:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `evm_addresses` fuzz target: a multi-byte character at the cut panicked.
    #[test]
    fn a_long_source_is_shortened_between_characters() {
        let crash = "O\0\0\0\0\0\0\0\0\0\0ȇ\0\0\0\0\0\0\0\0";
        assert_eq!(short(crash), format!("{:?}…", crash.chars().take(12).collect::<String>()));
        assert_eq!(short("ééééééééééééééééé"), "\"éééééééééééé\"…");
        assert_eq!(short("xpub"), "\"xpub\"");
    }
    use bitcoin::bip32::{DerivationPath, Xpriv};
    use bitcoin::hashes::{hmac, sha512, Hash, HashEngine};
    use bitcoin::NetworkKind;

    /// BIP-39 seed of a mnemonic (PBKDF2-HMAC-SHA512, 2048 rounds, no passphrase).
    fn seed(mnemonic: &str) -> [u8; 64] {
        let prf = |data: &[u8]| {
            let mut e = hmac::HmacEngine::<sha512::Hash>::new(mnemonic.as_bytes());
            e.input(data);
            hmac::Hmac::<sha512::Hash>::from_engine(e).to_byte_array()
        };
        let mut u = prf(&[b"mnemonic".as_slice(), &1u32.to_be_bytes()].concat());
        let mut out = u;
        for _ in 1..2048 {
            u = prf(&u);
            out.iter_mut().zip(u).for_each(|(o, x)| *o ^= x);
        }
        out
    }

    /// The account xpub (m/44'/60'/0') of anvil's and hardhat's dev mnemonic.
    fn dev_account_xpub() -> String {
        let secp = Secp256k1::new();
        let master =
            Xpriv::new_master(NetworkKind::Main, &seed("test test test test test test test test test test test junk"))
                .unwrap();
        let account = master.derive_priv(&secp, &DerivationPath::from_str("m/44'/60'/0'").unwrap()).unwrap();
        Xpub::from_priv(&secp, &account).to_string()
    }

    /// What `tests/src/evm.rs` configures as a store's ETH xpub.
    const DEV_XPUB: &str = "xpub6Ce9NcJvTk36xtLSrJLZqE7wtgA5deCeYs7rSQtreh4cj6ByPtrg9sD7V2FNFLPnf8heNP3FGkeV9qwfzvZNSd54JoNXVsXFYSYwHsnJxqP";

    #[test]
    fn derives_the_dev_accounts_of_anvil() {
        assert_eq!(dev_account_xpub(), DEV_XPUB);
        let got = addresses(DEV_XPUB, 0, 0, 3).unwrap();
        let want = [
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
            "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
            "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        ];
        assert_eq!(got.iter().map(|a| a.address.as_str()).collect::<Vec<_>>(), want);
        assert_eq!(got[2].index, 2);
        let later = addresses(&dev_account_xpub(), 0, 2, 1).unwrap();
        assert_eq!(later[0].address, want[2]);
    }

    #[test]
    fn refuses_private_keys_and_bad_ranges() {
        assert!(addresses("xprv9s21ZrQH143K…", 0, 0, 1).unwrap_err().message.contains("private key"));
        assert!(addresses("hello", 0, 0, 1).unwrap_err().message.contains("not an xpub"));
        let x = dev_account_xpub();
        assert!(addresses(&x, 1 << 31, 0, 1).unwrap_err().message.contains("hardened"));
        assert!(addresses(&x, 0, (1 << 31) - 1, 2).unwrap_err().message.contains("normal range"));
        assert!(addresses(&x, 0, 0, MAX_COUNT + 1).unwrap_err().message.contains("more than"));
    }
}
