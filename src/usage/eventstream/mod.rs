//! Incremental decoder for the AWS event-stream binary framing (`application/vnd.amazon.eventstream`),
//! as used by Bedrock's `ConverseStream` and `InvokeModelWithResponseStream` responses.
//!
//! This module owns the wire format only: frame boundaries, the two CRC32 checks, and header
//! decoding. It knows nothing about Bedrock events; `usage::tap` interprets the messages.
//!
//! A frame is laid out as
//! `[total_len u32 BE][headers_len u32 BE][prelude_crc u32][headers][payload][message_crc u32]`,
//! where `prelude_crc` is the CRC32 (IEEE) of the first 8 bytes and `message_crc` is the CRC32 of
//! every byte before it. Each header is `name_len u8`, the name, a type byte (0..=9) and a value.
//!
//! The `Decoder` accepts bytes in arbitrary pieces (a frame split at any byte boundary, or many
//! frames in one piece). Bytes are appended to one growable buffer and complete frames are split
//! off its front without copying, so the total work is linear in the stream length.
//!
//! Files: this one holds the frame constants and the decoded message model (`Message`,
//! `HeaderValue`); `decoder.rs` the incremental `Decoder` and its `DecodeError`;
//! `encode.rs` the [`encode_event`] encoder used by benchmarks.

mod decoder;
mod encode;
#[cfg(test)]
pub(crate) mod test_encode;
#[cfg(test)]
mod tests;

use bytes::Bytes;

pub(crate) use decoder::Decoder;
pub use encode::encode_event;
pub(crate) use encode::encode_exception;

/// Size of the prelude: total length, headers length and prelude CRC.
const PRELUDE_LEN: usize = 12;
/// Smallest valid frame: prelude plus the trailing message CRC, no headers, no payload.
const MIN_MESSAGE_LEN: u32 = 16;
/// Largest frame accepted (16 MiB), the limit AWS services document for event-stream messages.
pub(crate) const MAX_MESSAGE_LEN: u32 = 16 * 1024 * 1024;

/// One decoded event-stream message (frame).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Message {
    /// Headers in wire order. Names are case-sensitive as sent (Bedrock uses `:event-type`,
    /// `:message-type`, `:exception-type`, `:content-type`, ...).
    pub(crate) headers: Vec<(String, HeaderValue)>,
    /// The payload bytes (for Bedrock, a JSON document). Shares the decoder's buffer; no copy.
    pub(crate) payload: Bytes,
}

impl Message {
    /// Value of the first header called exactly `name` if that header is a string
    /// (type 7); `None` when the header is absent or has another type.
    #[must_use]
    pub(crate) fn header_str(&self, name: &str) -> Option<&str> {
        match self.header(name)? {
            HeaderValue::String(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// Value of the first header called exactly `name`, of any type.
    #[must_use]
    pub(crate) fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value)
    }
}

/// A typed event-stream header value; the variant order matches the wire type byte (0..=9,
/// where types 0 and 1 are both [`HeaderValue::Bool`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HeaderValue {
    /// Types 0 (`true`) and 1 (`false`); no value bytes on the wire.
    Bool(bool),
    /// Type 2: one signed byte.
    Byte(i8),
    /// Type 3: big-endian `i16`.
    Short(i16),
    /// Type 4: big-endian `i32`.
    Int(i32),
    /// Type 5: big-endian `i64`.
    Long(i64),
    /// Type 6: `u16` big-endian length, then that many bytes.
    Bytes(Bytes),
    /// Type 7: `u16` big-endian length, then that many bytes of UTF-8.
    String(String),
    /// Type 8: big-endian `i64`, milliseconds since the Unix epoch.
    Timestamp(i64),
    /// Type 9: 16 raw bytes.
    Uuid([u8; 16]),
}
