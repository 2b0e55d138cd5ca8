//! The REST API (axum): routes per resource, bearer-key auth, JSON errors, HTTP or HTTPS.
//! It reads the database and writes only through the owners of each resource: watches through
//! `index`, invoices and refunds through `invoices`, endpoints and redeliveries through
//! `dispatch`; never around them.

mod admin;
mod approvals;
mod auth;
mod backup;
mod checkout;
mod compat;
mod connections;
mod endpoints;
mod error;
mod events;
mod extract;
mod invoices;
mod limits;
mod long_polls;
mod openapi;
mod ops;
mod payments;
mod proxies;
mod rates;
mod watches;

/// BitPay's tokens and pairing codes, for `paywatch bitpay …`.
pub(crate) use compat::bitpay::tokens as bitpay_tokens;

use crate::config::{CheckoutConfig, Config, ServerConfig};
use crate::db::Db;
use crate::dispatch::Dispatcher;
use crate::health::Health;
use crate::index::Watches;
use crate::invoices::Invoices;
use crate::metrics::Metrics;
use crate::rates::Rates;
use crate::RunError;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Longest time in-flight requests get to finish at shutdown.
const GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub(crate) struct AppState(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    keys: auth::Keys,
    stores: crate::stores::Stores,
    watches: Watches,
    invoices: Invoices,
    dispatcher: Dispatcher,
    db: Arc<Db>,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    auth_failures: Arc<limits::AuthFailures>,
    long_polls: Arc<long_polls::LongPolls>,
    rates: Rates,
    checkout: crate::checkout::Hub,
    streams: checkout::Streams,
    gateways: compat::Gateways,
    /// What CoinPayments' `rates` lists per store.
    coinpayments: compat::coinpayments::Stores,
    shutdown: watch::Receiver<bool>,
}

/// The services the API fronts.
#[derive(Debug)]
pub(crate) struct Parts {
    pub(crate) watches: Watches,
    pub(crate) invoices: Invoices,
    pub(crate) dispatcher: Dispatcher,
    pub(crate) health: Arc<Health>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) rates: Rates,
    /// The open checkout pages' fan-out.
    pub(crate) checkout: crate::checkout::Hub,
    /// The stores and their keys.
    pub(crate) stores: crate::stores::Stores,
}

impl AppState {
    pub(crate) fn new(config: &Config, db: Arc<Db>, parts: Parts, shutdown: watch::Receiver<bool>) -> Self {
        let Parts { watches, invoices, dispatcher, health, metrics, rates, checkout, stores } = parts;
        let streams = checkout::Streams::new(&config.checkout);
        let keys = auth::Keys::new(config);
        let auth_failures = Arc::new(limits::AuthFailures::new(&config.server.limits));
        let long_polls = Arc::new(long_polls::LongPolls::new(config));
        stores.attach(long_polls.clone());
        Self(Arc::new(Shared {
            keys,
            stores,
            watches,
            invoices,
            dispatcher,
            db,
            health,
            metrics,
            auth_failures,
            long_polls,
            rates,
            checkout,
            streams,
            gateways: compat::Gateways::new(config),
            coinpayments: compat::coinpayments::Stores::new(config),
            shutdown,
        }))
    }

    fn keys(&self) -> &auth::Keys {
        &self.0.keys
    }
    fn stores(&self) -> &crate::stores::Stores {
        &self.0.stores
    }
    fn auth_failures(&self) -> &limits::AuthFailures {
        &self.0.auth_failures
    }
    fn long_polls(&self) -> &long_polls::LongPolls {
        &self.0.long_polls
    }
    fn watches(&self) -> &Watches {
        &self.0.watches
    }
    fn dispatcher(&self) -> &Dispatcher {
        &self.0.dispatcher
    }
    fn invoices(&self) -> &Invoices {
        &self.0.invoices
    }
    fn db(&self) -> &Arc<Db> {
        &self.0.db
    }
    fn health(&self) -> &Health {
        &self.0.health
    }
    fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }
    fn rates(&self) -> &Rates {
        &self.0.rates
    }
    fn checkout(&self) -> &crate::checkout::Hub {
        &self.0.checkout
    }
    fn streams(&self) -> &checkout::Streams {
        &self.0.streams
    }
    fn gateways(&self) -> &compat::Gateways {
        &self.0.gateways
    }
    fn coinpayments(&self) -> &compat::coinpayments::Stores {
        &self.0.coinpayments
    }
    fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.0.shutdown.clone()
    }
}

/// The public checkout routes (`/i/…`, `/r/…`, `/checkout/…`), limited per client by
/// `[checkout]` `per_second`/`burst` (must run inside the runtime).
fn pages(cfg: &CheckoutConfig) -> Router<AppState> {
    let routes = Router::new()
        .route("/i/{id}", get(checkout::page))
        .route("/i/{id}/status", get(checkout::status))
        .route("/i/{id}/events", get(checkout::events))
        .route("/i/{id}/qr/{file}", get(checkout::qr))
        .route(
            "/r/{token}",
            get(checkout::claim_page)
                .post(checkout::claim_submit)
                .layer(DefaultBodyLimit::max(invoices::MAX_CLAIM_BODY)),
        )
        .route("/checkout/{file}", get(checkout::asset))
        .route("/favicon.ico", get(checkout::favicon));
    limited(routes, cfg.per_second, cfg.burst, None).route_layer(middleware::from_fn(checkout::public_headers))
}

