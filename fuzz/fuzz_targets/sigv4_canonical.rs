//! Fuzz target `sigv4_canonical`: arbitrary bytes into `bedrock_gate::fuzzing::sigv4_canonical`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bedrock_gate::fuzzing::sigv4_canonical(data));
