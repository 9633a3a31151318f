//! Incremental decoder for the AWS event-stream binary framing (`application/vnd.amazon.eventstream`),
//! as used by Bedrock's `ConverseStream` and `InvokeModelWithResponseStream` responses.
//!
//! This module owns the wire format only: frame boundaries, the two CRC32 checks, and header
//! decoding. It knows nothing about Bedrock events; [`super::tap`] interprets the messages.
//!
//! A frame is laid out as
//! `[total_len u32 BE][headers_len u32 BE][prelude_crc u32][headers][payload][message_crc u32]`,
//! where `prelude_crc` is the CRC32 (IEEE) of the first 8 bytes and `message_crc` is the CRC32 of
//! every byte before it. Each header is `name_len u8`, the name, a type byte (0..=9) and a value.
//!
//! The [`Decoder`] accepts bytes in arbitrary pieces (a frame split at any byte boundary, or many
//! frames in one piece). Bytes are appended to one growable buffer and complete frames are split
//! off its front without copying, so the total work is linear in the stream length.

use bytes::{Bytes, BytesMut};

/// Size of the prelude: total length, headers length and prelude CRC.
const PRELUDE_LEN: usize = 12;
/// Smallest valid frame: prelude plus the trailing message CRC, no headers, no payload.
const MIN_MESSAGE_LEN: u32 = 16;
/// Largest frame accepted (16 MiB), the limit AWS services document for event-stream messages.
pub const MAX_MESSAGE_LEN: u32 = 16 * 1024 * 1024;

/// One decoded event-stream message (frame).
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// Headers in wire order. Names are case-sensitive as sent (Bedrock uses `:event-type`,
    /// `:message-type`, `:exception-type`, `:content-type`, ...).
    pub headers: Vec<(String, HeaderValue)>,
    /// The payload bytes (for Bedrock, a JSON document). Shares the decoder's buffer; no copy.
    pub payload: Bytes,
}

impl Message {
    /// Value of the first header called exactly `name` if that header is a string
    /// (type 7); `None` when the header is absent or has another type.
    #[must_use]
    pub fn header_str(&self, name: &str) -> Option<&str> {
        match self.header(name)? {
            HeaderValue::String(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// Value of the first header called exactly `name`, of any type.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value)
    }
}

/// A typed event-stream header value; the variant order matches the wire type byte (0..=9,
/// where types 0 and 1 are both [`HeaderValue::Bool`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderValue {
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

/// Why a byte stream is not a valid event stream. Once returned, the [`Decoder`] keeps
/// returning the same error: framing cannot be recovered after a corrupt frame.
#[derive(thiserror::Error, Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The CRC32 of the first 8 bytes does not match the prelude CRC field.
    #[error(
        "event stream prelude CRC mismatch: frame says {expected:#010x}, computed {computed:#010x}"
    )]
    PreludeCrcMismatch {
        /// CRC carried in the frame.
        expected: u32,
        /// CRC computed over the received bytes.
        computed: u32,
    },
    /// The CRC32 of the whole frame (minus its last 4 bytes) does not match the message CRC.
    #[error(
        "event stream message CRC mismatch: frame says {expected:#010x}, computed {computed:#010x}"
    )]
    MessageCrcMismatch {
        /// CRC carried in the frame.
        expected: u32,
        /// CRC computed over the received bytes.
        computed: u32,
    },
    /// `total_len` is below the 16-byte minimum (prelude plus message CRC).
    #[error("event stream message length {0} is below the 16-byte minimum")]
    MessageTooShort(u32),
    /// `total_len` exceeds [`MAX_MESSAGE_LEN`] (16 MiB).
    #[error("event stream message length {0} exceeds the 16 MiB maximum")]
    MessageTooLong(u32),
    /// `headers_len` is larger than `total_len - 16`.
    #[error(
        "event stream headers length {headers_len} does not fit in message length {total_len}"
    )]
    HeadersTooLong {
        /// The `headers_len` field.
        headers_len: u32,
        /// The `total_len` field.
        total_len: u32,
    },
    /// A header's type byte is not one of 0..=9.
    #[error("event stream header has unknown value type {0}")]
    BadHeaderType(u8),
    /// A header's name or value runs past the end of the headers section.
    #[error("event stream header is truncated")]
    TruncatedHeader,
    /// A header name or string value is not valid UTF-8.
    #[error("event stream header name or string value is not valid UTF-8")]
    InvalidUtf8,
}