/// The customer's JSON claim of a refund (no key: the token is the capability).
fn claim_route() -> Router<AppState> {
    Router::new().route(
        "/v1/refunds/claim/{token}",
        axum::routing::post(invoices::claim).layer(DefaultBodyLimit::max(invoices::MAX_CLAIM_BODY)),
    )
}

/// `routes` limited per client to `per_second` sustained and `burst` above it, the limiter's
/// idle clients (and `auth`'s failed authentications) forgotten every minute.
fn limited(
    routes: Router<AppState>,
    per_second: u64,
    burst: u32,
    auth: Option<Arc<limits::AuthFailures>>,
) -> Router<AppState> {
    let limit = limits::rate_config(per_second, burst);
    limits::spawn_forgetting(auth, limit.clone());
    routes.route_layer(limits::public_layer(limit))
}

/// The checkout pages alone, for their own listener (`checkout.listen`), behind the same front
/// door as the API (must run inside the runtime).
pub(crate) fn checkout_router(state: AppState, config: &Config) -> Router {
    // The customer's JSON claim route too (a shop's own page may post to it): public, and on
    // the API's listener only when the pages share it.
    let claim = limited(claim_route(), config.checkout.per_second, config.checkout.burst, None);
    let routes = pages(&config.checkout).merge(claim);
    front_door(routes.fallback(|| async { error::ApiError::not_found("route") }), &config.server, state)
}

/// The API's routes, and the checkout pages unless they have their own listener, behind the
/// front door's layers (must run inside the runtime: it starts the rate limiters' upkeep).
pub(crate) fn router(state: AppState, config: &Config) -> Router {
    let cfg = &config.server;
    // The unauthenticated routes, limited per client.
    let public = limited(
        Router::new().route("/health", get(ops::health)).merge(claim_route()),
        cfg.limits.public_per_second,
        cfg.limits.public_burst,
        Some(state.0.auth_failures.clone()),
    );
    let v1 = Router::new()
        .route("/watches", get(watches::list).post(watches::create))
        .route("/watches/batch", axum::routing::post(watches::create_batch))
        .route("/watches/{id}", get(watches::get).delete(watches::delete))
        .route("/watches/{id}/payments", get(payments::of_watch))
        .route("/payments/{chain}/{txid}", get(payments::of_tx))
        .route("/invoices", get(invoices::list).post(invoices::create))
        .route("/invoices/{id}", get(invoices::get))
        .route("/invoices/{id}/cancel", axum::routing::post(invoices::cancel))
        .route("/invoices/{id}/payments", get(invoices::payments_of))
        .route("/invoices/{id}/refunds", get(invoices::refunds_of).post(invoices::create_refund))
        .route("/invoices/{id}/refundable", get(invoices::refundable))
        .route("/refunds/{id}", get(invoices::get_refund))
        .route("/refunds/{id}/approve", axum::routing::post(approvals::approve))
        .route("/refunds/{id}/reject", axum::routing::post(approvals::reject))
        .route("/endpoints", get(endpoints::list).post(endpoints::create))
        .route("/endpoints/{id}", get(endpoints::get).patch(endpoints::update).delete(endpoints::delete))
        .route("/endpoints/{id}/deliveries", get(endpoints::deliveries))
        .route("/endpoints/{id}/test", axum::routing::post(endpoints::test))
        .route("/events/{seq}/redeliver", axum::routing::post(endpoints::redeliver))
        .route("/events", get(events::list))
        .route("/rates", get(rates::list))
        .route("/bitpay/pairing-codes", axum::routing::post(compat::bitpay_make_code))
        .route("/bitpay/pairing-codes/{code}/approve", axum::routing::post(compat::bitpay_approve_code))
        .route("/admin/stores", get(admin::list_stores).post(admin::create_store))
        .route("/admin/stores/{id}", get(admin::get_store).patch(admin::update_store))
        .route("/admin/stores/{id}/retire", axum::routing::post(admin::retire_store))
        .route("/admin/stores/{id}/keys", get(admin::list_keys).post(admin::create_key))
        .route("/admin/keys/{id}", axum::routing::delete(admin::revoke_key))
        .route("/admin/backup", axum::routing::post(backup::create))
        .route("/openapi.json", get(ops::openapi));
    // The gateways' routes that take no credential (BitPay's pairing requests and rates): the
    // public routes' budget per client, in a table of their own.
    let compat_public = limits::rate_config(cfg.limits.public_per_second, cfg.limits.public_burst);
    limits::spawn_forgetting(None, compat_public.clone());
    let mut routes = Router::new()
        .nest("/v1", v1)
        .merge(public)
        .merge(compat::router(&compat_public))
        .route("/metrics", get(ops::metrics));
    if config.checkout.listen.is_none() {
        routes = routes.merge(pages(&config.checkout));
    }
    front_door(routes.fallback(|| async { error::ApiError::not_found("route") }), cfg, state)
}

