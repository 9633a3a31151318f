//! Tests of the event-stream decoder: AWS's reference vectors, every header type, frames
//! split at every byte, sticky errors, bad lengths and CRCs, and garbage never panicking.

use super::decoder::DecodeError;
use super::test_encode::{frame, frame_raw};
use super::*;

#[test]
fn encode_event_round_trips_through_the_decoder() {
    let bytes = encode_event("metadata", br#"{"usage":{}}"#).unwrap();
    let mut d = Decoder::default();
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
    0x00, 0x00, 0x00, 0x1D, 0x00, 0x00, 0x00, 0x00, 0xfd, 0x52, 0x8c, 0x5a, 0x7b, 0x27, 0x66, 0x6f,
    0x6f, 0x27, 0x3a, 0x27, 0x62, 0x61, 0x72, 0x27, 0x7d, 0xc3, 0x65, 0x39, 0x36, //
    0x00, 0x00, 0x00, 0x3D, 0x00, 0x00, 0x00, 0x20, 0x07, 0xFD, 0x83, 0x96, 0x0C, b'c', b'o', b'n',
    b't', b'e', b'n', b't', b'-', b't', b'y', b'p', b'e', 0x07, 0x00, 0x10, b'a', b'p', b'p', b'l',
    b'i', b'c', b'a', b't', b'i', b'o', b'n', b'/', b'j', b's', b'o', b'n', 0x7b, 0x27, 0x66, 0x6f,
    0x6f, 0x27, 0x3a, 0x27, 0x62, 0x61, 0x72, 0x27, 0x7d, 0x8D, 0x9C, 0x08, 0xB1,
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
    let mut decoder = Decoder::default();
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
    let mut decoder = Decoder::default();
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
        let mut decoder = Decoder::default();
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
        let mut decoder = Decoder::default();
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
    let mut decoder = Decoder::default();
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
    let mut decoder = Decoder::default();
    decoder.feed(&stream);
    let messages = drain(&mut decoder).unwrap();
    assert_eq!(messages.len(), 1000);
    assert_eq!(&messages[999].payload[..], b"{\"i\":999}");
}

#[test]
fn prelude_crc_mismatch_is_sticky() {
    let mut bad = AWS_VECTOR[..16].to_vec();
    bad[9] ^= 0x01; // aws-c-event-stream's corrupted_crc_fails vector
    let mut decoder = Decoder::default();
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
}

#[test]
fn prelude_is_checked_before_the_frame_completes() {
    let mut decoder = Decoder::default();
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
        let mut decoder = Decoder::default();
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
        let mut decoder = Decoder::default();
        decoder.feed(&bytes);
        assert_eq!(decoder.next_message(), Err(expected));
    }
    // The limit itself is accepted (it just waits for the bytes).
    let mut decoder = Decoder::default();
    decoder.feed(&prelude(MAX_MESSAGE_LEN, 0));
    assert_eq!(decoder.next_message(), Ok(None));
    // headers_len == total - 16 is fine.
    let mut decoder = Decoder::default();
    decoder.feed(&frame_raw(&[1, b'a', 0], b""));
    let message = decoder.next_message().unwrap().unwrap();
    assert_eq!(message.headers, vec![("a".into(), HeaderValue::Bool(true))]);
}

#[test]
fn bad_header_type() {
    let mut decoder = Decoder::default();
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
        let mut decoder = Decoder::default();
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
        let mut decoder = Decoder::default();
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
        let mut decoder = Decoder::default();
        for chunk in bytes.chunks((next() % 17 + 1) as usize) {
            decoder.feed(chunk);
            while let Ok(Some(_)) = decoder.next_message() {}
        }
    }
}
