//! Test-only event-stream encoder covering every header type, shared with the `tap` tests to
//! build fixtures (valid frames, exceptions, error messages, raw header bytes).

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
