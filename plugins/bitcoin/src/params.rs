//! Address parameters of a Bitcoin-family network: base58 version bytes of P2PKH and P2SH,
//! and the bech32 human-readable part of segwit addresses. The five Bitcoin networks have
//! defaults; any of the three can be overridden in the asset's config so that other
//! Bitcoin-family coins (Litecoin, Dogecoin, a fork's testnet…) need no new code.
//!
//! Encoding and decoding use the `bitcoin` crate's base58check and bech32/bech32m codecs.

use bitcoin::bech32::{self, Hrp};
use bitcoin::hashes::Hash;
use bitcoin::{base58, Network, PubkeyHash, Script, ScriptBuf, ScriptHash, WitnessProgram, WitnessVersion};
use paywatch_plugin_api::PluginError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Params {
    /// What the config called the network (for messages).
    pub(crate) name: String,
    /// The `bitcoin` crate's network: derivation's key versions, and the defaults.
    pub(crate) network: Network,
    pub(crate) p2pkh: u8,
    pub(crate) p2sh: u8,
    pub(crate) hrp: Hrp,
}

/// The five Bitcoin networks' parameters, by config name.
const KNOWN: [(&str, Network, u8, u8, &str); 5] = [
    ("mainnet", Network::Bitcoin, 0x00, 0x05, "bc"),
    ("testnet", Network::Testnet, 0x6f, 0xc4, "tb"),
    ("testnet4", Network::Testnet4, 0x6f, 0xc4, "tb"),
    ("signet", Network::Signet, 0x6f, 0xc4, "tb"),
    ("regtest", Network::Regtest, 0x6f, 0xc4, "bcrt"),
];

fn invalid(message: String) -> PluginError {
    PluginError::new("invalid_address", message)
}

impl Params {
    /// From the plugin config: `network` plus optional `p2pkh_prefix`, `p2sh_prefix` (0-255)
    /// and `bech32_hrp`.
    pub(crate) fn from_config(config: &serde_json::Value) -> Result<Self, PluginError> {
        let name = config
            .get("network")
            .and_then(|v| v.as_str())
            .ok_or_else(|| PluginError::bad_config("missing network (mainnet, testnet, testnet4, signet, regtest)"))?;
        let name = if name == "bitcoin" { "mainnet" } else { name };
        let &(_, network, p2pkh, p2sh, hrp) = KNOWN.iter().find(|k| k.0 == name).ok_or_else(|| {
            PluginError::bad_config(format!(
                "unknown network {name:?}: use mainnet, testnet, testnet4, signet or regtest"
            ))
        })?;
        let byte = |key: &str, default: u8| -> Result<u8, PluginError> {
            match config.get(key) {
                None | Some(serde_json::Value::Null) => Ok(default),
                Some(v) => v
                    .as_u64()
                    .and_then(|n| u8::try_from(n).ok())
                    .ok_or_else(|| PluginError::bad_config(format!("{key} must be a byte (0-255), not {v}"))),
            }
        };
        let hrp = match config.get("bech32_hrp").and_then(|v| v.as_str()) {
            Some(h) => Hrp::parse(h).map_err(|e| PluginError::bad_config(format!("bech32_hrp {h:?}: {e}")))?,
            None => Hrp::parse(hrp).expect("known hrps are valid"),
        };
        let params = Self {
            name: name.to_string(),
            network,
            p2pkh: byte("p2pkh_prefix", p2pkh)?,
            p2sh: byte("p2sh_prefix", p2sh)?,
            hrp,
        };
        if params.p2pkh == params.p2sh {
            return Err(PluginError::bad_config(format!(
                "p2pkh_prefix and p2sh_prefix are both {}: addresses would be ambiguous",
                params.p2pkh
            )));
        }
        Ok(params)
    }

    /// An address → its scriptPubKey, or why not (bad checksum, other network, unknown type).
    pub(crate) fn decode(&self, address: &str) -> Result<ScriptBuf, PluginError> {
        let s = address.trim();
        if s.is_empty() {
            return Err(invalid("empty address".into()));
        }
        if self.looks_bech32(s) {
            return self.decode_segwit(s);
        }
        let data = base58::decode_check(s).map_err(|e| invalid(format!("{s:?} is not a valid address: {e}")))?;
        let [version, hash @ ..] = data.as_slice() else { unreachable!("decode_check keeps 4+ bytes") };
        let hash: [u8; 20] =
            hash.try_into().map_err(|_| invalid(format!("{s:?} has a {}-byte payload, not 21", data.len())))?;
        if *version == self.p2pkh {
            Ok(ScriptBuf::new_p2pkh(&PubkeyHash::from_byte_array(hash)))
        } else if *version == self.p2sh {
            Ok(ScriptBuf::new_p2sh(&ScriptHash::from_byte_array(hash)))
        } else {
            Err(invalid(match KNOWN.iter().find(|k| k.2 == *version || k.3 == *version) {
                Some(k) => format!("{s:?} is a {} address, this chain is {}", k.0, self.name),
                None => format!("{s:?} has version byte {version}, which is no address type of {}", self.name),
            }))
        }
    }

    /// Bech32 is chosen by the separator after a plausible hrp (base58 has no `1` after a
    /// lowercase prefix of this shape only by accident; the checksum decides anyway).
    fn looks_bech32(&self, s: &str) -> bool {
        let lower = s.to_ascii_lowercase();
        lower.starts_with(&format!("{}1", self.hrp.to_lowercase()))
            || KNOWN.iter().any(|k| lower.starts_with(&format!("{}1", k.4)))
    }

    fn decode_segwit(&self, s: &str) -> Result<ScriptBuf, PluginError> {
        let (hrp, version, program) =
            bech32::segwit::decode(s).map_err(|e| invalid(format!("{s:?} is not a valid segwit address: {e}")))?;
        if hrp != self.hrp {
            return Err(invalid(format!("{s:?} is for hrp {hrp}, this chain ({}) uses {}", self.name, self.hrp)));
        }
        let version = WitnessVersion::try_from(version).map_err(|e| invalid(format!("{s:?}: {e}")))?;
        let program = WitnessProgram::new(version, &program).map_err(|e| invalid(format!("{s:?}: {e}")))?;
        Ok(ScriptBuf::new_witness_program(&program))
    }

    /// A scriptPubKey → its address, for the standard types that have one.
    pub(crate) fn encode(&self, script: &Script) -> Result<String, PluginError> {
        let b = script.as_bytes();
        let base58 = |version: u8, hash: &[u8]| {
            let mut data = Vec::with_capacity(21);
            data.push(version);
            data.extend_from_slice(hash);
            base58::encode_check(&data)
        };
        if script.is_p2pkh() {
            Ok(base58(self.p2pkh, &b[3..23]))
        } else if script.is_p2sh() {
            Ok(base58(self.p2sh, &b[2..22]))
        } else if let Some(version) = script.witness_version() {
            bech32::segwit::encode(self.hrp, version.into(), &b[2..])
                .map_err(|e| PluginError::invalid_input(format!("script {}: {e}", script.to_hex_string())))
        } else {
            Err(PluginError::invalid_input(format!("script {} has no address form", script.to_hex_string())))
        }
    }
}
