//! A block's merkle root from its txids, refusing a mutated transaction list.
//!
//! Bitcoin pairs the last hash of an odd level with itself, so a list whose tail is repeated
//! (`[a, b, c]` and `[a, b, c, c]`) has the same root (CVE-2012-2459). Bitcoin Core refuses such
//! a block as mutated; so do we: two equal hashes side by side at any level.

use bitcoin::hashes::{sha256d, Hash, HashEngine};

/// Why no root was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Invalid {
    Empty,
    Mutated { level: u32, position: usize },
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Invalid::Empty => write!(f, "a block without transactions has no merkle root"),
            Invalid::Mutated { level, position } => write!(
                f,
                "mutated transaction list: hashes {position} and {} of merkle level {level} are equal (CVE-2012-2459)",
                position + 1
            ),
        }
    }
}

/// The root of `hashes` (txids in wire order), computed in place (the slice is overwritten).
pub(crate) fn root(hashes: &mut [sha256d::Hash]) -> Result<sha256d::Hash, Invalid> {
    let mut len = hashes.len();
    if len == 0 {
        return Err(Invalid::Empty);
    }
    let mut level = 0;
    while len > 1 {
        for position in (0..len - 1).step_by(2) {
            if hashes[position] == hashes[position + 1] {
                return Err(Invalid::Mutated { level, position });
            }
        }
        for i in 0..len.div_ceil(2) {
            let left = hashes[2 * i];
            let right = if 2 * i + 1 < len { hashes[2 * i + 1] } else { left };
            let mut e = sha256d::Hash::engine();
            e.input(left.as_byte_array());
            e.input(right.as_byte_array());
            hashes[i] = sha256d::Hash::from_engine(e);
        }
        len = len.div_ceil(2);
        level += 1;
    }
    Ok(hashes[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::merkle_tree::calculate_root;

    fn h(n: u8) -> sha256d::Hash {
        sha256d::Hash::hash(&[n])
    }

    /// The reference: rust-bitcoin's own merkle root, for every size up to 70 (every shape of
    /// odd levels).
    #[test]
    fn agrees_with_rust_bitcoin_for_every_small_size() {
        for n in 1..=70u8 {
            let txids: Vec<_> = (0..n).map(h).collect();
            let expected = calculate_root(txids.iter().copied()).unwrap();
            assert_eq!(root(&mut txids.clone()), Ok(expected), "{n} txids");
        }
    }

    #[test]
    fn a_repeated_tail_is_refused_though_its_root_is_the_same() {
        let three: Vec<_> = (0..3).map(h).collect();
        let four = vec![h(0), h(1), h(2), h(2)];
        assert_eq!(calculate_root(three.iter().copied()), calculate_root(four.iter().copied()));
        assert!(root(&mut three.clone()).is_ok());
        assert_eq!(root(&mut four.clone()), Err(Invalid::Mutated { level: 0, position: 2 }));
        // Repeated subtrees one level up: [a b c d e f] and [a b c d e f e f].
        let six: Vec<_> = (0..6).map(h).collect();
        let mut eight = six.clone();
        eight.extend([h(4), h(5)]);
        assert_eq!(calculate_root(six.iter().copied()), calculate_root(eight.iter().copied()));
        assert_eq!(root(&mut eight), Err(Invalid::Mutated { level: 1, position: 2 }));
        assert_eq!(root(&mut []), Err(Invalid::Empty));
    }
}
