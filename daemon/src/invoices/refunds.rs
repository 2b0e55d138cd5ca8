//! Refunds: the merchant pays them from their own wallet (paywatch holds no key). A refund
//! with an address is watched at once; without one, a one-time claim token lets the customer
//! give it. What can be refunded and what completes a refund are the rules of `refundable`.

use super::refundable::{price, received, Ask, Funds, Priced, Refusal, Variant};
use super::state::valuation;
use super::value::{parse_decimal, Valuation, Value};
use super::{request_hash, AssetInfo, IdempotencyScope, InvoiceError, Invoices, LockedRate};
use crate::db::{
    Batch, DbError, InvoiceRecord, InvoiceStatus, PaymentRecord, RefundRecord, RefundStatus, RefundTotals, WatchRecord,
    SAME_ASSET,
};
use crate::events::{self, EventKind};
use crate::index::StagedWatch;
use paywatch_plugin_api::amount::Amount;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const MAX_REASON: usize = 1000;

/// A refund request as the API received it.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewRefund {
    /// `rate_then`, `current_rate`, `fiat`, `overpaid` or `custom`; `None`: `custom` when an
    /// amount is given (the request before variants existed).
    pub(crate) variant: Option<String>,
    /// In the invoice's currency (e.g. `"30.00"`), or in the asset's unit for `custom`.
    pub(crate) amount: Option<String>,
    /// The payment method's asset to refund in; `None`: the method whose refundable payments
    /// are worth the most.
    pub(crate) asset: Option<String>,
    /// The merchant's share kept, 0 to 100 with at most 2 decimals (`"2.5"`).
    pub(crate) subtract_percent: Option<String>,
    pub(crate) address: Option<String>,
    /// `original` or `current`, recorded as stated (default: `current` for the variants at
    /// today's rate, else `original`).
    pub(crate) rate_policy: Option<String>,
    pub(crate) reason: Option<String>,
    /// The asset today's rate was fetched for ([`Invoices::refund_needs_rate`]): the method when
    /// `asset` is not given, so that the rate given is the chosen method's even if another
    /// became the richest meanwhile. Set by the API, not part of the request (nor its hash).
    pub(crate) priced_asset: Option<String>,
    /// The id of the key that asks (`stores`): a refund above the store's
    /// `refund_approval_above` needs another key's approval. Set by the API, not part of the
    /// request (nor its hash).
    pub(crate) requested_by: Option<String>,
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
    valuation: Valuation,
    /// Per payment method (the invoice's order): its payments first seen by the invoice's
    /// expiry with its confirmations, base units.
    pub(crate) received: Vec<Amount>,
    received_value: Value,
    /// Every refund of the invoice so far, whatever its status: how many, and their values
    /// (in the invoice's value units).
    pub(crate) refunds: RefundTotals,
    /// Payments first seen after expiry: not refundable through the invoice.
    pub(crate) late: Vec<PaymentRecord>,
    /// Payments by expiry still short of the confirmations: refundable once confirmed.
    pub(crate) unconfirmed: Vec<PaymentRecord>,
}

