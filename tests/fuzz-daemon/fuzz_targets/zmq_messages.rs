//! ZMQ multipart messages (`\xff\xff` between messages, `\xff\xfe` between frames) through the
//! daemon's feed decoding, and rawblock headers through the follower's proof-of-work check.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| paywatch::fuzzing::zmq_messages(data));
