//! Fuzzing the usage tap on arbitrary bodies: any kind, status, usage headers and body,
//! fed in pieces of a size the input chooses, gives the same report as the body fed at
//! once, and a report without a source counts nothing.

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use super::line;
use crate::usage::{ResponseKind, UsageReport, UsageSource, UsageTap};

/// Byte 0: the kind (low 3 bits), an error status (bit 3), usage headers present
/// (bit 4: the first line holds `name:value` pairs separated by `;`), an incomplete
/// body (bit 5); byte 1: the piece size; the rest is the body.
pub fn usage_tap(data: &[u8]) {
    let [flags, size, rest @ ..] = data else {
        return;
    };
    let kind = ResponseKind::ALL[usize::from(flags & 7) % ResponseKind::ALL.len()];
    let status = if flags & 8 == 0 {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    let (headers, body) = if flags & 16 == 0 {
        (HeaderMap::new(), rest)
    } else {
        let (first, body) = line(rest);
        (headers(first), body)
    };
    let complete = flags & 32 == 0;
    let tap = |piece: usize| -> UsageReport {
        let mut tap = UsageTap::new(kind, status, &headers, 7);
        for chunk in body.chunks(piece) {
            tap.observe(chunk);
        }
        tap.finish(complete)
    };
    let whole = tap(body.len().max(1));
    assert_eq!(
        whole,
        tap(usize::from(*size) + 1),
        "the tap depends on how the body arrives"
    );
    if whole.source == UsageSource::None {
        assert_eq!(
            whole.usage,
            Default::default(),
            "nothing reported, yet counted"
        );
    }
    if whole.source == UsageSource::Estimated {
        assert!(whole.usage.output_tokens > 0, "an estimate of zero output");
    }
}

/// `name:value;name:value`, the pairs that make valid headers.
fn headers(line: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for pair in line.split(|b| *b == b';') {
        let Some(colon) = pair.iter().position(|b| *b == b':') else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&pair[..colon]),
            HeaderValue::from_bytes(&pair[colon + 1..]),
        ) {
            headers.append(name, value);
        }
    }
    headers
}
