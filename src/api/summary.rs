//! `/api/v1/summary`: the organisation at a glance (everyone's usage today and this
//! month, the teams' limits summed, blocked and protected counts) with the calendar it
//! is counted in (`quota.timezone`, today, the warning threshold).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{json_response, ApiError, ErrorBody};
use super::ApiState;
use crate::ops::summary::Summary;

/// The routes of this file.
pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(summary))
}

/// The organisation's usage today and this month against the teams' limits summed,
/// and the calendar the numbers are counted in.
#[utoipa::path(get, path = "/api/v1/summary", tag = "usage",
    responses((status = 200, body = Summary), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn summary(State(s): State<ApiState>) -> Result<Response, ApiError> {
    Ok(json_response(StatusCode::OK, &s.ops.summary().await?))
}
