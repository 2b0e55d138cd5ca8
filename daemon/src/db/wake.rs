//! Wake-ups per store: the newest event sequence number of each store, so a dispatcher worker
//! or a long-poll waits for its own store's events only (a busy store wakes no one else's).

use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::watch;

/// One `watch` channel per store, made on first use (by a subscriber or a commit). Stores are
/// the config's, so the map stays small.
#[derive(Debug, Default)]
pub(super) struct StoreWakes {
    senders: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl StoreWakes {
    /// A receiver that changes when an event of `store` is committed; its value is the store's
    /// newest seq committed since this daemon started (0 before any).
    pub(super) fn subscribe(&self, store: &str) -> watch::Receiver<u64> {
        let mut senders = self.senders.lock().unwrap_or_else(|p| p.into_inner());
        match senders.get(store) {
            Some(tx) => tx.subscribe(),
            None => {
                let (tx, rx) = watch::channel(0);
                senders.insert(store.to_string(), tx);
                rx
            }
        }
    }

    /// Wakes the subscribers of each store that has new events: `(store, its newest seq)`.
    pub(super) fn committed<'a>(&self, newest: impl IntoIterator<Item = (&'a str, u64)>) {
        let mut senders = self.senders.lock().unwrap_or_else(|p| p.into_inner());
        for (store, seq) in newest {
            match senders.get(store) {
                Some(tx) => {
                    tx.send_replace(seq);
                }
                None => {
                    senders.insert(store.to_string(), watch::channel(seq).0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_wakes_its_store_only() {
        let w = StoreWakes::default();
        let (mut a, mut b) = (w.subscribe("a"), w.subscribe("b"));
        w.committed([("a", 7)]);
        assert!(a.has_changed().unwrap());
        assert_eq!(*a.borrow_and_update(), 7);
        assert!(!b.has_changed().unwrap(), "another store's commit woke b");
        w.committed([("b", 9), ("a", 8)]);
        assert_eq!((*a.borrow_and_update(), *b.borrow_and_update()), (8, 9));
    }

    #[test]
    fn a_store_committed_before_anyone_subscribed_keeps_its_newest_seq() {
        let w = StoreWakes::default();
        w.committed([("late", 3)]);
        let mut rx = w.subscribe("late");
        assert_eq!(*rx.borrow_and_update(), 3);
        w.committed([("late", 4)]);
        assert!(rx.has_changed().unwrap());
    }
}
