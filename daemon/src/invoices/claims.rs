//! The customer's claim: a refund's address given with its one-time token (no API key).
//!
//! The token is looked up and the address checked by the plugin before the invoice lock is
//! taken (a plugin call never holds it); under the lock the refund is read again and the
//! destination written. A claim whose address the plugin refuses counts against the token,
//! stored with the refund: after [`MAX_CLAIM_FAILURES`] the token is locked for good, restarts
//! included, so one token cannot be used to make the plugin decode input without end.

use super::refunds::Destination;
use super::{InvoiceError, Invoices};
use crate::db::{RefundRecord, RefundStatus};
use crate::events::{self, EventKind};
use sha2::Digest;

/// Refused claims after which a token is locked: a customer mistyping an address has a few
/// tries; a script does not get a decoder to itself.
pub(crate) const MAX_CLAIM_FAILURES: u32 = 5;

fn unknown() -> InvoiceError {
    InvoiceError::NotFound("claim token (unknown, or already used)".into())
}

/// A token as issued: 64 lowercase hex digits (32 random bytes).
fn is_token(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// What the claim index keys a token by (the token itself is never stored).
pub(super) fn token_hash(token: &str) -> [u8; 32] {
    sha2::Sha256::digest(token.as_bytes()).into()
}

impl Invoices {
    /// The customer gives the refund's address with the claim token.
    pub(crate) fn claim_refund(&self, token: &str, address: &str) -> Result<RefundRecord, InvoiceError> {
        // As issued, never trimmed or case-folded: anything else is no token of ours.
        if !is_token(token) {
            return Err(unknown());
        }
        let h = token_hash(token);
        let r = self.claimable(&h)?;
        let asset = self.asset(&r.asset)?.clone();
        let destination =
            self.destination(&asset, r.id, &r.amount, r.reason.as_deref(), address).and_then(|d| self.not_own(&r, d));
        let destination = match destination {
            Ok(d) => d,
            Err(e @ InvoiceError::InvalidAddress(_)) => return Err(self.claim_refused(&h, e)?),
            Err(e) => return Err(e),
        };
        let _guard = self.lock();
        let mut r = self.claimable(&h)?;
        let db = self.db().clone();
        let mut batch = db.batch();
        let staged = self.set_destination(&mut batch, &mut r, destination)?;
        // The token's index entry stays: a used token claims nothing more (`claimable` wants
        // an address awaited), but its page keeps showing the customer what became of it.
        batch.put_refund(&r)?;
        batch.push_event(events::refund(EventKind::RefundAddressSubmitted, &r));
        db.write(batch)?;
        staged.commit();
        Ok(r)
    }

    /// The destination, unless it is one of the store's own addresses (an invoice's, or one
    /// it watches): the customer's refund must not go back to the shop. Another refund's
    /// destination is fine (two refunds to one customer).
    fn not_own(&self, r: &RefundRecord, d: Destination) -> Result<Destination, InvoiceError> {
        for id in self.db().watch_ids_for_key(&r.chain, d.key())? {
            if self.db().watch(id)?.is_some_and(|w| w.store == r.store && w.refund.is_none()) {
                return Err(InvoiceError::InvalidAddress(format!(
                    "{} is an address of the shop itself; give an address of your own wallet",
                    d.address()
                )));
            }
        }
        Ok(d)
    }

    /// The refund a token (by its hash) may still give an address to.
    /// The refund of a claim token, with its invoice's order id, for the claim page: one still
    /// claimable, or one claimed with this token (its page then shows what became of it).
    /// Unknown, locked and expired tokens are refused as a claim is; nothing is changed.
    pub(crate) fn claim_view(&self, token: &str) -> Result<(RefundRecord, String), InvoiceError> {
        if !is_token(token) {
            return Err(unknown());
        }
        let h = token_hash(token);
        let id = self.db().claim(&h)?.ok_or_else(unknown)?;
        let r = self.db().refund(id)?.ok_or_else(unknown)?;
        let r = if r.status == RefundStatus::AwaitingAddress { self.claimable(&h)? } else { r };
        let order_id = self.db().invoice(r.invoice_id)?.map(|i| i.order_id).unwrap_or_default();
        Ok((r, order_id))
    }

    fn claimable(&self, h: &[u8; 32]) -> Result<RefundRecord, InvoiceError> {
        let id = self.db().claim(h)?.ok_or_else(unknown)?;
        let r = self.db().refund(id)?.ok_or_else(unknown)?;
        if r.status != RefundStatus::AwaitingAddress {
            return Err(unknown());
        }
        if r.claim_failures >= MAX_CLAIM_FAILURES {
            return Err(InvoiceError::ClaimLocked(r.claim_failures));
        }
        if let Some(exp) = r.claim_expires_at.filter(|e| *e < self.now()) {
            return Err(InvoiceError::ClaimExpired(exp));
        }
        Ok(r)
    }

    /// Counts a refused claim against its token (stored: a restart does not reset it) and
    /// gives the error to answer: the refusal, or that the token is now locked.
    fn claim_refused(&self, h: &[u8; 32], refusal: InvoiceError) -> Result<InvoiceError, InvoiceError> {
        let _guard = self.lock();
        let mut r = self.claimable(h)?;
        r.claim_failures += 1;
        r.updated_at = self.now();
        let db = self.db().clone();
        let mut batch = db.batch();
        batch.put_refund(&r)?;
        db.write(batch)?;
        Ok(match r.claim_failures >= MAX_CLAIM_FAILURES {
            true => InvoiceError::ClaimLocked(r.claim_failures),
            false => refusal,
        })
    }
}
