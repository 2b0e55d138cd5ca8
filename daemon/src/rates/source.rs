//! One rate source: the `fixed` rates of the config, or a plugin's API with its cache. A
//! cached rate fetched less than `ttl_secs` ago is used without asking; past that, one caller
//! fetches (single flight per source) while the others wait for its result; a rate whose own
//! time is more than `max_age_secs` ago is never used, even when every refresh fails.

use super::fetch::{self, Fetched, RateApi};
use super::{arith, Clock, Fetch};
use crate::config::{RateSourceConfig, RateSourceKind};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use time::{Duration, OffsetDateTime};

/// Most pairs one source keeps in its cache. Pairs are whatever the stores' rules let through
/// (`*_*` lets any code pair through, and `GET /v1/rates` names any), so without a bound a
/// client asking for ever new pairs would grow the cache without end.
pub(super) const MAX_CACHED_PAIRS: usize = 4096;

/// A rate as a source gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Quote {
    pub(super) value: Decimal,
    /// When the rate is from (by its API; the fetch time when it says nothing).
    pub(super) at: OffsetDateTime,
}

#[derive(Debug)]
pub(super) struct Source {
    name: String,
    kind: Kind,
    ttl: Duration,
    max_age: Duration,
}

#[derive(Debug)]
enum Kind {
    /// `"BTC_USD"` → rate: always fresh.
    Fixed(HashMap<String, Decimal>),
    Api(Api),
    /// A plugin source without an instance: it always fails, saying why.
    Missing(String),
}

/// A plugin source's API, its cache and its flight lock.
#[derive(Debug)]
struct Api {
    api: Arc<dyn RateApi>,
    /// `"BTC_USD"` → what the last fetch of that pair gave.
    cache: RwLock<HashMap<String, Entry>>,
    /// Held while fetching: one fetch at a time per source, and callers that waited find the
    /// cache filled.
    flight: tokio::sync::Mutex<()>,
}

/// The last fetch of one pair.
#[derive(Debug, Clone)]
struct Entry {
    fetched: OffsetDateTime,
    /// The newest rate ever fetched (kept when a later fetch fails).
    good: Option<Quote>,
    /// Why the last fetch gave no rate, if it did not.
    failure: Option<Failure>,
}

#[derive(Debug, Clone)]
enum Failure {
    /// The source does not quote the pair (its plugin said so, or left it out).
    NotQuoted(String),
    /// The API or the plugin failed.
    Failed(String),
}

