//! Extractors for request input whose failures are the API's own 400s naming the field
//! (axum's default rejections are plain text): JSON bodies (unknown fields refused by
//! the body types), query strings, and limit updates that tell "absent" (unchanged)
//! from `null` (unlimited).

use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use super::error::ApiError;
use crate::domain::{LimitsUpdate, RateLimit};

/// A JSON request body of type `T`, whatever the content type says; an empty body
/// reads as `{}`.
pub(crate) struct Body<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::BadRequest(format!("cannot read the body: {e}")))?;
        // An empty body is an empty object: optional bodies may be left out.
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        let de = &mut serde_json::Deserializer::from_slice(text);
        match serde_path_to_error::deserialize(de) {
            Ok(v) => Ok(Self(v)),
            Err(e) => {
                let path = e.path().to_string();
                let inner = e.into_inner();
                Err(ApiError::BadRequest(if path == "." || path.is_empty() {
                    format!("invalid JSON body: {inner}")
                } else {
                    format!("invalid JSON body at `{path}`: {inner}")
                }))
            }
        }
    }
}

/// A query string of type `T`.
pub(crate) struct Params<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(Self(v)),
            Err(e) => Err(ApiError::BadRequest(format!(
                "invalid query string: {}",
                e.body_text()
                    .trim_start_matches("Failed to deserialize query string: ")
            ))),
        }
    }
}

/// Deserialises a present field (even `null`) as `Some`, so `#[serde(default)]` leaves
/// an absent one `None`.
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A change to limits: an absent field stays as it is, `null` removes the limit.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsBody {
    /// Requests per calendar day (`null`: unlimited).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub(crate) daily_requests: Option<Option<i64>>,
    /// Requests per calendar month (`null`: unlimited).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub(crate) monthly_requests: Option<Option<i64>>,
    /// USD per calendar day (`null`: unlimited).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub(crate) daily_budget_usd: Option<Option<f64>>,
    /// USD per calendar month (`null`: unlimited).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub(crate) monthly_budget_usd: Option<Option<f64>>,
    /// Requests per minute: a number or `"unlimited"` (`null`: the configured default).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<RateLimit>)]
    pub(crate) rpm: Option<Option<RateLimit>>,
    /// Input plus output tokens per minute: a number or `"unlimited"` (`null`: the
    /// configured default).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<RateLimit>)]
    pub(crate) tpm: Option<Option<RateLimit>>,
    /// Calls in flight at once: a number or `"unlimited"` (`null`: the configured
    /// default).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<RateLimit>)]
    pub(crate) max_concurrent: Option<Option<RateLimit>>,
}

impl LimitsBody {
    /// As the service layer's update.
    pub(crate) fn update(&self) -> LimitsUpdate {
        LimitsUpdate {
            daily_requests: self.daily_requests,
            monthly_requests: self.monthly_requests,
            daily_budget_usd: self.daily_budget_usd,
            monthly_budget_usd: self.monthly_budget_usd,
            rpm: self.rpm,
            tpm: self.tpm,
            max_concurrent: self.max_concurrent,
        }
    }
}
