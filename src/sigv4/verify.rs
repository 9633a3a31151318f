//! Verifying a caller's SigV4 signature as AWS does: the `Authorization` header parsed
//! ([`SigV4Auth`]), then scope, date (within five minutes of the proxy's clock), the
//! claimed body hash and the signature itself ([`Verification`]), compared in constant
//! time. The signed headers are whatever list the caller chose, as long as it covers the
//! request's destination (`host`, or `:authority` over HTTP/2); refusals carry AWS's own
//! messages.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;

use super::canonical::{canonical_request, AUTHORITY};
use super::scope::{day_of, parse_amz_date, string_to_sign, Scope};
use super::signing_key::signature;
use super::{ALGORITHM, SERVICE};
use crate::error::GateError;

/// How far the request date may be from the proxy's clock.
pub(crate) const MAX_SKEW: Duration = Duration::from_secs(5 * 60);
/// [`MAX_SKEW`] for date arithmetic (evaluated at compile time).
const SKEW: chrono::TimeDelta = chrono::TimeDelta::seconds(MAX_SKEW.as_secs() as i64);

const MISMATCH: &str = "The request signature we calculated does not match the signature you \
     provided. Check your AWS Secret Access Key and signing method. Consult the service \
     documentation for details.";

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SigV4Auth<'a> {
    /// The access key id from `Credential=`.
    pub(crate) access_key_id: &'a str,
    /// Scope date, `YYYYMMDD`.
    pub(crate) date: &'a str,
    /// Scope region.
    pub(crate) region: &'a str,
    /// Scope service.
    pub(crate) service: &'a str,
    /// `SignedHeaders=`, as written (lowercase, `;`-separated).
    pub(crate) signed_headers: &'a str,
    /// `Signature=`, hex.
    pub(crate) signature: &'a str,
}

impl<'a> SigV4Auth<'a> {
    /// Parses the header value; errors are `InvalidSignatureException`-shaped like AWS's.
    pub(crate) fn parse(value: &'a str) -> Result<Self, GateError> {
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

/// Everything needed to check one request's signature.
pub(crate) struct Verification<'a> {
    /// The parsed Authorization header.
    pub(crate) auth: &'a SigV4Auth<'a>,
    /// The request head as received.
    pub(crate) parts: &'a http::request::Parts,
    /// Hex SHA-256 of the body, computed by the proxy.
    pub(crate) body_sha256: &'a str,
    /// The region callers must sign for.
    pub(crate) region: &'a str,
    /// The proxy's clock.
    pub(crate) now: SystemTime,
}

impl Verification<'_> {
    /// Checks scope, date and signature. `key` returns the signing key for the scope's
    /// day; it is called only once service, region and date have been checked.
    pub(crate) fn verify(&self, key: impl FnOnce() -> [u8; 32]) -> Result<(), GateError> {
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
        let when = parse_amz_date(amz_date).ok_or_else(|| {
            GateError::InvalidSignature(format!("X-Amz-Date `{amz_date}` is not a valid date."))
        })?;
        check_skew(when, amz_date, self.now)?;
        if !amz_date.starts_with(auth.date) || auth.date.len() != 8 {
            return Err(GateError::InvalidSignature(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
                auth.date,
                day_of(amz_date)
            )));
        }
        let mut names: Vec<&str> = auth.signed_headers.split(';').collect();
        // The signature must cover where the request was sent: `host`, or on HTTP/2 the
        // `:authority` pseudo-header in its place (as AWS accepts).
        if !names.contains(&"host") && !names.contains(&AUTHORITY) {
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
        let scope = Scope {
            day: auth.date,
            region: auth.region,
        };
        let expected = signature(&key(), &string_to_sign(amz_date, scope, &canonical));
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
    let skew = SKEW;
    let fmt = |t: DateTime<Utc>| super::scope::amz_date(t.into());
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

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
