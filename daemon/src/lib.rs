//! paywatch: a self-hosted, non-custodial crypto payment daemon.
//!
//! The binary is a thin shell around [`run`]: it parses arguments, loads the [`config`],
//! initializes tracing and hands over a shutdown future. The public surface is what the
//! binary needs (`run`, `run_with`, the `config` module, the plugin checks behind
//! `config check`/`plugins list`/`plugins check`, `init_tracing` and the error types); every
//! module is private; see `docs/layout.md` for what each one owns.

mod api;
mod backup;
#[doc(hidden)]
pub mod bench;
mod chain;
mod checkout;
mod clock;
pub mod config;
mod db;
mod dispatch;
mod doctor;
mod events;
mod faults;
#[doc(hidden)]
pub mod fuzzing;
mod health;
mod index;
mod invoices;
mod metrics;
mod plugins;
mod rates;
mod startup;
mod stores;
mod telemetry;

pub use backup::{backup as backup_store, restore as restore_store, BackupCliError, BackupWay, ADMIN_KEY_ENV};
pub use chain::{ChainStartError, RewindError, RewindReport};
pub use config::Config;
pub use db::{BackupError, ChainCursor, DbError, Manifest, PoolsAdvanced, Restored};
pub use doctor::{Check as DoctorCheck, Report as DoctorReport, Verdict};
pub use health::{HealthReport, Status};
pub use plugins::{
    check_file as check_plugin_file, file_hash as plugin_file_hash, CheckOptions, Checked, PluginListing,
};
pub use stores::{keys_create, keys_list, keys_revoke};
pub use telemetry::init_tracing;

