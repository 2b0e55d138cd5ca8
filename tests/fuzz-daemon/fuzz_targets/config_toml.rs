//! A config file's text through the daemon's parsing and validation.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| paywatch::fuzzing::config_toml(data));
