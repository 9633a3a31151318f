//! SigV4 verification as AWS does it, for requests signed with proxy-issued keys.
//!
//! The canonical request is rebuilt from the request exactly as received: the method, the
//! path double URI-encoded (what is `v1%3A0` on the wire is `v1%253A0` in the canonical
//! request), the query sorted and encoded, the headers the request itself lists in
//! `SignedHeaders` with their values as received (trimmed, inner spaces collapsed, repeated
//! headers joined by commas), and the SHA-256 of the body as computed by the proxy. The
//! date must be within five minutes of now; signatures are compared in constant time.
//!
//! This is deliberately hand-written rather than built on `aws-sigv4`: a signer decides
//! which headers to sign, a verifier must follow whatever list the caller chose.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::GateError;

/// The signing algorithm this verifier accepts.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The service name Bedrock signs with.
pub const SERVICE: &str = "bedrock";
/// How far the request date may be from the proxy's clock.
pub const MAX_SKEW: Duration = Duration::from_secs(5 * 60);

const MISMATCH: &str = "The request signature we calculated does not match the signature you \
     provided. Check your AWS Secret Access Key and signing method. Consult the service \
     documentation for details.";

/// Characters AWS leaves unencoded: A-Z a-z 0-9 - _ . ~
const AWS_URI: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigV4Auth<'a> {
    /// The access key id from `Credential=`.
    pub access_key_id: &'a str,
    /// Scope date, `YYYYMMDD`.
    pub date: &'a str,
    /// Scope region.
    pub region: &'a str,
    /// Scope service.
    pub service: &'a str,
    /// `SignedHeaders=`, as written (lowercase, `;`-separated).
    pub signed_headers: &'a str,
    /// `Signature=`, hex.
    pub signature: &'a str,
}

impl<'a> SigV4Auth<'a> {
    /// Parses the header value; errors are `InvalidSignatureException`-shaped like AWS's.
    pub fn parse(value: &'a str) -> Result<Self, GateError> {
        let bad = |why: &str| GateError::InvalidSignature(format!("Authorization header: {why}"));
        let rest = value
            .strip_prefix(ALGORITHM)
            .ok_or_else(|| bad("only AWS4-HMAC-SHA256 is supported"))?;
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let part = part.trim();
            if let Some(v) = part.strip_prefix("Credential=") {
                credential = Some(v);
            } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
                signed_headers = Some(v);
            } else if let Some(v) = part.strip_prefix("Signature=") {
                signature = Some(v);
            } else if !part.is_empty() {
                return Err(bad("unexpected component"));
            }
        }
        let credential = credential.ok_or_else(|| bad("Credential is missing"))?;
        let signed_headers = signed_headers.ok_or_else(|| bad("SignedHeaders is missing"))?;
        let signature = signature.ok_or_else(|| bad("Signature is missing"))?;
        let mut scope = credential.split('/');
        let (Some(access_key_id), Some(date), Some(region), Some(service), Some(term), None) = (
            scope.next(),
            scope.next(),
            scope.next(),
            scope.next(),
            scope.next(),
            scope.next(),
        ) else {
            return Err(bad(
                "Credential must be KEY/DATE/REGION/SERVICE/aws4_request",
            ));
        };
        if term != "aws4_request" || access_key_id.is_empty() {
            return Err(bad(
                "Credential must be KEY/DATE/REGION/SERVICE/aws4_request",
            ));
        }
        if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("Signature must be 64 hex digits"));
        }
        Ok(Self {
            access_key_id,
            date,
            region,
            service,
            signed_headers,
            signature,
        })
    }
}

/// Lowercase hex of `bytes` (written in one pass; `hex::encode` builds it a char at a time).
pub fn to_hex(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len() * 2];
    // Fails only when the output length is wrong, which it is not.
    let _ = hex::encode_to_slice(bytes, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Lowercase hex SHA-256 of `data`, as SigV4 spells hashes.
pub fn sha256_hex(data: &[u8]) -> String {
    to_hex(&Sha256::digest(data))
}

/// Derives the SigV4 signing key for a secret, date, region and service.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().into()
        }
        Err(_) => [0u8; 32],
    }
}

/// Everything needed to check one request's signature.
pub struct Verification<'a> {
    /// The parsed Authorization header.
    pub auth: &'a SigV4Auth<'a>,
    /// The request head as received.
    pub parts: &'a http::request::Parts,
    /// Hex SHA-256 of the body, computed by the proxy.
    pub body_sha256: &'a str,
    /// The region callers must sign for.
    pub region: &'a str,
    /// The proxy's clock.
    pub now: SystemTime,
}

