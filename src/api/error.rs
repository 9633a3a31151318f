//! The admin API's one error type and the one place it becomes a response: always
//! `{"message": ...}` with `content-type: application/json`. Service-layer errors map to
//! 404 (unknown), 409 (conflict), 400 (invalid input) and 500 (store or key failures,
//! logged here, never sent: the body says only that the server failed).

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

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
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
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "admin API: internal error");
            "internal error; see the server log".to_string()
        } else {
            self.to_string()
        };
        let mut response = json_response(status, &ErrorBody { message });
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
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
