//! The upstream request made from the caller's: same method, path, query and headers,
//! minus the caller's credentials and hop-by-hop headers, aimed at the Bedrock endpoint
//! and signed with the proxy's credentials ([`crate::sigv4::sign`]), re-using the body
//! hash computed to verify the caller.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request};
use http_body_util::Full;

use crate::error::GateError;
use crate::sigv4::sign::Signer;

/// Request headers never sent upstream: the caller's credentials, what the signer sets,
/// and hop-by-hop headers.
const STRIPPED: [&str; 14] = [
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Turns callers' requests into signed requests for one Bedrock endpoint.
pub(super) struct Resigner {
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    /// The `host` header for `authority`.
    host: HeaderValue,
    signer: Signer,
}

impl Resigner {
    /// A re-signer for `endpoint` (http or https) and `region`.
    pub(super) fn new(endpoint: &http::Uri, region: &str) -> Result<Self, String> {
        let scheme = endpoint
            .scheme()
            .cloned()
            .ok_or_else(|| "upstream endpoint has no scheme".to_string())?;
        let authority = endpoint
            .authority()
            .cloned()
            .ok_or_else(|| "upstream endpoint has no host".to_string())?;
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|e| format!("bad upstream host: {e}"))?;
        Ok(Self {
            scheme,
            authority,
            host,
            signer: Signer::new(region),
        })
    }

    /// The signed upstream request for the caller's head and body.
    pub(super) fn prepare(
        &self,
        parts: &http::request::Parts,
        body: Bytes,
        body_sha256: &str,
        credentials: &Credentials,
    ) -> Result<Request<Full<Bytes>>, GateError> {
        let path_and_query = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let uri = http::Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|e| GateError::Validation(format!("bad request path: {e}")))?;

        let mut headers = HeaderMap::with_capacity(parts.headers.len() + 4);
        for (name, value) in &parts.headers {
            if !STRIPPED.contains(&name.as_str()) {
                headers.append(name.clone(), value.clone());
            }
        }
        headers.insert(http::header::HOST, self.host.clone());
        self.signer
            .sign(
                &parts.method,
                &uri,
                &mut headers,
                body_sha256,
                credentials,
                SystemTime::now(),
            )
            .map_err(|e| GateError::UpstreamUnavailable(format!("signing failed: {e}")))?;
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        Ok(request)
    }
}
