//! Addresses, descriptors and extended keys as an operator or a customer types them, through
//! the bitcoin plugin: `parse_address` and `derive_addresses` answer or refuse, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use paywatch_plugin_api::messages::DeriveRequest;
use paywatch_plugin_api::testing::TestHost;
use paywatch_plugin_api::CurrencyPlugin;
use paywatch_plugin_bitcoin::Bitcoin;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let host = TestHost::new();
    for network in ["mainnet", "regtest"] {
        let config = serde_json::json!({"asset": "BTC", "network": network});
        let plugin = Bitcoin::create(config, &host.host()).expect("config");
        let _ = plugin.parse_address(text);
        let req = DeriveRequest { source: text.to_string(), branch: 0, start: 0, count: 2 };
        let _ = plugin.derive_addresses(&req);
    }
});
