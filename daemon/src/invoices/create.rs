//! Creating invoices (a fresh address each, idempotent on order id and idempotency key) and
//! cancelling them.

use super::machine::evaluate;
use super::payments::{emit, uncaused};
use super::{request_hash, AssetInfo, IdempotencyScope, InvoiceError, Invoices, TIMER_EXPIRY, TIMER_MONITORING_END};
use crate::db::{Exception, InvoiceRecord, InvoiceStatus, WatchRecord};
use crate::events::EventKind;
use paywatch_plugin_api::amount::Amount;
use paywatch_plugin_api::messages::{self as m, currency_method};
use serde_json::{json, Value};
use time::Duration;
use uuid::Uuid;

const MAX_ORDER_ID: usize = 128;
const MAX_DESCRIPTION: usize = 1000;
const MAX_METADATA_BYTES: usize = 8 * 1024;
const MAX_EXPIRY_SECS: u64 = 30 * 86_400;

/// An invoice request as the API received it.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewInvoice {
    pub(crate) asset: String,
    /// In the asset's unit, e.g. `"0.0015"`.
    pub(crate) amount: String,
    pub(crate) order_id: String,
    pub(crate) description: Option<String>,
    pub(crate) metadata: Option<Value>,
    pub(crate) expires_in: Option<u64>,
    pub(crate) confirmations: Option<u32>,
    /// `high` (0), `medium` (1), `low_medium` (2), `low` (6).
    pub(crate) speed: Option<String>,
    pub(crate) payment_tolerance_percent: Option<f64>,
    pub(crate) refund_email: Option<String>,
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
        Ok(json!({
            "asset": self.asset, "amount": self.amount.trim(), "order_id": order, "description": self.description,
            "metadata": self.metadata, "expires_in": self.expires_in, "confirmations": self.confirmations,
            "speed": self.speed, "payment_tolerance_percent": self.payment_tolerance_percent,
            "refund_email": self.refund_email,
        }))
    }
}

impl AssetInfo {
    /// An invoice's amount in this asset's unit, in base units: more than zero, at most the
    /// largest invoice, at least the smallest payment that counts (else no payment could pay
    /// it).
    fn check_amount(&self, asset: &str, amount: &str) -> Result<Amount, InvoiceError> {
        let due = Amount::parse_units(amount, self.decimals).map_err(|e| invalid(format!("amount: {e}")))?;
        let shown = || amount.trim().to_string();
        if due.is_zero() {
            return Err(invalid(format!("amount {amount:?} must be more than zero")));
        }
        if due > self.limits.max_invoice {
            let max = self.limits.max_invoice.to_units_string(self.decimals);
            return Err(InvoiceError::AboveMaximum { asset: asset.to_string(), amount: shown(), max });
        }
        if due < self.limits.min_payment {
            let min = self.limits.min_payment.to_units_string(self.decimals);
            return Err(InvoiceError::BelowMinPayment { asset: asset.to_string(), amount: shown(), min });
        }
        Ok(due)
    }
}

impl Invoices {
    /// Creates an invoice, or returns the one this request already made (`false`).
    pub(crate) fn create(
        &self,
        store_id: &str,
        req: NewInvoice,
        idempotency_key: Option<&str>,
    ) -> Result<(InvoiceRecord, bool), InvoiceError> {
        let canonical = req.check()?;
        let hash = request_hash(&canonical);
        let policy = self.policy(store_id)?.clone();
        let asset = self.asset(&req.asset)?.clone();
        let due = asset.check_amount(&req.asset, &req.amount)?;
        let required = match (&req.confirmations, &req.speed) {
            (Some(c), _) => *c,
            (None, Some(s)) => speed_confirmations(s)?,
            (None, None) => policy.confirmations,
        };
        let tolerance_bp =
            req.payment_tolerance_percent.map(|t| (t * 100.0).round() as u32).unwrap_or(policy.tolerance_bp);
        let order_id = req.order_id.trim().to_string();

        let _guard = self.lock();
        if let Some(key) = idempotency_key {
            if let Some((h, id)) = self.idempotency(store_id, IdempotencyScope::Invoice, key)? {
                let existing = self.db().invoice(id)?.filter(|_| h == hash);
                return existing.map(|i| (i, false)).ok_or_else(|| InvoiceError::IdempotencyConflict(key.to_string()));
            }
        }
        if let Some(existing) = self.db().invoice_by_order(store_id, &order_id)? {
            if existing.request_hash == hash {
                return Ok((existing, false));
            }
            return Err(InvoiceError::OrderConflict { order_id, existing: existing.id });
        }
        let now = self.now();
        let db = self.db().clone();
        let mut batch = db.batch();
        let super::pool::Allocated { index, address, key, source } =
            self.allocate(&mut batch, store_id, &req.asset, &asset, &policy)?;
        let due = due.to_string();
        let uri = self.payment_uri(&asset, &address, &due, &order_id, req.description.as_deref())?;
        let expires_at = now + Duration::seconds(req.expires_in.unwrap_or(policy.expiry_secs) as i64);
        let id = Uuid::now_v7();
        let mut watch = WatchRecord::new(store_id, &asset.chain, address.clone(), key.clone(), required);
        watch.label = Some(format!("invoice {id} (order {order_id})"));
        watch.invoice = Some(id);
        let mut inv = InvoiceRecord {
            id,
            store: store_id.to_string(),
            order_id,
            asset: req.asset.clone(),
            chain: asset.chain.clone(),
            description: req.description,
            metadata: req.metadata,
            refund_email: req.refund_email,
            decimals: asset.decimals,
            amount_due: due,
            amount_paid: "0".into(),
            amount_confirmed: "0".into(),
            min_payment: asset.limits.min_payment.to_string(),
            tolerance_bp,
            required_confirmations: required,
            address,
            address_index: Some(index),
            address_source: Some(source),
            watch_id: watch.id,
            payment_uri: uri,
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
        };
        let staged = self.inner.watches.stage(&mut batch, &watch, true)?;
        // Timers fire strictly after the instant they guard.
        batch.put_timer(inv.expires_at.unix_timestamp() + 1, id, TIMER_EXPIRY);
        batch.put_timer(inv.monitoring_until.unix_timestamp() + 1, id, TIMER_MONITORING_END);
        if let Some(key) = idempotency_key {
            batch.put_idempotency(store_id, &IdempotencyScope::Invoice.key(key), &hash, id);
        }
        emit(&mut batch, &mut inv, &[], &[uncaused(EventKind::InvoiceCreated)])?;
        batch.put_invoice(&inv)?;
        db.write(batch)?;
        staged.commit();
        Ok((inv, true))
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
        let payments = self.asset_payments(inv.watch_id, &inv.asset)?;
        let mut terms = super::state::terms(&inv)?;
        let mut paid = 0;
        for p in &payments {
            paid += usize::from(!terms.is_dust(p.base_amount()?));
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
        emit(&mut batch, &mut inv, &payments, &[uncaused(EventKind::InvoiceInvalid)])?;
        batch.put_invoice(&inv)?;
        db.write(batch)?;
        Ok(inv)
    }
}
