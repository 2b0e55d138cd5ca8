//! Creating invoices (a price in a currency, one or more payment methods with a fresh address
//! and a locked rate each, idempotent on order id and idempotency key) and cancelling them.
//!
//! Every method's address is taken when the invoice is made, not when the customer picks one:
//! a customer may pay with two methods (half in BTC, the rest in a token), every method is
//! watched from the first second (a wallet that pays before the page is looked at is still
//! seen), and making the invoice is one write. The cost is addresses: each method takes one
//! from its pool, and an unpaid invoice's addresses go back to their pools when its monitoring
//! window ends, so a wallet's gap limit sees at most the invoices still open per method.

use super::machine::evaluate;
use super::payments::{emit, uncaused};
use super::pool::{Allocated, Held, Pending};
use super::value::{lock_rate, MethodRate, Valuation};
use super::{request_hash, AssetInfo, IdempotencyScope, InvoiceError, Invoices, TIMER_EXPIRY, TIMER_MONITORING_END};
use crate::db::{Exception, GatewayRecord, InvoiceRecord, InvoiceStatus, MethodRecord, WatchRecord, SAME_ASSET};
use crate::events::EventKind;
use paywatch_plugin_api::amount::{Amount, AmountError};
use paywatch_plugin_api::messages::{self as m, currency_method};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

const MAX_ORDER_ID: usize = 128;
const MAX_DESCRIPTION: usize = 1000;
const MAX_METADATA_BYTES: usize = 8 * 1024;
/// Deepest nesting of the JSON a request may keep on an invoice (`metadata`, a gateway's
/// fields). The invoice's record and its events hold that JSON a few levels further down, and
/// serde_json reads at most 128 levels: deeper, the record could be written but never read
/// (every read of the invoice, the store's lists and the dispatcher's outbox would fail on it).
const MAX_JSON_DEPTH: usize = 32;

/// How deeply `v` nests (a scalar is 0, `{}` or `[]` is 1).
fn json_depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(json_depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(json_depth).max().unwrap_or(0),
        _ => 0,
    }
}
const MAX_EXPIRY_SECS: u64 = 30 * 86_400;

const MAX_METHODS: usize = 16;

/// An invoice request as the API received it.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewInvoice {
    /// The price's currency: an ISO 4217 code (`USD`) or an asset id (`BTC`).
    pub(crate) currency: String,
    /// The request named the currency with the older `asset` field (kept for its request hash:
    /// a retry from before `currency` existed is still the same request).
    pub(crate) by_asset: bool,
    /// In the currency's unit, e.g. `"25.00"` or `"0.0015"`.
    pub(crate) amount: String,
    /// Asset ids the customer may pay with; `None`: every asset the store can receive (the
    /// currency's own asset first when it is one).
    pub(crate) payment_methods: Option<Vec<String>>,
    pub(crate) order_id: String,
    pub(crate) description: Option<String>,
    pub(crate) metadata: Option<Value>,
    pub(crate) expires_in: Option<u64>,
    pub(crate) confirmations: Option<u32>,
    /// `high` (0), `medium` (1), `low_medium` (2), `low` (6).
    pub(crate) speed: Option<String>,
    pub(crate) payment_tolerance_percent: Option<f64>,
    pub(crate) refund_email: Option<String>,
    /// Where the checkout page sends the customer back (http or https).
    pub(crate) redirect_url: Option<String>,
    /// Made through a gateway-compatible API: its fields (not part of the request hash: those
    /// APIs make each invoice's order id unique, see `api::compat`).
    pub(crate) gateway: Option<GatewayRecord>,
}

fn invalid(m: impl Into<String>) -> InvoiceError {
    InvoiceError::InvalidField(m.into())
}

