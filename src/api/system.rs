//! The rest of `/api/v1/`: every limit at a glance (`/limits`) and the daily reset run
//! by hand (`/reset`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::csv::{self, ListQuery};
use super::error::{json_response, ApiError, ErrorBody};
use super::input::Params;
use super::ApiState;
use crate::domain::{Actor, Limits};
use crate::ops::reset::ResetReport;

/// The routes of this file.
pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(limits))
        .routes(routes!(reset))
}

/// Whose limits a row shows.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SubjectKind {
    /// A team's shared limits.
    Team,
    /// A user's own limits.
    User,
}

/// One team's or user's limits (`null`: unlimited).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LimitsRow {
    /// Team or user.
    kind: SubjectKind,
    /// Its name.
    name: String,
    /// The limits.
    limits: Limits,
}

/// Every team's and user's limits: teams first, each by name. Change them with
/// `PATCH /api/v1/teams/{team}/limits` and `PATCH /api/v1/users/{username}/limits`.
#[utoipa::path(get, path = "/api/v1/limits", tag = "limits", params(ListQuery),
    responses((status = 200, body = [LimitsRow], description = "JSON or CSV"),
              (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn limits(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Params(q): Params<ListQuery>,
) -> Result<Response, ApiError> {
    let teams = s.ops.teams().await?.into_iter().map(|t| LimitsRow {
        kind: SubjectKind::Team,
        name: t.name,
        limits: t.limits,
    });
    let users = s.ops.users(None).await?.into_iter().map(|u| LimitsRow {
        kind: SubjectKind::User,
        name: u.username,
        limits: u.limits,
    });
    let rows: Vec<LimitsRow> = teams.chain(users).collect();
    Ok(csv::list(
        csv::negotiate(q.format, &headers),
        "limits",
        rows,
    ))
}

/// Runs the daily reset now (it also runs by itself at 00:00 in `quota.timezone`).
#[utoipa::path(post, path = "/api/v1/reset", tag = "limits",
    responses((status = 200, body = ResetReport), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn reset(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
) -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        &s.ops.reset_now(&actor).await?,
    ))
}
