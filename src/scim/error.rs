//! SCIM error responses (RFC 7644 §3.12): status, `scimType` where one applies, and a
//! `detail` sentence, as `application/scim+json` with the
//! `urn:ietf:params:scim:api:messages:2.0:Error` schema; the service layer's errors are
//! mapped here once.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::ops::OpsError;

/// The SCIM error message schema.
pub(crate) const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// The SCIM media type.
pub(crate) const SCIM_JSON: &str = "application/scim+json";

/// Why a SCIM request was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ScimError {
    /// 400 with a `scimType` (`invalidValue`, `invalidFilter`, `invalidSyntax`,
    /// `invalidPath`, `noTarget`, `mutability`).
    #[error("{detail}")]
    Bad {
        /// The `scimType`.
        scim_type: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// 401: no SCIM token, or not an active one.
    #[error("{0}")]
    Unauthorized(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 409 `uniqueness`.
    #[error("{0}")]
    Uniqueness(String),
    /// 405: the endpoint does not take the method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 415: the body is not JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 500: the service failed (logged; the body says no more).
    #[error("{0}")]
    Internal(String),
}

impl ScimError {
    /// 400 `invalidValue`.
    pub(crate) fn value(detail: impl Into<String>) -> Self {
        Self::Bad {
            scim_type: "invalidValue",
            detail: detail.into(),
        }
    }

    /// 400 `invalidSyntax`.
    pub(crate) fn syntax(detail: impl Into<String>) -> Self {
        Self::Bad {
            scim_type: "invalidSyntax",
            detail: detail.into(),
        }
    }

    /// 400 `invalidFilter`.
    pub(crate) fn filter(detail: impl Into<String>) -> Self {
        Self::Bad {
            scim_type: "invalidFilter",
            detail: detail.into(),
        }
    }

    /// 400 `invalidPath`.
    pub(crate) fn path(detail: impl Into<String>) -> Self {
        Self::Bad {
            scim_type: "invalidPath",
            detail: detail.into(),
        }
    }

    /// 400 `mutability`.
    pub(crate) fn mutability(detail: impl Into<String>) -> Self {
        Self::Bad {
            scim_type: "mutability",
            detail: detail.into(),
        }
    }
}

impl From<OpsError> for ScimError {
    fn from(e: OpsError) -> Self {
        match e {
            OpsError::NotFound(what) => Self::NotFound(format!("{what} not found")),
            OpsError::Conflict(m) => Self::Uniqueness(m),
            OpsError::Invalid(m) => Self::value(m),
            other => {
                tracing::error!(error = %other, "SCIM request failed");
                Self::Internal("the service failed; try again".into())
            }
        }
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let (status, scim_type) = match &self {
            Self::Bad { scim_type, .. } => (StatusCode::BAD_REQUEST, Some(*scim_type)),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, None),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, None),
            Self::Uniqueness(_) => (StatusCode::CONFLICT, Some("uniqueness")),
            Self::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, None),
            Self::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, None),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, None),
        };
        let mut body = serde_json::json!({
            "schemas": [ERROR_SCHEMA],
            "status": status.as_u16().to_string(),
            "detail": self.to_string(),
        });
        if let Some(t) = scim_type {
            body["scimType"] = t.into();
        }
        let mut resp = scim_json(status, &body);
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scim\""),
            );
        }
        resp
    }
}

/// `body` as `application/scim+json` with `status`.
pub(crate) fn scim_json(status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON))],
        body.to_string(),
    )
        .into_response()
}