/// Confirmations of the industry's speed policies.
fn speed_confirmations(speed: &str) -> Result<u32, InvoiceError> {
    match speed {
        "high" => Ok(0),
        "medium" => Ok(1),
        "low_medium" => Ok(2),
        "low" => Ok(6),
        other => Err(invalid(format!("speed {other:?} is not high, medium, low_medium or low"))),
    }
}

/// Text a shop gives that ends up in payment URIs, wallets, logs, e-mails and the shop's own
/// callbacks: no control characters (line breaks only where `lines`, in a description), no
/// bidirectional controls (they make `1042` display as something else) and no line or
/// paragraph separators.
fn check_text(field: &str, text: &str, lines: bool) -> Result<(), InvoiceError> {
    let bad = |c: char| {
        (c.is_control() && !(lines && (c == '\n' || c == '\t')))
            || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{2028}' | '\u{2029}')
            || ('\u{202A}'..='\u{202E}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    };
    match text.chars().enumerate().find(|(_, c)| bad(*c)) {
        Some((at, c)) => {
            Err(invalid(format!("{field} has a control character, U+{:04X}, at character {at}", c as u32)))
        }
        None => Ok(()),
    }
}

impl NewInvoice {
    /// Checks the fields that need no plugin; the canonical form for the request hash.
    fn check(&self) -> Result<Value, InvoiceError> {
        let order = self.order_id.trim();
        if order.is_empty() || order.len() > MAX_ORDER_ID {
            return Err(invalid(format!("order_id must be 1 to {MAX_ORDER_ID} characters, got {}", order.len())));
        }
        // Before trimming: "1042\r\n" is refused, not taken for "1042" (an order id goes into
        // URIs, logs and shops' requests, where a line break splits what follows).
        check_text("order_id", &self.order_id, false)?;
        if let Some(d) = &self.description {
            if d.chars().count() > MAX_DESCRIPTION {
                return Err(invalid(format!("description is longer than {MAX_DESCRIPTION} characters")));
            }
            check_text("description", d, true)?;
        }
        if let Some(e) = &self.refund_email {
            check_text("refund_email", e, false)?;
        }
        if let Some(md) = &self.metadata {
            if !md.is_object() || md.to_string().len() > MAX_METADATA_BYTES {
                return Err(invalid(format!("metadata must be a JSON object of at most {MAX_METADATA_BYTES} bytes")));
            }
        }
        let kept =
            [("metadata", self.metadata.as_ref()), ("the gateway's fields", self.gateway.as_ref().map(|g| &g.data))];
        for (field, v) in kept {
            if v.is_some_and(|v| json_depth(v) > MAX_JSON_DEPTH) {
                return Err(invalid(format!("{field} nest more than {MAX_JSON_DEPTH} levels deep")));
            }
        }
        if let Some(e) = self.expires_in.filter(|e| !(1..=MAX_EXPIRY_SECS).contains(e)) {
            return Err(invalid(format!("expires_in {e} is not in 1..={MAX_EXPIRY_SECS} seconds")));
        }
        if self.confirmations.is_some() && self.speed.is_some() {
            return Err(invalid("set confirmations or speed, not both"));
        }
        if let Some(c) = self.confirmations.filter(|c| *c > crate::index::MAX_CONFIRMATIONS) {
            return Err(invalid(format!("confirmations {c} is more than {}", crate::index::MAX_CONFIRMATIONS)));
        }
        if let Some(t) = self.payment_tolerance_percent.filter(|t| !(0.0..=50.0).contains(t)) {
            return Err(invalid(format!("payment_tolerance_percent {t} is not in 0..=50")));
        }
        if let Some(e) = self.refund_email.as_ref().filter(|e| !e.contains('@') || e.len() > 254) {
            return Err(invalid(format!("refund_email {e:?} is not an email address")));
        }
        let mut canonical = json!({
            "asset": self.currency, "amount": self.amount.trim(), "order_id": order, "description": self.description,
            "metadata": self.metadata, "expires_in": self.expires_in, "confirmations": self.confirmations,
            "speed": self.speed, "payment_tolerance_percent": self.payment_tolerance_percent,
            "refund_email": self.refund_email,
        });
        if !self.by_asset || self.payment_methods.is_some() {
            canonical["currency"] = json!(self.currency);
            canonical["payment_methods"] = json!(self.payment_methods);
        }
        // Only when given: a request without one keeps the hash it had before the field existed.
        if let Some(url) = &self.redirect_url {
            check_redirect(url)?;
            canonical["redirect_url"] = json!(url);
        }
        Ok(canonical)
    }
}

/// A new invoice's id: a UUID v7, time-ordered (so a store's invoices list in creation order)
/// to the millisecond and then by 12 bits of the time within it (`rand_a`, RFC 9562 method 3),
/// with the 62 bits of `rand_b` random. The id is the capability of the invoice's public page;
/// `Uuid::now_v7` counts within a millisecond instead (ids of the same millisecond then share
/// all but 32 random bits), so it is not used. Ids stay increasing within this process: a draw
/// not above the last (the same 244 ns, or a clock gone back) is drawn again, a few times.
fn capability_id() -> Uuid {
    static LAST: Mutex<u128> = Mutex::new(0);
    let draw = || {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let within_ms = u128::from(now.subsec_nanos() % 1_000_000) * 4096 / 1_000_000;
        Uuid::new_v7(uuid::Timestamp::from_unix_time(now.as_secs(), now.subsec_nanos(), within_ms, 12))
    };
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    let mut id = draw();
    for _ in 0..16 {
        if id.as_u128() > *last {
            break;
        }
        id = draw();
    }
    *last = (*last).max(id.as_u128());
    id
}

/// Longest `redirect_url` accepted.
const MAX_REDIRECT_URL: usize = 2048;

/// A `redirect_url`: an absolute http or https URL with a host (the page navigates there, so
/// never `javascript:` or `data:`), without credentials or control characters.
fn check_redirect(url: &str) -> Result<(), InvoiceError> {
    if url.len() > MAX_REDIRECT_URL {
        return Err(invalid(format!("redirect_url is longer than {MAX_REDIRECT_URL} bytes")));
    }
    check_text("redirect_url", url, false)?;
    if url.chars().any(char::is_whitespace) {
        return Err(invalid(format!("redirect_url {url:?} has white space: percent-encode it (%20)")));
    }
    let parsed = url::Url::parse(url).map_err(|e| invalid(format!("redirect_url {url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(invalid(format!("redirect_url {url:?} must be an http or https URL with a host")));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid("redirect_url must not carry credentials: the customer's browser sees it"));
    }
    Ok(())
}

impl AssetInfo {
    /// A method's first amount due (base units): at most the largest invoice, at least the
    /// smallest payment that counts (else no payment could pay it).
    fn check_due(&self, asset: &str, due: Amount) -> Result<(), InvoiceError> {
        let shown = || due.to_units_string(self.decimals);
        if due > self.limits.max_invoice {
            let max = self.limits.max_invoice.to_units_string(self.decimals);
            return Err(InvoiceError::AboveMaximum { asset: asset.to_string(), amount: shown(), max });
        }
        if due < self.limits.min_payment {
            let min = self.limits.min_payment.to_units_string(self.decimals);
            return Err(InvoiceError::BelowMinPayment { asset: asset.to_string(), amount: shown(), min });
        }
        Ok(())
    }
}

/// What an invoice is priced in and paid with, resolved against the store before rates are
/// asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pricing {
    /// The currency as given (an ISO 4217 code or an asset id).
    pub(crate) currency: String,
    /// Its decimals: the code's minor units or the asset's decimals.
    pub(crate) decimals: u8,
    /// The currency is one of the configured assets.
    pub(crate) is_asset: bool,
    /// The methods' asset ids, in the order the invoice lists them.
    pub(crate) methods: Vec<String>,
}

impl Pricing {
    /// The methods that need a rate: those in another asset than the currency.
    pub(crate) fn to_price(&self) -> impl Iterator<Item = &str> {
        self.methods.iter().map(String::as_str).filter(|m| !self.is_asset || *m != self.currency)
    }
}

/// A rate locked for one method: currency units one unit of the asset is worth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LockedRate {
    /// A plain positive decimal.
    pub(crate) rate: String,
    /// Where it came from (the rate engine's account of it).
    pub(crate) source: String,
    pub(crate) at: OffsetDateTime,
}

/// An invoice's order id and idempotency key while it is being written.
struct Creating<'a> {
    set: &'a Mutex<HashSet<(String, String)>>,
    claims: Vec<(String, String)>,
}

impl Drop for Creating<'_> {
    fn drop(&mut self) {
        let mut set = self.set.lock().unwrap_or_else(|p| p.into_inner());
        for c in &self.claims {
            set.remove(c);
        }
    }
}