impl Verification<'_> {
    /// Checks scope, date and signature. `key` returns the signing key for the scope
    /// (callers cache it per key, day and region).
    pub fn verify(&self, key: impl FnOnce() -> [u8; 32]) -> Result<(), GateError> {
        let auth = self.auth;
        if auth.service != SERVICE {
            return Err(GateError::InvalidSignature(format!(
                "Credential should be scoped to correct service: '{SERVICE}'."
            )));
        }
        if auth.region != self.region {
            return Err(GateError::InvalidSignature(format!(
                "Credential should be scoped to a valid region, not '{}'. This proxy serves '{}'.",
                auth.region, self.region
            )));
        }
        let amz_date = header_str(self.parts, "x-amz-date").ok_or_else(|| {
            GateError::InvalidSignature("The request has no X-Amz-Date header.".into())
        })?;
        let when = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
            .map_err(|_| {
                GateError::InvalidSignature(format!("X-Amz-Date `{amz_date}` is not a valid date."))
            })?
            .and_utc();
        check_skew(when, amz_date, self.now)?;
        if !amz_date.starts_with(auth.date) || auth.date.len() != 8 {
            return Err(GateError::InvalidSignature(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
                auth.date,
                amz_date.get(..8).unwrap_or(amz_date)
            )));
        }
        let mut names: Vec<&str> = auth.signed_headers.split(';').collect();
        if !names.contains(&"host") {
            return Err(GateError::InvalidSignature(
                "'Host' must be a 'SignedHeader' in the AWS Authorization.".into(),
            ));
        }
        if names
            .iter()
            .any(|n| n.is_empty() || n.bytes().any(|b| b.is_ascii_uppercase()))
        {
            return Err(GateError::InvalidSignature(
                "SignedHeaders must be lowercase header names separated by ';'.".into(),
            ));
        }
        names.dedup();
        if let Some(claimed) = header_str(self.parts, "x-amz-content-sha256") {
            if claimed != self.body_sha256 {
                return Err(GateError::InvalidSignature(
                    "The provided 'x-amz-content-sha256' header does not match what was computed."
                        .into(),
                ));
            }
        }

        let canonical =
            canonical_request(self.parts, auth.signed_headers, &names, self.body_sha256);
        let scope = format!(
            "{}/{}/{}/aws4_request",
            auth.date, auth.region, auth.service
        );
        let string_to_sign = format!(
            "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
            sha256_hex(canonical.as_bytes())
        );
        let expected = hmac(&key(), string_to_sign.as_bytes());
        let mut given = [0u8; 32];
        if hex::decode_to_slice(auth.signature, &mut given).is_err() {
            return Err(GateError::InvalidSignature(MISMATCH.into()));
        }
        if bool::from(expected.ct_eq(&given)) {
            Ok(())
        } else {
            Err(GateError::InvalidSignature(MISMATCH.into()))
        }
    }
}

fn check_skew(when: DateTime<Utc>, amz_date: &str, now: SystemTime) -> Result<(), GateError> {
    let now: DateTime<Utc> = now.into();
    let skew = chrono::Duration::from_std(MAX_SKEW).unwrap_or(chrono::Duration::minutes(5));
    let fmt = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    if when < now - skew {
        return Err(GateError::InvalidSignature(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 5 min.)",
            fmt(now - skew),
            fmt(now)
        )));
    }
    if when > now + skew {
        return Err(GateError::InvalidSignature(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 5 min.)",
            fmt(now + skew),
            fmt(now)
        )));
    }
    Ok(())
}

fn header_str<'p>(parts: &'p http::request::Parts, name: &str) -> Option<&'p str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The canonical request of SigV4 for the request as received.
pub fn canonical_request(
    parts: &http::request::Parts,
    signed_headers: &str,
    names: &[&str],
    body_sha256: &str,
) -> String {
    canonical_request_for(
        &parts.method,
        &parts.uri,
        &parts.headers,
        signed_headers,
        names,
        body_sha256,
    )
}

/// The canonical request of SigV4 for a method, URI and headers; `names` are the signed
/// header names (lowercase, sorted) and `signed_headers` the same joined by `;`. The
/// proxy uses this both to verify callers and to sign its upstream requests.
pub fn canonical_request_for(
    method: &http::Method,
    uri: &http::Uri,
    headers: &http::HeaderMap,
    signed_headers: &str,
    names: &[&str],
    body_sha256: &str,
) -> String {
    let mut out = String::with_capacity(512);
    out.push_str(method.as_str());
    out.push('\n');
    canonical_uri(uri.path(), &mut out);
    out.push('\n');
    canonical_query(uri.query().unwrap_or(""), &mut out);
    out.push('\n');
    for name in names {
        out.push_str(name);
        out.push(':');
        if *name == "host" && !headers.contains_key(http::header::HOST) {
            // HTTP/2 carries the host in :authority.
            if let Some(a) = uri.authority() {
                out.push_str(a.as_str());
            }
        } else {
            let mut first = true;
            for value in headers.get_all(*name) {
                if !first {
                    out.push(',');
                }
                first = false;
                push_trimmed(&String::from_utf8_lossy(value.as_bytes()), &mut out);
            }
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(signed_headers);
    out.push('\n');
    out.push_str(body_sha256);
    out
}

/// The path as received, each segment URI-encoded once more (AWS's double encoding).
fn canonical_uri(path: &str, out: &mut String) {
    if path.is_empty() {
        out.push('/');
        return;
    }
    let mut first = true;
    for segment in path.split('/') {
        if !first {
            out.push('/');
        }
        first = false;
        let _ = write!(out, "{}", utf8_percent_encode(segment, AWS_URI));
    }
}

/// Query parameters decoded, re-encoded the AWS way, sorted by name then value.
fn canonical_query(query: &str, out: &mut String) {
    if query.is_empty() {
        return;
    }
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (aws_reencode(k), aws_reencode(v))
        })
        .collect();
    pairs.sort();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
}

