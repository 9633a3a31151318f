//! The admin API's one error type and the one place it becomes a response: always
//! `{"message": ...}` with `content-type: application/json`. Service-layer errors map to
//! 404 (unknown), 409 (conflict), 400 (invalid input), 503 with `Retry-After` (a change
//! whose outcome is unknown, e.g. the database connection failed during its commit, or
//! that kept meeting lock conflicts: look, then send it again) and 500 (other store or
//! key failures, logged here, never sent: the body says only that the server failed).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::ops::OpsError;

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// A service-layer refusal or failure.
    #[error(transparent)]
    Ops(#[from] OpsError),
    /// The request itself is malformed (body, query, path); the message names the field.
    #[error("{0}")]
    BadRequest(String),
    /// No or a wrong admin token.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated by the session cookie, but a change without its CSRF token.
    #[error("{0}")]
    Forbidden(String),
    /// No such route.
    #[error("{0}")]
    NoRoute(String),
    /// The route exists, not with this method.
    #[error("{0}")]
    MethodNotAllowed(String),
}

/// The body of every error.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong, in one sentence.
    pub(crate) message: String,
}

/// The `Retry-After` of a 503, in seconds.
const RETRY_AFTER_SECS: &str = "1";

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Ops(OpsError::Store(e)) if e.outcome_unknown() || e.is_retryable_conflict() => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Ops(OpsError::NotFound(_)) | Self::NoRoute(_) => StatusCode::NOT_FOUND,
            Self::Ops(OpsError::Conflict(_)) => StatusCode::CONFLICT,
            Self::Ops(OpsError::Invalid(_)) | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Ops(OpsError::Crypto(_) | OpsError::Store(_)) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            _ if status == StatusCode::INTERNAL_SERVER_ERROR => {
                tracing::error!(error = %self, "admin API: internal error");
                "internal error; see the server log".to_string()
            }
            Self::Ops(OpsError::Store(e)) if e.outcome_unknown() => {
                tracing::warn!(error = %self, "admin API: a change's outcome is unknown");
                "the database connection failed while the change was being committed, so it \
                 may or may not have been applied; look at the current state, then send it \
                 again if needed"
                    .to_string()
            }
            Self::Ops(OpsError::Store(_)) => {
                tracing::warn!(error = %self, "admin API: a change kept meeting lock conflicts");
                "the database was busy with other changes to the same thing and this change \
                 was not applied; send it again"
                    .to_string()
            }
            _ => self.to_string(),
        };
        let mut response = json_response(status, &ErrorBody { message });
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        response
    }
}

/// `value` as a JSON response with `status`.
pub(crate) fn json_response(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "admin API: a response does not encode");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                r#"{"message":"internal error; see the server log"}"#,
            )
                .into_response()
        }
    }
}

/// The fallback for paths no route matches.
pub(crate) async fn no_route(uri: axum::http::Uri) -> ApiError {
    ApiError::NoRoute(format!("no route for {}", uri.path()))
}

/// The fallback for a known path with a method it does not take.
pub(crate) async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{} does not take {method}", uri.path()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    fn answer(e: StoreError) -> Response {
        ApiError::Ops(OpsError::from(e)).into_response()
    }

    #[test]
    fn a_change_of_unknown_outcome_is_503_with_retry_after_never_500() {
        for e in [
            StoreError::Abandoned(std::time::Duration::from_secs(15)),
            StoreError::CommitUnknown("connection reset by peer".into()),
        ] {
            let r = answer(e);
            assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(r.headers()[header::RETRY_AFTER], RETRY_AFTER_SECS);
            assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        }
        let other = answer(StoreError::Invalid("x".into()));
        assert_eq!(other.status(), StatusCode::BAD_REQUEST);
        assert!(other.headers().get(header::RETRY_AFTER).is_none());
    }
}
