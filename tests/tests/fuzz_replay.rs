//! The daemon's fuzz entry points (`paywatch::fuzzing`, run by `tests/fuzz-daemon/`) on seeds
//! like the fuzzers start from: CI does not run the fuzzers, so this keeps their harness
//! working (an API harness that no longer starts, or answers 5xx to a seed, fails here) and
//! replays a few hostile shapes on every run.

use paywatch::fuzzing::{bitcoin_block, config_toml, zmq_messages, Api};
use paywatch_tests::{plugins_dir, workspace_root};

fn mainnet_block() -> Vec<u8> {
    let dir = workspace_root().join("plugin-api/testdata");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("mainnet_block_"))
        .expect("the mainnet block");
    std::fs::read(file.path()).unwrap()
}

fn message(topic: &[u8], body: &[u8], seq: u32) -> Vec<u8> {
    [topic, b"\xff\xfe", body, b"\xff\xfe", &seq.to_le_bytes()].concat()
}

#[test]
fn zmq_messages_and_blocks_of_every_shape_are_handled() {
    let block = mainnet_block();
    let header = &block[..80];
    let messages = [
        message(b"rawblock", header, 0),
        [message(b"rawtx", &block[81..400], 0), message(b"rawtx", &block[400..600], 2)].join(&b"\xff\xff"[..]),
        message(b"sequence", &[0; 33], 7),
        message(b"rawblock", &block, u32::MAX),
        message(b"rawblock", &header[..79], 1),
        b"\xff\xfe\xff\xfe".to_vec(),
        b"rawtx".to_vec(),
        Vec::new(),
    ];
    for m in &messages {
        zmq_messages(m);
    }
    let bits = &block[72..76];
    bitcoin_block(&[bits, &block].concat());
    bitcoin_block(&[bits, &block[..81]].concat());
    bitcoin_block(&[&[0xff; 4][..], header].concat());
    // A header whose bits are every awkward compact form, with the real transactions.
    for bits in [0u32, 0x0080_0000, 0x0100_0000, 0x0280_0000, 0x2100_ffff, 0x2200_0001, 0xff7f_ffff, 0x1d00_ffff] {
        let mut b = block.clone();
        b[72..76].copy_from_slice(&bits.to_le_bytes());
        bitcoin_block(&[&bits.to_le_bytes()[..], &b].concat());
    }
}

#[test]
fn the_shipped_configs_and_broken_ones_are_parsed_without_panic() {
    for name in ["config/example.toml", "config/dev.toml"] {
        config_toml(&std::fs::read(workspace_root().join(name)).unwrap());
    }
    for text in ["", "[[stores]]\n[[stores]]", "server = 1", "[chains]\nx = [[[[]]]]", "\u{0}", "a.b.c.d.e = 1e400"] {
        config_toml(text.as_bytes());
    }
}

#[test]
fn the_api_harness_starts_and_answers_its_seeds_without_a_5xx() {
    let dir = tempfile::tempdir().unwrap();
    let api = Api::new(&plugins_dir(), &dir.path().join("data")).unwrap_or_else(|e| panic!("{e}"));
    let seeds: &[&[u8]] = &[
        b"\x00{\"asset\":\"BTC\",\"amount\":\"0.001\",\"order_id\":\"o-1\",\"metadata\":{\"cart\":[1,2]}}",
        b"\x00{\"asset\":\"ETH\",\"amount\":\"1.5\",\"order_id\":\"o-2\",\"speed\":\"high\"}",
        b"\x00{\"asset\":\"BTC\",\"amount\":\"340282366920938463463374607.43176822\",\"order_id\":\"big\"}",
        b"\x01{\"amount\":\"0.0005\",\"address\":\"mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn\"}",
        b"\x02{\"address\":\"mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn\"}",
        b"\x03{\"plugin\":\"webhook\",\"url\":\"http://203.0.113.7/hook\",\"secret\":\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"}",
        b"\x03{\"plugin\":\"woocommerce\",\"url\":\"http://127.0.0.1/\",\"params\":{\"consumer_key\":\"ck\"}}",
        b"\x04{\"url\":\"http://203.0.113.7/other\",\"enabled\":false}",
        b"\x04{\"params\":{\"url\":\"http://10.0.0.1/\"}}",
        b"\x05{\"chain\":\"btc\",\"address\":\"mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn\"}",
        b"\x06{\"watches\":[{\"chain\":\"eth\",\"address\":\"0xdAC17F958D2ee523a2206206994597C13D831ec7\"}]}",
        b"\x07{}",
        b"\x80invoices?limit=10&status=settled",
        b"\x80events?after=18446744073709551615&limit=5",
        b"\x80watches/%00",
        b"\x80invoices/00000000-0000-0000-0000-000000000000/refundable",
        b"\x00[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        b"\x01\xff\xfe",
        b"",
    ];
    for s in seeds {
        api.request(s);
    }
}
