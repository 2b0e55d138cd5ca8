//! Exchange rates: the only owner of rates (`docs/rates.md`). Sources (`[rates.sources]`: the
//! config's `fixed` rates or rate-source plugins, whose HTTP requests this module sends),
//! their cache, and each store's rules (`[stores.rates]`): which source for which pair,
//! fallbacks in order, triangulation `via` a code, inverses, the spread. The invoices ask
//! [`Rates::rate`]; `GET /v1/rates` shows what they would get.

mod arith;
mod currency;
mod fetch;
mod http;
mod rules;
mod source;

pub(crate) use currency::is_code;
// The invoices' amounts in a currency have its minor units (`POST /v1/invoices`, issue 16).
#[allow(unused_imports)]
pub(crate) use currency::minor_units;
pub(crate) use fetch::RateApi;
pub(crate) use rules::via_problem;

use crate::config::{Config, RuleAction, StoreRates};
use rust_decimal::Decimal;
use source::{Quote, Source};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use time::OffsetDateTime;

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Sends one HTTP request of a rate source (a trait so that tests can stand in for the network).
pub(crate) trait Fetch: Send + Sync + std::fmt::Debug {
    /// The response, or why there is none (lowercase, naming the URL without credentials).
    fn fetch<'a>(
        &'a self,
        source: &'a str,
        req: paywatch_plugin_api::messages::HttpRequest,
    ) -> BoxFuture<'a, Result<paywatch_plugin_api::messages::HttpResponse, String>>;
}

pub(crate) use crate::clock::{Clock, SystemClock};

/// A rate an invoice would use: how many `quote` one `base` is worth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rate {
    /// `BASE_QUOTE`.
    pub(crate) pair: String,
    /// The rate invoices use: `before_spread` × (1 − `spread_percent` / 100). Lower than the
    /// source's: for `ASSET_CURRENCY`, the customer pays more of the asset (the spread).
    pub(crate) value: Decimal,
    /// The rate the sources give (crossed and inverted as the rules say).
    pub(crate) before_spread: Decimal,
    /// The store's `spread_percent`, applied once to the final rate.
    pub(crate) spread_percent: Decimal,
    /// `kraken`, or for a cross `kraken(BTC_USD) × ecb(USD_CNY)`; `identity` for `X_X`.
    pub(crate) source: String,
    /// When the rate is from: the oldest component's time.
    pub(crate) at: OffsetDateTime,
}

/// One source tried, and why it gave no usable rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tried {
    /// The source's name (`rules` when no source could be tried), with the pair for a leg of a
    /// cross: `ecb(USD_CNY)`.
    pub(crate) source: String,
    pub(crate) why: String,
}

/// Why there is no rate.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum RateError {
    /// No source gave a usable rate: each one tried, and why.
    #[error("no usable rate for {pair}: {}", tried_text(.tried))]
    Unavailable { pair: String, tried: Vec<Tried> },
    #[error("{0:?} is not a currency code (2-16 of A-Z, 0-9)")]
    BadCode(String),
    #[error("the rate rules of store {store:?} loop for {pair}: {path}")]
    Cycle { store: String, pair: String, path: String },
    #[error("the rate of {pair} needs more than {max} nested via rules", max = rules::MAX_VIA_DEPTH)]
    TooDeep { pair: String },
}

fn tried_text(tried: &[Tried]) -> String {
    tried.iter().map(|t| format!("{}: {}", t.source, t.why)).collect::<Vec<_>>().join("; ")
}

/// The rate engine; clones share everything.
#[derive(Debug, Clone)]
pub(crate) struct Rates(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    sources: HashMap<String, Source>,
    /// Each configured store's `[stores.rates]` (`None`: no rules).
    stores: crate::stores::PerStore<Option<StoreRates>>,
    /// Asset id → its rate code.
    codes: HashMap<String, String>,
    fetch: Arc<dyn Fetch>,
    clock: Arc<dyn Clock>,
}

/// A rate before the spread, while the rules are resolved.
struct Resolved {
    value: Decimal,
    source: String,
    at: OffsetDateTime,
}

impl Rates {
    /// The engine `run` uses: the config's sources, `apis` the plugin instances of the plugin
    /// sources (by source name), requests sent through the SSRF-guarded client.
    pub(crate) fn new(config: &Config, apis: HashMap<String, Arc<dyn RateApi>>) -> Self {
        let fetch = Arc::new(http::HttpFetch::new(&config.rates));
        Self::with(config, apis, fetch, Arc::new(SystemClock))
    }

    /// [`Rates::new`] with any fetcher and clock.
    pub(crate) fn with(
        config: &Config,
        mut apis: HashMap<String, Arc<dyn RateApi>>,
        fetch: Arc<dyn Fetch>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let sources =
            config.rates.sources.iter().map(|(n, s)| (n.clone(), Source::new(n, s, apis.remove(n)))).collect();
        let stores = config.stores.iter().map(|s| (s.id.clone(), s.rates.clone())).collect();
        let codes = config.assets.iter().map(|a| (a.id.clone(), a.rate_code.clone())).collect();
        Self(Arc::new(Inner { sources, stores, codes, fetch, clock }))
    }

    /// The code rates know asset `asset` by (its `rate_code`), if it is configured.
    pub(crate) fn code_of_asset(&self, asset: &str) -> Option<&str> {
        self.0.codes.get(asset).map(String::as_str)
    }

