//! The bitcoin plugin's `scan_block` on arbitrary bytes, with every output script of the input
//! watched: an error or a reply, never a panic, a hang or a huge allocation.
#![no_main]
use libfuzzer_sys::fuzz_target;
use paywatch_plugin_api::testing::TestHost;
use paywatch_plugin_api::CurrencyPlugin;
use paywatch_plugin_bitcoin::Bitcoin;

fuzz_target!(|data: &[u8]| {
    // Watch a few slices of the input, so that matches (and their txid hashing) happen.
    let host = TestHost::with_keys(data.chunks(22).take(4).map(<[u8]>::to_vec));
    let config = serde_json::json!({"asset": "BTC", "network": "mainnet"});
    let plugin = Bitcoin::create(config, &host.host()).expect("config");
    let _ = plugin.scan_block(data, &host.host());
});
