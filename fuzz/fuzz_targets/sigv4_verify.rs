//! Fuzz target `sigv4_verify`: arbitrary bytes into `bedrock_gate::fuzzing::sigv4_verify`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bedrock_gate::fuzzing::sigv4_verify(data));
