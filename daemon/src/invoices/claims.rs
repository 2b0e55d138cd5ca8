//! The customer's claim: a refund's address given with its one-time token (no API key).
//!
//! The token is looked up and the address checked by the plugin before the invoice lock is
//! taken (a plugin call never holds it); under the lock the refund is read again and the
//! destination written. A claim whose address the plugin refuses counts against the token,
//! stored with the refund: after [`MAX_CLAIM_FAILURES`] the token is locked for good, restarts
//! included, so one token cannot be used to make the plugin decode input without end.

use super::{InvoiceError, Invoices};
use crate::db::{RefundRecord, RefundStatus};
use crate::events::{self, EventKind};
use sha2::Digest;

/// Refused claims after which a token is locked: a customer mistyping an address has a few
/// tries; a script does not get a decoder to itself.
pub(crate) const MAX_CLAIM_FAILURES: u32 = 5;

/// What the claim index keys a token by (the token itself is never stored).
pub(super) fn token_hash(token: &str) -> [u8; 32] {
    sha2::Sha256::digest(token.as_bytes()).into()
}

impl Invoices {
    /// The customer gives the refund's address with the claim token.
    pub(crate) fn claim_refund(&self, token: &str, address: &str) -> Result<RefundRecord, InvoiceError> {
        let h = token_hash(token.trim());
        let r = self.claimable(&h)?;
        let asset = self.asset(&r.asset)?.clone();
        let destination = match self.destination(&asset, r.id, &r.amount, r.reason.as_deref(), address) {
            Ok(d) => d,
            Err(e @ InvoiceError::InvalidAddress(_)) => return Err(self.claim_refused(&h, e)?),
            Err(e) => return Err(e),
        };
        let _guard = self.lock();
        let mut r = self.claimable(&h)?;
        let db = self.db().clone();
        let mut batch = db.batch();
        let staged = self.set_destination(&mut batch, &mut r, destination)?;
        batch.delete_claim(&h);
        batch.put_refund(&r)?;
        batch.push_event(events::refund(EventKind::RefundAddressSubmitted, &r));
        db.write(batch)?;
        staged.commit();
        Ok(r)
    }

    /// The refund a token (by its hash) may still give an address to.
    fn claimable(&self, h: &[u8; 32]) -> Result<RefundRecord, InvoiceError> {
        let unknown = || InvoiceError::NotFound("claim token (unknown, or already used)".into());
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
