//! Fuzz target `config`: arbitrary bytes into `bedrock_gate::fuzzing::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bedrock_gate::fuzzing::config(data));