/// Every listener's layers: body limits and deadlines, concurrency (in all and per client),
/// metrics, the client behind trusted proxies, panics caught.
fn front_door(routes: Router<AppState>, cfg: &ServerConfig, state: AppState) -> Router {
    routes
        .layer(DefaultBodyLimit::max(cfg.max_body_bytes))
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(cfg.limits.max_concurrent_requests))
        .layer(middleware::from_fn_with_state(
            Duration::from_secs(cfg.limits.body_read_timeout_secs),
            limits::body_deadline,
        ))
        .layer(middleware::from_fn_with_state(
            connections::PerClient::new(cfg.limits.max_requests_per_client),
            connections::in_flight,
        ))
        .layer(middleware::from_fn_with_state(
            Duration::from_secs(cfg.limits.request_timeout_secs),
            limits::request_deadline,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(middleware::from_fn_with_state(
            Arc::new(proxies::TrustedProxies::new(&cfg.limits.trusted_proxies)),
            proxies::resolve_client,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .with_state(state)
}

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

/// A list route's `limit`: 1 to 1000, default 100.
fn page_limit(limit: Option<usize>) -> Result<usize, error::ApiError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(error::ApiError::invalid("invalid_field", format!("limit {limit} is not in 1..={MAX_PAGE}")));
    }
    Ok(limit)
}

/// An address a request gives, checked for length before any plugin sees it: 422
/// `invalid_address` past [`paywatch_plugin_api::text::MAX_ADDRESS_LEN`] bytes (the plugins
/// check again; a decoder never sees megabytes, nor does a lock wait on one).
fn address_len(field: &str, address: &str) -> Result<(), error::ApiError> {
    paywatch_plugin_api::text::check_address_len(address)
        .map_err(|e| error::ApiError::invalid("invalid_address", format!("{field}: {}", e.message)))
}

/// Runs blocking work (RocksDB, plugin calls) off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, error::ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(error::ApiError::internal)
}

/// Counts and times every request by route and status, and logs it.
async fn observe(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let route =
        req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let method = req.method().clone();
    let started = Instant::now();
    let resp = next.run(req).await;
    let elapsed = started.elapsed();
    st.metrics().observe_http(&method, &route, resp.status().as_u16(), elapsed);
    tracing::debug!(%method, %route, status = resp.status().as_u16(), ms = elapsed.as_secs_f64() * 1e3, "request");
    resp
}

/// Binds `addr` (before anything is served: a taken port stops the start); the listener and
/// the address it got (a port 0 is chosen here).
pub(crate) fn bind(addr: SocketAddr) -> Result<(std::net::TcpListener, SocketAddr), RunError> {
    let listener = std::net::TcpListener::bind(addr).map_err(|source| RunError::Bind { addr, source })?;
    listener.set_nonblocking(true).map_err(|source| RunError::Bind { addr, source })?;
    let bound = listener.local_addr().map_err(|source| RunError::Bind { addr, source })?;
    Ok((listener, bound))
}

/// Serves `app` on `listener` (from [`bind`]) with the server's limits and TLS until
/// `shutdown` resolves, then stops accepting, lets in-flight requests finish (up to a grace
/// period) and returns. `what` names the listener in logs.
pub(crate) async fn serve(
    cfg: &ServerConfig,
    what: &'static str,
    listener: std::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let addr = listener.local_addr().map_err(|source| RunError::Bind { addr: cfg.listen, source })?;
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    let (stop_tx, stopping) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: no new requests; finishing those in flight");
        let _ = stop_tx.send(true);
        h.graceful_shutdown(Some(GRACE));
    });
    let make = app.into_make_service_with_connect_info::<SocketAddr>();
    match &cfg.tls {
        None => {
            tracing::info!(%addr, "{what} listening (http)");
            let admission = connections::Admission::new(&cfg.limits, stopping);
            let mut server = axum_server::from_tcp(listener).acceptor(admission).handle(handle);
            limits::configure_http(server.http_builder(), &cfg.limits);
            server.serve(make).await
        }
        Some(tls) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let rustls_config = axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert, &tls.key)
                .await
                .map_err(|source| RunError::Tls { cert: tls.cert.clone(), key: tls.key.clone(), source })?;
            tracing::info!(%addr, "{what} listening (https)");
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(rustls_config)
                .acceptor(connections::Admission::new(&cfg.limits, stopping));
            let mut server = axum_server::from_tcp(listener).acceptor(acceptor).handle(handle);
            limits::configure_http(server.http_builder(), &cfg.limits);
            server.serve(make).await
        }
    }
    .map_err(RunError::Serve)
}
