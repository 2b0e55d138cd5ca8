use super::*;
use bitcoincore_rpc::bitcoin::consensus::Encodable;
use bitcoincore_rpc::bitcoin::merkle_tree::calculate_root;
use paywatch_plugin_api::testing::fixtures::{bitcoin_mainnet_block, bitcoin_mainnet_index};

fn mainnet() -> (Header, Vec<u8>) {
    let raw = bitcoin_mainnet_block().to_vec();
    (Header::consensus_decode(&mut &raw[..80]).unwrap(), raw)
}

#[test]
fn a_real_mainnet_block_passes_both_checks() {
    let (header, raw) = mainnet();
    assert_eq!(header.block_hash().to_string(), bitcoin_mainnet_index().block_hash);
    Rules::network(Network::Bitcoin).check_work(&header).unwrap();
    check_merkle(&header, &raw, None).unwrap();
    let reported = header.merkle_root.to_string();
    check_merkle(&header, &raw, Some(&reported)).unwrap();
}

#[test]
fn a_substituted_transaction_is_refused_whoever_computes_the_root() {
    let (header, mut raw) = mainnet();
    // One satoshi more in the first output of a sampled transaction.
    let tx = &bitcoin_mainnet_index().txs[3];
    let at = raw[tx.offset..].windows(8).position(|w| u64::from_le_bytes(w.try_into().unwrap()) == tx.outputs[0].value);
    let at = tx.offset + at.expect("the output's value is in the transaction");
    raw[at] ^= 1;
    let e = check_merkle(&header, &raw, None).unwrap_err();
    assert!(matches!(&e, Invalid::Merkle { header: h, .. } if *h == header.merkle_root.to_string()), "{e:?}");
    assert!(e.to_string().contains("altered"), "{e}");
    // A plugin's root that is not the header's is refused the same way.
    let other = TxMerkleNode::all_zeros().to_string();
    assert!(matches!(check_merkle(&header, &raw, Some(&other)), Err(Invalid::Merkle { .. })));
}

#[test]
fn a_repeated_last_transaction_is_refused_as_mutated() {
    let (header, raw) = mainnet();
    let index = bitcoin_mainnet_index();
    let mut r = &raw[80..];
    let n = VarInt::consensus_decode(&mut r).unwrap().0;
    let body = r;
    // The last transaction repeated: same merkle root if the count is odd, and mutated anyway.
    let mut txs = Vec::new();
    let mut rest = body;
    let mut last = Vec::new();
    for _ in 0..n {
        let before = rest;
        Transaction::consensus_decode(&mut rest).unwrap();
        last = before[..before.len() - rest.len()].to_vec();
    }
    txs.extend_from_slice(body);
    txs.extend_from_slice(&last);
    txs.extend_from_slice(&last);
    let mut forged = raw[..80].to_vec();
    VarInt(n + 2).consensus_encode(&mut forged).unwrap();
    forged.extend_from_slice(&txs);
    assert_eq!(n as usize, index.tx_count);
    let e = check_merkle(&header, &forged, None).unwrap_err();
    assert!(matches!(e, Invalid::Mutated { level: 0, .. }), "{e:?}");
}

#[test]
fn work_is_checked_against_bits_and_bits_against_the_limit() {
    let (header, _) = mainnet();
    // Regtest's limit is easier: a mainnet header meets it.
    Rules::network(Network::Regtest).check_work(&header).unwrap();
    // A header claiming regtest difficulty on mainnet.
    let mut easy = header;
    easy.bits = CompactTarget::from_consensus(0x207f_ffff);
    let e = Rules::network(Network::Bitcoin).check_work(&easy).unwrap_err();
    assert_eq!(e, Invalid::AboveLimit { bits: 0x207f_ffff, limit: 0x1d00_ffff });
    // Changing the nonce breaks the proof of work.
    let mut forged = header;
    forged.nonce ^= 1;
    assert_eq!(
        Rules::network(Network::Bitcoin).check_work(&forged),
        Err(Invalid::NoWork { bits: header.bits.to_consensus() })
    );
    // A coin's own limit, as the config spells it.
    let regtest = Rules::target(&format!("7fffff{}", "0".repeat(58)));
    assert_eq!(regtest.pow_limit, Rules::network(Network::Regtest).pow_limit);
    regtest.check_work(&header).unwrap();
    // No limit (a coin whose proof of work is not sha256d): not checked.
    Rules::other_coin(None).check_work(&forged).unwrap();
}

#[test]
fn compact_targets_are_read_as_bitcoin_core_reads_them() {
    assert_eq!(target_of(0x1d00_ffff), Ok(Target::MAX_ATTAINABLE_MAINNET));
    assert_eq!(target_of(0x207f_ffff), Ok(Target::MAX_ATTAINABLE_REGTEST));
    for bad in [0, 0x0100_0000, 0x0480_0001, 0x2301_0000, 0x2200_0100, 0x2101_0000, 0xff7f_ffff] {
        assert_eq!(target_of(bad), Err(Invalid::BadBits { bits: bad }), "{bad:#x}");
    }
    assert!(target_of(0x2200_0001).is_ok(), "Core accepts a one-byte mantissa at size 34");
}

