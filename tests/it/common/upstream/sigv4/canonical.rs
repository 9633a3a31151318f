//! The pieces of the SigV4 canonical request and signature, written from the AWS
//! documentation: header value trimming, path normalisation and double encoding, the
//! sorted query, the signing key, HMAC/SHA-256 and a constant-time comparison.

use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

use super::super::SERVICE;

type HmacSha256 = Hmac<Sha256>;

/// Unreserved characters (A-Z a-z 0-9 - . _ ~) stay; everything else is %XX.
const AWS_URI_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// HMAC-SHA256 of `data` under `key`.
pub(super) fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Lowercase hex SHA-256, as in the canonical request and `x-amz-content-sha256`.
pub(super) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Compares two signatures without an early exit.
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// AWS's trimall: trim spaces, collapse inner runs of spaces to one.
pub(super) fn trim_all(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut last_space = false;
    for c in value.trim_matches(' ').chars() {
        if c == ' ' {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
    out
}

/// Removes `.`/`..` and empty segments (RFC 3986 5.2.4), as AWS does for non-S3 services.
fn normalize_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    if !path.contains('.') && !path.contains("//") {
        return path;
    }
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut out = format!("/{}", segments.join("/"));
    let trailing = ["/", "/.", "/./", "/..", "/../"]
        .iter()
        .any(|s| path.ends_with(s));
    if trailing && !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// The canonical URI: the path as on the wire, each segment URI-encoded once more
/// (double encoding for non-S3 services, so `%3A` becomes `%253A`).
pub(super) fn canonical_uri(raw_path: &str) -> String {
    normalize_path(raw_path)
        .split('/')
        .map(|seg| utf8_percent_encode(seg, AWS_URI_ENCODE).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// Decodes a query component (`+` is a space).
fn form_decode(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// The canonical query string: decoded, re-encoded, sorted by key then value.
pub(super) fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                utf8_percent_encode(&form_decode(k), AWS_URI_ENCODE).to_string(),
                utf8_percent_encode(&form_decode(v), AWS_URI_ENCODE).to_string(),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The SigV4 signing key for one day, region and the `bedrock` service.
pub(super) fn signing_key(secret: &str, date: &str, region: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, SERVICE.as_bytes());
    hmac(&k_service, b"aws4_request")
}
