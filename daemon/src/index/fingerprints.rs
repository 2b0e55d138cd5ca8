//! A compact set of 64-bit fingerprints: open addressing over cache-line buckets of eight
//! slots in one flat allocation, so a look-up touches one cache line (rarely two) and a watch
//! costs 8 bytes / load factor, the load kept between 3/8 and 3/4: about 11 bytes per watch
//! when loaded at start, up to 21 while growing (measured by the `bitcoin_scan` bench). Fingerprints are keyed foldhash values of the
//! canonical key: a per-process random seed means nobody can aim collisions at the set; hits
//! are confirmed by the caller.

use std::hash::BuildHasher;

const SLOTS: usize = 8;
/// Most fingerprints per slot: 3/4. Higher loads fill whole buckets, and a look-up of an
/// absent key (nearly every output of a block) then reads a second cache line.
const LOAD_NUM: usize = 3;
const LOAD_DEN: usize = 4;

/// One cache line of fingerprints.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
struct Bucket([u64; SLOTS]);

#[derive(Debug, Clone)]
pub(crate) struct Fingerprints {
    seed: foldhash::quality::RandomState,
    buckets: Vec<Bucket>,
    len: usize,
}

/// 0 marks an empty slot; a fingerprint of 0 is stored as 1 (one more false positive in 2^64).
const EMPTY: u64 = 0;

impl Fingerprints {
    pub(crate) fn with_capacity(n: usize) -> Self {
        let mut buckets = vec![Bucket::default(); buckets_for(n)];
        buckets.shrink_to_fit();
        Self { seed: foldhash::quality::RandomState::default(), buckets, len: 0 }
    }

    #[inline]
    fn fingerprint(&self, key: &[u8]) -> u64 {
        match self.seed.hash_one(key) {
            EMPTY => 1,
            fp => fp,
        }
    }

    /// Makes room for `additional` more fingerprints in one step (no doubling garbage).
    pub(crate) fn reserve(&mut self, additional: usize) {
        let want = buckets_for(self.len + additional);
        if want > self.buckets.len() {
            self.rebuild(want);
        }
    }

    pub(crate) fn insert(&mut self, key: &[u8]) {
        let fp = self.fingerprint(key);
        if (self.len + 1) * LOAD_DEN > self.buckets.len() * SLOTS * LOAD_NUM {
            self.rebuild(self.buckets.len() * 2);
        }
        if place(&mut self.buckets, fp) {
            self.len += 1;
        }
    }

    /// True when the key's fingerprint is present (false positives possible, never false
    /// negatives).
    #[inline]
    pub(crate) fn may_contain(&self, key: &[u8]) -> bool {
        let fp = self.fingerprint(key);
        let n = self.buckets.len();
        let mut b = home(fp, n);
        loop {
            let bucket = &self.buckets[b].0;
            if bucket.contains(&fp) {
                return true;
            }
            if bucket.contains(&EMPTY) {
                return false;
            }
            b = if b + 1 == n { 0 } else { b + 1 };
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes held by the table.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * std::mem::size_of::<Bucket>()
    }

    fn rebuild(&mut self, n: usize) {
        let mut buckets = vec![Bucket::default(); n];
        for &fp in self.buckets.iter().flat_map(|b| b.0.iter()).filter(|s| **s != EMPTY) {
            place(&mut buckets, fp);
        }
        self.buckets = buckets;
    }
}

/// Buckets for `n` fingerprints at the highest load (at least 2).
fn buckets_for(n: usize) -> usize {
    (n.saturating_mul(LOAD_DEN) / LOAD_NUM / SLOTS + 1).max(2)
}

/// The home bucket: the fingerprint's high bits scaled to the table (no power-of-two sizes).
#[inline]
fn home(fp: u64, buckets: usize) -> usize {
    ((fp as u128 * buckets as u128) >> 64) as usize
}

/// Puts `fp` in its probe sequence; false when it was there already.
fn place(buckets: &mut [Bucket], fp: u64) -> bool {
    let n = buckets.len();
    let mut b = home(fp, n);
    loop {
        let bucket = &mut buckets[b].0;
        if bucket.contains(&fp) {
            return false;
        }
        if let Some(slot) = bucket.iter_mut().find(|s| **s == EMPTY) {
            *slot = fp;
            return true;
        }
        b = if b + 1 == n { 0 } else { b + 1 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    proptest! {
        /// Against a naive reference: every inserted key is found, through any number of growths;
        /// keys never inserted are (with 64-bit fingerprints, in practice) not.
        #[test]
        fn behaves_like_a_set(keys in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..2000),
                              probes in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..200)) {
            let mut set = Fingerprints::with_capacity(0);
            let mut reference = HashSet::new();
            for k in &keys {
                set.insert(k);
                reference.insert(k.clone());
            }
            prop_assert_eq!(set.len(), reference.len());
            for k in &keys {
                prop_assert!(set.may_contain(k));
            }
            for p in &probes {
                prop_assert_eq!(set.may_contain(p), reference.contains(p));
            }
        }
    }

    #[test]
    fn load_factor_stays_between_three_eighths_and_three_quarters() {
        let mut set = Fingerprints::with_capacity(0);
        for i in 0u32..100_000 {
            set.insert(&i.to_le_bytes());
            let load = set.len() as f64 / (set.buckets.len() * SLOTS) as f64;
            assert!(load <= 0.75, "load {load} at {i}");
            if set.len() > 16 {
                assert!(load >= 0.37, "load {load} at {i}");
            }
        }
        assert_eq!(set.heap_bytes(), set.buckets.len() * 64);
        assert_eq!(std::mem::align_of::<Bucket>(), 64);
        // Presized for its content: no growth on load.
        let presized = Fingerprints::with_capacity(100_000);
        assert!(presized.buckets.len() * SLOTS * 3 >= 100_000 * 4);
        // Reserving keeps what is there.
        let mut r = Fingerprints::with_capacity(0);
        r.insert(b"a");
        r.reserve(50_000);
        assert!(r.may_contain(b"a") && r.buckets.len() >= buckets_for(50_001));
    }
}