#[test]
fn roots_agree_with_rust_bitcoin_and_repeated_subtrees_are_refused() {
    let h = |n: u8| sha256d::Hash::hash(&[n]);
    for n in 1..=70u8 {
        let txids: Vec<_> = (0..n).map(h).collect();
        assert_eq!(root(&mut txids.clone()), Ok(calculate_root(txids.into_iter()).unwrap()), "{n}");
    }
    let mut eight: Vec<_> = (0..6).map(h).collect();
    eight.extend([h(4), h(5)]);
    assert_eq!(root(&mut eight), Err(Invalid::Mutated { level: 1, position: 2 }));
}

/// Bitcoin Core's `arith_uint256::SetCompact` and `CheckProofOfWork`'s refusals, ported
/// byte-wise: the target, or None when Core refuses the bits (negative, overflow, zero).
fn core_target(bits: u32) -> Option<Target> {
    let size = bits >> 24;
    let mut word = bits & 0x007f_ffff;
    let mut le = [0u8; 32];
    if size <= 3 {
        word >>= 8 * (3 - size);
        le[..4].copy_from_slice(&word.to_le_bytes());
    } else {
        let shift = (size - 3) as usize;
        for (i, b) in word.to_le_bytes().into_iter().enumerate() {
            if i + shift < 32 {
                le[i + shift] = b;
            }
        }
    }
    let negative = word != 0 && bits & 0x0080_0000 != 0;
    let overflow = word != 0 && (size > 34 || (word > 0xff && size > 33) || (word > 0xffff && size > 32));
    let target = Target::from_le_bytes(le);
    (!negative && !overflow && target != Target::ZERO).then_some(target)
}

/// Every exponent with mantissas at the edges (sign bit on and off): the same verdict and the
/// same target as Core. A zero mantissa with the sign bit at sizes 1 and 2 is Core's zero target
/// (refused); rust-bitcoin's `Target::from_compact` shifts the sign bit down into the mantissa
/// (0x02800000 becomes 0x8000), so it must not be handed the sign bit.
#[test]
fn compact_targets_agree_with_bitcoin_core_for_every_exponent() {
    let words = [0u32, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x1_0000, 0x7f_ffff, 0x12_3456];
    let mut disagree = Vec::new();
    for size in 0..=255u32 {
        for &word in &words {
            for sign in [0, 0x0080_0000] {
                let bits = size << 24 | sign | word;
                let ours = target_of(bits).ok();
                if ours != core_target(bits) {
                    disagree.push(format!("{bits:#010x}: ours {ours:?}, Core {:?}", core_target(bits)));
                }
            }
        }
    }
    assert!(disagree.is_empty(), "{} disagreements:\n{}", disagree.len(), disagree.join("\n"));
}

/// `bits` follow the parent's: equal between retargets, within 4× at one (every 2,016 blocks);
/// regtest never retargets; testnets also allow the limit and the way back from it.
#[test]
fn bits_change_only_as_bitcoin_core_lets_them() {
    let main = Rules::network(Network::Bitcoin);
    let parent = Parent { bits: 0x1703_4219, last_normal: Some(0x1703_4219) };
    main.check_bits(840_001, 0x1703_4219, &parent).unwrap();
    let easier = 0x1d00_ffff;
    assert_eq!(
        main.check_bits(840_001, easier, &parent),
        Err(Invalid::Difficulty { height: 840_001, bits: easier, parent: 0x1703_4219 })
    );
    // At a retarget: 4x either way passes, more does not.
    let old = Target::from_compact(CompactTarget::from_consensus(0x1703_4219));
    let four_easier = old.max_transition_threshold_unchecked().to_compact_lossy().to_consensus();
    let four_harder = old.min_transition_threshold().to_compact_lossy().to_consensus();
    for ok in [0x1703_4219, four_easier, four_harder] {
        main.check_bits(842_688, ok, &parent).unwrap_or_else(|e| panic!("{ok:#x}: {e}"));
    }
    for bad in [0x1803_4219, 0x1603_4219, easier] {
        assert_eq!(
            main.check_bits(842_688, bad, &parent),
            Err(Invalid::Retarget { height: 842_688, bits: bad, parent: 0x1703_4219 }),
            "{bad:#x}"
        );
    }
    // Regtest: always the parent's.
    let reg = Rules::network(Network::Regtest);
    let p = Parent { bits: 0x207f_ffff, last_normal: None };
    reg.check_bits(2016, 0x207f_ffff, &p).unwrap();
    assert!(reg.check_bits(5, 0x2000_ffff, &p).is_err());
    // Testnet: a minimum-difficulty block, then back to the last real difficulty.
    let test = Rules::network(Network::Testnet);
    let real = Parent { bits: 0x1a01_ffff, last_normal: Some(0x1a01_ffff) };
    test.check_bits(7, 0x1d00_ffff, &real).unwrap();
    let after_min = test.after(Some(&real), 0x1d00_ffff);
    assert_eq!(after_min, Parent { bits: 0x1d00_ffff, last_normal: Some(0x1a01_ffff) });
    test.check_bits(8, 0x1a01_ffff, &after_min).unwrap();
    assert!(test.check_bits(8, 0x1b01_ffff, &after_min).is_err(), "not the last real difficulty");
    assert!(main.check_bits(7, 0x1d00_ffff, &real).is_err(), "mainnet has no minimum-difficulty blocks");
    // Another coin: not followed.
    assert!(!Rules::other_coin(None).follows_bits());
    Rules::other_coin(None).check_bits(5, 0x1d00_ffff, &real).unwrap();
}
