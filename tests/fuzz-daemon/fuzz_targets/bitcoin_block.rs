//! A raw block (after 4 bytes of its parent's bits) through the daemon's block verification:
//! compact targets, retarget rules, merkle root and the mutated-list check.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| paywatch::fuzzing::bitcoin_block(data));