/// What a creation's allocations hold, settled with the pools whatever happens: kept when the
/// batch was written, given back when it was not (an error on the way drops it).
struct Settle<'a> {
    pending: &'a Pending,
    held: Option<Held>,
}

impl Settle<'_> {
    fn held(&mut self) -> &mut Held {
        self.held.get_or_insert_with(Held::default)
    }

    /// Writes the batch (see [`Pending::write`]) and settles what it holds.
    fn write(mut self, db: &crate::db::Db, batch: crate::db::Batch<'_>) -> Result<(), crate::db::DbError> {
        let h = self.held.take().unwrap_or_default();
        self.pending.write(db, batch, h)
    }
}

impl Drop for Settle<'_> {
    fn drop(&mut self) {
        if let Some(h) = self.held.take() {
            self.pending.settle(h, false);
        }
    }
}

/// One method as it will be made: its asset, rate, first amount due.
struct PlannedMethod<'a> {
    id: &'a str,
    asset: &'a AssetInfo,
    rate: LockedRate,
    due: Amount,
}

impl Invoices {
    /// The currency and methods of a request for a store, checked: the currency is a configured
    /// asset or an ISO 4217 code, the amount has at most its decimals and is more than zero,
    /// every method is an asset the store can receive, named once.
    pub(crate) fn pricing(&self, store_id: &str, req: &NewInvoice) -> Result<Pricing, InvoiceError> {
        req.check()?;
        let policy = self.policy(store_id)?;
        let currency = req.currency.trim().to_string();
        let (decimals, is_asset) = match self.inner.assets.get(&currency) {
            Some(a) => (a.decimals, true),
            None => match crate::rates::minor_units(&currency) {
                Some(d) => (d, false),
                None if req.by_asset => return Err(InvoiceError::UnknownAsset(currency)),
                None => return Err(invalid(format!(
                        "currency {currency:?} is neither an ISO 4217 currency with minor units (codes such as XAU, XDR or XXX have none) nor an asset of this daemon"
                    ))),
            },
        };
        let amount = Amount::parse_units(&req.amount, decimals).map_err(|e| match e {
            AmountError::TooManyDecimals { .. } if !is_asset => {
                invalid(format!("amount: {e}, the minor units of {currency}"))
            }
            e => invalid(format!("amount: {e}")),
        })?;
        if amount.is_zero() {
            return Err(invalid(format!("amount {:?} must be more than zero", req.amount)));
        }
        let methods = match &req.payment_methods {
            Some(list) => list.iter().map(|m| m.trim().to_string()).collect::<Vec<_>>(),
            None if req.by_asset => vec![currency.clone()],
            None => {
                let mut all: Vec<String> = policy.receive.keys().cloned().collect();
                all.sort();
                all.sort_by_key(|a| *a != currency);
                all
            }
        };
        if methods.is_empty() || methods.len() > MAX_METHODS {
            return Err(invalid(format!("payment_methods must name 1 to {MAX_METHODS} assets, got {}", methods.len())));
        }
        for (i, m) in methods.iter().enumerate() {
            self.asset(m)?;
            if methods[..i].contains(m) {
                return Err(invalid(format!("payment_methods names {m:?} twice")));
            }
            if !policy.receive.contains_key(m) {
                return Err(InvoiceError::NoReceiveConfig { store: store_id.to_string(), asset: m.clone() });
            }
        }
        Ok(Pricing { currency, decimals, is_asset, methods })
    }