fn aws_reencode(s: &str) -> String {
    let decoded = percent_decode_str(s).decode_utf8_lossy();
    utf8_percent_encode(&decoded, AWS_URI).to_string()
}

/// Trims the value and collapses inner runs of spaces, as SigV4 canonical headers want.
fn push_trimmed(value: &str, out: &mut String) {
    let mut last_space = false;
    for c in value.trim().chars() {
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
        assert_eq!(to_hex(&[]), "");
    }

    fn parts(path: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = http::Request::builder().method("POST").uri(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn parses_the_authorization_header() {
        let sig = "a".repeat(64);
        let h = format!(
            "AWS4-HMAC-SHA256 Credential=BGKEY/20261124/eu-west-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature={sig}"
        );
        let a = SigV4Auth::parse(&h).unwrap();
        assert_eq!(a.access_key_id, "BGKEY");
        assert_eq!(a.date, "20261124");
        assert_eq!(a.region, "eu-west-1");
        assert_eq!(a.signed_headers, "host;x-amz-date");
        for bad in [
            "Bearer x",
            "AWS4-HMAC-SHA256 Credential=BGKEY/20261124/eu-west-1/bedrock, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 SignedHeaders=host",
            &format!("AWS4-HMAC-SHA256 Credential=K/D/R/S/aws4_request, SignedHeaders=host, Signature={}", "z".repeat(64)),
        ] {
            assert!(SigV4Auth::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn path_is_double_encoded() {
        let mut out = String::new();
        canonical_uri(
            "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
            &mut out,
        );
        assert_eq!(
            out,
            "/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse"
        );
        let mut out = String::new();
        canonical_uri(
            "/model/arn%3Aaws%3Abedrock%3Aeu-west-1%3A1%3Ainference-profile%2Fx/invoke",
            &mut out,
        );
        assert_eq!(
            out,
            "/model/arn%253Aaws%253Abedrock%253Aeu-west-1%253A1%253Ainference-profile%252Fx/invoke"
        );
    }

    #[test]
    fn query_is_sorted_and_encoded() {
        let mut out = String::new();
        canonical_query("b=2&a=x%20y&a=1", &mut out);
        assert_eq!(out, "a=1&a=x%20y&b=2");
    }

    #[test]
    fn header_values_are_trimmed_and_joined() {
        let p = parts(
            "http://h/x",
            &[
                ("host", "h"),
                ("x-a", "  a   b  "),
                ("x-b", "1"),
                ("x-b", "2"),
            ],
        );
        let c = canonical_request(&p, "host;x-a;x-b", &["host", "x-a", "x-b"], "abc");
        assert_eq!(
            c,
            "POST\n/x\n\nhost:h\nx-a:a b\nx-b:1,2\n\nhost;x-a;x-b\nabc"
        );
    }

    /// The example from AWS's SigV4 documentation (IAM ListUsers), signed by hand there.
    #[test]
    fn matches_the_aws_documentation_example() {
        let body_hash = hex::encode(Sha256::digest(b""));
        let p = parts(
            "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08",
            &[
                ("host", "iam.amazonaws.com"),
                (
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                ),
                ("x-amz-date", "20150830T123600Z"),
            ],
        );
        let mut p = p;
        p.method = http::Method::GET;
        let names = ["content-type", "host", "x-amz-date"];
        let canonical = canonical_request(&p, "content-type;host;x-amz-date", &names, &body_hash);
        assert_eq!(
            hex::encode(Sha256::digest(canonical.as_bytes())),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
    }

    #[test]
    fn skew_is_five_minutes_either_way() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let at = |s: i64| DateTime::<Utc>::from_timestamp(1_800_000_000 + s, 0).unwrap();
        assert!(check_skew(at(-299), "x", now).is_ok());
        assert!(check_skew(at(299), "x", now).is_ok());
        assert!(check_skew(at(-301), "x", now).is_err());
        assert!(check_skew(at(301), "x", now).is_err());
    }
}
