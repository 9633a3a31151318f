//! [`encode_event`]: builds one Bedrock-style event frame (string headers, JSON payload, both
//! CRCs), for the benchmarks and the load benchmark's fake upstream.

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
