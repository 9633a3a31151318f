//! Event-stream frame encoding: [`encode_event`] builds one Bedrock-style event frame
//! (string headers, JSON payload, both CRCs) for the benchmarks and the load benchmark's
//! fake upstream; [`encode_exception`] the exception frame the proxy sends a caller when
//! the upstream's stream breaks.

/// Encodes one event message with string headers `:event-type`, `:content-type`
/// (`application/json`) and `:message-type` (`event`): what Bedrock streams send. Used by
/// the benchmarks and the load benchmark's upstream. Returns `None` when a field is too
/// long for the format.
pub fn encode_event(event_type: &str, payload: &[u8]) -> Option<Vec<u8>> {
    encode(
        &[
            (":event-type", event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload,
    )
}

/// Encodes an exception message (`:message-type` `exception`, `:exception-type`), as
/// Bedrock ends a stream that failed; the payload is `{"message": ...}`.
pub(crate) fn encode_exception(exception_type: &str, message: &str) -> Option<Vec<u8>> {
    let payload = serde_json::json!({ "message": message }).to_string();
    encode(
        &[
            (":exception-type", exception_type),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        payload.as_bytes(),
    )
}

/// One frame with string headers.
fn encode(headers: &[(&str, &str)], payload: &[u8]) -> Option<Vec<u8>> {
    let mut encoded = Vec::new();
    for (name, value) in headers {
        encoded.push(u8::try_from(name.len()).ok()?);
        encoded.extend_from_slice(name.as_bytes());
        encoded.push(7);
        encoded.extend_from_slice(&u16::try_from(value.len()).ok()?.to_be_bytes());
        encoded.extend_from_slice(value.as_bytes());
    }
    let total = u32::try_from(12 + encoded.len() + payload.len() + 4).ok()?;
    let mut out = Vec::with_capacity(total as usize);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&u32::try_from(encoded.len()).ok()?.to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&encoded);
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    Some(out)
}
