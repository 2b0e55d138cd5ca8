//! Callbacks to shops: the outbox read in order per endpoint, each event rendered by the
//! endpoint's platform plugin, sent, classified by the plugin, every attempt recorded, retried
//! on a schedule of about three days (not when the plugin says `undeliverable`, or rendered a
//! request that cannot be sent). Endpoint params are validated by their plugin when created or
//! changed. Only this module talks to shops.
//!
//! Durability: an endpoint's cursor (the last outbox seq it took in) and its deliveries are in
//! RocksDB; a delivery is pending until a verdict ends it, so a daemon killed mid-delivery sends
//! it again after restart with the same `webhook-id` (the event id): at least once.
//! Ordering: one endpoint's deliveries of one subject (an invoice, a payment) go one at a time
//! in seq order; other subjects and other endpoints do not wait for them.

mod clients;
mod endpoints;
mod policy;
mod secrets;
mod send;
mod ssrf;
mod worker;

pub(crate) use clients::guarded_client;
pub(crate) use endpoints::{bitpay_token_key, check_params, validate_with, EndpointChange, NewEndpoint};
pub(crate) use send::verdict_name;
pub(crate) use ssrf::Guard;

/// A delivery as the API shows it.
#[derive(Debug, serde::Serialize)]
pub(crate) struct DeliveryView {
    seq: u64,
    event_id: Uuid,
    event_type: String,
    status: crate::db::DeliveryStatus,
    attempts: Vec<crate::db::Attempt>,
    #[serde(with = "time::serde::rfc3339::option")]
    next_attempt_at: Option<time::OffsetDateTime>,
}

impl From<crate::db::DeliveryRecord> for DeliveryView {
    fn from(d: crate::db::DeliveryRecord) -> Self {
        DeliveryView {
            seq: d.seq,
            event_id: d.event_id,
            event_type: d.event_type.to_string(),
            status: d.status,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
        }
    }
}

use crate::config::Config;
use crate::db::{Db, DbError};
use crate::metrics::{EndpointMetrics, Metrics};
use crate::plugins::PluginInstance;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub(crate) enum DispatchError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("endpoint {0} is declared in the config file: change it there")]
    FromConfig(Uuid),
    /// The store has as many endpoints as its `max_endpoints` allows.
    #[error("store {store:?} has {max} endpoints, its max_endpoints: delete one first, or raise max_endpoints in the config")]
    Quota { store: String, max: u32 },
    #[error("database: {0}")]
    Db(#[from] DbError),
}

/// The dispatcher. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Dispatcher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Arc<Db>,
    platforms: HashMap<String, Arc<PluginInstance>>,
    secrets: secrets::SecretParams,
    /// Each store's SSRF guard and HTTP client.
    routes: clients::Routes,
    schedule: Vec<u64>,
    workers: Mutex<HashMap<Uuid, tokio::task::JoinHandle<()>>>,
    /// Each store's `max_endpoints`.
    max_endpoints: crate::stores::PerStore<u32>,
    /// `dispatch.allow_private`, for the routes of stores made at run time.
    allow_private: Vec<ipnet::IpNet>,
    /// Held from counting a store's endpoints to writing a new one, so that concurrent
    /// creations cannot all pass the quota (creation is rare: one lock for every store).
    creating: Mutex<()>,
    /// Each endpoint's backlog, attempts and latency (`/metrics`).
    metrics: Arc<Metrics>,
}

impl Dispatcher {
    pub(crate) fn new(
        config: &Config,
        db: Arc<Db>,
        platforms: HashMap<String, Arc<PluginInstance>>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, DbError> {
        let me = Self {
            inner: Arc::new(Inner {
                db,
                secrets: secrets::SecretParams::read(&platforms),
                platforms,
                routes: clients::Routes::new(config),
                schedule: config.dispatch.retry_schedule_secs.clone(),
                workers: Mutex::new(HashMap::new()),
                max_endpoints: config.stores.iter().map(|s| (s.id.clone(), s.max_endpoints)).collect(),
                allow_private: config.dispatch.allow_private.clone(),
                creating: Mutex::new(()),
                metrics,
            }),
        };
        me.sync_config_endpoints(config)?;
        Ok(me)
    }

    fn db(&self) -> &Arc<Db> {
        &self.inner.db
    }

    /// The metrics of endpoint `id` of `store`.
    fn metrics_of(&self, store: &str, id: Uuid) -> EndpointMetrics {
        self.inner.metrics.endpoint(store, &id.to_string())
    }

    /// Keeps a worker per enabled endpoint (started, or stopped when an endpoint is disabled or
    /// deleted) until `stop`.
    pub(crate) async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.reconcile_workers(&stop) {
                tracing::error!(error = %e, "cannot read endpoints; retrying");
            }
            tokio::select! {
                _ = stop.changed() => break,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
        let handles: Vec<_> = self.inner.workers.lock().unwrap_or_else(|p| p.into_inner()).drain().collect();
        for (_, h) in handles {
            let _ = h.await;
        }
    }

    fn reconcile_workers(&self, stop: &watch::Receiver<bool>) -> Result<(), DbError> {
        let live: HashMap<Uuid, (bool, String)> =
            self.db().endpoints()?.into_iter().map(|e| (e.id, (e.enabled, e.store))).collect();
        let mut workers = self.inner.workers.lock().unwrap_or_else(|p| p.into_inner());
        workers.retain(|id, h| !h.is_finished() && live.get(id).is_some_and(|(enabled, _)| *enabled));
        for (id, (enabled, store)) in live {
            if enabled && !workers.contains_key(&id) {
                workers.insert(id, tokio::spawn(worker::run(self.clone(), id, store, stop.clone())));
            }
        }
        Ok(())
    }
}

impl crate::stores::StoreSettings for Dispatcher {
    fn put_store(&self, store: &crate::config::StoreConfig) {
        self.inner.max_endpoints.put(&store.id, store.max_endpoints);
        self.inner.routes.put(&self.inner.allow_private, store);
    }

    /// Disables the store's endpoints (their workers stop within the reconcile period); their
    /// deliveries and cursors stay.
    fn retire_store(&self, store: &str) {
        if let Err(e) = self.disable_store(store, "the store is retired") {
            tracing::error!(store, error = %e, "cannot disable the retired store's endpoints");
        }
    }
}
