//! `/api/v1/prices`: list and set model prices (USD per 1,000 tokens). Model ids hold
//! `:` and `/`, so they travel in the body, never in the path.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::csv::{self, ListQuery};
use super::error::{json_response, ApiError, ErrorBody};
use super::input::{Body, Params};
use super::ApiState;
use crate::domain::Actor;
use crate::ops::views::Price;

/// The routes of this file.
pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(list, set))
}

/// A model's price.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetPrice {
    /// Model id: bare, inference-profile id or ARN (stored bare).
    model_id: String,
    /// USD per 1,000 input tokens.
    input_per_1k: f64,
    /// USD per 1,000 output tokens.
    output_per_1k: f64,
    /// USD per 1,000 cache-read tokens (default: the input price).
    cache_read_per_1k: Option<f64>,
    /// USD per 1,000 cache-write tokens (default: the input price).
    cache_write_per_1k: Option<f64>,
}

/// Every price, by model id.
#[utoipa::path(get, path = "/api/v1/prices", tag = "prices", params(ListQuery),
    responses((status = 200, body = [Price], description = "JSON or CSV"),
              (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Params(q): Params<ListQuery>,
) -> Result<Response, ApiError> {
    let prices = s.ops.prices().await?;
    Ok(csv::list(
        csv::negotiate(q.format, &headers),
        "prices",
        prices,
    ))
}

/// Sets (inserts or replaces) a model's price.
#[utoipa::path(put, path = "/api/v1/prices", tag = "prices", request_body = SetPrice,
    responses((status = 200, body = Price), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn set(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Body(b): Body<SetPrice>,
) -> Result<Response, ApiError> {
    let price = s
        .ops
        .set_price(
            &actor,
            Price {
                model_id: b.model_id,
                input_per_1k: b.input_per_1k,
                output_per_1k: b.output_per_1k,
                cache_read_per_1k: b.cache_read_per_1k,
                cache_write_per_1k: b.cache_write_per_1k,
            },
        )
        .await?;
    Ok(json_response(StatusCode::OK, &price))
}
