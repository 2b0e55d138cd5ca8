//! Each store's way out: its SSRF guard (`dispatch.allow_private` and its own
//! `stores[N].allow_private`) and the HTTP client that resolves names through that guard. The
//! endpoint's store decides which one sends, tests or checks a URL.

use super::ssrf::Guard;
use crate::config::Config;
use std::sync::Arc;
use std::time::Duration;

/// Per request: connect within 5 s, finish within 15 s.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// A guard and the client behind it.
#[derive(Debug, Clone)]
pub(super) struct Route {
    pub(super) guard: Guard,
    pub(super) client: reqwest::Client,
}

impl Route {
    fn new(guard: Guard) -> Self {
        let client = guarded_client(&guard, CONNECT_TIMEOUT, REQUEST_TIMEOUT);
        Self { guard, client }
    }
}

/// An HTTP client whose every name goes through `guard`: no redirects (a redirect would leave
/// the guard's judgment) and no proxy from the environment (a proxy would resolve names
/// itself, past the guard). For callbacks and rate APIs alike.
pub(crate) fn guarded_client(guard: &Guard, connect_timeout: Duration, timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(guard.clone()))
        .user_agent(concat!("paywatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a reqwest client with rustls builds")
}

/// Every configured store's route, and the global one for a store the config no longer names
/// (its endpoints stay in the database).
#[derive(Debug)]
pub(super) struct Routes {
    stores: crate::stores::PerStore<Route>,
    global: Arc<Route>,
}

impl Routes {
    pub(super) fn new(config: &Config) -> Self {
        let global = &config.dispatch.allow_private;
        let stores = config
            .stores
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), Route::new(Guard::for_store(global, &s.allow_private, i))))
            .collect();
        Self { stores, global: Arc::new(Route::new(Guard::new(global.clone()))) }
    }

    pub(super) fn of(&self, store: &str) -> Arc<Route> {
        self.stores.get(store).unwrap_or_else(|| self.global.clone())
    }

    /// The route of a store made or changed through the admin API.
    pub(super) fn put(&self, global: &[ipnet::IpNet], store: &crate::config::StoreConfig) {
        let allow = global.iter().chain(&store.allow_private).copied().collect();
        let key = format!(
            "allow_private of store {:?} (PATCH /v1/admin/stores/{}), or dispatch.allow_private for every store",
            store.id, store.id
        );
        self.stores.put(&store.id, Route::new(Guard::with_key(allow, &key)));
    }
}
