//! The request id of a call: generated once when the call arrives, sent back in the
//! `x-amzn-RequestId` response header and stored as the record's `request_uid`, so a
//! client's error can be matched to its row. A leaf: imports nothing from the crate.

use rand::RngCore;

/// A fresh request id: 32 lowercase hex characters, the first 12 the current time in
/// milliseconds since the epoch and the other 20 random (80 bits).
///
/// Time first keeps ids nearly ordered, so the unique index on `request_uid` grows at its
/// right edge instead of touching a random page per row: with random ids SQLite rewrote
/// about four pages per recorded call.
#[allow(clippy::expect_used)] // both state invariants of hex encoding
pub fn new_request_id() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    rand::thread_rng().fill_bytes(&mut bytes[6..]);
    let mut digits = [0u8; 32];
    hex::encode_to_slice(bytes, &mut digits).expect("32 digits hold 16 bytes");
    String::from_utf8(digits.to_vec()).expect("hex digits are ASCII")
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
