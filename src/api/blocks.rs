//! Blocks and protections: `/api/v1/blocks` (who is blocked or protected now) and
//! `/api/v1/users/{username}/block|unblock|protect|unprotect`, through the blocking
//! service.

use axum::extract::{Path, State};
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
use crate::ops::blocking::BlockDuration;
use crate::ops::views::BlockingView;
use crate::ops::OpsError;

/// The routes of this file.
pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(block))
        .routes(routes!(unblock))
        .routes(routes!(protect))
        .routes(routes!(unprotect))
}

/// A block.
#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BlockBody {
    /// `30m`, `2h`, `1d` (any number of m/h/d), `until-reset` (default) or `indefinite`.
    duration: Option<String>,
    /// Why (shown to the user in the refusal).
    reason: Option<String>,
}

/// Why a block is lifted.
#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UnblockBody {
    /// Why.
    reason: Option<String>,
}

/// Users blocked or protected now, by name.
#[utoipa::path(get, path = "/api/v1/blocks", tag = "blocks", params(ListQuery),
    responses((status = 200, body = [BlockingView], description = "JSON or CSV"),
              (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Params(q): Params<ListQuery>,
) -> Result<Response, ApiError> {
    let rows = s.ops.blocks().await?;
    Ok(csv::list(
        csv::negotiate(q.format, &headers),
        "blocks",
        rows,
    ))
}

/// Blocks a user (403 AccessDenied on the proxy until the block ends).
#[utoipa::path(post, path = "/api/v1/users/{username}/block", tag = "blocks",
    params(("username" = String, Path, description = "the user")), request_body = BlockBody,
    responses((status = 200, body = BlockingView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn block(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path(username): Path<String>,
    Body(b): Body<BlockBody>,
) -> Result<Response, ApiError> {
    let duration = match b.duration.as_deref() {
        None => BlockDuration::UntilReset,
        Some(d) => d
            .parse()
            .map_err(|e| OpsError::Invalid(format!("duration: {e}")))?,
    };
    let v = s.ops.block(&actor, &username, duration, b.reason).await?;
    Ok(json_response(StatusCode::OK, &v))
}

/// Lifts a block; after an automatic block the user is also protected until the next
/// daily reset.
#[utoipa::path(post, path = "/api/v1/users/{username}/unblock", tag = "blocks",
    params(("username" = String, Path, description = "the user")), request_body = UnblockBody,
    responses((status = 200, body = BlockingView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "the user is not blocked")),
    security(("bearer" = [])))]
async fn unblock(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path(username): Path<String>,
    Body(b): Body<UnblockBody>,
) -> Result<Response, ApiError> {
    let v = s.ops.unblock(&actor, &username, b.reason).await?;
    Ok(json_response(StatusCode::OK, &v))
}

/// Gives standing protection: never refused or blocked for limits.
#[utoipa::path(post, path = "/api/v1/users/{username}/protect", tag = "blocks",
    params(("username" = String, Path, description = "the user")),
    responses((status = 200, body = BlockingView), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn protect(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path(username): Path<String>,
) -> Result<Response, ApiError> {
    let v = s.ops.protect(&actor, &username, true).await?;
    Ok(json_response(StatusCode::OK, &v))
}

/// Ends a protection.
#[utoipa::path(post, path = "/api/v1/users/{username}/unprotect", tag = "blocks",
    params(("username" = String, Path, description = "the user")),
    responses((status = 200, body = BlockingView), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn unprotect(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path(username): Path<String>,
) -> Result<Response, ApiError> {
    let v = s.ops.protect(&actor, &username, false).await?;
    Ok(json_response(StatusCode::OK, &v))
}
