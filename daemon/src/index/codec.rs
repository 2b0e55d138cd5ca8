//! Address ⇄ canonical key, per chain. Currency plugins own the real formats; until a chain's
//! plugin is loaded, a structural placeholder validates the address shape so that storage,
//! auth and the API are final.

use crate::config::ChainKind;
use std::fmt;

/// An address as the chain's currency plugin normalizes it, with its canonical key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedAddress {
    pub(crate) address: String,
    pub(crate) key: Vec<u8>,
}

/// Why an address was not parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AddressError {
    /// The address is wrong (the caller's fault).
    Invalid(String),
    /// The codec could not answer (a plugin failed): try again later.
    Unavailable(String),
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressError::Invalid(m) | AddressError::Unavailable(m) => f.write_str(m),
        }
    }
}

/// Addresses parsed by the chain's currency plugin.
#[derive(Debug)]
pub(crate) struct PluginCodec(pub(crate) std::sync::Arc<crate::plugins::PluginInstance>);

impl AddressCodec for PluginCodec {
    fn parse(&self, address: &str) -> Result<ParsedAddress, AddressError> {
        use crate::plugins::CallError;
        use paywatch_plugin_api::messages::{self as m, currency_method};
        let req = m::ParseAddressRequest { address: address.to_string() };
        match self.0.call::<_, m::ParsedAddress>(currency_method::PARSE_ADDRESS, &req) {
            Ok(p) => Ok(ParsedAddress { address: p.address, key: p.key.0 }),
            Err(CallError::Plugin { error, .. }) => Err(AddressError::Invalid(error.message)),
            Err(e) => Err(AddressError::Unavailable(e.to_string())),
        }
    }
}

/// Parses and normalizes addresses of one chain.
pub(crate) trait AddressCodec: Send + Sync + fmt::Debug {
    fn parse(&self, address: &str) -> Result<ParsedAddress, AddressError>;
}

/// The placeholder codec for a chain kind.
pub(crate) fn placeholder(kind: ChainKind) -> Box<dyn AddressCodec> {
    match kind {
        ChainKind::Bitcoin => Box::new(BitcoinShape),
        ChainKind::Evm => Box::new(EvmHex),
    }
}

/// EVM: 20 bytes in hex with `0x`; the key is the 20 bytes. (EIP-55 checksums are the
/// `ethereum` plugin's job.)
#[derive(Debug)]
struct EvmHex;

impl AddressCodec for EvmHex {
    fn parse(&self, address: &str) -> Result<ParsedAddress, AddressError> {
        let hex_part = address
            .strip_prefix("0x")
            .or_else(|| address.strip_prefix("0X"))
            .ok_or_else(|| AddressError::Invalid(format!("{address:?} does not start with 0x")))?;
        let key = hex::decode(hex_part)
            .ok()
            .filter(|k| k.len() == 20)
            .ok_or_else(|| AddressError::Invalid(format!("{address:?} is not 20 bytes of hex")))?;
        Ok(ParsedAddress { address: format!("0x{}", hex::encode(&key)), key })
    }
}

/// Bitcoin-family: base58 (25-35 chars) or bech32 (lowercase or uppercase, `hrp1…`) shape
/// only; the key is the address text. The `bitcoin` plugin replaces this with real decoding
/// to scriptPubKeys.
#[derive(Debug)]
struct BitcoinShape;

const BASE58: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const BECH32: &str = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

impl AddressCodec for BitcoinShape {
    fn parse(&self, address: &str) -> Result<ParsedAddress, AddressError> {
        let lower = address.to_ascii_lowercase();
        let is_bech32 = lower.rsplit_once('1').is_some_and(|(hrp, data)| {
            !hrp.is_empty()
                && (address == lower || address == address.to_ascii_uppercase())
                && (14..=90).contains(&address.len())
                && data.len() >= 6
                && data.chars().all(|c| BECH32.contains(c))
        });
        let is_base58 = (25..=35).contains(&address.len()) && address.chars().all(|c| BASE58.contains(c));
        let normalized = if is_bech32 { lower } else { address.to_string() };
        if !(is_bech32 || is_base58) {
            return Err(AddressError::Invalid(format!("{address:?} is not a base58 or bech32 address")));
        }
        Ok(ParsedAddress { key: normalized.as_bytes().to_vec(), address: normalized })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evm_addresses_normalize_to_lowercase_and_20_byte_keys() {
        let c = placeholder(ChainKind::Evm);
        let p = c.parse("0x52908400098527886E0F7030069857D2E4169EE7").unwrap();
        assert_eq!(p.address, "0x52908400098527886e0f7030069857d2e4169ee7");
        assert_eq!(p.key.len(), 20);
        assert!(c.parse("52908400098527886E0F7030069857D2E4169EE7").is_err());
        assert!(c.parse("0x1234").is_err());
    }

    #[test]
    fn bitcoin_shapes() {
        let c = placeholder(ChainKind::Bitcoin);
        assert!(c.parse("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn").is_ok());
        let p = c.parse("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4").unwrap();
        assert_eq!(p.address, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4");
        for bad in ["", "0OIl0OIl0OIl0OIl0OIl0OIl0OIl", "not an address", "bc1qW508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"]
        {
            assert!(c.parse(bad).is_err(), "{bad}");
        }
    }
}
