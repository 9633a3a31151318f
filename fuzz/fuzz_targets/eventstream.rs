//! Fuzz target `eventstream`: arbitrary bytes into `bedrock_gate::fuzzing::eventstream`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bedrock_gate::fuzzing::eventstream(data));
