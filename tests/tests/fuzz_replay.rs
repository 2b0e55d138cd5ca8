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
    // The seeds `scripts/fuzz.sh` starts the fuzzer from (one request per file).
    let dir = workspace_root().join("tests/fuzz-daemon/seeds/api_requests");
    let mut seeds: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).collect();
    seeds.sort();
    assert!(seeds.len() >= 20, "{} seeds in {}", seeds.len(), dir.display());
    let mut accepted = Vec::new();
    for s in seeds {
        if let Some((_, true)) = api.request(&std::fs::read(&s).unwrap()) {
            accepted.push(s.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    // The gateways' well-formed seeds get through their authentication to a made invoice or a
    // read: the fuzzer starts past the front door of each gateway, not at its 401.
    for seed in ["35-coingate", "39-coinpayments", "43-bitpay"] {
        assert!(accepted.iter().any(|a| a == seed), "{seed} was refused; accepted: {accepted:?}");
    }
}
