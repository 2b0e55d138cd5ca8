//! Refunds: the merchant pays them from their own wallet (paywatch holds no key). A refund
//! with an address is watched at once; without one, a one-time claim token lets the customer
//! give it. What can be refunded and what completes a refund are the rules of `refundable`.

use super::refundable::received;
use super::{request_hash, AssetInfo, IdempotencyScope, InvoiceError, Invoices};
use crate::db::{Batch, DbError, InvoiceRecord, PaymentRecord, RefundRecord, RefundStatus, RefundTotals, WatchRecord};
use crate::events::{self, EventKind};
use crate::index::StagedWatch;
use paywatch_plugin_api::amount::Amount;
use serde_json::json;
use time::Duration;
use uuid::Uuid;

const MAX_REASON: usize = 1000;

/// A refund request as the API received it.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewRefund {
    /// In the invoice's asset, e.g. `"0.001"`.
    pub(crate) amount: String,
    pub(crate) address: Option<String>,
    /// `original` (default) or `current`.
    pub(crate) rate_policy: Option<String>,
    pub(crate) reason: Option<String>,
}

/// A created refund, with its claim token when the customer is to give the address (shown
/// once: only its hash is stored).
#[derive(Debug, Clone)]
pub(crate) struct RefundCreated {
    pub(crate) refund: RefundRecord,
    pub(crate) claim_token: Option<String>,
    pub(crate) created: bool,
}

/// What an invoice can still refund, and the payments that do not count toward it.
#[derive(Debug, Clone)]
pub(crate) struct Refundability {
    pub(crate) invoice: InvoiceRecord,
    /// Payments of the invoice's asset first seen by its expiry with its confirmations.
    pub(crate) received: Amount,
    /// Every refund of the invoice so far, whatever its status: how many, and their sum.
    pub(crate) refunds: RefundTotals,
    /// Payments first seen after expiry: not refundable through the invoice.
    pub(crate) late: Vec<PaymentRecord>,
    /// Payments by expiry still short of the confirmations: refundable once confirmed.
    pub(crate) unconfirmed: Vec<PaymentRecord>,
}

impl Refundability {
    /// `received − refunded` (nothing when a reorg took back more than was refunded).
    pub(crate) fn available(&self) -> Amount {
        self.received.saturating_sub(self.refunds.amount)
    }

    /// What the payments listed apart add up to, said in the asset's unit for an error.
    fn aside(&self) -> Result<String, DbError> {
        let sum = |ps: &[PaymentRecord]| -> Result<String, DbError> {
            let amounts = ps.iter().map(PaymentRecord::base_amount).collect::<Result<Vec<_>, _>>()?;
            // Only said: a sum past 2^256 − 1 base units is said as that.
            Ok(Amount::checked_sum(amounts).unwrap_or(Amount::MAX).to_units_string(self.invoice.decimals))
        };
        let mut parts = Vec::new();
        if !self.late.is_empty() {
            parts.push(format!("{} paid after expiry", sum(&self.late)?));
        }
        if !self.unconfirmed.is_empty() {
            parts.push(format!("{} without its confirmations yet", sum(&self.unconfirmed)?));
        }
        Ok(match parts.is_empty() {
            true => String::new(),
            false => format!(" (not refundable: {})", parts.join(", ")),
        })
    }
}