/// Incremental event-stream decoder: [`feed`](Decoder::feed) bytes as they arrive, then call
/// [`next_message`](Decoder::next_message) until it returns `Ok(None)` (more bytes needed).
///
/// Complete frames are split off the front of the internal buffer without copying, so feeding
/// a stream in pieces of any size costs time linear in its length. After the first error the
/// decoder is poisoned: `next_message` returns that same error forever and `feed` discards its
/// input (so a caller that keeps passing bytes through does not grow the buffer).
#[derive(Debug, Default)]
pub struct Decoder {
    buf: BytesMut,
    error: Option<DecodeError>,
}

impl Decoder {
    /// An empty decoder.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `bytes` to the internal buffer. Does no decoding; ignored once the decoder
    /// has failed.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.error.is_none() {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Decodes the next complete frame.
    ///
    /// Returns `Ok(Some(message))` for a frame, `Ok(None)` when the buffer holds no complete
    /// frame yet, and `Err` when the data is invalid. The prelude (lengths and prelude CRC) is
    /// checked as soon as its 12 bytes have arrived, so a corrupt length is reported without
    /// waiting for (possibly 4 GiB of) frame bytes that will never come.
    ///
    /// # Errors
    ///
    /// Any [`DecodeError`]; the decoder then stays failed and returns the same error on every
    /// later call.
    pub fn next_message(&mut self) -> Result<Option<Message>, DecodeError> {
        if let Some(err) = &self.error {
            return Err(err.clone());
        }
        match self.try_next() {
            Ok(message) => Ok(message),
            Err(err) => {
                self.error = Some(err.clone());
                self.buf = BytesMut::new();
                Err(err)
            }
        }
    }

    /// Number of bytes fed but not yet returned as messages (a partial frame, or frames not
    /// yet pulled with `next_message`). Zero after an error.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The error the decoder failed with, if any.
    #[must_use]
    pub fn error(&self) -> Option<&DecodeError> {
        self.error.as_ref()
    }

    fn try_next(&mut self) -> Result<Option<Message>, DecodeError> {
        let (Some(total_len), Some(headers_len), Some(prelude_crc)) = (
            be_u32(&self.buf, 0),
            be_u32(&self.buf, 4),
            be_u32(&self.buf, 8),
        ) else {
            return Ok(None);
        };
        let computed = crc32fast::hash(self.buf.get(..8).unwrap_or_default());
        if computed != prelude_crc {
            return Err(DecodeError::PreludeCrcMismatch {
                expected: prelude_crc,
                computed,
            });
        }
        if total_len < MIN_MESSAGE_LEN {
            return Err(DecodeError::MessageTooShort(total_len));
        }
        if total_len > MAX_MESSAGE_LEN {
            return Err(DecodeError::MessageTooLong(total_len));
        }
        if headers_len > total_len - MIN_MESSAGE_LEN {
            return Err(DecodeError::HeadersTooLong {
                headers_len,
                total_len,
            });
        }
        // Both fit in usize: total_len <= 16 MiB.
        let total = total_len as usize;
        let headers_end = PRELUDE_LEN + headers_len as usize;
        if self.buf.len() < total {
            // Reserve the rest of the frame once, so a large frame arriving in small pieces
            // does not reallocate repeatedly.
            self.buf.reserve(total - self.buf.len());
            return Ok(None);
        }
        let frame = self.buf.split_to(total).freeze();
        let crc_at = total - 4;
        let (Some(body), Some(message_crc)) = (frame.get(..crc_at), be_u32(&frame, crc_at)) else {
            return Err(DecodeError::MessageTooShort(total_len));
        };
        let computed = crc32fast::hash(body);
        if computed != message_crc {
            return Err(DecodeError::MessageCrcMismatch {
                expected: message_crc,
                computed,
            });
        }
        // Guaranteed by the HeadersTooLong check; kept so the slicing below cannot panic.
        if headers_end > crc_at {
            return Err(DecodeError::HeadersTooLong {
                headers_len,
                total_len,
            });
        }
        let headers = decode_headers(frame.slice(PRELUDE_LEN..headers_end))?;
        let payload = frame.slice(headers_end..crc_at);
        Ok(Some(Message { headers, payload }))
    }
}

