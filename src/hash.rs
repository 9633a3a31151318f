//! Hex and SHA-256 helpers shared by SigV4 (verifying and re-signing), the body hash of
//! every call and the stored form of bearer tokens. A leaf: imports nothing from the crate.

use sha2::{Digest, Sha256};

/// Appends the lowercase hex of `bytes` to `out`, 32 bytes at a time through a stack
/// buffer (no intermediate string).
#[allow(clippy::expect_used)] // both states invariants of hex encoding
pub(crate) fn push_hex(bytes: &[u8], out: &mut String) {
    let mut buf = [0u8; 64];
    out.reserve(bytes.len() * 2);
    for chunk in bytes.chunks(32) {
        let digits = &mut buf[..chunk.len() * 2];
        hex::encode_to_slice(chunk, digits).expect("the buffer holds two digits per byte");
        out.push_str(std::str::from_utf8(digits).expect("hex digits are ASCII"));
    }
}

/// Lowercase hex of `bytes`, written in one allocation.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(bytes, &mut out);
    out
}

/// Lowercase hex SHA-256 of `data`, as SigV4 spells hashes.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    to_hex(&Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_helpers_match_the_hex_crate() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(to_hex(&bytes), hex::encode(&bytes));
        assert_eq!(to_hex(&bytes[..33]), hex::encode(&bytes[..33]));
        assert_eq!(to_hex(&[]), "");
        let mut out = String::from("sig=");
        push_hex(&[0xab, 0x01], &mut out);
        assert_eq!(out, "sig=ab01");
    }
}
