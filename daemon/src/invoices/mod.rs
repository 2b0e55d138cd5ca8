//! Invoices and refunds: payment requests with fresh addresses, a status that never lies
//! (`machine`), expiry timers that survive restarts, and refunds the merchant pays from their
//! own wallet. Only this module and `index` decide state; both write through `db`.
//!
//! Every change of an invoice (creation, a payment, a tick of the clock, a cancellation) is
//! made under one lock and written as one batch with its outbox events, so events of an
//! invoice are in order and carry a per-invoice `sequence`. Payment-driven changes go into the
//! indexer's batch (`PaymentHook::contribute`), which the indexer writes; watches for invoice
//! addresses and refund destinations are made through `index::Watches::stage`.

mod approval;
mod claims;
mod create;
mod machine;
mod payments;
mod pool;
mod refundable;
mod refunds;
mod state;
mod value;

pub(crate) use approval::Decision;
pub(crate) use create::{LockedRate, NewInvoice, Pricing};
pub(crate) use payments::PaymentCursor;
pub(crate) use refunds::{NewRefund, Refundability};

use crate::config::{Config, ReceiveConfig};
use crate::db::{Db, DbError, InvoiceRecord, RefundRecord};
use crate::index::{WatchError, Watches};
use crate::plugins::PluginInstance;
use paywatch_plugin_api::amount::Amount;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use time::OffsetDateTime;
use uuid::Uuid;

pub(crate) use crate::clock::{Clock, SystemClock};

