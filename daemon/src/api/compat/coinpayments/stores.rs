//! What CoinPayments' `rates` command lists for each store answering CoinPayments' API
//! (`[stores.coinpayments]`; its credentials are found by `api::compat::Gateways`).

use crate::config::Config;
use std::collections::{BTreeSet, HashMap};

/// One store's codes.
#[derive(Debug, Default)]
pub(super) struct Codes {
    /// The assets it receives (`[stores.receive]`): its payment methods.
    pub(super) assets: Vec<String>,
    /// The fiat currencies its rate rules name (every code of a rule's pair that is not an
    /// asset).
    pub(super) fiat: Vec<String>,
}

/// Per store with `[stores.coinpayments]`.
#[derive(Debug, Default)]
pub(in crate::api) struct Stores(HashMap<String, Codes>);

impl Stores {
    pub(in crate::api) fn new(config: &Config) -> Self {
        let assets: BTreeSet<&str> = config.assets.iter().map(|a| a.id.as_str()).collect();
        let stores = config.stores.iter().filter(|s| s.gateways.coinpayments.is_some()).map(|s| {
            let mut fiat = BTreeSet::new();
            for r in s.rates.iter().flat_map(|r| &r.rules) {
                for code in [&r.pair.base, &r.pair.quote].into_iter().flatten() {
                    if !assets.contains(code.as_str()) {
                        fiat.insert(code.clone());
                    }
                }
            }
            let codes = Codes { assets: s.receive.keys().cloned().collect(), fiat: fiat.into_iter().collect() };
            (s.id.clone(), codes)
        });
        Self(stores.collect())
    }

    /// The store's codes (none for a store without `[stores.coinpayments]`).
    pub(super) fn codes(&self, store: &str) -> Option<&Codes> {
        self.0.get(store)
    }
}