impl Source {
    pub(super) fn new(name: &str, config: &RateSourceConfig, api: Option<Arc<dyn RateApi>>) -> Self {
        let kind = match (&config.kind, api) {
            (RateSourceKind::Fixed(rates), _) => Kind::Fixed(rates.iter().map(|(k, v)| (k.clone(), *v)).collect()),
            (RateSourceKind::Plugin { .. }, Some(api)) => {
                Kind::Api(Api { api, cache: RwLock::default(), flight: tokio::sync::Mutex::new(()) })
            }
            (RateSourceKind::Plugin { plugin, .. }, None) => {
                // `run` hands an instance for every plugin source (or refuses to start); a
                // missing one is a source that always fails, saying so, never a panic.
                Kind::Missing(format!("rate plugin {plugin:?} has no instance"))
            }
        };
        Self {
            name: name.to_string(),
            kind,
            ttl: Duration::seconds(config.ttl_secs as i64),
            max_age: Duration::seconds(config.max_age_secs as i64),
        }
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// `base_quote` from this source: its own rate, or 1 / its rate of `quote_base`. The error
    /// says why not (lowercase, naming the pair).
    pub(super) async fn get(
        &self,
        base: &str,
        quote: &str,
        fetch: &dyn Fetch,
        clock: &dyn Clock,
    ) -> Result<Quote, String> {
        match &self.kind {
            Kind::Fixed(rates) => fixed(rates, base, quote, clock),
            Kind::Missing(why) => Err(why.clone()),
            Kind::Api(api) => {
                let direct = self.cached_or_fetched(api, base, quote, fetch, clock).await;
                match direct {
                    Err(Failure::NotQuoted(why)) => {
                        match self.cached_or_fetched(api, quote, base, fetch, clock).await {
                            Ok(q) => inverse(q, quote, base),
                            Err(Failure::NotQuoted(_)) => Err(format!("{why}, nor {quote}_{base}")),
                            Err(Failure::Failed(inv)) => Err(format!("{why}; {quote}_{base}: {inv}")),
                        }
                    }
                    Err(Failure::Failed(why)) => Err(why),
                    Ok(q) => Ok(q),
                }
            }
        }
    }

    /// The pair's cached rate if fetched within the ttl, else a fetch (one per source at a
    /// time). A rate past `max_age` is never returned.
    async fn cached_or_fetched(
        &self,
        api: &Api,
        base: &str,
        quote: &str,
        fetch: &dyn Fetch,
        clock: &dyn Clock,
    ) -> Result<Quote, Failure> {
        let key = format!("{base}_{quote}");
        if let Some(out) = self.fresh(api, &key, clock.now()) {
            return out;
        }
        let _flight = api.flight.lock().await;
        if let Some(out) = self.fresh(api, &key, clock.now()) {
            return out; // fetched by the caller we waited for
        }
        let fetched = fetch::one(&self.name, api.api.clone(), fetch, base, quote, clock).await;
        let now = clock.now();
        let mut cache = api.cache.write().unwrap_or_else(|p| p.into_inner());
        let previous = cache.get(&key).and_then(|e| e.good);
        let entry = match fetched {
            Fetched::Quoted(value, at) => Entry { fetched: now, good: Some(Quote { value, at }), failure: None },
            Fetched::NotQuoted(why) => Entry { fetched: now, good: None, failure: Some(Failure::NotQuoted(why)) },
            Fetched::Failed(why) => Entry { fetched: now, good: previous, failure: Some(Failure::Failed(why)) },
        };
        let out = self.usable(&entry, now);
        if !cache.contains_key(&key) {
            self.make_room(&mut cache, now);
        }
        cache.insert(key, entry);
        out
    }

    /// Room for one more pair when the cache is full: first what no ask can use any more (past
    /// its ttl, without a rate within `max_age`), then what only remembers a failure, then the
    /// pairs fetched longest ago.
    fn make_room(&self, cache: &mut HashMap<String, Entry>, now: OffsetDateTime) {
        if cache.len() < MAX_CACHED_PAIRS {
            return;
        }
        let (ttl, max_age) = (self.ttl, self.max_age);
        cache.retain(|_, e| now - e.fetched < ttl || e.good.is_some_and(|g| now - g.at <= max_age));
        if cache.len() >= MAX_CACHED_PAIRS {
            cache.retain(|_, e| e.good.is_some());
        }
        while cache.len() >= MAX_CACHED_PAIRS {
            let Some(oldest) = cache.iter().min_by_key(|(_, e)| e.fetched).map(|(k, _)| k.clone()) else { break };
            cache.remove(&oldest);
        }
    }

    /// How many pairs the cache holds.
    #[cfg(test)]
    pub(super) fn cached(&self) -> usize {
        match &self.kind {
            Kind::Api(api) => api.cache.read().unwrap_or_else(|p| p.into_inner()).len(),
            _ => 0,
        }
    }

    /// The cached outcome, if the pair was fetched less than `ttl` ago.
    fn fresh(&self, api: &Api, key: &str, now: OffsetDateTime) -> Option<Result<Quote, Failure>> {
        let cache = api.cache.read().unwrap_or_else(|p| p.into_inner());
        let entry = cache.get(key)?;
        (now - entry.fetched < self.ttl).then(|| self.usable(entry, now))
    }

    /// The entry's rate if within `max_age` (also when the last refresh failed), else why not.
    fn usable(&self, entry: &Entry, now: OffsetDateTime) -> Result<Quote, Failure> {
        let age = entry.good.map(|g| now - g.at);
        match (entry.good, &entry.failure) {
            (Some(good), _) if age.is_some_and(|a| a <= self.max_age) => Ok(good),
            (_, Some(Failure::NotQuoted(why))) => Err(Failure::NotQuoted(why.clone())),
            (Some(_), failure) => {
                let secs = age.map_or(0, |a| a.whole_seconds());
                let stale = format!(
                    "stale: its last rate is {secs} s old, over max_age_secs = {}",
                    self.max_age.whole_seconds()
                );
                Err(Failure::Failed(match failure {
                    Some(Failure::Failed(why)) => format!("{why}; {stale}"),
                    _ => stale,
                }))
            }
            (None, Some(Failure::Failed(why))) => Err(Failure::Failed(why.clone())),
            (None, None) => Err(Failure::Failed("no rate fetched".into())),
        }
    }
}

/// A fixed rate, or the inverse of the fixed rate of the other direction.
fn fixed(rates: &HashMap<String, Decimal>, base: &str, quote: &str, clock: &dyn Clock) -> Result<Quote, String> {
    let at = clock.now();
    if let Some(v) = rates.get(&format!("{base}_{quote}")) {
        return Ok(Quote { value: *v, at });
    }
    if let Some(v) = rates.get(&format!("{quote}_{base}")) {
        return inverse(Quote { value: *v, at }, quote, base);
    }
    Err(format!("does not quote {base}_{quote} nor {quote}_{base}"))
}

/// `base_quote`'s rate as 1 / the rate of `quote_base` (rounded, `arith`).
fn inverse(q: Quote, base: &str, quote: &str) -> Result<Quote, String> {
    arith::inverse(q.value)
        .map(|value| Quote { value, at: q.at })
        .ok_or_else(|| format!("1 / {base}_{quote} = 1 / {} does not fit a decimal", q.value))
}
