//! Fuzzing the CloudTrail parsers: any bytes as an EventBridge delivery and as a log
//! file (plain, or gzip when they start like it). A log file that fails still hands
//! over the records before the fault, and says how many.

use std::path::Path;

use crate::cloudtrail::{parse_delivery, CloudTrailError};

/// The bytes as a delivery body and as a log file.
pub fn cloudtrail(data: &[u8]) {
    let _ = parse_delivery(data);
    let mut seen = 0u64;
    match crate::cloudtrail::read_log(data, Path::new("fuzz.json"), &mut |_| seen += 1) {
        Ok(records) => assert_eq!(records, seen),
        Err(CloudTrailError::Corrupt { records, .. }) => assert_eq!(records, seen),
        Err(e) => panic!("reading from memory failed: {e}"),
    }
}
