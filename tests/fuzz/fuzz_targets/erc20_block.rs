//! The normalized EVM block read by the token plugin (its `Transfer` logs), every address of
//! the input watched: an error or a reply, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use paywatch_plugin_api::testing::TestHost;
use paywatch_plugin_api::CurrencyPlugin;
use paywatch_plugin_erc20::Erc20;

fuzz_target!(|data: &[u8]| {
    let host = TestHost::with_keys(data.chunks(20).take(8).map(<[u8]>::to_vec));
    let config = serde_json::json!({"asset": "USDT", "chain_id": 1, "decimals": 6,
        "contract": "0xdAC17F958D2ee523a2206206994597C13D831ec7"});
    let token = Erc20::create(config, &host.host()).expect("config");
    let _ = token.scan_block(data, &host.host());
});