    /// The rate store `store`'s invoices use for `base_quote` now (spread applied: see
    /// [`Rate`]), or why there is none.
    pub(crate) async fn rate(&self, store: &str, base: &str, quote: &str) -> Result<Rate, RateError> {
        for code in [base, quote] {
            if !is_code(code) {
                return Err(RateError::BadCode(code.to_string()));
            }
        }
        let pair = format!("{base}_{quote}");
        let rules = self.0.stores.get(store);
        let Some(config) = rules.as_deref().and_then(Option::as_ref) else {
            let why = format!("store {store:?} has no rate rules ([stores.rates])");
            return Err(RateError::Unavailable { pair, tried: vec![Tried { source: "rules".into(), why }] });
        };
        let r = self.resolve(store, config, base, quote, &mut Vec::new()).await?;
        // A code in itself is 1, as invoices and refunds take it: no spread on nothing exchanged.
        let spread = if base == quote { Decimal::ZERO } else { config.spread_percent };
        let value = arith::spread(r.value, spread).ok_or_else(|| RateError::Unavailable {
            pair: pair.clone(),
            tried: vec![Tried {
                source: r.source.clone(),
                why: format!("{} less the spread does not fit a decimal", r.value),
            }],
        })?;
        Ok(Rate { pair, value, before_spread: r.value, spread_percent: spread, source: r.source, at: r.at })
    }

    /// `base_quote` by the store's rules; `stack` holds the pairs being resolved (for loops).
    fn resolve<'a>(
        &'a self,
        store: &'a str,
        config: &'a StoreRates,
        base: &'a str,
        quote: &'a str,
        stack: &'a mut Vec<String>,
    ) -> BoxFuture<'a, Result<Resolved, RateError>> {
        Box::pin(async move {
            let pair = format!("{base}_{quote}");
            if base == quote {
                return Ok(Resolved { value: Decimal::ONE, source: "identity".into(), at: self.0.clock.now() });
            }
            if stack.contains(&pair) {
                let path = stack.iter().chain([&pair]).cloned().collect::<Vec<_>>().join(" → ");
                return Err(RateError::Cycle { store: store.to_string(), pair, path });
            }
            let Some((_, rule)) = rules::rule_for(&config.rules, base, quote) else {
                let why = format!("no rate rule of store {store:?} matches {pair}");
                return Err(RateError::Unavailable { pair, tried: vec![Tried { source: "rules".into(), why }] });
            };
            match &rule.action {
                RuleAction::Sources(names) => self.first_usable(names, base, quote).await,
                RuleAction::Via(_) if stack.len() == rules::MAX_VIA_DEPTH => Err(RateError::TooDeep { pair }),
                RuleAction::Via(via) => {
                    stack.push(pair.clone());
                    let legs = self.via(store, config, base, via, quote, stack).await;
                    stack.pop();
                    legs.map_err(|e| in_cross(e, &pair))
                }
            }
        })
    }

    /// BASE_VIA × VIA_QUOTE, each by the rules.
    async fn via(
        &self,
        store: &str,
        config: &StoreRates,
        base: &str,
        via: &str,
        quote: &str,
        stack: &mut Vec<String>,
    ) -> Result<Resolved, RateError> {
        let a = self.resolve(store, config, base, via, stack).await?;
        let b = self.resolve(store, config, via, quote, stack).await?;
        let source = format!("{} × {}", leg(&a.source, base, via), leg(&b.source, via, quote));
        let value = arith::cross(a.value, b.value).ok_or_else(|| RateError::Unavailable {
            pair: format!("{base}_{quote}"),
            tried: vec![Tried {
                source: source.clone(),
                why: format!("{} × {} does not fit a decimal", a.value, b.value),
            }],
        })?;
        Ok(Resolved { value, source, at: a.at.min(b.at) })
    }

    /// The first of `names` with a usable rate, else each one's reason.
    async fn first_usable(&self, names: &[String], base: &str, quote: &str) -> Result<Resolved, RateError> {
        let mut tried = Vec::new();
        for name in names {
            let Some(source) = self.0.sources.get(name) else {
                tried.push(Tried { source: name.clone(), why: "no such source".into() });
                continue;
            };
            match source.get(base, quote, self.0.fetch.as_ref(), self.0.clock.as_ref()).await {
                Ok(Quote { value, at }) => return Ok(Resolved { value, source: source.name().to_string(), at }),
                Err(why) => tried.push(Tried { source: name.clone(), why }),
            }
        }
        Err(RateError::Unavailable { pair: format!("{base}_{quote}"), tried })
    }
}

/// A leg's source as a cross names it: `kraken(BTC_USD)`; a leg that is itself a cross is
/// kept as it is (its legs are named), in parentheses.
fn leg(source: &str, base: &str, quote: &str) -> String {
    if source.contains(" × ") {
        format!("({source})")
    } else {
        format!("{source}({base}_{quote})")
    }
}

/// A leg's failure as the failure of the cross `pair`: each source named with its leg's pair.
fn in_cross(e: RateError, pair: &str) -> RateError {
    match e {
        RateError::Unavailable { pair: leg_pair, tried } if leg_pair != pair => RateError::Unavailable {
            pair: pair.to_string(),
            tried: tried
                .into_iter()
                .map(|t| Tried {
                    source: if t.source.contains('(') { t.source } else { format!("{}({leg_pair})", t.source) },
                    why: t.why,
                })
                .collect(),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests;

impl crate::stores::StoreSettings for Rates {
    fn put_store(&self, store: &crate::config::StoreConfig) {
        self.0.stores.put(&store.id, store.rates.clone());
    }
}
