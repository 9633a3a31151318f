//! Signing a request for upstream with the proxy's own AWS credentials: sets
//! `x-amz-date`, `x-amz-security-token` when the credentials carry one, and
//! `authorization`. Every header present is signed except the few AWS's own signers leave
//! out; the body hash is the one already computed to verify the caller.

use std::fmt::Write as _;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use http::header::{InvalidHeaderValue, AUTHORIZATION};
use http::{HeaderMap, HeaderValue};

use super::canonical::canonical_request_for;
use super::scope::{amz_date, day_of, string_to_sign, Scope};
use super::signing_key::{signature, SigningKeys};
use super::ALGORITHM;
use crate::hash::push_hex;

/// Headers sent but not signed (as AWS's own signers leave them out).
const UNSIGNED: [&str; 4] = ["user-agent", "x-amzn-trace-id", "expect", "authorization"];

/// Signs requests for one region, keeping the day's signing key.
pub(crate) struct Signer {
    keys: SigningKeys,
}

impl Signer {
    /// A signer for `region` (service `bedrock`).
    pub(crate) fn new(region: &str) -> Self {
        Self {
            keys: SigningKeys::new(region),
        }
    }

    /// Signs a request in place at `now`. Fails only when the session token is not a
    /// valid header value.
    pub(crate) fn sign(
        &self,
        method: &http::Method,
        uri: &http::Uri,
        headers: &mut HeaderMap,
        body_sha256: &str,
        credentials: &Credentials,
        now: SystemTime,
    ) -> Result<(), InvalidHeaderValue> {
        let amz_date = amz_date(now);
        let day = day_of(&amz_date);
        headers.insert("x-amz-date", HeaderValue::from_str(&amz_date)?);
        if let Some(token) = credentials.session_token() {
            headers.insert("x-amz-security-token", HeaderValue::from_str(token)?);
        }
        let mut names: Vec<&str> = headers
            .keys()
            .map(|n| n.as_str())
            .filter(|n| !UNSIGNED.contains(n))
            .collect();
        names.sort_unstable();
        names.dedup();
        let signed_headers = names.join(";");
        let canonical =
            canonical_request_for(method, uri, headers, &signed_headers, &names, body_sha256);
        let scope = Scope {
            day,
            region: self.keys.region(),
        };
        let key = self.keys.get(
            credentials.access_key_id(),
            credentials.secret_access_key(),
            day,
        );
        let signature = signature(&key, &string_to_sign(&amz_date, scope, &canonical));
        let mut authorization = String::with_capacity(256 + signed_headers.len());
        let _ = write!(
            authorization,
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature=",
            credentials.access_key_id()
        );
        push_hex(&signature, &mut authorization);
        headers.insert(AUTHORIZATION, HeaderValue::try_from(authorization)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::sha256_hex;
    use crate::sigv4::verify::{SigV4Auth, Verification};

    fn credentials(token: Option<&str>) -> Credentials {
        Credentials::new(
            "AKIAUPSTREAM",
            "upstreamsecret",
            token.map(str::to_string),
            None,
            "test",
        )
    }

    /// What the signer writes, the verifier accepts: one canonical request, scope, date
    /// format and key derivation for both directions.
    #[test]
    fn the_verifier_accepts_what_the_signer_signs() {
        let signer = Signer::new("eu-west-1");
        let uri: http::Uri = "https://bedrock-runtime.eu-west-1.amazonaws.com/model/m%3A0/converse"
            .parse()
            .unwrap();
        let body_sha256 = sha256_hex(b"{}");
        let now = SystemTime::now();
        for token in [None, Some("session-token")] {
            let mut headers = HeaderMap::new();
            headers.insert(
                http::header::HOST,
                HeaderValue::from_static("bedrock-runtime.eu-west-1.amazonaws.com"),
            );
            headers.insert("content-type", HeaderValue::from_static("application/json"));
            headers.insert("user-agent", HeaderValue::from_static("not signed"));
            let creds = credentials(token);
            signer
                .sign(
                    &http::Method::POST,
                    &uri,
                    &mut headers,
                    &body_sha256,
                    &creds,
                    now,
                )
                .unwrap();
            assert_eq!(
                headers.contains_key("x-amz-security-token"),
                token.is_some()
            );
            let mut request = http::Request::post(uri.clone()).body(()).unwrap();
            *request.headers_mut() = headers.clone();
            let parts = request.into_parts().0;
            let value = headers[AUTHORIZATION].to_str().unwrap().to_string();
            let auth = SigV4Auth::parse(&value).unwrap();
            assert_eq!(auth.access_key_id, "AKIAUPSTREAM");
            assert!(!auth.signed_headers.contains("user-agent"));
            let check = Verification {
                auth: &auth,
                parts: &parts,
                body_sha256: &body_sha256,
                region: "eu-west-1",
                now,
            };
            let key = crate::sigv4::signing_key::derive(
                "upstreamsecret",
                auth.date,
                "eu-west-1",
                crate::sigv4::SERVICE,
            );
            check.verify(|| key).unwrap();
            let wrong = crate::sigv4::signing_key::derive(
                "othersecret",
                auth.date,
                "eu-west-1",
                crate::sigv4::SERVICE,
            );
            assert!(check.verify(|| wrong).is_err());
        }
    }
}