#[derive(Debug, thiserror::Error)]
pub(crate) enum InvoiceError {
    #[error("unknown asset {0:?}")]
    UnknownAsset(String),
    #[error("store {store:?} has no receive config for asset {asset:?} (stores.receive.{asset})")]
    NoReceiveConfig { store: String, asset: String },
    #[error("{0}")]
    InvalidField(String),
    #[error("amount {amount} {asset} is more than the largest invoice of {asset}, {max} (assets.max_invoice_amount)")]
    AboveMaximum { asset: String, amount: String, max: String },
    #[error("amount {amount} {asset} is less than the smallest payment of {asset} that counts, {min} (assets.min_payment): no payment could pay it")]
    BelowMinPayment { asset: String, amount: String, min: String },
    #[error("invalid address: {0}")]
    InvalidAddress(String),
    #[error("order {order_id:?} already has invoice {existing} with other terms")]
    OrderConflict { order_id: String, existing: Uuid },
    #[error("idempotency key {0:?} was used for a different request")]
    IdempotencyConflict(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("invoice {id} cannot be cancelled: {why}")]
    NotCancellable { id: Uuid, why: String },
    #[error("invoice {id} still takes payment (status new, until {expires_at}): a refund now would be counted as paid when the customer pays the rest, and the invoice would settle short; cancel it first (POST /v1/invoices/{id}/cancel) or refund once it expires or is paid")]
    StillOpen { id: Uuid, expires_at: OffsetDateTime },
    #[error("invoice {invoice} has {max} refunds, its store's max_refunds_per_invoice: no more refunds of it; raise stores.max_refunds_per_invoice in the config")]
    RefundQuota { invoice: Uuid, max: u32 },
    #[error("refund of {asked} is more than the {available} still refundable{aside}")]
    RefundTooLarge { asked: String, available: String, aside: String },
    #[error("no free address for {asset} in store {store:?}: {why}")]
    NoFreeAddress { store: String, asset: String, why: String },
    #[error("claim token expired at {0}")]
    ClaimExpired(OffsetDateTime),
    #[error("claim token locked after {0} claims with a refused address")]
    ClaimLocked(u32),
    #[error("plugin: {0}")]
    Plugin(String),
    #[error("order {order_id:?} is still being created by another request after 30 s; retry")]
    StillCreating { order_id: String },
    #[error("refund {id} is {}, not awaiting approval", wire_name(status))]
    NotAwaitingApproval { id: Uuid, status: crate::db::RefundStatus },
    #[error("refund {id} was made with key {key}: a second key with the refunds:approve scope must approve it")]
    SecondKeyRequired { id: Uuid, key: String },
    #[error("no rate of {asset} in {currency} was given")]
    NoRate { asset: String, currency: String },
    #[error("database: {0}")]
    Db(#[from] DbError),
    #[error(transparent)]
    Watch(#[from] WatchError),
}

/// A status as the API writes it (`awaiting_payment`), for messages.
fn wire_name(status: &impl serde::Serialize) -> String {
    serde_json::to_value(status).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// An asset invoices can be made in.
#[derive(Debug, Clone)]
pub(crate) struct AssetInfo {
    pub(crate) chain: String,
    pub(crate) decimals: u8,
    pub(crate) limits: AssetLimits,
    pub(crate) plugin: Arc<PluginInstance>,
}

/// What an invoice of an asset may be, in base units (the asset's `max_invoice_amount` and
/// `min_payment`, or their defaults: `startup::asset_limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AssetLimits {
    /// The largest amount due.
    pub(crate) max_invoice: Amount,
    /// Payments below this are dust: recorded, never an invoice's.
    pub(crate) min_payment: Amount,
}

/// A store's invoice policy, from its config.
#[derive(Debug, Clone)]
pub(crate) struct StorePolicy {
    pub(crate) confirmations: u32,
    pub(crate) expiry_secs: u64,
    pub(crate) tolerance_bp: u32,
    pub(crate) monitoring_secs: u64,
    pub(crate) refund_claim_secs: u64,
    pub(crate) receive: HashMap<String, ReceiveConfig>,
    /// Refunds one invoice may have.
    pub(crate) max_refunds_per_invoice: u32,
    /// Per invoice currency, the refund value above which a second key approves the refund.
    pub(crate) refund_approval_above: std::collections::BTreeMap<String, rust_decimal::Decimal>,
}

impl StorePolicy {
    fn of(s: &crate::config::StoreConfig) -> Self {
        StorePolicy {
            confirmations: s.speed,
            expiry_secs: s.invoice_expiry_secs,
            tolerance_bp: s.payment_tolerance_percent * 100,
            monitoring_secs: s.monitoring_secs,
            refund_claim_secs: s.refund_claim_secs,
            receive: s.receive.clone().into_iter().collect(),
            max_refunds_per_invoice: s.max_refunds_per_invoice,
            refund_approval_above: s.refund_approval_above.clone(),
        }
    }
}

/// The invoice service. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Invoices {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Arc<Db>,
    watches: Watches,
    assets: HashMap<String, AssetInfo>,
    stores: crate::stores::PerStore<StorePolicy>,
    clock: Arc<dyn Clock>,
    /// Serializes every change of invoice and refund state. A new invoice is written after it
    /// is let go (so the next creation's work overlaps its sync): what it took meanwhile is
    /// held in `pending` (addresses) and `creating` (its order id and idempotency key).
    lock: Mutex<()>,
    pending: pool::Pending,
    /// `(store, "order:ID")` and `(store, "key:KEY")` of invoices being written.
    creating: Mutex<HashSet<(String, String)>>,
    /// The base of checkout pages' URLs (`checkout.public_url`, or the listener's address once
    /// bound): what `checkout_url` is made of.
    checkout: std::sync::RwLock<Arc<str>>,
}

/// Timer kinds (`store` keeps them as one byte).
const TIMER_EXPIRY: u8 = b'e';
const TIMER_MONITORING_END: u8 = b'm';

impl Invoices {
    pub(crate) fn new(
        config: &Config,
        db: Arc<Db>,
        watches: Watches,
        assets: HashMap<String, AssetInfo>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let stores = config.stores.iter().map(|s| (s.id.clone(), StorePolicy::of(s))).collect();
        Self {
            inner: Arc::new(Inner {
                db,
                watches,
                assets,
                stores,
                clock,
                lock: Mutex::new(()),
                pending: pool::Pending::default(),
                creating: Mutex::default(),
                checkout: std::sync::RwLock::new(crate::checkout::public_base(config, None).into()),
            }),
        }
    }

    /// Sets the base of checkout URLs to the pages' bound listener (`addr`) unless
    /// `checkout.public_url` names it.
    pub(crate) fn set_checkout_listener(&self, config: &Config, addr: std::net::SocketAddr) {
        let base = crate::checkout::public_base(config, Some(addr));
        *self.inner.checkout.write().unwrap_or_else(|p| p.into_inner()) = base.into();
    }

    /// The base of the checkout pages' URLs (invoices' `/i/…`, refunds' claim pages `/r/…`).
    pub(crate) fn checkout_base(&self) -> Arc<str> {
        self.inner.checkout.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        self.inner.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn db(&self) -> &Arc<Db> {
        &self.inner.db
    }

    fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }

    fn asset(&self, id: &str) -> Result<&AssetInfo, InvoiceError> {
        self.inner.assets.get(id).ok_or_else(|| InvoiceError::UnknownAsset(id.to_string()))
    }