/// Reads a big-endian `u32` at `at`, or `None` if fewer than 4 bytes are there.
fn be_u32(buf: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = buf.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

/// A bounds-checked reader over the headers section of one frame.
struct Reader {
    data: Bytes,
    pos: usize,
}

impl Reader {
    fn take(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.data.len())
            .ok_or(DecodeError::TruncatedHeader)?;
        let out = self.data.slice(self.pos..end);
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N)?;
        <[u8; N]>::try_from(bytes.as_ref()).map_err(|_| DecodeError::TruncatedHeader)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn string(&mut self, n: usize) -> Result<String, DecodeError> {
        let bytes = self.take(n)?;
        std::str::from_utf8(&bytes)
            .map(str::to_owned)
            .map_err(|_| DecodeError::InvalidUtf8)
    }
}

/// Decodes the whole headers section of a frame.
fn decode_headers(data: Bytes) -> Result<Vec<(String, HeaderValue)>, DecodeError> {
    let mut reader = Reader { data, pos: 0 };
    let mut headers = Vec::new();
    while reader.pos < reader.data.len() {
        let name_len = usize::from(reader.u8()?);
        let name = reader.string(name_len)?;
        let value = match reader.u8()? {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Byte(i8::from_be_bytes(reader.array()?)),
            3 => HeaderValue::Short(i16::from_be_bytes(reader.array()?)),
            4 => HeaderValue::Int(i32::from_be_bytes(reader.array()?)),
            5 => HeaderValue::Long(i64::from_be_bytes(reader.array()?)),
            6 => {
                let len = usize::from(reader.u16()?);
                HeaderValue::Bytes(reader.take(len)?)
            }
            7 => {
                let len = usize::from(reader.u16()?);
                HeaderValue::String(reader.string(len)?)
            }
            8 => HeaderValue::Timestamp(i64::from_be_bytes(reader.array()?)),
            9 => HeaderValue::Uuid(reader.array()?),
            other => return Err(DecodeError::BadHeaderType(other)),
        };
        headers.push((name, value));
    }
    Ok(headers)
}

/// Encodes one event message with string headers `:event-type`, `:content-type`
/// (`application/json`) and `:message-type` (`event`): what Bedrock streams send. Used by
/// the benchmarks and the load benchmark's upstream. Returns `None` when a field is too
/// long for the format.
pub fn encode_event(event_type: &str, payload: &[u8]) -> Option<Vec<u8>> {
    let mut headers = Vec::new();
    for (name, value) in [
        (":event-type", event_type),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ] {
        headers.push(u8::try_from(name.len()).ok()?);
        headers.extend_from_slice(name.as_bytes());
        headers.push(7);
        headers.extend_from_slice(&u16::try_from(value.len()).ok()?.to_be_bytes());
        headers.extend_from_slice(value.as_bytes());
    }
    let total = u32::try_from(12 + headers.len() + payload.len() + 4).ok()?;
    let mut out = Vec::with_capacity(total as usize);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&u32::try_from(headers.len()).ok()?.to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&headers);
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    Some(out)
}

/// Test-only event-stream encoder (every header type), shared with the `tap` tests to
/// build fixtures.
#[cfg(test)]
pub(crate) mod test_encode {
    use super::HeaderValue;

