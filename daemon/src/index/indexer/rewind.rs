//! Rewinding a chain's local best chain below what the reorg window can undo (the operator's
//! `paywatch chain rewind`, run while the daemon is stopped): the same reversals a disconnect
//! makes, for payments whose blocks the recorded window no longer holds.

use super::{reversed, Indexer, Update};
use crate::db::{BlockRecord, PaymentRecord, PaymentRef, PaymentStatus};
use crate::events::EventKind;
use crate::index::IndexError;

impl Indexer {
    /// Makes `height`, whose block is `hash` (parent `prev`), the chain's tip: every recorded
    /// block is dropped and this one written as the cursor (the follower connects the node's
    /// blocks above it when it starts); each payment of `reverse` still confirmed is reversed
    /// (`payment.reversed`, its invoice re-evaluated by the hook), and live confirmed payments
    /// at or below `height` count their confirmations from it, silently, as a disconnect
    /// does. One atomic write. Returns the payments reversed.
    pub(crate) fn rewind(
        &mut self,
        height: u64,
        hash: &str,
        prev: &str,
        reverse: &[PaymentRef],
    ) -> Result<Vec<PaymentRecord>, IndexError> {
        let mut up = Update::default();
        for r in reverse {
            let Some(old) = self.current(&up, r)? else { continue };
            if old.status != PaymentStatus::Confirmed {
                continue;
            }
            let p = reversed(&old);
            up.set(Some(old), p, Some(EventKind::PaymentReversed));
        }
        let gone: Vec<PaymentRecord> = up.changed.iter().map(|(_, p)| p.clone()).collect();
        self.advance_confirmations(&mut up, height, false);
        let db = self.db.clone();
        let mut batch = db.batch();
        for h in self.blocks.keys() {
            batch.delete_block(&self.chain, *h);
        }
        let cursor = BlockRecord { hash: hash.to_string(), prev: prev.to_string(), undo: Vec::new() };
        batch.put_block(&self.chain, height, &cursor)?;
        self.commit(batch, up)?;
        self.blocks.clear();
        self.blocks.insert(height, cursor);
        Ok(gone)
    }
}
