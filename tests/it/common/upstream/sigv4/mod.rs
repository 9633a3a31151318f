//! The fake upstream's own SigV4 verification, independent of the crate's: it refuses a
//! request that still carries the caller's credentials, then checks the Authorization
//! header, the credential scope, the clock skew, the session token and the payload hash,
//! and recomputes the signature the way AWS does.

mod canonical;
mod rejection;

use http::{HeaderMap, StatusCode, Uri};

use canonical::{
    canonical_query, canonical_uri, constant_time_eq, hmac, sha256_hex, signing_key, trim_all,
};
pub(super) use rejection::Rejection;
use rejection::{bad_signature, bad_token, incomplete, reject};

use super::{UpstreamConfig, MAX_SKEW_SECS, SERVICE, SIGNATURE_MISMATCH_MESSAGE};

/// Finds a proxy user's access key id (`BG` + at least 14 of [A-Z0-9], standing alone).
fn find_bg_key(value: &str) -> Option<&str> {
    let b = value.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == b'B' && b[i + 1] == b'G' && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            let run = b[i + 2..]
                .iter()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                .count();
            if run >= 14 {
                return Some(&value[i..i + 2 + run]);
            }
        }
        i += 1;
    }
    None
}

/// A header that may appear at most once, as text.
fn single_header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, Rejection> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(incomplete(format!("More than one {name} header")));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| incomplete(format!("Header {name} is not valid text")))
}

/// Checks one request as AWS would; `Err` says how AWS would answer.
pub(super) fn verify(
    cfg: &UpstreamConfig,
    method: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Rejection> {
    // The proxy must strip its caller's credentials before forwarding.
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        if name.as_str() == "authorization"
            && value
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("bearer")
        {
            return Err(bad_token(
                "caller's Bearer Authorization was forwarded upstream",
            ));
        }
        if let Some(key) = find_bg_key(&value) {
            if key != cfg.access_key_id {
                return Err(bad_token(format!(
                    "header {name} carries a proxy user's access key id {key}"
                )));
            }
        }
    }

    let Some(auth) = single_header(headers, "authorization")? else {
        return Err(reject(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
            "no Authorization header",
        ));
    };
    let Some(params) = auth.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return Err(incomplete(format!(
            "Authorization header is not AWS4-HMAC-SHA256: {auth}"
        )));
    };
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in params.split(',') {
        let part = part.trim();
        match part.split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed_headers = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => return Err(incomplete(format!("bad Authorization component '{part}'"))),
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(incomplete(
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'",
        ));
    };

    let scope: Vec<&str> = credential.split('/').collect();
    if scope.len() != 5 {
        return Err(incomplete(format!("malformed Credential '{credential}'")));
    }
    let (akid, scope_date, scope_region, scope_service, terminator) =
        (scope[0], scope[1], scope[2], scope[3], scope[4]);
    if akid != cfg.access_key_id {
        return Err(bad_token(format!("unknown access key id {akid}")));
    }

    let Some(amz_date) = single_header(headers, "x-amz-date")? else {
        return Err(incomplete("missing x-amz-date header"));
    };
    let Ok(when) = chrono::NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ") else {
        return Err(incomplete(format!("bad x-amz-date '{amz_date}'")));
    };
    let now = chrono::Utc::now();
    let skew = (now - when.and_utc()).num_seconds();
    if skew.abs() > MAX_SKEW_SECS {
        let fmt = "%Y%m%dT%H%M%SZ";
        let limit = if skew > 0 {
            now - chrono::Duration::seconds(MAX_SKEW_SECS)
        } else {
            now + chrono::Duration::seconds(MAX_SKEW_SECS)
        };
        let message = format!(
            "Signature expired: {amz_date} is now {} than {} ({} {} 5 min.)",
            if skew > 0 { "earlier" } else { "later" },
            limit.format(fmt),
            now.format(fmt),
            if skew > 0 { "-" } else { "+" },
        );
        return Err(bad_signature(message.clone(), message));
    }
    if scope_date != &amz_date[..8] {
        let m = format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
             from HTTP: '{scope_date}' != '{}'",
            &amz_date[..8]
        );
        return Err(bad_signature(m.clone(), m));
    }
    if scope_region != cfg.region {
        let m = format!(
            "Credential should be scoped to a valid region: '{scope_region}' != '{}'",
            cfg.region
        );
        return Err(bad_signature(m.clone(), m));
    }
    if scope_service != SERVICE {
        let m = format!(
            "Credential should be scoped to correct service: '{SERVICE}' (got '{scope_service}')"
        );
        return Err(bad_signature(m.clone(), m));
    }
    if terminator != "aws4_request" {
        let m = format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', \
             not '{terminator}'"
        );
        return Err(bad_signature(m.clone(), m));
    }

    let names: Vec<&str> = signed_headers.split(';').collect();
    if names
        .iter()
        .any(|n| n.is_empty() || n.bytes().any(|b| b.is_ascii_uppercase()))
    {
        return Err(incomplete(format!(
            "malformed SignedHeaders '{signed_headers}'"
        )));
    }
    for required in ["host", "x-amz-date"] {
        if !names.contains(&required) {
            let m = format!("'{required}' must be a 'SignedHeader' in the AWS Authorization.");
            return Err(bad_signature(m.clone(), m));
        }
    }

    let token = single_header(headers, "x-amz-security-token")?;
    match (&cfg.session_token, token) {
        (Some(expected), Some(got)) if expected == got => {
            if !names.contains(&"x-amz-security-token") {
                let m = "x-amz-security-token is present but not signed";
                return Err(bad_signature(m, m));
            }
        }
        (Some(_), Some(_)) => return Err(bad_token("wrong x-amz-security-token")),
        (Some(_), None) => return Err(bad_token("missing x-amz-security-token")),
        (None, Some(_)) => {
            return Err(bad_token(
                "x-amz-security-token sent but the credentials have no session token",
            ))
        }
        (None, None) => {}
    }

    let payload_hash = sha256_hex(body);
    if let Some(claimed) = single_header(headers, "x-amz-content-sha256")? {
        if claimed != payload_hash {
            let m = format!(
                "x-amz-content-sha256 {claimed} does not match the body's hash {payload_hash}"
            );
            return Err(bad_signature(
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                m,
            ));
        }
    }

    let mut canonical_headers = String::new();
    for name in &names {
        let mut values = Vec::new();
        for v in headers.get_all(*name) {
            let Ok(v) = v.to_str() else {
                return Err(incomplete(format!(
                    "signed header {name} is not valid text"
                )));
            };
            values.push(trim_all(v));
        }
        if values.is_empty() && *name == "host" {
            // HTTP/2: the host travels as :authority.
            if let Some(authority) = uri.authority() {
                values.push(authority.as_str().to_owned());
            }
        }
        if values.is_empty() {
            let m = format!("signed header '{name}' is missing from the request");
            return Err(bad_signature(SIGNATURE_MISMATCH_MESSAGE, m));
        }
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(&values.join(","));
        canonical_headers.push('\n');
    }

    let canonical_request = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
        canonical_uri(uri.path()),
        canonical_query(uri.query().unwrap_or("")),
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope_date}/{scope_region}/{SERVICE}/aws4_request\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let key = signing_key(&cfg.secret_access_key, scope_date, scope_region);
    let expected = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
        return Err(bad_signature(
            SIGNATURE_MISMATCH_MESSAGE,
            format!(
                "signature mismatch.\nCanonical request:\n{canonical_request}\n\n\
                 String to sign:\n{string_to_sign}"
            ),
        ));
    }
    Ok(())
}
