//! The one error type of the request path, [`GateError`], and the one place where errors
//! become Bedrock-shaped HTTP responses (`GateError::to_response`).
//!
//! Every refusal the proxy makes looks like Bedrock's own: a JSON body `{"message": ...}`,
//! an `x-amzn-ErrorType` header, so each SDK raises its usual typed error, and the call's
//! request id in `x-amzn-RequestId`.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

use crate::domain::Refused;

/// Seconds a call refused because the quota store did not answer is asked to wait.
pub(crate) const QUOTA_STORE_RETRY_AFTER_SECS: u64 = 2;

/// Everything the proxy refuses or fails with before an upstream response exists.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GateError {
    /// No credentials, an unknown key or a revoked key.
    #[error("{0}")]
    UnrecognizedClient(String),
    /// A key issued with an expiry (at sign-in) is past it: the AWS SDKs refresh their
    /// credentials on this error.
    #[error("{0}")]
    ExpiredToken(String),
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
    /// A USD budget applies and the model has no price: answered as a validation error,
    /// counted and recorded as its own reason (`no_price`).
    #[error("{0}")]
    NoPrice(String),
    /// The upstream could not be reached, or the proxy has no upstream credentials.
    #[error("{0}")]
    UpstreamUnavailable(String),
    /// The upstream did not answer within `upstream.timeout_secs`.
    #[error("{0}")]
    UpstreamTimeout(String),
    /// The proxy itself is at a limit it protects (memory for request bodies); retrying
    /// after `retry_after_secs` is right.
    #[error("{message}")]
    Overloaded {
        /// What is exhausted.
        message: String,
        /// Seconds after which a retry is likely to be served.
        retry_after_secs: u64,
    },
    /// The quota store (database) did not answer within `quota.store_timeout_ms`, or
    /// failed: nothing was sent upstream; retrying shortly is right.
    #[error("{0}")]
    QuotaStoreUnavailable(String),
    /// The client did not send its request in time (too slow a body).
    #[error("{0}")]
    RequestTimeout(String),
}