use health::Health;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Why the daemon stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot load TLS certificate {cert} / key {key}: {source}")]
    Tls { cert: PathBuf, key: PathBuf, source: std::io::Error },
    #[error("api server failed: {0}")]
    Serve(std::io::Error),
    #[error("plugin directory {dir}: {source}")]
    PluginDir { dir: PathBuf, source: std::io::Error },
    #[error(
        "{user} uses {kind} plugin {plugin:?}, which is not loaded from {dir}: {why} (see `paywatch plugins list`)"
    )]
    MissingPlugin { user: String, plugin: String, kind: &'static str, dir: PathBuf, why: String },
    #[error("{user} names plugin {plugin:?}, which was refused: {reason}")]
    PluginRefused { user: String, plugin: String, reason: String },
    #[error(transparent)]
    Plugin(Box<dyn std::error::Error + Send + Sync>),
    #[error("asset {asset:?}: plugin {plugin:?} scans {scans:?} chains, but chain {chain:?} is {kind:?}")]
    ChainKind { asset: String, plugin: String, scans: String, chain: String, kind: &'static str },
    #[error("{at}: {message}")]
    Refused { at: String, message: String },
    #[error("cannot start following: {0}")]
    Chain(#[from] ChainStartError),
    #[error(transparent)]
    Rewind(#[from] RewindError),
}

/// What `paywatch config check` adds to validation: loads the plugin directory and creates
/// every plugin instance the config uses, exactly as [`run`] does first, before the database,
/// so a config that `run` would refuse for its plugins (or for amounts the plugins' decimals
/// cannot state, `startup::asset_limits`) is refused here too. Returns one line per instance
/// on success.
pub fn check_plugins(config: &Config) -> Result<Vec<String>, RunError> {
    let health = Arc::new(Health::new());
    let (currencies, platforms, rate_apis) = startup::plugins(config, &health)?;
    startup::asset_limits(config, &startup::decimals(&currencies)?)?;
    let mut lines: Vec<String> = currencies
        .iter()
        .map(|(asset, p)| format!("asset {asset}: currency plugin {} ok", p.label()))
        .chain(platforms.values().map(|p| format!("platform plugin {} ok", p.label())))
        .chain(rate_apis.iter().map(|(source, p)| format!("rate source {source}: rates plugin {} ok", p.label())))
        .collect();
    lines.sort();
    Ok(lines)
}

/// `paywatch doctor`: checks each chain's node (reachable, credentials, network, ZMQ or the
/// WebSocket, pruning, sync, clocks, traces) and this machine's side (the store's directory,
/// its lock, the plugins), each with what was found and the fix (`docs/doctor.md`). Every
/// network call has a short timeout.
pub fn doctor(config: &Config) -> DoctorReport {
    doctor::run(config)
}

/// `paywatch plugins list`: every library file of `plugins.dir` with its trust verdict and
/// hash; the plugins the config uses loaded as `run` loads them; no other file loaded.
pub fn list_plugins(config: &Config) -> std::io::Result<Vec<PluginListing>> {
    plugins::list(&config.plugins.dir, &startup::wanted(config))
}

/// `paywatch plugins hash`: each configured plugin's `[plugins.sha256]` line, or why its file
/// cannot be hashed; nothing is loaded.
pub fn plugin_pins(config: &Config) -> std::io::Result<Vec<Result<String, String>>> {
    plugins::pin_lines(&config.plugins.dir, &startup::wanted(config))
}

/// Runs the daemon until `shutdown` resolves; then stops accepting API calls, lets requests in
/// flight finish, flushes the database and returns.
pub async fn run(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), RunError> {
    run_with(config, shutdown, |_| {}).await
}

/// [`run`], calling `on_ready` with the API's bound address once it accepts connections.
pub async fn run_with(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<(), RunError> {
    let health = Arc::new(Health::new());
    // Plugins first: a config they refuse stops the daemon before storage is touched.
    let (currencies, platforms, rate_apis) = startup::plugins(&config, &health)?;
    let Opened { db, set, decimals, watches, invoices, stores, config } = open(&config, &currencies)?;
    let rates = rates::Rates::new(&config, startup::rate_apis(rate_apis));
    startup::stored_endpoints(&db, &platforms)?;
    health.set_store(Status::Ok, format!("open at {}", db.path().display()));
    tracing::info!(path = %db.path().display(), "database open");
    for c in &config.chains {
        tracing::info!(chain = %c.name, keys = set.len(&c.name), bytes = set.heap_bytes(&c.name), "watch set loaded");
    }
    startup::attach_watches(&config, &currencies, &set);
    let hook: Arc<dyn index::PaymentHook> = Arc::new(invoices.clone());
    let metrics = Arc::new(metrics::Metrics::new());
    db.count_events(metrics.events());
    let followers = chain::Followers::start(&config, &db, &set, &currencies, &decimals, &hook, &health, &metrics)?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let timers = tokio::spawn(invoices::run_timers(invoices.clone(), stop_rx.clone()));
    let dispatcher = dispatch::Dispatcher::new(&config, db.clone(), platforms, metrics.clone())?;
    let keys_used = tokio::spawn(stores::flush_every_minute(stores.clone(), stop_rx.clone()));
    let dispatching = tokio::spawn(dispatcher.clone().run(stop_rx.clone()));
    // Bound before anything is served: a taken port stops the start, and a port 0 is known
    // before the first checkout URL is made.
    let (api_listener, api_addr) = api::bind(config.server.listen)?;
    let pages_listener = config.checkout.listen.map(api::bind).transpose()?;
    let pages_addr = pages_listener.as_ref().map_or(api_addr, |(_, a)| *a);
    invoices.set_checkout_listener(&config, pages_addr);
    if config.checkout.public_url.is_none() {
        let base = checkout::public_base(&config, Some(pages_addr));
        tracing::warn!(%base, "checkout.public_url is not set: invoices' checkout_url and refunds' claim_url start with the pages' listener address, which only this machine can open; set checkout.public_url to the URL customers reach the pages at");
    }
    let names = config.stores.iter().map(|s| (s.id.clone(), s.name.clone())).collect();
    let hub = checkout::Hub::new(db.clone(), invoices.clone(), names);
    let pages = tokio::spawn(hub.clone().run(stop_rx.clone()));
    attach_settings(&stores, &invoices, &watches, &rates, &dispatcher, &hub);
    let parts = api::Parts { watches, invoices, dispatcher, health, metrics, rates, checkout: hub, stores };
    let state = api::AppState::new(&config, db.clone(), parts, stop_rx.clone());
    let app = api::router(state.clone(), &config);
    let shutdown = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    let pages_served = match pages_listener {
        Some((listener, _)) => {
            let app = api::checkout_router(state, &config);
            let stopped = async move {
                let _ = stop_rx.clone().wait_for(|s| *s).await;
            };
            let server = config.server.clone();
            Some(tokio::spawn(async move { api::serve(&server, "checkout pages", listener, app, stopped).await }))
        }
        None => None,
    };
    on_ready(api_addr);
    let served = api::serve(&config.server, "api", api_listener, app, shutdown).await;
    let pages_served = match pages_served {
        Some(task) => task.await.unwrap_or(Ok(())),
        None => Ok(()),
    };
    // Followers finish the block in hand, the timers their tick; then nothing writes any more.
    let _ = pages.await;
    let _ = timers.await;
    let _ = keys_used.await;
    let _ = dispatching.await;
    tokio::task::spawn_blocking(move || followers.stop()).await.ok();
    // Every write is synced when made; flushing makes the next open fast.
    let flushed = db.flush();
    tracing::info!("stopped");
    served?;
    pages_served?;
    Ok(flushed?)
}

/// Tells the services keeping per-store settings of the stores made and changed at run time
/// (the API's long-poll quotas are attached where they are made).
fn attach_settings(
    stores: &stores::Stores,
    invoices: &invoices::Invoices,
    watches: &index::Watches,
    rates: &rates::Rates,
    dispatcher: &dispatch::Dispatcher,
    hub: &checkout::Hub,
) {
    stores.attach(Arc::new(invoices.clone()));
    stores.attach(Arc::new(watches.clone()));
    stores.attach(Arc::new(rates.clone()));
    stores.attach(Arc::new(dispatcher.clone()));
    stores.attach(Arc::new(hub.clone()));
}

/// The store and the services over it, as `run` and `chain rewind` use them.
struct Opened {
    db: Arc<db::Db>,
    set: Arc<index::WatchSet>,
    decimals: index::Decimals,
    watches: index::Watches,
    invoices: invoices::Invoices,
    stores: stores::Stores,
    /// The config with the stores made through the admin API added to the file's.
    config: Config,
}

fn open(config: &Config, currencies: &startup::Currencies) -> Result<Opened, RunError> {
    // Limits the plugins' decimals refuse stop the daemon before the store is opened.
    let decimals = startup::decimals(currencies)?;
    let assets = startup::invoice_assets(config, currencies, &decimals)?;
    let db = Arc::new(db::Db::open_with(&config.storage.path, config.storage.memory_budget)?);
    let (stores, api_stores) = stores::Stores::load(config, db.clone(), currencies.clone())?;
    let mut config = config.clone();
    config.stores.extend(api_stores);
    let config = &config;
    let set = Arc::new(index::WatchSet::load(db.clone(), config.chains.iter().map(|c| c.name.clone()))?);
    let max_watches = config.stores.iter().map(|s| (s.id.clone(), s.max_watches)).collect();
    let watches =
        index::Watches::new(db.clone(), set.clone(), startup::chain_watches(config, currencies), max_watches)?;
    let invoices =
        invoices::Invoices::new(config, db.clone(), watches.clone(), assets, Arc::new(invoices::SystemClock));
    Ok(Opened { db, set, decimals, watches, invoices, stores, config: config.clone() })
}

/// The store's `[stores.bitpay]` and the database, for `paywatch bitpay …` (the daemon
/// stopped: it holds the store's lock while it runs).
fn bitpay_store(config: &Config, store: &str) -> Result<(u64, db::Db), RunError> {
    let refused = |message: String| RunError::Refused { at: format!("stores[{store}]"), message };
    let s = config.stores.iter().find(|s| s.id == store).ok_or_else(|| refused("no such store".into()))?;
    let b = s.gateways.bitpay.as_ref().ok_or_else(|| refused("the store has no [stores.bitpay] table".into()))?;
    let db = db::Db::open_existing(&config.storage.path).map_err(|e| {
        refused(format!(
            "cannot open the store ({e}): stop the daemon, or use the API while it runs (POST \
             /v1/bitpay/pairing-codes to pair, POST /v1/bitpay/pairing-codes/{{code}}/approve to approve)"
        ))
    })?;
    Ok((b.pairing_code_secs, db))
}

/// `paywatch bitpay pair`: a pairing code for `store`'s BitPay client (`facade` `pos` or
/// `merchant`) and when it expires (unix seconds), as `POST /v1/bitpay/pairing-codes` makes.
pub fn bitpay_pair(
    config: &Config,
    store: &str,
    facade: &str,
    label: Option<String>,
) -> Result<(String, i64), RunError> {
    let (ttl, db) = bitpay_store(config, store)?;
    api::bitpay_tokens::TOKENS
        .make_code(&db, store, facade, label, ttl)
        .map_err(|e| RunError::Refused { at: "bitpay pair".into(), message: e.to_string() })
}

/// `paywatch bitpay approve`: a client's pairing request approved for `store`; the token's id.
pub fn bitpay_approve(config: &Config, store: &str, code: &str) -> Result<String, RunError> {
    let (_, db) = bitpay_store(config, store)?;
    api::bitpay_tokens::TOKENS
        .approve(&db, store, code)
        .map(|t| t.id)
        .map_err(|e| RunError::Refused { at: "bitpay approve".into(), message: e.to_string() })
}

/// `paywatch chain rewind`, while the daemon is stopped (the store is locked while it runs):
/// finds the highest block of `chain` known to be in its node's chain and what rewinding there
/// (or to `height`, not above it) reverses; with `apply`, does it in one atomic write through
/// the chain's indexer and the invoices (payment events and invoice re-evaluation as for a
/// reorg). Loads the plugins and opens the store as `run` does.
pub fn rewind_chain(config: &Config, chain: &str, height: Option<u64>, apply: bool) -> Result<RewindReport, RunError> {
    let Some(chain_config) = config.chains.iter().find(|c| c.name == chain) else {
        let known = config.chains.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
        return Err(RewindError::UnknownChain { chain: chain.to_string(), known }.into());
    };
    let (currencies, _, _) = startup::plugins(config, &Arc::new(Health::new()))?;
    let Opened { db, set, decimals, invoices, .. } = open(config, &currencies)?;
    let chain_set = set.chain(chain).expect("the set has every configured chain").clone();
    let hook: Arc<dyn index::PaymentHook> = Arc::new(invoices);
    let mut indexer = index::Indexer::load(chain, db.clone(), chain_set, chain_config.reorg_window, decimals, hook)?;
    Ok(chain::rewind(chain_config, &mut indexer, &db, height, apply)?)
}
