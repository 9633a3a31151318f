//! Fuzz target `cloudtrail`: arbitrary bytes into `bedrock_gate::fuzzing::cloudtrail`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bedrock_gate::fuzzing::cloudtrail(data));