impl GateError {
    /// The HTTP status Bedrock uses for this error.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::UnrecognizedClient(_)
            | Self::ExpiredToken(_)
            | Self::InvalidSignature(_)
            | Self::AccessDenied(_) => StatusCode::FORBIDDEN,
            Self::QuotaExceeded(_) | Self::Validation(_) | Self::NoPrice(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UpstreamUnavailable(_)
            | Self::Overloaded { .. }
            | Self::QuotaStoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::UpstreamTimeout(_) | Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
        }
    }

    /// The `x-amzn-ErrorType` value, which SDKs map to their typed exceptions.
    pub(crate) fn error_type(&self) -> &'static str {
        match self {
            Self::UnrecognizedClient(_) => "UnrecognizedClientException",
            Self::ExpiredToken(_) => "ExpiredTokenException",
            Self::InvalidSignature(_) => "InvalidSignatureException",
            Self::AccessDenied(_) => "AccessDeniedException",
            Self::QuotaExceeded(_) => "ServiceQuotaExceededException",
            Self::Throttled { .. } => "ThrottlingException",
            Self::BodyTooLarge { .. } | Self::Validation(_) | Self::NoPrice(_) => {
                "ValidationException"
            }
            Self::UpstreamUnavailable(_)
            | Self::Overloaded { .. }
            | Self::QuotaStoreUnavailable(_) => "ServiceUnavailableException",
            Self::UpstreamTimeout(_) => "ModelTimeoutException",
            Self::RequestTimeout(_) => "RequestTimeoutException",
        }
    }

    /// Why the call was refused, as its record, its access line and the `reason` label
    /// of `bedrock_gate_requests_total{outcome="refused"}` name it.
    pub(crate) fn refused(&self) -> Refused {
        match self {
            Self::UnrecognizedClient(_) => Refused::UnrecognizedClient,
            Self::ExpiredToken(_) => Refused::ExpiredToken,
            Self::InvalidSignature(_) => Refused::InvalidSignature,
            Self::AccessDenied(_) => Refused::Blocked,
            Self::QuotaExceeded(_) => Refused::QuotaExceeded,
            Self::Throttled { .. } => Refused::Throttled,
            Self::BodyTooLarge { .. } => Refused::BodyTooLarge,
            Self::Validation(_) => Refused::Validation,
            Self::NoPrice(_) => Refused::NoPrice,
            Self::UpstreamUnavailable(_) => Refused::Unavailable,
            Self::UpstreamTimeout(_) => Refused::Timeout,
            Self::Overloaded { .. } => Refused::Overloaded,
            Self::RequestTimeout(_) => Refused::ClientTimeout,
            Self::QuotaStoreUnavailable(_) => Refused::QuotaStoreUnavailable,
        }
    }

    /// The Bedrock-shaped response for this error, carrying the call's `request_id`. This
    /// is the only place errors become HTTP responses.
    pub(crate) fn to_response(&self, request_id: &str) -> Response<Bytes> {
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
            }
            | Self::Overloaded {
                retry_after_secs, ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
                headers.insert("x-should-retry", HeaderValue::from_static("true"));
            }
            Self::QuotaStoreUnavailable(_) => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(QUOTA_STORE_RETRY_AFTER_SECS),
                );
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
        let r = e.to_response("rid-2");
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "7");
        assert_eq!(r.headers()["x-should-retry"], "true");
    }

    /// The README's table, one row per variant. The match has no `_` arm: a new variant
    /// does not compile until its status and error type are written here
    /// (and a sample of it added to `statuses_match_the_interface_table`).
    fn interface_row(e: &GateError) -> (u16, &'static str) {
        match e {
            GateError::UnrecognizedClient(_) => (403, "UnrecognizedClientException"),
            GateError::ExpiredToken(_) => (403, "ExpiredTokenException"),
            GateError::InvalidSignature(_) => (403, "InvalidSignatureException"),
            GateError::AccessDenied(_) => (403, "AccessDeniedException"),
            GateError::QuotaExceeded(_) => (400, "ServiceQuotaExceededException"),
            GateError::Throttled { .. } => (429, "ThrottlingException"),
            GateError::BodyTooLarge { .. } => (413, "ValidationException"),
            GateError::Validation(_) => (400, "ValidationException"),
            GateError::NoPrice(_) => (400, "ValidationException"),
            GateError::UpstreamUnavailable(_) => (503, "ServiceUnavailableException"),
            GateError::UpstreamTimeout(_) => (408, "ModelTimeoutException"),
            GateError::Overloaded { .. } => (503, "ServiceUnavailableException"),
            GateError::RequestTimeout(_) => (408, "RequestTimeoutException"),
            GateError::QuotaStoreUnavailable(_) => (503, "ServiceUnavailableException"),
        }
    }

    #[test]
    fn statuses_match_the_interface_table() {
        let samples = [
            GateError::UnrecognizedClient(String::new()),
            GateError::ExpiredToken(String::new()),
            GateError::InvalidSignature(String::new()),
            GateError::AccessDenied(String::new()),
            GateError::QuotaExceeded(String::new()),
            GateError::Throttled {
                message: String::new(),
                retry_after_secs: 1,
            },
            GateError::BodyTooLarge { limit: 1 },
            GateError::Validation(String::new()),
            GateError::NoPrice(String::new()),
            GateError::UpstreamUnavailable(String::new()),
            GateError::UpstreamTimeout(String::new()),
            GateError::Overloaded {
                message: String::new(),
                retry_after_secs: 1,
            },
            GateError::RequestTimeout(String::new()),
            GateError::QuotaStoreUnavailable(String::new()),
        ];
        for e in &samples {
            let (status, error_type) = interface_row(e);
            assert_eq!(e.status().as_u16(), status, "{e:?}");
            assert_eq!(e.error_type(), error_type, "{e:?}");
            let r = e.to_response("rid");
            assert_eq!(r.status().as_u16(), status, "{e:?}");
            assert_eq!(r.headers()["x-amzn-errortype"], error_type, "{e:?}");
            assert_eq!(r.headers()["x-amzn-requestid"], "rid", "{e:?}");
        }
        // No variant is sampled twice (so the samples cover every variant).
        let kinds: std::collections::HashSet<_> =
            samples.iter().map(std::mem::discriminant).collect();
        assert_eq!(kinds.len(), samples.len());
    }
}
