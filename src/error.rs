//! The one error type of the request path, [`GateError`], and the one place where errors
//! become Bedrock-shaped HTTP responses ([`GateError::to_response`]).
//!
//! Every refusal the proxy makes looks like Bedrock's own: a JSON body `{"message": ...}`,
//! an `x-amzn-ErrorType` header, so each SDK raises its usual typed error, and the call's
//! request id in `x-amzn-RequestId`. Each error also knows where it came from ([`Origin`])
//! and whether a retry can help, which the metrics and logs use.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

/// Which stage of the request path produced an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Reading or validating the caller's request.
    Request,
    /// Authenticating the caller.
    Auth,
    /// Admission (quotas, blocks).
    Quota,
    /// Talking to the upstream Bedrock endpoint.
    Upstream,
}

/// Everything the proxy refuses or fails with before an upstream response exists.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GateError {
    /// No credentials, an unknown key or a revoked key.
    #[error("{0}")]
    UnrecognizedClient(String),
    /// The signature does not match, or its date is outside the allowed skew.
    #[error("{0}")]
    InvalidSignature(String),
    /// The user is blocked by an administrator.
    #[error("{0}")]
    AccessDenied(String),
    /// A request limit or budget is used up; retrying before the reset cannot help.
    #[error("{0}")]
    QuotaExceeded(String),
    /// A short-term rate limit; retrying after `retry_after_secs` is right.
    #[error("{message}")]
    Throttled {
        /// What was limited.
        message: String,
        /// Seconds until a retry can succeed.
        retry_after_secs: u64,
    },
    /// The request body is larger than `proxy.max_body_bytes`.
    #[error("request body exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// The request is malformed in a way the proxy detects itself.
    #[error("{0}")]
    Validation(String),
    /// The upstream could not be reached, or the proxy has no upstream credentials.
    #[error("{0}")]
    UpstreamUnavailable(String),
    /// The upstream did not answer within `upstream.timeout_secs`.
    #[error("{0}")]
    UpstreamTimeout(String),
}

impl GateError {
    /// The HTTP status Bedrock uses for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::UnrecognizedClient(_) | Self::InvalidSignature(_) | Self::AccessDenied(_) => {
                StatusCode::FORBIDDEN
            }
            Self::QuotaExceeded(_) | Self::Validation(_) => StatusCode::BAD_REQUEST,
            Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UpstreamUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The `x-amzn-ErrorType` value, which SDKs map to their typed exceptions.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::UnrecognizedClient(_) => "UnrecognizedClientException",
            Self::InvalidSignature(_) => "InvalidSignatureException",
            Self::AccessDenied(_) => "AccessDeniedException",
            Self::QuotaExceeded(_) => "ServiceQuotaExceededException",
            Self::Throttled { .. } => "ThrottlingException",
            Self::BodyTooLarge { .. } | Self::Validation(_) => "ValidationException",
            Self::UpstreamUnavailable(_) => "ServiceUnavailableException",
            Self::UpstreamTimeout(_) => "ModelTimeoutException",
        }
    }

    /// Where the error came from.
    pub fn origin(&self) -> Origin {
        match self {
            Self::UnrecognizedClient(_) | Self::InvalidSignature(_) => Origin::Auth,
            Self::AccessDenied(_) | Self::QuotaExceeded(_) | Self::Throttled { .. } => {
                Origin::Quota
            }
            Self::BodyTooLarge { .. } | Self::Validation(_) => Origin::Request,
            Self::UpstreamUnavailable(_) | Self::UpstreamTimeout(_) => Origin::Upstream,
        }
    }

    /// Whether the same request can succeed if the client retries it unchanged.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            Self::Throttled { .. } | Self::UpstreamUnavailable(_) | Self::UpstreamTimeout(_)
        )
    }

    /// The Bedrock-shaped response for this error, carrying the call's `request_id`. This
    /// is the only place errors become HTTP responses.
    pub fn to_response(&self, request_id: &str) -> Response<Bytes> {
        let body = serde_json::json!({ "message": self.to_string() }).to_string();
        let mut response = Response::new(Bytes::from(body));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            "x-amzn-errortype",
            HeaderValue::from_static(self.error_type()),
        );
        if let Ok(id) = HeaderValue::from_str(request_id) {
            headers.insert("x-amzn-requestid", id);
        }
        match self {
            Self::QuotaExceeded(_) => {
                headers.insert("x-should-retry", HeaderValue::from_static("false"));
            }
            Self::Throttled {
                retry_after_secs, ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
                headers.insert("x-should-retry", HeaderValue::from_static("true"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_refusal_says_do_not_retry() {
        let r = GateError::QuotaExceeded("daily limit".into()).to_response("rid-1");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            r.headers()["x-amzn-errortype"],
            "ServiceQuotaExceededException"
        );
        assert_eq!(r.headers()["x-should-retry"], "false");
        assert_eq!(r.headers()["x-amzn-requestid"], "rid-1");
        let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(v["message"], "daily limit");
    }

    #[test]
    fn throttling_carries_retry_after() {
        let e = GateError::Throttled {
            message: "slow down".into(),
            retry_after_secs: 7,
        };
        assert!(e.retryable());
        let r = e.to_response("rid-2");
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "7");
    }

    #[test]
    fn statuses_match_the_interface_table() {
        let cases = [
            (GateError::UnrecognizedClient(String::new()), 403),
            (GateError::InvalidSignature(String::new()), 403),
            (GateError::AccessDenied(String::new()), 403),
            (GateError::BodyTooLarge { limit: 1 }, 413),
            (GateError::UpstreamUnavailable(String::new()), 503),
        ];
        for (e, status) in cases {
            assert_eq!(e.status().as_u16(), status, "{e:?}");
            assert_eq!(e.to_response("rid").headers()["x-amzn-requestid"], "rid");
        }
        assert_eq!(
            GateError::InvalidSignature(String::new()).origin(),
            Origin::Auth
        );
    }
}
