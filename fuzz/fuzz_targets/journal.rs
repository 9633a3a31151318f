//! Fuzz target `journal`: arbitrary bytes into `bedrock_gate::fuzzing::journal`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bedrock_gate::fuzzing::journal(data));