impl Refundability {
    fn funds(&self) -> Funds<'_> {
        Funds { valuation: &self.valuation, received: &self.received, refunded: self.refunded_value() }
    }

    /// What the refundable payments are worth at the locked rates.
    pub(crate) fn received_value(&self) -> Value {
        self.received_value
    }

    pub(crate) fn refunded_value(&self) -> Value {
        Value::from_units(self.refunds.amount)
    }

    /// `received − refunded` in value (nothing when a reorg took back more than was refunded).
    pub(crate) fn available_value(&self) -> Value {
        self.received_value.saturating_sub(self.refunded_value())
    }

    /// A value as an exact decimal in the invoice's currency.
    pub(crate) fn decimal(&self, v: Value) -> String {
        self.valuation.to_decimal(v)
    }

    /// A value in the first method's asset at its locked rate, rounded down (base units): the
    /// top-level amounts, as the invoice's `amount_paid`. For an invoice priced in its asset,
    /// the value itself.
    pub(crate) fn in_first_method(&self, v: Value) -> Amount {
        self.valuation.floor_base(0, v)
    }

    /// Priced in its own asset only (one rate-1 method): amounts are said as before currencies
    /// existed, in the asset's unit without its name.
    fn own_asset(&self) -> bool {
        self.invoice.methods.iter().all(|m| m.asset == self.invoice.currency)
    }

    /// A value said for an error: in the currency.
    fn say(&self, v: Value) -> String {
        match self.own_asset() {
            true => self.in_first_method(v).to_units_string(self.invoice.currency_decimals),
            false => format!("{} {}", self.decimal(v), self.invoice.currency),
        }
    }

    /// What the payments listed apart add up to, per asset, said in its unit for an error.
    fn aside(&self) -> Result<String, DbError> {
        let sum = |ps: &[PaymentRecord]| -> Result<String, DbError> {
            let mut parts = Vec::new();
            for m in &self.invoice.methods {
                let mine = ps.iter().filter(|p| p.asset == m.asset && p.watch_id == m.watch_id);
                let amounts = mine.map(PaymentRecord::base_amount).collect::<Result<Vec<_>, _>>()?;
                if amounts.is_empty() {
                    continue;
                }
                // Only said: a sum past 2^256 − 1 base units is said as that.
                let total = Amount::checked_sum(amounts).unwrap_or(Amount::MAX).to_units_string(m.decimals);
                parts.push(if self.own_asset() { total } else { format!("{total} {}", m.asset) });
            }
            Ok(parts.join(" + "))
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

    /// A refusal of pricing as the API's error.
    fn refused(&self, r: Refusal, method: usize) -> Result<InvoiceError, DbError> {
        Ok(match r {
            Refusal::Invalid(why) => InvoiceError::InvalidField(why),
            Refusal::NoRate => InvoiceError::NoRate {
                asset: self.invoice.methods[method].asset.clone(),
                currency: self.invoice.currency.clone(),
            },
            Refusal::TooLarge(e) => InvoiceError::RefundTooLarge {
                asked: e.asked.map(|v| self.say(v)).unwrap_or_else(|| "everything refundable".into()),
                available: self.say(e.available),
                aside: self.aside()?,
            },
        })
    }

    /// The method a refund goes to: the asset named, else the one today's rate was fetched
    /// for, else the richest.
    fn method(&self, req: &NewRefund) -> Result<usize, InvoiceError> {
        let methods = &self.invoice.methods;
        let Some(asset) = req.asset.as_deref().or(req.priced_asset.as_deref()).map(str::trim) else {
            // A crypto amount is in one asset: with several, which one is never guessed.
            if methods.len() > 1 && req.variant.as_deref().is_none_or(|v| v.trim() == "custom") {
                let names: Vec<&str> = methods.iter().map(|m| m.asset.as_str()).collect();
                return Err(InvoiceError::InvalidField(format!(
                    "asset is required for a custom refund (an amount in crypto) of invoice {}, which has several payment methods ({}): name the asset of the amount",
                    self.invoice.id,
                    names.join(", ")
                )));
            }
            return Ok(self.funds().richest());
        };
        methods.iter().position(|m| m.asset == asset).ok_or_else(|| {
            let names: Vec<&str> = methods.iter().map(|m| m.asset.as_str()).collect();
            InvoiceError::InvalidField(format!(
                "asset {asset:?} is not a payment method of invoice {} ({})",
                self.invoice.id,
                names.join(", ")
            ))
        })
    }
}

/// A refund as planned from the invoice's state: its method and its amounts.
#[derive(Debug)]
struct Plan {
    refundability: Refundability,
    method: usize,
    priced: Priced,
}

/// `variant`, or `custom` when only an amount is given.
fn variant(req: &NewRefund) -> Result<Variant, InvoiceError> {
    match (req.variant.as_deref().map(str::trim), &req.amount) {
        (Some(v), _) => Variant::parse(v).ok_or_else(|| {
            let all: Vec<&str> = Variant::ALL.iter().map(|v| v.as_str()).collect();
            InvoiceError::InvalidField(format!("variant {v:?} is not one of {}", all.join(", ")))
        }),
        (None, Some(_)) => Ok(Variant::Custom),
        (None, None) => Err(InvoiceError::InvalidField(
            "variant is required (rate_then, current_rate, fiat, overpaid), or amount for a custom refund".into(),
        )),
    }
}

/// `subtract_percent` in basis points: 0 to 100 with at most 2 decimals.
pub(crate) fn subtract_bp(percent: Option<&str>) -> Result<u32, InvoiceError> {
    let Some(text) = percent.map(str::trim) else { return Ok(0) };
    let bad = || {
        InvoiceError::InvalidField(format!(
            "subtract_percent {text:?} is not a percent from 0 to 100 with at most 2 decimals"
        ))
    };
    let (n, decimals) = parse_decimal(text).map_err(|_| bad())?;
    if decimals > 2 {
        return Err(bad());
    }
    let bp = n.checked_mul(ruint::aliases::U512::from(10u32.pow(2 - decimals))).ok_or_else(bad)?;
    let bp = u32::try_from(bp).map_err(|_| bad())?;
    match bp <= 10_000 {
        true => Ok(bp),
        false => Err(bad()),
    }
}

impl Invoices {
    /// Which rate the API must fetch for a refund: (asset, currency) for the variants at
    /// today's rate (`current_rate`, `fiat`) when the asset is not the currency; `None`
    /// otherwise, and when the idempotency key already made a refund (a retry is answered from
    /// it, or refused as another request's, without asking any rate). The API passes what it
    /// got as `today` to [`Invoices::create_refund`], with the asset as the request's
    /// `priced_asset`.
    pub(crate) fn refund_needs_rate(
        &self,
        store_id: &str,
        invoice_id: Uuid,
        req: &NewRefund,
        idempotency_key: Option<&str>,
    ) -> Result<Option<(String, String)>, InvoiceError> {
        if !variant(req)?.needs_today() {
            return Ok(None);
        }
        if let Some(key) = idempotency_key {
            let _guard = self.lock();
            if self.idempotency(store_id, IdempotencyScope::Refund, key)?.is_some() {
                return Ok(None);
            }
        }
        let r = self.refundable(store_id, invoice_id)?;
        let m = &r.invoice.methods[r.method(req)?];
        Ok((m.asset != r.invoice.currency).then(|| (m.asset.clone(), r.invoice.currency.clone())))
    }

    /// Makes a refund priced by its variant (`refundable::price`): its crypto amount in the
    /// chosen method's asset, its value counted against what the invoice can refund. `today`
    /// is today's rate of that asset in the invoice's currency, needed by `current_rate` and
    /// `fiat` unless the asset is the currency.
    pub(crate) fn create_refund(
        &self,
        store_id: &str,
        invoice_id: Uuid,
        req: NewRefund,
        today: Option<LockedRate>,
        idempotency_key: Option<&str>,
    ) -> Result<RefundCreated, InvoiceError> {
        let policy = self.policy(store_id)?;
        let variant = variant(&req)?;
        let default_policy = if variant.needs_today() { "current" } else { "original" };
        let rate_policy = req.rate_policy.clone().unwrap_or_else(|| default_policy.into());
        if !matches!(rate_policy.as_str(), "original" | "current") {
            return Err(InvoiceError::InvalidField(format!(
                "rate_policy {rate_policy:?} is not original (the crypto amount paid) or current (the amount you state, at today's rate)"
            )));
        }
        if req.reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON) {
            return Err(InvoiceError::InvalidField(format!("reason is longer than {MAX_REASON} characters")));
        }
        let bp = subtract_bp(req.subtract_percent.as_deref())?;
        // As before variants existed for the fields there were then (a retry of such a request
        // is the same request), the new ones only when given.
        let mut canonical = json!({
            "invoice": invoice_id, "amount": req.amount.as_deref().map(str::trim), "address": req.address,
            "rate_policy": rate_policy, "reason": req.reason,
        });
        for (k, v) in [("variant", &req.variant), ("asset", &req.asset), ("subtract_percent", &req.subtract_percent)] {
            if let Some(v) = v {
                canonical[k] = json!(v.trim());
            }
        }
        let hash = request_hash(&canonical);
        let now = self.now();
        let id = Uuid::now_v7();
        // A retry returns what it made, whatever the invoice became since.
        if let Some(done) = self.replayed(store_id, idempotency_key, &hash, true)? {
            return Ok(done);
        }
        // The plugin calls (the destination's address and URI, for the amount) outside the
        // lock; the plan is made again under it, and made anew if the invoice changed between.
        for _ in 0..3 {
            let outside = match &req.address {
                Some(a) => {
                    let plan = self.plan_refund(store_id, invoice_id, &req, variant, bp, today.as_ref(), now)?;
                    let m = &plan.refundability.invoice.methods[plan.method];
                    let asset = self.asset(&m.asset)?.clone();
                    let d = self.destination(&asset, id, &plan.priced.amount.to_string(), req.reason.as_deref(), a)?;
                    Some((plan, d))
                }
                None => None,
            };
            let _guard = self.lock();
            if let Some(done) = self.replayed(store_id, idempotency_key, &hash, false)? {
                return Ok(done);
            }
            let plan = self.plan_refund(store_id, invoice_id, &req, variant, bp, today.as_ref(), now)?;
            let destination = match outside {
                Some((before, d)) if before.method == plan.method && before.priced == plan.priced => Some(d),
                Some(_) => continue,
                None => None,
            };
            let Plan { refundability, method, priced } = plan;
            if refundability.refunds.count >= policy.max_refunds_per_invoice {
                return Err(InvoiceError::RefundQuota { invoice: invoice_id, max: policy.max_refunds_per_invoice });
            }
            let inv = &refundability.invoice;
            let m = &inv.methods[method];
            let mut r = RefundRecord {
                id,
                invoice_id,
                store: store_id.to_string(),
                asset: m.asset.clone(),
                chain: m.chain.clone(),
                decimals: m.decimals,
                amount: priced.amount.to_string(),
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
                variant: variant.as_str().into(),
                currency: inv.currency.clone(),
                value: refundability.decimal(priced.value),
                rate: priced.rate.rate.clone(),
                rate_source: priced.rate.source.clone(),
                rate_at: Some(priced.rate.at),
                subtract_percent: req.subtract_percent.as_deref().map(|p| p.trim().to_string()),
                approval: None,
            };
            // A value past 2^256 − 1 units cannot be below what was received: never reached.
            let units = priced.value.to_units().unwrap_or(Amount::MAX);
            let earlier = self.db().invoice_refunds(invoice_id)?;
            let alone = super::approval::refunded_alone(&earlier);
            let threshold = super::approval::threshold_passed(&policy, &r.currency, &r.value, alone);
            if let Some(t) = threshold {
                let key = req.requested_by.as_deref().unwrap_or(crate::stores::CONFIG_KEY_ID);
                r.approval = Some(super::approval::pending(t, key, units));
            }
            let db = self.db().clone();
            let mut batch = db.batch();
            let mut claim_token = None;
            let staged = match destination {
                // Not watched, and no payment URI, until approved: nothing to pay yet.
                Some(d) if threshold.is_some() => {
                    r.address = Some(d.address);
                    None
                }
                Some(d) => Some(self.set_destination(&mut batch, &mut r, d)?),
                // The claim link is the approver's to give: whoever made the refund never holds
                // it, so a leaked key cannot claim an approved refund for itself.
                None if threshold.is_some() => None,
                None => {
                    claim_token =
                        Some(issue_claim(&mut batch, &mut r, now + Duration::seconds(policy.refund_claim_secs as i64)));
                    None
                }
            };
            if threshold.is_some() {
                r.status = RefundStatus::AwaitingApproval;
            }
            if let Some(key) = idempotency_key {
                batch.put_idempotency(store_id, &IdempotencyScope::Refund.key(key), &hash, r.id);
            }
            batch.add_refund(&r, units, refundability.refunds)?;
            batch.push_event(events::refund(EventKind::RefundCreated, &r));
            db.write(batch)?;
            if let Some(staged) = staged {
                staged.commit();
            }
            return Ok(RefundCreated { refund: r, claim_token, created: true });
        }
        Err(InvoiceError::InvalidField(
            "the invoice's payments or refunds changed while the refund was being made; send it again".into(),
        ))
    }

    /// The refund an idempotency key already made (`lock`: take the invoice lock to read it).
    fn replayed(
        &self,
        store_id: &str,
        key: Option<&str>,
        hash: &str,
        lock: bool,
    ) -> Result<Option<RefundCreated>, InvoiceError> {
        let Some(key) = key else { return Ok(None) };
        let _guard = lock.then(|| self.lock());
        let Some((h, id)) = self.idempotency(store_id, IdempotencyScope::Refund, key)? else { return Ok(None) };
        let existing = self.db().refund(id)?.filter(|_| h == hash);
        existing
            .map(|refund| Some(RefundCreated { refund, claim_token: None, created: false }))
            .ok_or_else(|| InvoiceError::IdempotencyConflict(key.to_string()))
    }

    /// A refund priced from the invoice as it is now: no plugin call, no write.
    #[allow(clippy::too_many_arguments)]
    fn plan_refund(
        &self,
        store_id: &str,
        invoice_id: Uuid,
        req: &NewRefund,
        variant: Variant,
        subtract_bp: u32,
        today: Option<&LockedRate>,
        now: OffsetDateTime,
    ) -> Result<Plan, InvoiceError> {
        let inv =
            self.get(store_id, invoice_id)?.ok_or_else(|| InvoiceError::NotFound(format!("invoice {invoice_id}")))?;
        // A payment refunded while the invoice still takes payment keeps counting toward it:
        // the customer would then pay only the rest, and the invoice settle short.
        if inv.status == InvoiceStatus::New {
            return Err(InvoiceError::StillOpen { id: inv.id, expires_at: inv.expires_at });
        }
        let r = self.refundability(inv)?;
        let method = r.method(req)?;
        let m = &r.invoice.methods[method];
        // An asset in its own currency is worth 1 today as on any day.
        let same = LockedRate { rate: "1".into(), source: SAME_ASSET.into(), at: now };
        let today = match m.asset == r.invoice.currency {
            true => Some(&same),
            false => today,
        };
        let ask = Ask { variant, method, amount: req.amount.as_deref().map(str::trim), subtract_bp };
        match price(&r.invoice, &r.funds(), &ask, today) {
            Ok(priced) => Ok(Plan { refundability: r, method, priced }),
            Err(refusal) => Err(r.refused(refusal, method)?),
        }
    }

    /// What a store's invoice can still refund, and the payments that do not count toward it.
    pub(crate) fn refundable(&self, store_id: &str, invoice_id: Uuid) -> Result<Refundability, InvoiceError> {
        let _guard = self.lock();
        let inv =
            self.get(store_id, invoice_id)?.ok_or_else(|| InvoiceError::NotFound(format!("invoice {invoice_id}")))?;
        self.refundability(inv)
    }

    /// What an invoice can refund, from its payments (read and sorted again, per method) and
    /// its refunds' running totals (one read, however many there are).
    fn refundability(&self, invoice: InvoiceRecord) -> Result<Refundability, InvoiceError> {
        let valuation = valuation(&invoice)?;
        let (mut got, mut late, mut unconfirmed) = (Vec::new(), Vec::new(), Vec::new());
        for (i, m) in invoice.methods.iter().enumerate() {
            let payments = self.asset_payments(m.watch_id, &m.asset)?;
            let r = received(&invoice, i, &payments)?;
            got.push(r.amount);
            late.extend(r.late.into_iter().cloned());
            unconfirmed.extend(r.unconfirmed.into_iter().cloned());
        }
        let refunds = self.db().refund_totals(invoice.id)?;
        let funds = Funds { valuation: &valuation, received: &got, refunded: Value::ZERO };
        let received_value = funds
            .received_value()
            .ok_or_else(|| invoice.corrupt("its refundable payments are worth more than 2^512 units"))?;
        Ok(Refundability { invoice, valuation, received: got, received_value, refunds, late, unconfirmed })
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

/// A one-time claim token for refund `r`, valid until `expires_at`: its SHA-256 on the refund
/// and in the claims index (in `batch`); the token itself only in the answer, shown once.
pub(super) fn issue_claim(batch: &mut Batch<'_>, r: &mut RefundRecord, expires_at: OffsetDateTime) -> String {
    let token = hex::encode(rand::random::<[u8; 32]>());
    let h = super::claims::token_hash(&token);
    r.claim_token_sha256 = Some(hex::encode(h));
    r.claim_expires_at = Some(expires_at);
    batch.put_claim(&h, r.id);
    token
}

fn refund_label(refund: Uuid) -> String {
    format!("refund {refund}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(variant: Option<&str>, amount: Option<&str>) -> NewRefund {
        NewRefund { variant: variant.map(Into::into), amount: amount.map(Into::into), ..NewRefund::default() }
    }

    #[test]
    fn a_request_without_a_variant_is_custom_as_before() {
        assert_eq!(variant(&req(None, Some("0.001"))).unwrap(), Variant::Custom);
        assert_eq!(variant(&req(Some(" fiat "), Some("30"))).unwrap(), Variant::Fiat);
        assert_eq!(variant(&req(Some("overpaid"), None)).unwrap(), Variant::Overpaid);
        assert!(matches!(variant(&req(None, None)), Err(InvoiceError::InvalidField(_))));
        assert!(matches!(variant(&req(Some("spot"), None)), Err(InvoiceError::InvalidField(_))));
    }

    #[test]
    fn subtract_percent_is_0_to_100_with_at_most_2_decimals() {
        let bp = |p: &str| subtract_bp(Some(p)).ok();
        assert_eq!(subtract_bp(None).ok(), Some(0));
        assert_eq!(
            (bp("2.5"), bp("0"), bp("100"), bp("100.00"), bp("0.01")),
            (Some(250), Some(0), Some(10_000), Some(10_000), Some(1))
        );
        for bad in ["100.01", "101", "-1", "0.001", "2,5", "1e1", "", "abc"] {
            assert_eq!(bp(bad), None, "{bad:?}");
        }
    }
}
