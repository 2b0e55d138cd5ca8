//! A restore must not hand out again an address the store gave an invoice after the backup:
//! a payment for that lost invoice would then settle a new one. Before the restored copy is
//! put in place, each address pool's next index (`addresses`, `N` and the legacy `n`) is taken
//! up to the replaced store's when that store can still be read, and moved on by `skip` more
//! (the operator's count of invoices made since, when it cannot); free-for-reuse entries (`F`,
//! `f`) the replaced store no longer has (taken since) are dropped, and every one of them when
//! the replaced store cannot be read and `skip` is given.

use super::schema::{tag, CF_ADDRESSES};
use rocksdb::{IteratorMode, WriteBatch, DB};
use std::collections::{HashMap, HashSet};

/// What a restore did to the address pools.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PoolsAdvanced {
    /// Pools whose next index moved on.
    pub pools: usize,
    /// Addresses free for reuse that were dropped.
    pub freed_dropped: usize,
    /// Whether the replaced store was read (else only `skip` applied).
    pub from_replaced_store: bool,
}

type Entries = (HashMap<Vec<u8>, u32>, HashSet<Vec<u8>>);

/// The pools' counters and free entries of a store.
fn pools(db: &DB) -> Result<Entries, rocksdb::Error> {
    let (mut next, mut free) = (HashMap::new(), HashSet::new());
    let Some(cf) = db.cf_handle(CF_ADDRESSES) else { return Ok((next, free)) };
    for item in db.iterator_cf(cf, IteratorMode::Start) {
        let (k, v) = item?;
        match k.first() {
            Some(&t) if t == tag::NEXT || t == tag::LEGACY_NEXT => {
                if let Ok(b) = <[u8; 4]>::try_from(v.as_ref()) {
                    next.insert(k.to_vec(), u32::from_be_bytes(b));
                }
            }
            Some(&t) if t == tag::FREE || t == tag::LEGACY_FREE => {
                free.insert(k.to_vec());
            }
            _ => {}
        }
    }
    Ok((next, free))
}

/// Moves the pools of `restored` on, as the module says. `replaced`: the store being replaced,
/// opened read-only, when it could be.
pub(super) fn advance(restored: &DB, replaced: Option<&DB>, skip: u32) -> Result<PoolsAdvanced, rocksdb::Error> {
    let (next, free) = pools(restored)?;
    let (then_next, then_free) = match replaced {
        Some(db) => pools(db)?,
        None => Default::default(),
    };
    let Some(cf) = restored.cf_handle(CF_ADDRESSES) else { return Ok(PoolsAdvanced::default()) };
    let mut batch = WriteBatch::default();
    let mut done = PoolsAdvanced { from_replaced_store: replaced.is_some(), ..Default::default() };
    // A pool the replaced store had and the backup did not was made after the backup.
    let keys: HashSet<&Vec<u8>> = next.keys().chain(then_next.keys()).collect();
    for k in keys {
        let ours = next.get(k).copied().unwrap_or(0);
        let target = ours.max(then_next.get(k).copied().unwrap_or(0)).saturating_add(skip);
        if target != ours {
            batch.put_cf(cf, k, target.to_be_bytes());
            done.pools += 1;
        }
    }
    for k in &free {
        let taken_since = replaced.is_some() && !then_free.contains(k);
        if taken_since || (replaced.is_none() && skip > 0) {
            batch.delete_cf(cf, k);
            done.freed_dropped += 1;
        }
    }
    restored.write(batch)?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::super::schema::{pool_key, tag, CF_ADDRESSES};
    use super::*;

    fn db(dir: &std::path::Path, next: &[(u8, u32)], free: &[u8]) -> DB {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let db = DB::open_cf(&opts, dir, [CF_ADDRESSES]).unwrap();
        let cf = db.cf_handle(CF_ADDRESSES).unwrap();
        for (source, n) in next {
            db.put_cf(cf, pool_key(tag::NEXT, "s", "BTC", &[*source; 32]), n.to_be_bytes()).unwrap();
        }
        for source in free {
            let mut k = pool_key(tag::FREE, "s", "BTC", &[*source; 32]);
            k.extend_from_slice(&3u32.to_be_bytes());
            db.put_cf(cf, k, []).unwrap();
        }
        db
    }

    #[test]
    fn pools_move_past_what_the_replaced_store_handed_out_and_its_taken_free_addresses_go() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        // The backup: source 1 at 5, source 2 at 9, free addresses of sources 1 and 2.
        let restored = db(a.path(), &[(1, 5), (2, 9)], &[1, 2]);
        // Since the backup: source 1 handed out up to 8, source 3 was new, source 2's free
        // address was taken.
        let replaced = db(b.path(), &[(1, 8), (2, 9), (3, 4)], &[1]);
        let done = advance(&restored, Some(&replaced), 0).unwrap();
        assert_eq!(done, PoolsAdvanced { pools: 2, freed_dropped: 1, from_replaced_store: true });
        let (next, free) = pools(&restored).unwrap();
        let at = |s: u8| next.get(&pool_key(tag::NEXT, "s", "BTC", &[s; 32])).copied();
        assert_eq!((at(1), at(2), at(3)), (Some(8), Some(9), Some(4)));
        assert_eq!(free.len(), 1);
    }

    #[test]
    fn without_the_replaced_store_the_operators_skip_applies_and_no_free_address_is_reused() {
        let a = tempfile::tempdir().unwrap();
        let restored = db(a.path(), &[(1, 5)], &[1]);
        assert_eq!(advance(&restored, None, 0).unwrap(), PoolsAdvanced::default(), "nothing to go by: as it was");
        let done = advance(&restored, None, 50).unwrap();
        assert_eq!(done, PoolsAdvanced { pools: 1, freed_dropped: 1, from_replaced_store: false });
        let (next, free) = pools(&restored).unwrap();
        assert_eq!(next.values().copied().collect::<Vec<_>>(), [55]);
        assert!(free.is_empty());
    }
}
