//! Fuzzing SigV4: the `Authorization` header parsed and verified against a request head
//! from the same bytes ([`sigv4_verify`]), and the canonical request built for any head,
//! signed by the upstream signer and checked by the verifier ([`sigv4_canonical`]).

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;

use super::{line, request_head};
use crate::hash::sha256_hex;
use crate::sigv4::canonical::canonical_request;
use crate::sigv4::scope::parse_amz_date;
use crate::sigv4::sign::Signer;
use crate::sigv4::signing_key::derive;
use crate::sigv4::verify::{SigV4Auth, Verification};

const SECRET: &str = "fuzzsecret";
const REGION: &str = "eu-west-1";

/// `AUTHORIZATION\nMETHOD\nURI\nheaders...`: the header value parsed; when it parses, the
/// request verified with the proxy's clock at the request's own `X-Amz-Date` (so the
/// skew check passes and the canonical request is built) and the caller's region.
pub fn sigv4_verify(data: &[u8]) {
    let (authorization, rest) = line(data);
    let Ok(authorization) = std::str::from_utf8(authorization) else {
        return;
    };
    let Ok(auth) = SigV4Auth::parse(authorization) else {
        return;
    };
    let Some(parts) = request_head(rest) else {
        return;
    };
    let now = parts
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_amz_date)
        .map_or(SystemTime::UNIX_EPOCH, SystemTime::from);
    let body_sha256 = sha256_hex(rest);
    let verification = Verification {
        auth: &auth,
        parts: &parts,
        body_sha256: &body_sha256,
        region: auth.region,
        now,
    };
    let _ = verification.verify(|| derive(SECRET, auth.date, auth.region, auth.service));
}

/// `METHOD\nURI\nheaders...`: the canonical request of the head with every header
/// signed; then the head signed as the proxy signs for upstream and the result verified
/// as a caller's request. What the signer writes, the verifier must accept (when a
/// `host` is there to sign).
pub fn sigv4_canonical(data: &[u8]) {
    let Some(mut parts) = request_head(data) else {
        return;
    };
    let mut names: Vec<&str> = parts.headers.keys().map(|n| n.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let body_sha256 = sha256_hex(data);
    let _ = canonical_request(&parts, &names.join(";"), &names, &body_sha256);

    parts.headers.remove("x-amz-content-sha256");
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let credentials = Credentials::new("AKIAFUZZ", SECRET, None, None, "fuzz");
    let signed = Signer::new(REGION).sign(
        &parts.method,
        &parts.uri,
        &mut parts.headers,
        &body_sha256,
        &credentials,
        now,
    );
    if signed.is_err() || !parts.headers.contains_key(http::header::HOST) {
        return;
    }
    let authorization = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Some(authorization) = authorization else {
        panic!("the signer wrote no readable Authorization header");
    };
    let auth = match SigV4Auth::parse(&authorization) {
        Ok(auth) => auth,
        Err(e) => panic!("the signer's Authorization does not parse: {e}: {authorization}"),
    };
    let verification = Verification {
        auth: &auth,
        parts: &parts,
        body_sha256: &body_sha256,
        region: REGION,
        now,
    };
    if let Err(e) = verification.verify(|| derive(SECRET, auth.date, REGION, auth.service)) {
        panic!("the verifier refuses what the signer signed: {e}");
    }
}
