//! The long-poll quota: `GET /v1/events?wait=` requests waiting at once, per store
//! (`stores[].max_long_polls`) and every store together (`server.max_long_polls`, below
//! `server.max_concurrent_requests`, so waiting clients never hold every slot). A waiting
//! request holds a [`Slot`], given back however the request ends: answered, timed out, or
//! dropped when its client went away (the handler's future is dropped, and the slot with it).

use super::error::ApiError;
use crate::config::Config;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What a refused long-poll is told to wait before trying again, in seconds.
const RETRY_AFTER_SECS: u64 = 5;

/// The slots of every store and the global ones.
#[derive(Debug)]
pub(crate) struct LongPolls {
    global: Quota,
    stores: crate::stores::PerStore<Quota>,
}

#[derive(Debug)]
struct Quota {
    slots: Arc<Semaphore>,
    max: usize,
}

impl Quota {
    fn new(max: usize) -> Self {
        Self { slots: Arc::new(Semaphore::new(max)), max }
    }

    fn take(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }

    fn waiting(&self) -> usize {
        self.max - self.slots.available_permits()
    }
}

/// A waiting long-poll's place in its store's quota and in the global one; given back on drop.
#[derive(Debug)]
pub(crate) struct Slot {
    _store: Option<OwnedSemaphorePermit>,
    _global: OwnedSemaphorePermit,
}

impl LongPolls {
    pub(crate) fn new(config: &Config) -> Self {
        let stores = config.stores.iter().map(|s| (s.id.clone(), Quota::new(s.max_long_polls as usize))).collect();
        Self { global: Quota::new(config.server.limits.max_long_polls), stores }
    }

    /// A slot for one more waiting long-poll of `store`, or `429 rate_limited` (with
    /// `Retry-After`) naming the quota that is full.
    pub(crate) fn take(&self, store: &str) -> Result<Slot, ApiError> {
        let own = self.stores.get(store);
        let store_slot = match own.as_deref().map(|q| (q, q.take())) {
            Some((q, None)) => {
                let m = format!("store {store:?} has {} long-polls waiting, its max_long_polls", q.max);
                return Err(ApiError::quota_full(m, RETRY_AFTER_SECS));
            }
            Some((_, slot)) => slot,
            None => None,
        };
        let Some(global) = self.global.take() else {
            let m = format!("{} long-polls are waiting, the server's max_long_polls", self.global.max);
            return Err(ApiError::quota_full(m, RETRY_AFTER_SECS));
        };
        Ok(Slot { _store: store_slot, _global: global })
    }

    /// Long-polls waiting now, per store (for `/metrics`).
    pub(crate) fn waiting(&self) -> impl Iterator<Item = (String, usize)> {
        self.stores.all().into_iter().map(|(s, q)| (s, q.waiting()))
    }
}

impl crate::stores::StoreSettings for LongPolls {
    /// A new quota for a new store; a changed `max_long_polls` applies to the polls that come
    /// after those waiting now (they keep their slots in the old quota).
    fn put_store(&self, store: &crate::config::StoreConfig) {
        let max = store.max_long_polls as usize;
        if self.stores.get(&store.id).is_none_or(|q| q.max != max) {
            self.stores.put(&store.id, Quota::new(max));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use std::collections::HashMap;

    fn polls(per_store: u32, global: usize) -> LongPolls {
        let q = |n: usize| Quota::new(n);
        let stores = [("a", per_store), ("b", per_store)].map(|(s, n)| (s.to_string(), q(n as usize)));
        LongPolls { global: q(global), stores: stores.into_iter().collect() }
    }

    #[test]
    fn a_full_store_refuses_with_429_while_another_store_still_waits() {
        let p = polls(2, 10);
        let held: Vec<Slot> = (0..2).map(|_| p.take("a").unwrap()).collect();
        let e = p.take("a").unwrap_err();
        assert_eq!(e.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(e.message().contains("store \"a\" has 2 long-polls waiting, its max_long_polls"), "{e:?}");
        let other = p.take("b").unwrap();
        assert_eq!(p.waiting().collect::<HashMap<_, _>>(), HashMap::from([("a".to_string(), 2), ("b".to_string(), 1)]));
        drop((held, other));
        assert_eq!(p.waiting().map(|(_, n)| n).sum::<usize>(), 0, "dropped slots are given back");
        assert!(p.take("a").is_ok());
    }

    #[test]
    fn the_global_quota_bounds_every_store_together_and_a_refusal_keeps_no_slot() {
        let p = polls(5, 3);
        let held = [p.take("a").unwrap(), p.take("a").unwrap(), p.take("b").unwrap()];
        let e = p.take("b").unwrap_err();
        assert!(e.message().contains("3 long-polls are waiting, the server's max_long_polls"), "{e:?}");
        // The store's slot taken before the global refusal was given back.
        assert_eq!(p.waiting().collect::<HashMap<_, _>>(), HashMap::from([("a".to_string(), 2), ("b".to_string(), 1)]));
        drop(held);
        assert!(p.take("b").is_ok());
    }

    #[test]
    fn a_waiting_request_dropped_mid_wait_gives_its_slot_back() {
        let p = Arc::new(polls(1, 1));
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(async {
            let waiter = {
                let p = p.clone();
                tokio::spawn(async move {
                    let _slot = p.take("a").unwrap();
                    std::future::pending::<()>().await;
                })
            };
            while p.take("a").is_ok() {
                tokio::task::yield_now().await;
            }
            waiter.abort();
            let _ = waiter.await;
            assert!(p.take("a").is_ok(), "the aborted request's slot is free");
        });
    }
}