    /// The invoice this request already made (same idempotency key, or same order id with the
    /// same terms), or `None`; the key or order id used for other terms is an error.
    pub(crate) fn existing(
        &self,
        store_id: &str,
        req: &NewInvoice,
        idempotency_key: Option<&str>,
    ) -> Result<Option<InvoiceRecord>, InvoiceError> {
        let hash = request_hash(&req.check()?);
        self.existing_by_hash(store_id, req.order_id.trim(), &hash, idempotency_key)
    }

    /// [`Invoices::existing`] for a request already checked, by its hash.
    fn existing_by_hash(
        &self,
        store_id: &str,
        order_id: &str,
        hash: &str,
        idempotency_key: Option<&str>,
    ) -> Result<Option<InvoiceRecord>, InvoiceError> {
        if let Some(key) = idempotency_key {
            if let Some((h, id)) = self.idempotency(store_id, IdempotencyScope::Invoice, key)? {
                let existing = self.db().invoice(id)?.filter(|_| h == hash);
                return existing.map(Some).ok_or_else(|| InvoiceError::IdempotencyConflict(key.to_string()));
            }
        }
        match self.db().invoice_by_order(store_id, order_id)? {
            Some(existing) if existing.request_hash == hash => Ok(Some(existing)),
            Some(existing) => {
                Err(InvoiceError::OrderConflict { order_id: order_id.to_string(), existing: existing.id })
            }
            None => Ok(None),
        }
    }