    fn policy(&self, store: &str) -> Result<Arc<StorePolicy>, InvoiceError> {
        self.inner.stores.get(store).ok_or_else(|| InvoiceError::NotFound(format!("store {store:?}")))
    }

    /// Whether a currency is one of the configured assets (an invoice priced in crypto).
    pub(crate) fn is_asset(&self, currency: &str) -> bool {
        self.inner.assets.contains_key(currency)
    }

    /// A store's invoice; another store's is `None`.
    pub(crate) fn get(&self, store: &str, id: Uuid) -> Result<Option<InvoiceRecord>, InvoiceError> {
        Ok(self.db().invoice(id)?.filter(|i| i.store == store))
    }

    /// The invoice with this id, whatever its store: for its public checkout page, where the
    /// unguessable id is the capability.
    pub(crate) fn get_public(&self, id: Uuid) -> Result<Option<InvoiceRecord>, InvoiceError> {
        Ok(self.db().invoice(id)?)
    }

    /// A page of a store's invoices in creation order, optionally by order id and status, and
    /// where the next page starts.
    pub(crate) fn list(
        &self,
        store: &str,
        order_id: Option<&str>,
        status: Option<crate::db::InvoiceStatus>,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<(Vec<InvoiceRecord>, Option<Uuid>), InvoiceError> {
        let wanted = |i: &InvoiceRecord| status.is_none_or(|s| i.status == s);
        if let Some(o) = order_id {
            let found = self.db().invoice_by_order(store, o)?;
            return Ok((found.into_iter().filter(wanted).collect(), None));
        }
        Ok(self.db().store_invoices(store, after, limit, wanted)?)
    }

    /// A store's refund; another store's is `None`.
    pub(crate) fn refund(&self, store: &str, id: Uuid) -> Result<Option<RefundRecord>, InvoiceError> {
        Ok(self.db().refund(id)?.filter(|r| r.store == store))
    }

    pub(crate) fn refunds_of(&self, store: &str, invoice: Uuid) -> Result<Vec<RefundRecord>, InvoiceError> {
        if self.get(store, invoice)?.is_none() {
            return Err(InvoiceError::NotFound(format!("invoice {invoice}")));
        }
        Ok(self.db().invoice_refunds(invoice)?)
    }
}

/// Runs the invoice timers every second until `stop` (and once at start: what expired while
/// the daemon was down expires now).
pub(crate) async fn run_timers(invoices: Invoices, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        let inv = invoices.clone();
        match tokio::task::spawn_blocking(move || inv.tick()).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::debug!(timers = n, "invoice timers ran"),
            Ok(Err(e)) => tracing::error!(error = %e, "invoice timers failed; retrying"),
            Err(e) => tracing::error!(error = %e, "invoice timer task panicked; retrying"),
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    }
}

/// What an `Idempotency-Key` is scoped to: the same key may name one invoice and one refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdempotencyScope {
    Invoice,
    Refund,
}

impl IdempotencyScope {
    /// The stored key: `invoice:KEY` or `refund:KEY`.
    fn key(self, key: &str) -> String {
        match self {
            Self::Invoice => format!("invoice:{key}"),
            Self::Refund => format!("refund:{key}"),
        }
    }
}

impl Invoices {
    /// A key's request hash and resource in its scope. Invoice keys stored before scoping are
    /// the bare key, read too; a stored key counts only when it names a resource of its scope
    /// (an old invoice's bare key `refund:X` is not refund key `X`'s).
    fn idempotency(
        &self,
        store: &str,
        scope: IdempotencyScope,
        key: &str,
    ) -> Result<Option<(String, Uuid)>, InvoiceError> {
        let db = self.db();
        let mut found = db.idempotency(store, &scope.key(key))?;
        if found.is_none() && scope == IdempotencyScope::Invoice {
            found = db.idempotency(store, key)?;
        }
        let Some((hash, id)) = found else { return Ok(None) };
        let ours = match scope {
            IdempotencyScope::Invoice => db.invoice(id)?.is_some(),
            IdempotencyScope::Refund => db.refund(id)?.is_some(),
        };
        Ok(ours.then_some((hash, id)))
    }
}

/// SHA-256 hex of a request's canonical JSON: what tells a retry from a different request.
fn request_hash(v: &serde_json::Value) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(v.to_string().as_bytes()))
}

impl crate::stores::StoreSettings for Invoices {
    fn put_store(&self, store: &crate::config::StoreConfig) {
        self.inner.stores.put(&store.id, StorePolicy::of(store));
    }
}
