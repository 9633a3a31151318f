//! Fuzz target `usage_tap`: arbitrary bytes into `bedrock_gate::fuzzing::usage_tap`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bedrock_gate::fuzzing::usage_tap(data));
