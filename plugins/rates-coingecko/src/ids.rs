//! Tickers → CoinGecko API ids: a built-in table of common coins, extended or overridden by
//! the config's `ids = { TICKER = "id" }`.

use paywatch_plugin_api::PluginError;
use paywatch_rates_common::{code, error, is_code};
use std::collections::BTreeMap;

/// The built-in table (CoinGecko's API ids, from each coin's page).
const BUILT_IN: &[(&str, &str)] = &[
    ("ADA", "cardano"),
    ("AVAX", "avalanche-2"),
    ("BCH", "bitcoin-cash"),
    ("BNB", "binancecoin"),
    ("BTC", "bitcoin"),
    ("DAI", "dai"),
    ("DASH", "dash"),
    ("DOGE", "dogecoin"),
    ("DOT", "polkadot"),
    ("ETC", "ethereum-classic"),
    ("ETH", "ethereum"),
    ("LINK", "chainlink"),
    ("LTC", "litecoin"),
    ("SHIB", "shiba-inu"),
    ("SOL", "solana"),
    ("TON", "the-open-network"),
    ("TRX", "tron"),
    ("USDC", "usd-coin"),
    ("USDT", "tether"),
    ("WBTC", "wrapped-bitcoin"),
    ("XLM", "stellar"),
    ("XMR", "monero"),
    ("XRP", "ripple"),
    ("ZEC", "zcash"),
];

/// Whether `id` looks like a CoinGecko API id: lowercase letters, digits and `-`.
fn is_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The ids of this instance.
pub(crate) fn table(source: &str, configured: Vec<(String, String)>) -> Result<BTreeMap<String, String>, PluginError> {
    let mut table: BTreeMap<String, String> = BUILT_IN.iter().map(|(t, i)| (t.to_string(), i.to_string())).collect();
    for (ticker, id) in configured {
        if !is_code(&ticker) {
            return Err(error(
                source,
                code::BAD_CONFIG,
                format_args!("ids: {ticker:?} is not a ticker (uppercase letters and digits)"),
            ));
        }
        if !is_id(&id) {
            return Err(error(
                source,
                code::BAD_CONFIG,
                format_args!("ids.{ticker}: {id:?} is not a CoinGecko id (lowercase letters, digits, -)"),
            ));
        }
        table.insert(ticker, id);
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_built_in_table_is_sorted_with_valid_ids() {
        assert!(super::BUILT_IN.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(super::BUILT_IN.iter().all(|(t, i)| super::is_code(t) && super::is_id(i)));
    }
}
