//! The normalized EVM block the daemon hands to EVM plugins, read by the Ether plugin with
//! every address of the input watched: an error or a reply, never a panic. (One plugin per
//! target: each exports the same entry symbol.)
#![no_main]
use libfuzzer_sys::fuzz_target;
use paywatch_plugin_api::testing::TestHost;
use paywatch_plugin_api::CurrencyPlugin;
use paywatch_plugin_ethereum::Ethereum;

fuzz_target!(|data: &[u8]| {
    let host = TestHost::with_keys(data.chunks(20).take(8).map(<[u8]>::to_vec));
    let eth = Ethereum::create(serde_json::json!({"asset": "ETH", "chain_id": 1}), &host.host()).expect("config");
    let _ = eth.scan_block(data, &host.host());
});
