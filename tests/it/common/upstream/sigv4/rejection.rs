//! How the fake refuses a request that fails verification: the status, AWS error type and
//! message the client sees, and the reason recorded for the test to read.

use http::StatusCode;

/// A refused request.
pub(in super::super) struct Rejection {
    pub(in super::super) status: StatusCode,
    pub(in super::super) error_type: &'static str,
    pub(in super::super) message: String,
    pub(in super::super) reason: String,
    pub(in super::super) signature_valid: bool,
}

/// A refusal whose client message and recorded reason may differ.
pub(super) fn reject(
    status: StatusCode,
    error_type: &'static str,
    message: impl Into<String>,
    reason: impl Into<String>,
) -> Rejection {
    Rejection {
        status,
        error_type,
        message: message.into(),
        reason: reason.into(),
        signature_valid: false,
    }
}

/// Unknown or misplaced credentials (403 UnrecognizedClientException).
pub(super) fn bad_token(reason: impl Into<String>) -> Rejection {
    reject(
        StatusCode::FORBIDDEN,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
        reason,
    )
}

/// A signature or scope that does not verify (403 InvalidSignatureException).
pub(super) fn bad_signature(message: impl Into<String>, reason: impl Into<String>) -> Rejection {
    reject(
        StatusCode::FORBIDDEN,
        "InvalidSignatureException",
        message,
        reason,
    )
}

/// A malformed signing header (400 IncompleteSignatureException).
pub(super) fn incomplete(message: impl Into<String>) -> Rejection {
    let message = message.into();
    reject(
        StatusCode::BAD_REQUEST,
        "IncompleteSignatureException",
        message.clone(),
        message,
    )
}
