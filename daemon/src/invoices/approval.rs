//! Large refunds need two people: a refund whose value is above its store's
//! `refund_approval_above` for the invoice's currency is made `awaiting_approval` (its
//! destination is not watched and its claim link does not work yet) until a second key with
//! `refunds:approve`, not the one that made it, approves it; or it is rejected, and its value
//! no longer counts against what the invoice can refund.

use super::{InvoiceError, Invoices, StorePolicy};
use crate::db::{ApprovalRecord, RefundRecord, RefundStatus};
use crate::events::{self, EventKind};
use paywatch_plugin_api::amount::Amount;
use rust_decimal::Decimal;
use std::str::FromStr;
use time::Duration;
use uuid::Uuid;

/// The threshold a refund of `value` (an exact decimal in `currency`) is above, if any. The
/// values of the invoice's earlier refunds that no second key approved (`alone`, see
/// [`refunded_alone`]) count with it, so that a large refund made as several small ones still
/// waits for approval. A value too long to compare is taken as above.
pub(super) fn threshold_passed<'a>(
    policy: &StorePolicy,
    currency: &str,
    value: &'a str,
    alone: impl IntoIterator<Item = &'a str>,
) -> Option<Decimal> {
    let threshold = *policy.refund_approval_above.get(currency)?;
    let total = std::iter::once(value)
        .chain(alone)
        .try_fold(Decimal::ZERO, |sum, v| sum.checked_add(Decimal::from_str(v.trim()).ok()?));
    match total {
        Some(v) if v <= threshold => None,
        _ => Some(threshold),
    }
}

/// The values of `refunds` that one key made alone: those that needed no approval (a refund
/// from before refunds had values, none, is left out).
pub(super) fn refunded_alone(refunds: &[RefundRecord]) -> impl Iterator<Item = &str> {
    refunds.iter().filter(|r| r.approval.is_none() && !r.value.is_empty()).map(|r| r.value.as_str())
}

/// Approve or reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Approve,
    Reject,
}

impl Invoices {
    /// Decides a refund awaiting approval, with key `key` (its id). Approving needs another
    /// key than the one that made it; rejecting may be done by either.
    pub(crate) fn decide_refund(
        &self,
        store: &str,
        id: Uuid,
        key: &str,
        decision: Decision,
    ) -> Result<(RefundRecord, Option<String>), InvoiceError> {
        let r = self.awaiting(store, id, key, decision)?;
        // The destination's plugin calls outside the lock, as when a refund is made.
        let destination = match (&r.address, decision) {
            (Some(address), Decision::Approve) => {
                let asset = self.asset(&r.asset)?.clone();
                Some(self.destination(&asset, r.id, &r.amount, r.reason.as_deref(), address)?)
            }
            _ => None,
        };
        let _guard = self.lock();
        let mut r = self.awaiting(store, id, key, decision)?;
        let now = self.now();
        let db = self.db().clone();
        let mut batch = db.batch();
        let Some(mut approval) = r.approval.take() else {
            return Err(r.corrupt("awaiting approval without its approval record").into());
        };
        let units: Amount = approval.units.parse().map_err(|_| r.corrupt("its approval's units are not a number"))?;
        approval.decided_by = Some(key.to_string());
        approval.decided_at = Some(now);
        r.approval = Some(approval);
        r.updated_at = now;
        let mut claim_token = None;
        let (staged, kind) = match decision {
            Decision::Reject => {
                r.status = RefundStatus::Rejected;
                r.claim_expires_at = None;
                let totals = db.refund_totals(r.invoice_id)?;
                batch.take_off_refund(r.invoice_id, units, totals)?;
                (None, EventKind::RefundRejected)
            }
            Decision::Approve => match destination {
                Some(d) => (Some(self.set_destination(&mut batch, &mut r, d)?), EventKind::RefundApproved),
                None => {
                    r.status = RefundStatus::AwaitingAddress;
                    // The claim link is made now, for the approver to send the customer.
                    let until = now + Duration::seconds(self.policy(store)?.refund_claim_secs as i64);
                    claim_token = Some(super::refunds::issue_claim(&mut batch, &mut r, until));
                    (None, EventKind::RefundApproved)
                }
            },
        };
        batch.put_refund(&r)?;
        batch.push_event(events::refund(kind, &r));
        db.write(batch)?;
        if let Some(staged) = staged {
            staged.commit();
        }
        tracing::info!(refund = %r.id, store, key, ?decision, "refund decided");
        Ok((r, claim_token))
    }

    /// The store's refund, awaiting approval, that `key` may decide.
    fn awaiting(&self, store: &str, id: Uuid, key: &str, decision: Decision) -> Result<RefundRecord, InvoiceError> {
        let r = self
            .db()
            .refund(id)?
            .filter(|r| r.store == store)
            .ok_or_else(|| InvoiceError::NotFound(format!("refund {id}")))?;
        if r.status != RefundStatus::AwaitingApproval {
            return Err(InvoiceError::NotAwaitingApproval { id, status: r.status });
        }
        let requested_by = r.approval.as_ref().map(|a| a.requested_by.as_str());
        if decision == Decision::Approve && requested_by == Some(key) {
            return Err(InvoiceError::SecondKeyRequired { id, key: key.to_string() });
        }
        Ok(r)
    }
}

/// The approval record of a refund made by `key` above `threshold`, its value being `units`.
pub(super) fn pending(threshold: Decimal, key: &str, units: Amount) -> ApprovalRecord {
    ApprovalRecord {
        threshold: threshold.to_string(),
        requested_by: key.to_string(),
        decided_by: None,
        decided_at: None,
        units: units.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(above: &[(&str, &str)]) -> StorePolicy {
        StorePolicy {
            confirmations: 1,
            expiry_secs: 900,
            tolerance_bp: 0,
            monitoring_secs: 0,
            refund_claim_secs: 60,
            receive: Default::default(),
            max_refunds_per_invoice: 10,
            refund_approval_above: above.iter().map(|(c, v)| (c.to_string(), Decimal::from_str(v).unwrap())).collect(),
        }
    }

    #[test]
    fn only_values_above_the_currencys_threshold_need_approval() {
        let p = policy(&[("USD", "1000"), ("BTC", "0.05")]);
        assert_eq!(threshold_passed(&p, "USD", "1000.00", []), None, "at the threshold: not above");
        assert_eq!(threshold_passed(&p, "USD", "1000.01", []), Some(Decimal::from(1000)));
        assert_eq!(threshold_passed(&p, "BTC", "0.05000001", []), Some(Decimal::from_str("0.05").unwrap()));
        assert_eq!(threshold_passed(&p, "EUR", "1000000", []), None, "a currency without a threshold");
        let huge = "1".repeat(40);
        assert_eq!(threshold_passed(&p, "USD", &huge, []), Some(Decimal::from(1000)), "too long to compare: above");
        assert_eq!(threshold_passed(&policy(&[]), "USD", "1e9", []), None);
    }

    #[test]
    fn small_refunds_made_alone_add_up_to_the_threshold() {
        let p = policy(&[("USD", "1000")]);
        assert_eq!(threshold_passed(&p, "USD", "400", ["300", "300"]), None, "1000 in all: not above");
        assert_eq!(threshold_passed(&p, "USD", "400", ["300", "300.01"]), Some(Decimal::from(1000)));
        let huge = "9".repeat(28);
        assert_eq!(threshold_passed(&p, "USD", "1", [huge.as_str(), huge.as_str()]), Some(Decimal::from(1000)));
    }
}
