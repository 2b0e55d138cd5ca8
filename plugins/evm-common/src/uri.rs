//! EIP-681 payment URIs: `ethereum:ADDRESS@CHAIN_ID?value=WEI` for the native coin and
//! `ethereum:TOKEN@CHAIN_ID/transfer?address=ADDRESS&uint256=AMOUNT` for ERC-20 tokens.
//! Amounts are integers in base units (wei, the token's smallest unit).

use crate::address;
use paywatch_plugin_api::PluginError;

/// An amount in base units, checked to be a plain non-negative integer that fits a u256.
fn base_units(amount_base: &str) -> Result<&str, PluginError> {
    paywatch_plugin_api::evm::decimal_to_u256(amount_base).map(|_| amount_base).ok_or_else(|| {
        PluginError::invalid_input(format!("amount {amount_base:?} is not an integer number of base units"))
    })
}

/// A native-coin payment request.
pub fn native(to: &str, chain_id: u64, amount_base: &str) -> Result<String, PluginError> {
    let to = address::to_checksum(&address::parse(to)?);
    Ok(format!("ethereum:{to}@{chain_id}?value={}", base_units(amount_base)?))
}

/// An ERC-20 `transfer` request.
pub fn token_transfer(token: &[u8; 20], to: &str, chain_id: u64, amount_base: &str) -> Result<String, PluginError> {
    let to = address::to_checksum(&address::parse(to)?);
    let token = address::to_checksum(token);
    Ok(format!("ethereum:{token}@{chain_id}/transfer?address={to}&uint256={}", base_units(amount_base)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_and_token_uris() {
        let to = "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359";
        assert_eq!(
            native(to, 1, "2014000000000000000").unwrap(),
            "ethereum:0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359@1?value=2014000000000000000"
        );
        let usdt = address::parse("0xdAC17F958D2ee523a2206206994597C13D831ec7").unwrap();
        assert_eq!(
            token_transfer(&usdt, to, 1, "1000000").unwrap(),
            "ethereum:0xdAC17F958D2ee523a2206206994597C13D831ec7@1/transfer?address=0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359&uint256=1000000"
        );
        assert!(native(to, 1, "1.5").unwrap_err().message.contains("\"1.5\""));
        assert!(native("0x12", 1, "1").is_err());
    }
}
