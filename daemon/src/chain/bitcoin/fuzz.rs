//! The fuzz targets' way in (`crate::fuzzing`): the feed's message decoding and the block
//! checks, without sockets or a node.

use super::follower::header;
use super::verify::{self, Rules};
use super::zmq::Feed;
use super::Trigger;
use bitcoincore_rpc::bitcoin::Network;

/// Every message through one feed (as from one endpoint), then every trigger through what the
/// follower does with it before asking the node or a plugin: a `rawblock` header is decoded
/// and its proof of work checked under each network's rules.
pub(crate) fn feed_messages(messages: Vec<Vec<Vec<u8>>>) {
    let (tx, rx) = crossbeam_channel::bounded(16);
    let mut feed = Feed::detached(tx);
    for m in messages {
        feed.on_message(0, m);
        for t in rx.try_iter() {
            match t {
                Trigger::RawBlock(raw) => {
                    assert!(raw.len() <= 80, "a rawblock is queued as its header only, not {} bytes", raw.len());
                    if let Ok(h) = header(&raw, 1) {
                        for rules in rules() {
                            let _ = rules.check_work(&h);
                        }
                    }
                }
                Trigger::RawTx(_) | Trigger::Reconcile(_) => {}
                Trigger::Stop => unreachable!("the feed never asks to stop"),
            }
        }
    }
}

/// A raw block through every check a connected block gets, under each network's rules, its
/// parent's `bits` given.
pub(crate) fn verify_block(parent_bits: u32, raw: &[u8]) {
    let Ok(h) = header(raw, 1) else { return };
    let bits = h.bits.to_consensus();
    for rules in rules() {
        let _ = rules.check_work(&h);
        let parent = rules.after(None, parent_bits);
        for height in [1, 2015, 2016, 4032] {
            let _ = rules.check_bits(height, bits, &parent);
        }
        let _ = rules.after(Some(&parent), bits);
    }
    let computed = verify::check_merkle(&h, raw, None);
    // A root the plugin reported is compared, never trusted: the same header, the same verdict.
    let root = h.merkle_root.to_string();
    if computed.is_ok() {
        assert!(verify::check_merkle(&h, raw, Some(&root)).is_ok());
    }
}

fn rules() -> [Rules; 5] {
    [
        Rules::network(Network::Bitcoin),
        Rules::network(Network::Testnet),
        Rules::network(Network::Testnet4),
        Rules::network(Network::Regtest),
        Rules::other_coin(None),
    ]
}
