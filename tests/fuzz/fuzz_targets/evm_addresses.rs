//! EVM addresses (EIP-55 or not) and account xpubs as typed, through the Ether plugin:
//! `parse_address` and `derive_addresses` answer or refuse, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use paywatch_plugin_api::messages::DeriveRequest;
use paywatch_plugin_api::testing::TestHost;
use paywatch_plugin_api::CurrencyPlugin;
use paywatch_plugin_ethereum::Ethereum;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let host = TestHost::new();
    let eth = Ethereum::create(serde_json::json!({"asset": "ETH", "chain_id": 1}), &host.host()).expect("config");
    let _ = eth.parse_address(text);
    let _ = eth.derive_addresses(&DeriveRequest { source: text.to_string(), branch: 0, start: 0, count: 2 });
});
