//! Token usage: reading it from responses while they stream ([`tap`], over the
//! [`eventstream`] decoder), pricing it ([`pricing`]), and writing one `bedrock_requests`
//! row per call off the request path ([`recorder`]).

pub mod eventstream;
pub mod pricing;
pub mod recorder;
pub mod tap;

use rand::RngCore;

pub use pricing::PriceBook;
pub use recorder::{Recorder, RecorderHandle};
pub use tap::{ResponseKind, TokenUsage, UsageReport, UsageSource, UsageTap};

/// A fresh request id: 32 lowercase hex characters, the first 12 the current time in
/// milliseconds since the epoch and the other 20 random (80 bits).
///
/// Time first keeps ids nearly ordered, so the unique index on `request_uid` grows at its
/// right edge instead of touching a random page per row: with random ids SQLite rewrote
/// about four pages per recorded call.
pub fn new_request_id() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    rand::thread_rng().fill_bytes(&mut bytes[6..]);
    crate::auth::sigv4::to_hex(&bytes)
}

#[cfg(test)]
mod tests {
    use super::new_request_id;

    #[test]
    fn request_ids_are_hex_unique_and_time_ordered() {
        let a = new_request_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_request_id();
        let c = new_request_id();
        for id in [&a, &b, &c] {
            assert_eq!(id.len(), 32);
            assert!(id
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        }
        assert!(a[..12] < b[..12], "{a} then {b}");
        assert_ne!(b, c);
        let ms = u64::from_str_radix(&a[..12], 16).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(now - ms < 60_000);
    }
}