    /// Encodes one header (name, type byte, value) onto `out`.
    pub(crate) fn header(out: &mut Vec<u8>, name: &str, value: &HeaderValue) {
        out.push(u8::try_from(name.len()).unwrap());
        out.extend_from_slice(name.as_bytes());
        match value {
            HeaderValue::Bool(true) => out.push(0),
            HeaderValue::Bool(false) => out.push(1),
            HeaderValue::Byte(v) => {
                out.push(2);
                out.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Short(v) => {
                out.push(3);
                out.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Int(v) => {
                out.push(4);
                out.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Long(v) => {
                out.push(5);
                out.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Bytes(v) => {
                out.push(6);
                out.extend_from_slice(&u16::try_from(v.len()).unwrap().to_be_bytes());
                out.extend_from_slice(v);
            }
            HeaderValue::String(v) => {
                out.push(7);
                out.extend_from_slice(&u16::try_from(v.len()).unwrap().to_be_bytes());
                out.extend_from_slice(v.as_bytes());
            }
            HeaderValue::Timestamp(v) => {
                out.push(8);
                out.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Uuid(v) => {
                out.push(9);
                out.extend_from_slice(v);
            }
        }
    }

    /// Frames pre-encoded header bytes and a payload, computing both CRCs.
    pub(crate) fn frame_raw(headers: &[u8], payload: &[u8]) -> Vec<u8> {
        let total = u32::try_from(16 + headers.len() + payload.len()).unwrap();
        let mut out = Vec::new();
        out.extend_from_slice(&total.to_be_bytes());
        out.extend_from_slice(&u32::try_from(headers.len()).unwrap().to_be_bytes());
        let prelude_crc = crc32fast::hash(&out);
        out.extend_from_slice(&prelude_crc.to_be_bytes());
        out.extend_from_slice(headers);
        out.extend_from_slice(payload);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Encodes a frame with typed headers.
    pub(crate) fn frame(headers: &[(&str, HeaderValue)], payload: &[u8]) -> Vec<u8> {
        let mut raw = Vec::new();
        for (name, value) in headers {
            header(&mut raw, name, value);
        }
        frame_raw(&raw, payload)
    }

    /// Encodes a Bedrock-style event frame (`:event-type`, `:content-type`, `:message-type`).
    pub(crate) fn event(event_type: &str, payload: &str) -> Vec<u8> {
        frame(
            &[
                (":event-type", HeaderValue::String(event_type.into())),
                (
                    ":content-type",
                    HeaderValue::String("application/json".into()),
                ),
                (":message-type", HeaderValue::String("event".into())),
            ],
            payload.as_bytes(),
        )
    }

    /// Encodes a Bedrock-style exception frame.
    pub(crate) fn exception(exception_type: &str, payload: &str) -> Vec<u8> {
        frame(
            &[
                (
                    ":exception-type",
                    HeaderValue::String(exception_type.into()),
                ),
                (
                    ":content-type",
                    HeaderValue::String("application/json".into()),
                ),
                (":message-type", HeaderValue::String("exception".into())),
            ],
            payload.as_bytes(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::test_encode::{frame, frame_raw};
    use super::*;

    #[test]
    fn encode_event_round_trips_through_the_decoder() {
        let bytes = encode_event("metadata", br#"{"usage":{}}"#).unwrap();
        let mut d = Decoder::new();
        d.feed(&bytes);
        let m = d.next_message().unwrap().unwrap();
        assert_eq!(m.header_str(":event-type"), Some("metadata"));
        assert_eq!(m.header_str(":message-type"), Some("event"));
        assert_eq!(&m.payload[..], br#"{"usage":{}}"#);
        assert_eq!(d.next_message(), Ok(None));
        assert!(encode_event(&"x".repeat(70_000), b"").is_none());
    }

    /// aws-c-event-stream's `multiple_valid_messages_parse` vector: an empty message, a
    /// payload-only message and a message with a `content-type` string header. Independent of
    /// this crate's test encoder, so it checks the CRC flavour and byte order for real.
    const AWS_VECTOR: &[u8] = &[
        0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8,
        0xff, //
        0x00, 0x00, 0x00, 0x1D, 0x00, 0x00, 0x00, 0x00, 0xfd, 0x52, 0x8c, 0x5a, 0x7b, 0x27, 0x66,
        0x6f, 0x6f, 0x27, 0x3a, 0x27, 0x62, 0x61, 0x72, 0x27, 0x7d, 0xc3, 0x65, 0x39, 0x36, //
        0x00, 0x00, 0x00, 0x3D, 0x00, 0x00, 0x00, 0x20, 0x07, 0xFD, 0x83, 0x96, 0x0C, b'c', b'o',
        b'n', b't', b'e', b'n', b't', b'-', b't', b'y', b'p', b'e', 0x07, 0x00, 0x10, b'a', b'p',
        b'p', b'l', b'i', b'c', b'a', b't', b'i', b'o', b'n', b'/', b'j', b's', b'o', b'n', 0x7b,
        0x27, 0x66, 0x6f, 0x6f, 0x27, 0x3a, 0x27, 0x62, 0x61, 0x72, 0x27, 0x7d, 0x8D, 0x9C, 0x08,
        0xB1,
    ];

    fn drain(decoder: &mut Decoder) -> Result<Vec<Message>, DecodeError> {
        let mut out = Vec::new();
        while let Some(message) = decoder.next_message()? {
            out.push(message);
        }
        Ok(out)
    }

    fn check_aws_vector(messages: &[Message]) {
        assert_eq!(messages.len(), 3);
        assert!(messages[0].headers.is_empty());
        assert!(messages[0].payload.is_empty());
        assert!(messages[1].headers.is_empty());
        assert_eq!(&messages[1].payload[..], b"{'foo':'bar'}");
        assert_eq!(
            messages[2].header_str("content-type"),
            Some("application/json")
        );
        assert_eq!(&messages[2].payload[..], b"{'foo':'bar'}");
    }

    fn all_types_frame() -> (Vec<(String, HeaderValue)>, Vec<u8>) {
        let headers = vec![
            ("t".to_string(), HeaderValue::Bool(true)),
            ("f".to_string(), HeaderValue::Bool(false)),
            ("byte".to_string(), HeaderValue::Byte(-7)),
            ("short".to_string(), HeaderValue::Short(-300)),
            ("int".to_string(), HeaderValue::Int(123_456_789)),
            ("long".to_string(), HeaderValue::Long(-9_876_543_210)),
            (
                "bytes".to_string(),
                HeaderValue::Bytes(Bytes::from_static(&[0, 255, 1])),
            ),
            (
                ":event-type".to_string(),
                HeaderValue::String("chunk".into()),
            ),
            ("ts".to_string(), HeaderValue::Timestamp(1_700_000_000_123)),
            ("uuid".to_string(), HeaderValue::Uuid([0xab; 16])),
        ];
        let borrowed: Vec<(&str, HeaderValue)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.clone()))
            .collect();
        let bytes = frame(&borrowed, b"{\"x\":1}");
        (headers, bytes)
    }

    #[test]
    fn decodes_aws_reference_vector() {
        let mut decoder = Decoder::new();
        decoder.feed(AWS_VECTOR);
        let messages = drain(&mut decoder).unwrap();
        check_aws_vector(&messages);
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn test_encoder_matches_aws_reference_vector() {
        let mut expected = Vec::new();
        expected.extend(frame(&[], b""));
        expected.extend(frame(&[], b"{'foo':'bar'}"));
        expected.extend(frame(
            &[(
                "content-type",
                HeaderValue::String("application/json".into()),
            )],
            b"{'foo':'bar'}",
        ));
        assert_eq!(expected, AWS_VECTOR);
    }

    #[test]
    fn round_trips_every_header_type() {
        let (headers, bytes) = all_types_frame();
        let mut decoder = Decoder::new();
        decoder.feed(&bytes);
        let message = decoder.next_message().unwrap().unwrap();
        assert_eq!(message.headers, headers);
        assert_eq!(&message.payload[..], b"{\"x\":1}");
        assert_eq!(message.header_str(":event-type"), Some("chunk"));
        assert_eq!(message.header_str("int"), None, "not a string header");
        assert_eq!(message.header_str("missing"), None);
        assert_eq!(message.header("short"), Some(&HeaderValue::Short(-300)));
        assert_eq!(decoder.next_message(), Ok(None));
    }

    #[test]
    fn frames_split_at_every_byte_boundary() {
        let (headers, typed) = all_types_frame();
        let mut stream = AWS_VECTOR.to_vec();
        stream.extend_from_slice(&typed);
        for split in 0..=stream.len() {
            let mut decoder = Decoder::new();
            let mut messages = Vec::new();
            decoder.feed(&stream[..split]);
            messages.extend(drain(&mut decoder).unwrap());
            decoder.feed(&stream[split..]);
            messages.extend(drain(&mut decoder).unwrap());
            check_aws_vector(&messages[..3]);
            assert_eq!(messages.len(), 4, "split at {split}");
            assert_eq!(messages[3].headers, headers);
            assert_eq!(decoder.buffered(), 0);
        }
    }

    #[test]
    fn frames_fed_one_byte_at_a_time_and_in_every_piece_size() {
        for piece in 1..=AWS_VECTOR.len() {
            let mut decoder = Decoder::new();
            let mut messages = Vec::new();
            for chunk in AWS_VECTOR.chunks(piece) {
                decoder.feed(chunk);
                messages.extend(drain(&mut decoder).unwrap());
            }
            check_aws_vector(&messages);
        }
    }

    #[test]
    fn partial_frame_is_buffered_not_returned() {
        let mut decoder = Decoder::new();
        decoder.feed(&AWS_VECTOR[..16 + 20]);
        assert_eq!(drain(&mut decoder).unwrap().len(), 1);
        assert_eq!(decoder.buffered(), 20);
        assert_eq!(decoder.next_message(), Ok(None));
    }

    #[test]
    fn many_frames_in_one_feed() {
        let mut stream = Vec::new();
        for i in 0..1000 {
            stream.extend(frame(&[], format!("{{\"i\":{i}}}").as_bytes()));
        }
        let mut decoder = Decoder::new();
        decoder.feed(&stream);
        let messages = drain(&mut decoder).unwrap();
        assert_eq!(messages.len(), 1000);
        assert_eq!(&messages[999].payload[..], b"{\"i\":999}");
    }

    #[test]
    fn prelude_crc_mismatch_is_sticky() {
        let mut bad = AWS_VECTOR[..16].to_vec();
        bad[9] ^= 0x01; // aws-c-event-stream's corrupted_crc_fails vector
        let mut decoder = Decoder::new();
        decoder.feed(&bad);
        let err = decoder.next_message().unwrap_err();
        assert_eq!(
            err,
            DecodeError::PreludeCrcMismatch {
                expected: 0x05c3_48eb,
                computed: 0x05c2_48eb
            }
        );
        // Stays failed, and discards further input.
        decoder.feed(AWS_VECTOR);
        assert_eq!(decoder.buffered(), 0);
        assert_eq!(decoder.next_message(), Err(err.clone()));
        assert_eq!(decoder.error(), Some(&err));
    }

    #[test]
    fn prelude_is_checked_before_the_frame_completes() {
        let mut decoder = Decoder::new();
        let mut bad = AWS_VECTOR[16..16 + 12].to_vec();
        bad[3] = 0xff; // total length no longer matches the prelude CRC
        decoder.feed(&bad);
        assert!(matches!(
            decoder.next_message(),
            Err(DecodeError::PreludeCrcMismatch { .. })
        ));
    }

    #[test]
    fn message_crc_mismatch() {
        for flip_at in [12, 20, 28] {
            let mut bad = AWS_VECTOR[16..16 + 29].to_vec();
            bad[flip_at] ^= 0x80;
            let mut decoder = Decoder::new();
            decoder.feed(&bad);
            assert!(
                matches!(
                    decoder.next_message(),
                    Err(DecodeError::MessageCrcMismatch { .. })
                ),
                "flip at {flip_at}"
            );
        }
    }

    /// A prelude with a valid CRC but the given lengths.
    fn prelude(total: u32, headers: u32) -> Vec<u8> {
        let mut out = total.to_be_bytes().to_vec();
        out.extend_from_slice(&headers.to_be_bytes());
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    #[test]
    fn bad_lengths() {
        let cases = [
            (prelude(15, 0), DecodeError::MessageTooShort(15)),
            (prelude(0, 0), DecodeError::MessageTooShort(0)),
            (
                prelude(MAX_MESSAGE_LEN + 1, 0),
                DecodeError::MessageTooLong(MAX_MESSAGE_LEN + 1),
            ),
            (
                prelude(20, 5),
                DecodeError::HeadersTooLong {
                    headers_len: 5,
                    total_len: 20,
                },
            ),
            (
                prelude(16, u32::MAX),
                DecodeError::HeadersTooLong {
                    headers_len: u32::MAX,
                    total_len: 16,
                },
            ),
        ];
        for (bytes, expected) in cases {
            let mut decoder = Decoder::new();
            decoder.feed(&bytes);
            assert_eq!(decoder.next_message(), Err(expected));
        }
        // The limit itself is accepted (it just waits for the bytes).
        let mut decoder = Decoder::new();
        decoder.feed(&prelude(MAX_MESSAGE_LEN, 0));
        assert_eq!(decoder.next_message(), Ok(None));
        // headers_len == total - 16 is fine.
        let mut decoder = Decoder::new();
        decoder.feed(&frame_raw(&[1, b'a', 0], b""));
        let message = decoder.next_message().unwrap().unwrap();
        assert_eq!(message.headers, vec![("a".into(), HeaderValue::Bool(true))]);
    }

    #[test]
    fn bad_header_type() {
        let mut decoder = Decoder::new();
        decoder.feed(&frame_raw(&[1, b'a', 10], b"{}"));
        assert_eq!(decoder.next_message(), Err(DecodeError::BadHeaderType(10)));
    }

    #[test]
    fn truncated_headers() {
        let cases: [&[u8]; 6] = [
            &[5, b'a'],                // name runs past the section
            &[1, b'a'],                // no type byte
            &[1, b'a', 4, 0, 0],       // int needs 4 bytes
            &[1, b'a', 7, 0, 9, b'x'], // string length 9, 1 byte present
            &[1, b'a', 9, 1, 2, 3],    // uuid needs 16 bytes
            &[1, b'a', 6, 0],          // bytes length needs 2 bytes
        ];
        for raw in cases {
            let mut decoder = Decoder::new();
            decoder.feed(&frame_raw(raw, b"payload"));
            assert_eq!(
                decoder.next_message(),
                Err(DecodeError::TruncatedHeader),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn non_utf8_name_or_string() {
        for raw in [&[1, 0xff, 0][..], &[1, b'a', 7, 0, 2, 0xc3, 0x28][..]] {
            let mut decoder = Decoder::new();
            decoder.feed(&frame_raw(raw, b""));
            assert_eq!(decoder.next_message(), Err(DecodeError::InvalidUtf8));
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let valid = AWS_VECTOR.to_vec();
        for _ in 0..2000 {
            let mut bytes = valid.clone();
            // Mutate a few bytes, or replace the whole thing with noise.
            if next() % 4 == 0 {
                let len = (next() % 200) as usize;
                bytes = (0..len).map(|_| next() as u8).collect();
            } else {
                for _ in 0..(next() % 4 + 1) {
                    let at = (next() as usize) % bytes.len();
                    bytes[at] = next() as u8;
                }
            }
            let mut decoder = Decoder::new();
            for chunk in bytes.chunks((next() % 17 + 1) as usize) {
                decoder.feed(chunk);
                while let Ok(Some(_)) = decoder.next_message() {}
            }
        }
    }
}
