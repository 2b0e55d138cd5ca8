//! EVM addresses (EIP-55 or not) and account xpubs as typed, through the token plugin:
//! `parse_address` and `derive_addresses` answer or refuse, never panic. (Its own target: the
//! two EVM plugins each export the plugin entry symbol, so one binary cannot link both.)
#![no_main]
use libfuzzer_sys::fuzz_target;
use paywatch_plugin_api::messages::DeriveRequest;
use paywatch_plugin_api::testing::TestHost;
use paywatch_plugin_api::CurrencyPlugin;
use paywatch_plugin_erc20::Erc20;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let host = TestHost::new();
    let config = serde_json::json!({"asset": "USDT", "chain_id": 1, "decimals": 6,
        "contract": "0xdAC17F958D2ee523a2206206994597C13D831ec7"});
    let token = Erc20::create(config, &host.host()).expect("config");
    let _ = token.parse_address(text);
    let _ = token.derive_addresses(&DeriveRequest { source: text.to_string(), branch: 0, start: 0, count: 2 });
});
