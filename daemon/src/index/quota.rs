//! Per-store watch quotas (`stores[].max_watches`): how many watches each store has, kept in
//! memory so a check is O(1), counted from the database at start (so it survives restarts and
//! never drifts from what is stored), and changed only around writes: a create *reserves* its
//! watches before its batch is written (concurrent creates cannot both take the last place),
//! keeps them once written, and gives them back if dropped unwritten; a delete gives its place
//! back once written.
//!
//! Every watch of a store counts, whoever made it: the API's, its invoices' addresses and its
//! refunds' destinations. Each costs the chain's watch set the same, and the count is then the
//! number `GET /v1/watches` pages through.

use std::collections::HashMap;
use std::sync::Mutex;

/// The counts and limits of every store.
#[derive(Debug)]
pub(super) struct WatchQuota {
    max: std::sync::RwLock<HashMap<String, u64>>,
    counts: Mutex<HashMap<String, u64>>,
}

/// The store has no room for the watches asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Full {
    pub(super) max: u64,
    pub(super) have: u64,
}

impl WatchQuota {
    /// `max`: each store's limit (a store without one has no room); `counts`: the watches each
    /// store has in the database.
    pub(super) fn new(max: HashMap<String, u64>, counts: HashMap<String, u64>) -> Self {
        Self { max: std::sync::RwLock::new(max), counts: Mutex::new(counts) }
    }

    /// Sets a store's limit (a store made or changed at run time).
    pub(super) fn set_max(&self, store: &str, max: u64) {
        self.max.write().unwrap_or_else(|p| p.into_inner()).insert(store.to_string(), max);
    }

    /// Takes `n` places of the store's quota, or says it is full.
    pub(super) fn reserve(&self, store: &str, n: u64) -> Result<Reservation<'_>, Full> {
        let max = self.max.read().unwrap_or_else(|p| p.into_inner()).get(store).copied().unwrap_or(0);
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let have = counts.get(store).copied().unwrap_or(0);
        if have.saturating_add(n) > max {
            return Err(Full { max, have });
        }
        counts.insert(store.to_string(), have + n);
        Ok(Reservation { quota: self, store: store.to_string(), n })
    }

    /// Gives back `n` places: watches deleted (once written), or a reservation not used.
    pub(super) fn release(&self, store: &str, n: u64) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = counts.get_mut(store) {
            *c = c.saturating_sub(n);
        }
    }

    /// The watches the store has, reserved ones included.
    #[cfg(test)]
    pub(super) fn count(&self, store: &str) -> u64 {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).get(store).copied().unwrap_or(0)
    }
}

/// Places taken for watches not written yet: kept by [`Reservation::keep`] once they are,
/// given back when dropped.
#[derive(Debug)]
#[must_use = "keep it once the watches are written, or their places are given back"]
pub(super) struct Reservation<'a> {
    quota: &'a WatchQuota,
    store: String,
    n: u64,
}

impl Reservation<'_> {
    /// The watches were written: their places stay taken.
    pub(super) fn keep(mut self) {
        self.n = 0;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.n > 0 {
            self.quota.release(&self.store, self.n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(max: u64, have: u64) -> WatchQuota {
        WatchQuota::new(HashMap::from([("a".into(), max)]), HashMap::from([("a".into(), have)]))
    }

    #[test]
    fn reservations_count_until_dropped_and_kept_ones_stay() {
        let q = quota(3, 1);
        let r = q.reserve("a", 2).unwrap();
        assert_eq!(q.count("a"), 3);
        assert_eq!(q.reserve("a", 1).unwrap_err(), Full { max: 3, have: 3 });
        drop(r);
        assert_eq!(q.count("a"), 1, "an unwritten reservation gives its places back");
        q.reserve("a", 2).unwrap().keep();
        assert_eq!(q.count("a"), 3);
        q.release("a", 1);
        assert_eq!(q.count("a"), 2);
        assert_eq!(q.reserve("a", 2).unwrap_err(), Full { max: 3, have: 2 }, "all or nothing");
    }

    #[test]
    fn a_store_without_a_limit_has_no_room_and_stores_do_not_share() {
        let q = quota(1, 0);
        assert_eq!(q.reserve("b", 1).unwrap_err(), Full { max: 0, have: 0 });
        q.reserve("a", 1).unwrap().keep();
        assert!(q.reserve("a", 1).is_err());
        assert_eq!(q.reserve("a", u64::MAX).unwrap_err(), Full { max: 1, have: 1 }, "no overflow");
    }

    #[test]
    fn concurrent_reservations_never_pass_the_limit() {
        let q = quota(100, 0);
        let kept = std::sync::atomic::AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..50 {
                        if let Ok(r) = q.reserve("a", 1) {
                            r.keep();
                            kept.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!((kept.into_inner(), q.count("a")), (100, 100));
    }
}
