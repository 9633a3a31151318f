//! `/api/v1/teams`: create, list (with members and spend), info, change limits, rename,
//! delete.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::csv::{self, ListQuery};
use super::error::{json_response, ApiError, ErrorBody};
use super::input::{Body, LimitsBody, Params};
use super::ApiState;
use crate::domain::Actor;
use crate::ops::views::{Deleted, TeamInfo, TeamSummary, TeamView};

/// The routes of this file.
pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(info, delete))
        .routes(routes!(set_limits))
        .routes(routes!(rename))
}

/// A new name.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewName {
    /// The new name (1-128 of letters, digits, `-_.@`).
    pub(crate) new_name: String,
}

/// A new team.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTeam {
    /// Unique name (1-128 of letters, digits, `-_.@`).
    name: String,
    /// Limits; absent ones are unlimited.
    #[serde(default)]
    limits: LimitsBody,
}

/// Every team, by name, with its member count and spend today and this month.
#[utoipa::path(get, path = "/api/v1/teams", tag = "teams", params(ListQuery),
    responses((status = 200, body = [TeamSummary], description = "teams (JSON or CSV)"),
              (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Params(q): Params<ListQuery>,
) -> Result<Response, ApiError> {
    let teams = s.ops.team_list().await?;
    Ok(csv::list(
        csv::negotiate(q.format, &headers),
        "teams",
        teams,
    ))
}

/// Creates a team.
#[utoipa::path(post, path = "/api/v1/teams", tag = "teams", request_body = NewTeam,
    responses((status = 201, body = TeamView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Body(body): Body<NewTeam>,
) -> Result<Response, ApiError> {
    let team = s
        .ops
        .create_team(&actor, &body.name, &body.limits.update())
        .await?;
    Ok(json_response(StatusCode::CREATED, &team))
}

/// A team with its members, usage today and this month, and its short-term limits
/// with the current rate (`rate`: requests and tokens in the last minute, calls in
/// flight, all members together).
#[utoipa::path(get, path = "/api/v1/teams/{team}", tag = "teams",
    params(("team" = String, Path, description = "team name")),
    responses((status = 200, body = TeamInfo), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn info(State(s): State<ApiState>, Path(team): Path<String>) -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        &s.ops.team_info(&team).await?,
    ))
}

/// Deletes a team that has no users.
#[utoipa::path(delete, path = "/api/v1/teams/{team}", tag = "teams",
    params(("team" = String, Path, description = "team name")),
    responses((status = 200, body = Deleted), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path(team): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        &s.ops.delete_team(&actor, &team).await?,
    ))
}

/// Changes a team's limits: absent fields stay, `null` removes a limit.
#[utoipa::path(patch, path = "/api/v1/teams/{team}/limits", tag = "teams",
    params(("team" = String, Path, description = "team name")), request_body = LimitsBody,
    responses((status = 200, body = TeamView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn set_limits(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path(team): Path<String>,
    Body(body): Body<LimitsBody>,
) -> Result<Response, ApiError> {
    let view = s.ops.set_team_limits(&actor, &team, &body.update()).await?;
    Ok(json_response(StatusCode::OK, &view))
}

/// Renames a team; its members, limits and usage follow.
#[utoipa::path(post, path = "/api/v1/teams/{team}/rename", tag = "teams",
    params(("team" = String, Path, description = "team name")), request_body = NewName,
    responses((status = 200, body = TeamView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn rename(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path(team): Path<String>,
    Body(body): Body<NewName>,
) -> Result<Response, ApiError> {
    let view = s.ops.rename_team(&actor, &team, &body.new_name).await?;
    Ok(json_response(StatusCode::OK, &view))
}