impl Invoices {
    pub(crate) fn create_refund(
        &self,
        store_id: &str,
        invoice_id: Uuid,
        req: NewRefund,
        idempotency_key: Option<&str>,
    ) -> Result<RefundCreated, InvoiceError> {
        let policy = self.policy(store_id)?.clone();
        let rate_policy = req.rate_policy.clone().unwrap_or_else(|| "original".into());
        if !matches!(rate_policy.as_str(), "original" | "current") {
            return Err(InvoiceError::InvalidField(format!(
                "rate_policy {rate_policy:?} is not original (the crypto amount paid) or current (the amount you state, at today's rate)"
            )));
        }
        if req.reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON) {
            return Err(InvoiceError::InvalidField(format!("reason is longer than {MAX_REASON} characters")));
        }
        let hash = request_hash(&json!({
            "invoice": invoice_id, "amount": req.amount.trim(), "address": req.address,
            "rate_policy": rate_policy, "reason": req.reason,
        }));
        let not_found = || InvoiceError::NotFound(format!("invoice {invoice_id}"));
        // The plugin calls first, outside the lock (an invoice's asset never changes).
        let id = Uuid::now_v7();
        let destination = match &req.address {
            Some(a) => {
                let inv = self.get(store_id, invoice_id)?.ok_or_else(not_found)?;
                let asset = self.asset(&inv.asset)?.clone();
                let base = Self::refund_amount(&asset, &req.amount)?.to_string();
                Some(self.destination(&asset, id, &base, req.reason.as_deref(), a)?)
            }
            None => None,
        };
        let _guard = self.lock();
        let inv = self.get(store_id, invoice_id)?.ok_or_else(not_found)?;
        if let Some(key) = idempotency_key {
            if let Some((h, id)) = self.idempotency(store_id, IdempotencyScope::Refund, key)? {
                let existing = self.db().refund(id)?.filter(|_| h == hash);
                return existing
                    .map(|refund| RefundCreated { refund, claim_token: None, created: false })
                    .ok_or_else(|| InvoiceError::IdempotencyConflict(key.to_string()));
            }
        }
        let asset = self.asset(&inv.asset)?.clone();
        let asked = Self::refund_amount(&asset, &req.amount)?;
        let refundability = self.refundability(inv)?;
        if refundability.refunds.count >= policy.max_refunds_per_invoice {
            return Err(InvoiceError::RefundQuota { invoice: invoice_id, max: policy.max_refunds_per_invoice });
        }
        let available = refundability.available();
        if asked > available {
            return Err(InvoiceError::RefundTooLarge {
                asked: req.amount.trim().to_string(),
                available: available.to_units_string(asset.decimals),
                aside: refundability.aside()?,
            });
        }
        let inv = refundability.invoice;
        let now = self.now();
        let mut r = RefundRecord {
            id,
            invoice_id,
            store: store_id.to_string(),
            asset: inv.asset.clone(),
            chain: inv.chain.clone(),
            decimals: asset.decimals,
            amount: asked.to_string(),
            rate_policy,
            reason: req.reason,
            address: None,
            payment_uri: None,
            watch_id: None,
            status: RefundStatus::AwaitingAddress,
            txid: None,
            claim_token_sha256: None,
            claim_expires_at: None,
            claim_failures: 0,
            required_confirmations: inv.required_confirmations.max(1),
            request_hash: hash.clone(),
            created_at: now,
            updated_at: now,
        };
        let db = self.db().clone();
        let mut batch = db.batch();
        let mut claim_token = None;
        let staged = match destination {
            Some(d) => Some(self.set_destination(&mut batch, &mut r, d)?),
            None => {
                let token = hex::encode(rand::random::<[u8; 32]>());
                let h = super::claims::token_hash(&token);
                r.claim_token_sha256 = Some(hex::encode(h));
                r.claim_expires_at = Some(now + Duration::seconds(policy.refund_claim_secs as i64));
                batch.put_claim(&h, r.id);
                claim_token = Some(token);
                None
            }
        };
        if let Some(key) = idempotency_key {
            batch.put_idempotency(store_id, &IdempotencyScope::Refund.key(key), &hash, r.id);
        }
        batch.add_refund(&r, refundability.refunds)?;
        batch.push_event(events::refund(EventKind::RefundCreated, &r));
        db.write(batch)?;
        if let Some(staged) = staged {
            staged.commit();
        }
        Ok(RefundCreated { refund: r, claim_token, created: true })
    }

    /// What a store's invoice can still refund, and the payments that do not count toward it.
    pub(crate) fn refundable(&self, store_id: &str, invoice_id: Uuid) -> Result<Refundability, InvoiceError> {
        let _guard = self.lock();
        let inv =
            self.get(store_id, invoice_id)?.ok_or_else(|| InvoiceError::NotFound(format!("invoice {invoice_id}")))?;
        self.refundability(inv)
    }

    /// [`Invoices::refundable`] under the lock. The refunds are their running totals (one
    /// read, however many there are); the payments are read and sorted again.
    fn refundability(&self, invoice: InvoiceRecord) -> Result<Refundability, InvoiceError> {
        let payments = self.asset_payments(invoice.watch_id, &invoice.asset)?;
        let got = received(&invoice, &payments)?;
        let refunds = self.db().refund_totals(invoice.id)?;
        let (late, unconfirmed) =
            (got.late.into_iter().cloned().collect(), got.unconfirmed.into_iter().cloned().collect());
        Ok(Refundability { received: got.amount, refunds, late, unconfirmed, invoice })
    }

    /// A refund's amount in base units: more than zero.
    fn refund_amount(asset: &AssetInfo, amount: &str) -> Result<Amount, InvoiceError> {
        let asked = Amount::parse_units(amount, asset.decimals)
            .map_err(|e| InvoiceError::InvalidField(format!("amount: {e}")))?;
        if asked.is_zero() {
            return Err(InvoiceError::InvalidField(format!("amount {amount:?} must be more than zero")));
        }
        Ok(asked)
    }

    /// A refund's destination, validated and given a payment URI by the plugin. Called
    /// outside the invoice lock: plugin calls never hold it.
    pub(super) fn destination(
        &self,
        asset: &AssetInfo,
        refund: Uuid,
        amount_base: &str,
        reason: Option<&str>,
        address: &str,
    ) -> Result<Destination, InvoiceError> {
        let (address, key) = self.parse(asset, address)?;
        let uri = self.payment_uri(asset, &address, amount_base, &refund_label(refund), reason)?;
        Ok(Destination { address, key, uri })
    }

    /// Watches the destination (in `batch`) and gives it to the refund. Under the lock; no
    /// plugin call.
    pub(super) fn set_destination(
        &self,
        batch: &mut Batch<'_>,
        r: &mut RefundRecord,
        d: Destination,
    ) -> Result<StagedWatch<'_>, InvoiceError> {
        let mut w = WatchRecord::new(&r.store, &r.chain, d.address.clone(), d.key, r.required_confirmations);
        w.label = Some(refund_label(r.id));
        w.refund = Some(r.id);
        let staged = self.inner.watches.stage(batch, &w, false)?;
        r.address = Some(d.address);
        r.payment_uri = Some(d.uri);
        r.watch_id = Some(w.id);
        r.status = RefundStatus::AwaitingPayment;
        r.updated_at = self.now();
        Ok(staged)
    }
}

/// A refund destination the plugin accepted: normalized address, canonical key, payment URI.
#[derive(Debug)]
pub(super) struct Destination {
    address: String,
    key: Vec<u8>,
    uri: String,
}

impl Destination {
    pub(super) fn address(&self) -> &str {
        &self.address
    }

    pub(super) fn key(&self) -> &[u8] {
        &self.key
    }
}

fn refund_label(refund: Uuid) -> String {
    format!("refund {refund}")
}
