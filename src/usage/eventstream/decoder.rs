//! The incremental event-stream [`Decoder`]: buffers bytes fed in arbitrary pieces, checks
//! each frame's prelude and message CRC32s and length limits, decodes its headers, and splits
//! complete frames off the buffer without copying. [`DecodeError`] says why bytes are invalid.

use bytes::{Bytes, BytesMut};

use super::{HeaderValue, Message, MAX_MESSAGE_LEN, MIN_MESSAGE_LEN, PRELUDE_LEN};

/// Why a byte stream is not a valid event stream. Once returned, the [`Decoder`] keeps
/// returning the same error: framing cannot be recovered after a corrupt frame.
#[derive(thiserror::Error, Clone, Debug, PartialEq, Eq)]
pub(crate) enum DecodeError {
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
pub(crate) struct Decoder {
    buf: BytesMut,
    error: Option<DecodeError>,
}

impl Decoder {
    /// Appends `bytes` to the internal buffer. Does no decoding; ignored once the decoder
    /// has failed.
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
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
    pub(crate) fn next_message(&mut self) -> Result<Option<Message>, DecodeError> {
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
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
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
