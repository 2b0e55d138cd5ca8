//! A compact set of 64-bit fingerprints: open addressing with linear probing in one flat
//! `Vec<u64>`, so a look-up touches one cache line and a watch costs 8 bytes / load factor
//! (kept between 3/8 and 3/4: about 11–21 bytes per watch, measured by the `watch_memory`
//! bench). Fingerprints are keyed foldhash values of the canonical key: a per-process random
//! seed means nobody can aim collisions at the set; hits are confirmed by the caller.

use std::hash::BuildHasher;

#[derive(Debug, Clone)]
pub(crate) struct Fingerprints {
    seed: foldhash::quality::RandomState,
    slots: Vec<u64>,
    len: usize,
}

/// 0 marks an empty slot; a fingerprint of 0 is stored as 1 (one more false positive in 2^64).
const EMPTY: u64 = 0;

impl Fingerprints {
    pub(crate) fn with_capacity(n: usize) -> Self {
        let mut set =
            Self { seed: foldhash::quality::RandomState::default(), slots: vec![EMPTY; slots_for(n)], len: 0 };
        set.slots.shrink_to_fit();
        set
    }

    #[inline]
    fn fingerprint(&self, key: &[u8]) -> u64 {
        match self.seed.hash_one(key) {
            EMPTY => 1,
            fp => fp,
        }
    }

    pub(crate) fn insert(&mut self, key: &[u8]) {
        let fp = self.fingerprint(key);
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        if place(&mut self.slots, fp) {
            self.len += 1;
        }
    }

    /// True when the key's fingerprint is present (false positives possible, never false
    /// negatives).
    #[inline]
    pub(crate) fn may_contain(&self, key: &[u8]) -> bool {
        let fp = self.fingerprint(key);
        let mask = self.slots.len() - 1;
        let mut i = fp as usize & mask;
        loop {
            match self.slots[i] {
                EMPTY => return false,
                s if s == fp => return true,
                _ => i = (i + 1) & mask,
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes held by the table.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * 8
    }

    fn grow(&mut self) {
        let mut slots = vec![EMPTY; self.slots.len() * 2];
        for &fp in self.slots.iter().filter(|s| **s != EMPTY) {
            place(&mut slots, fp);
        }
        self.slots = slots;
    }
}

/// Slots for `n` fingerprints at a load factor of at most 3/4 (a power of two, at least 16).
fn slots_for(n: usize) -> usize {
    (n.saturating_mul(4) / 3 + 1).next_power_of_two().max(16)
}

/// Puts `fp` in its probe sequence; false when it was there already.
fn place(slots: &mut [u64], fp: u64) -> bool {
    let mask = slots.len() - 1;
    let mut i = fp as usize & mask;
    loop {
        match slots[i] {
            EMPTY => {
                slots[i] = fp;
                return true;
            }
            s if s == fp => return false,
            _ => i = (i + 1) & mask,
        }
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
            let load = set.len() as f64 / set.slots.len() as f64;
            assert!(load <= 0.75, "load {load} at {i}");
            if set.len() > 16 {
                assert!(load >= 0.37, "load {load} at {i}");
            }
        }
        assert_eq!(set.heap_bytes(), set.slots.len() * 8);
    }
}