    /// The methods with their rates (from `rates`, by asset id; 1 for the currency's own asset)
    /// and first amounts due (rounded up), each within its asset's invoice limits.
    fn plan<'a>(
        &'a self,
        pricing: &'a Pricing,
        amount: &str,
        rates: &HashMap<String, LockedRate>,
        now: OffsetDateTime,
    ) -> Result<(Valuation, Vec<PlannedMethod<'a>>), InvoiceError> {
        let mut planned = Vec::with_capacity(pricing.methods.len());
        for id in &pricing.methods {
            let asset = self.asset(id)?;
            let rate = if pricing.is_asset && *id == pricing.currency {
                LockedRate { rate: "1".into(), source: SAME_ASSET.into(), at: now }
            } else {
                let r = rates
                    .get(id)
                    .ok_or_else(|| InvoiceError::NoRate { asset: id.clone(), currency: pricing.currency.clone() })?;
                let locked = lock_rate(&r.rate).ok_or_else(|| {
                    InvoiceError::Plugin(format!("rate {:?} for {id} is not a positive decimal", r.rate))
                })?;
                LockedRate { rate: locked, ..r.clone() }
            };
            planned.push(PlannedMethod { id, asset, rate, due: Amount::ZERO });
        }
        let rates: Vec<MethodRate<'_>> =
            planned.iter().map(|m| MethodRate { decimals: m.asset.decimals, rate: &m.rate.rate }).collect();
        let valuation = Valuation::new(amount.trim(), pricing.decimals, &rates)
            .map_err(|e| invalid(format!("amount: {e}")))?
            .shown(if pricing.is_asset { 0 } else { pricing.decimals });
        for (i, m) in planned.iter_mut().enumerate() {
            m.due = valuation.due_base(i, valuation.price());
            m.asset.check_due(m.id, m.due)?;
        }
        Ok((valuation, planned))
    }

    /// Creates an invoice as `pricing` (what [`Invoices::pricing`] made of this request) says, at
    /// these rates (by method asset id), or returns the one this request already made (`false`).
    pub(crate) fn create(
        &self,
        store_id: &str,
        req: NewInvoice,
        pricing: &Pricing,
        rates: &HashMap<String, LockedRate>,
        idempotency_key: Option<&str>,
    ) -> Result<(InvoiceRecord, bool), InvoiceError> {
        let canonical = req.check()?;
        let hash = request_hash(&canonical);
        let policy = self.policy(store_id)?;
        let required = match (&req.confirmations, &req.speed) {
            (Some(c), _) => *c,
            (None, Some(s)) => speed_confirmations(s)?,
            (None, None) => policy.confirmations,
        };
        let tolerance_bp =
            req.payment_tolerance_percent.map(|t| (t * 100.0).round() as u32).unwrap_or(policy.tolerance_bp);
        let order_id = req.order_id.trim().to_string();

        let (guard, _creating) = self.claim(store_id, &order_id, idempotency_key)?;
        if let Some(existing) = self.existing_by_hash(store_id, &order_id, &hash, idempotency_key)? {
            return Ok((existing, false));
        }
        let now = self.now();
        let (valuation, planned) = self.plan(pricing, &req.amount, rates, now)?;
        let db = self.db().clone();
        let mut batch = db.batch();
        let mut held = Settle { pending: &self.inner.pending, held: Some(Held::default()) };
        let id = capability_id();
        let mut methods = Vec::with_capacity(planned.len());
        let mut watches: Vec<WatchRecord> = Vec::new();
        for m in &planned {
            let Allocated { index, address, key, source } =
                self.allocate(&mut batch, store_id, m.id, m.asset, &policy, held.held())?;
            let due = m.due.to_string();
            let payment_uri = self.payment_uri(m.asset, &address, &due, &order_id, req.description.as_deref())?;
            // Two methods on one chain may be given one address (one xpub for the coin and a
            // token): they share its watch, and each counts only its own asset.
            let watch_id = match watches.iter().find(|w| w.chain == m.asset.chain && w.key == key) {
                Some(w) => w.id,
                None => {
                    let mut watch = WatchRecord::new(store_id, &m.asset.chain, address.clone(), key, required);
                    watch.label = Some(format!("invoice {id} (order {order_id})"));
                    watch.invoice = Some(id);
                    watches.push(watch);
                    watches.last().expect("just pushed").id
                }
            };
            methods.push(MethodRecord {
                asset: m.id.to_string(),
                chain: m.asset.chain.clone(),
                decimals: m.asset.decimals,
                address,
                address_index: Some(index),
                address_source: Some(source),
                watch_id,
                min_payment: m.asset.limits.min_payment.to_string(),
                rate: m.rate.rate.clone(),
                rate_source: m.rate.source.clone(),
                rate_at: m.rate.at,
                amount_due: due,
                amount_paid: "0".into(),
                payment_uri,
            });
        }
        let expires_at = now + Duration::seconds(req.expires_in.unwrap_or(policy.expiry_secs) as i64);
        let first = methods[0].clone();
        let mut inv = InvoiceRecord {
            id,
            store: store_id.to_string(),
            order_id,
            asset: first.asset,
            chain: first.chain,
            description: req.description,
            metadata: req.metadata,
            refund_email: req.refund_email,
            decimals: first.decimals,
            amount_due: first.amount_due,
            amount_paid: "0".into(),
            amount_confirmed: "0".into(),
            min_payment: first.min_payment,
            tolerance_bp,
            required_confirmations: required,
            address: first.address,
            address_index: first.address_index,
            address_source: first.address_source,
            watch_id: first.watch_id,
            payment_uri: first.payment_uri,
            status: InvoiceStatus::New,
            exception: Exception::None,
            cancelled: false,
            released: false,
            sequence: 0,
            request_hash: hash.clone(),
            created_at: now,
            expires_at,
            monitoring_until: expires_at + Duration::seconds(policy.monitoring_secs as i64),
            updated_at: now,
            currency: pricing.currency.clone(),
            currency_decimals: pricing.decimals,
            price: valuation.to_decimal(valuation.price()),
            value_paid: valuation.to_decimal(Default::default()),
            value_confirmed: valuation.to_decimal(Default::default()),
            value_due: valuation.to_decimal(valuation.price()),
            methods,
            redirect_url: req.redirect_url,
            gateway: req.gateway,
        };
        let staged = self.inner.watches.stage_all(&mut batch, &watches, true)?;
        // Timers fire strictly after the instant they guard.
        batch.put_timer(inv.expires_at.unix_timestamp() + 1, id, TIMER_EXPIRY);
        batch.put_timer(inv.monitoring_until.unix_timestamp() + 1, id, TIMER_MONITORING_END);
        if let Some(key) = idempotency_key {
            batch.put_idempotency(store_id, &IdempotencyScope::Invoice.key(key), &hash, id);
        }
        emit(&mut batch, &mut inv, &[], &[uncaused(EventKind::InvoiceCreated)], &self.checkout_base())?;
        batch.put_invoice(&inv)?;
        // Written without the lock, so the next creation's derivations and plugin calls overlap
        // this one's sync (batches with events are still synced one at a time, in the order of
        // their events' sequence numbers: `Db::write`). Until then its
        // addresses, watches, order id and key are held (`pending`, the staged watches,
        // `creating`), and nothing else reads the invoice (no payment can reach an address the
        // followers do not watch yet).
        drop(guard);
        held.write(&db, batch)?;
        staged.commit();
        Ok((inv, true))
    }

    /// The invoice lock, once no other creation of this order id or idempotency key is being
    /// written (it is waited for, then `existing` finds it), with both claimed until the
    /// returned [`Creating`] drops.
    fn claim(
        &self,
        store: &str,
        order_id: &str,
        key: Option<&str>,
    ) -> Result<(MutexGuard<'_, ()>, Creating<'_>), InvoiceError> {
        let mut claims = vec![(store.to_string(), format!("order:{order_id}"))];
        claims.extend(key.map(|k| (store.to_string(), format!("key:{k}"))));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let guard = self.lock();
            let mut creating = self.inner.creating.lock().unwrap_or_else(|p| p.into_inner());
            if !claims.iter().any(|c| creating.contains(c)) {
                creating.extend(claims.iter().cloned());
                drop(creating);
                return Ok((guard, Creating { set: &self.inner.creating, claims }));
            }
            drop((creating, guard));
            if std::time::Instant::now() > deadline {
                return Err(InvoiceError::StillCreating { order_id: order_id.to_string() });
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// An address through the asset's plugin: normalized form and canonical key.
    pub(super) fn parse(&self, asset: &AssetInfo, address: &str) -> Result<(String, Vec<u8>), InvoiceError> {
        use crate::plugins::CallError;
        let req = m::ParseAddressRequest { address: address.trim().to_string() };
        match asset.plugin.call::<_, m::ParsedAddress>(currency_method::PARSE_ADDRESS, &req) {
            Ok(p) => Ok((p.address, p.key.0)),
            Err(CallError::Plugin { error, .. }) => Err(InvoiceError::InvalidAddress(error.message)),
            Err(e) => Err(InvoiceError::Plugin(e.to_string())),
        }
    }

    pub(super) fn payment_uri(
        &self,
        asset: &AssetInfo,
        address: &str,
        amount_base: &str,
        label: &str,
        message: Option<&str>,
    ) -> Result<String, InvoiceError> {
        let req = m::PaymentUriRequest {
            address: address.to_string(),
            amount_base: amount_base.to_string(),
            label: Some(label.to_string()),
            message: message.map(str::to_string),
        };
        let reply: m::PaymentUriReply =
            asset.plugin.call(currency_method::PAYMENT_URI, &req).map_err(|e| InvoiceError::Plugin(e.to_string()))?;
        Ok(reply.uri)
    }

    /// Cancels an invoice nothing was paid to (dust aside: anyone can send dust to an address,
    /// and it is never the invoice's): it becomes `invalid`.
    pub(crate) fn cancel(&self, store_id: &str, id: Uuid) -> Result<InvoiceRecord, InvoiceError> {
        let _guard = self.lock();
        let mut inv = self.get(store_id, id)?.ok_or_else(|| InvoiceError::NotFound(format!("invoice {id}")))?;
        let payments = self.invoice_payments(&inv)?;
        let mut terms = super::state::terms(&inv)?;
        let mut paid = 0;
        for p in &payments {
            let counted = super::state::paid(&inv, p)?.filter(|x| !terms.is_dust(x.method, x.amount));
            paid += usize::from(counted.is_some());
        }
        if inv.status != InvoiceStatus::New || paid > 0 {
            let why = match paid {
                0 => format!("it is {}", inv.status.as_str()),
                n => format!("{n} payment(s) were made to it"),
            };
            return Err(InvoiceError::NotCancellable { id, why });
        }
        inv.cancelled = true;
        terms.cancelled = true;
        let state = evaluate(&terms, &[], self.now()).expect("no payments add up to no overflow");
        let db = self.db().clone();
        let mut batch = db.batch();
        inv.status = state.status;
        inv.updated_at = self.now();
        emit(&mut batch, &mut inv, &payments, &[uncaused(EventKind::InvoiceInvalid)], &self.checkout_base())?;
        batch.put_invoice(&inv)?;
        db.write(batch)?;
        Ok(inv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Review of issue 18: JSON nested deeper than an invoice record can be read back is
    /// refused before anything is written (a BitPay `buyer`, a paywatch `metadata`).
    #[test]
    fn json_kept_on_an_invoice_is_refused_past_the_depth_its_record_can_be_read_at() {
        let nested = |n: usize| -> Value {
            serde_json::from_str(&format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n))).unwrap()
        };
        assert_eq!(json_depth(&nested(3)), 3);
        assert_eq!(json_depth(&json!([[], {"a": [1]}])), 3);
        let req = |metadata: Option<Value>, gateway: Option<Value>| NewInvoice {
            currency: "BTC".into(),
            amount: "1".into(),
            order_id: "1".into(),
            metadata,
            gateway: gateway.map(|data| crate::db::GatewayRecord { kind: "bitpay".into(), data }),
            ..NewInvoice::default()
        };
        assert!(req(Some(nested(MAX_JSON_DEPTH)), Some(nested(MAX_JSON_DEPTH))).check().is_ok());
        for (md, gw) in [(Some(nested(100)), None), (None, Some(json!({"buyer": nested(100)})))] {
            let e = req(md.clone(), gw.clone()).check().unwrap_err().to_string();
            assert!(e.contains("levels deep"), "{md:?} {gw:?}: {e}");
        }
    }

    #[test]
    fn invoice_ids_increase_and_keep_their_random_bits_within_a_millisecond() {
        let ids: Vec<Uuid> = (0..2000).map(|_| capability_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "time-ordered, strictly");
        assert!(ids.iter().all(|id| id.get_version_num() == 7));
        // Ids of one millisecond differ in many random bits, never by a counter's step: the
        // low 62 bits (rand_b) of neighbours differ in about half their bits, not in a few.
        let same_ms: Vec<_> = ids.windows(2).filter(|w| w[0].as_u128() >> 80 == w[1].as_u128() >> 80).collect();
        assert!(!same_ms.is_empty(), "2000 ids made within one millisecond at least twice");
        for w in same_ms {
            let differ = ((w[0].as_u128() ^ w[1].as_u128()) & ((1 << 62) - 1)).count_ones();
            assert!(differ > 8, "{} and {} differ in {differ} random bits", w[0], w[1]);
        }
    }
}
