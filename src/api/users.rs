//! `/api/v1/users`: create, list with usage today and this month (only blocked users,
//! only users near a limit), info, change limits, move to another team, rename, delete.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::csv::{self, Format};
use super::error::{json_response, ApiError, ErrorBody};
use super::input::{Body, LimitsBody, Params};
use super::teams::NewName;
use super::ApiState;
use crate::domain::{Actor, Language, UserOrigin};
use crate::ops::lists::UserListQuery;
use crate::ops::users::CreateUser;
use crate::ops::views::{Deleted, UserInfo, UserSummary, UserView};

/// The routes of this file.
pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(info, delete))
        .routes(routes!(set_limits))
        .routes(routes!(move_user))
        .routes(routes!(rename))
}

/// The team to move to.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MoveTo {
    /// An existing team.
    team: String,
}

/// A new user.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUser {
    /// Unique name (1-128 of letters, digits, `-_.@`).
    username: String,
    /// The person's full name.
    person_name: String,
    /// An existing team.
    team: String,
    /// Where messages go.
    email: Option<String>,
    /// `en` or `es` (default `email.language`).
    language: Option<Language>,
    /// IAM user for the backstop.
    iam_user: Option<String>,
    /// Limits over the configured defaults (`null` removes one).
    #[serde(default)]
    limits: LimitsBody,
}

/// `?team=&blocked=&near_limit=&format=`
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Only this team's users.
    team: Option<String>,
    /// Only users whose calls are refused now.
    #[serde(default)]
    blocked: bool,
    /// Only users who used at least this percent (1-100) of one of their own limits.
    near_limit: Option<u8>,
    /// `json` (default) or `csv`.
    format: Option<Format>,
}

/// Every user (or one team's, only blocked ones, only those near a limit), by name, with
/// usage today and this month, blocking status and the share of their limits used.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(ListQuery),
    responses((status = 200, body = [UserSummary], description = "users (JSON or CSV)"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Params(q): Params<ListQuery>,
) -> Result<Response, ApiError> {
    let list = s
        .ops
        .user_list(&UserListQuery {
            team: q.team,
            blocked: q.blocked,
            near_limit: q.near_limit,
        })
        .await?;
    Ok(csv::list(
        csv::negotiate(q.format, &headers),
        "users",
        list.users,
    ))
}

/// Creates a user in an existing team.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = UserView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody,
               description = "no such team"), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Body(b): Body<NewUser>,
) -> Result<Response, ApiError> {
    let user = s
        .ops
        .create_user(
            &actor,
            &CreateUser {
                username: b.username,
                person_name: b.person_name,
                team: b.team,
                email: b.email,
                language: b.language,
                iam_user: b.iam_user,
                limits: b.limits.update(),
                origin: UserOrigin::Api,
                external_id: None,
            },
        )
        .await?;
    Ok(json_response(StatusCode::CREATED, &user))
}

/// A user with limits, usage today and this month, blocking status and keys.
#[utoipa::path(get, path = "/api/v1/users/{username}", tag = "users",
    params(("username" = String, Path, description = "the user")),
    responses((status = 200, body = UserInfo), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn info(
    State(s): State<ApiState>,
    Path(username): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        &s.ops.user_info(&username).await?,
    ))
}

/// Deletes a user and their keys (their request records stay).
#[utoipa::path(delete, path = "/api/v1/users/{username}", tag = "users",
    params(("username" = String, Path, description = "the user")),
    responses((status = 200, body = Deleted), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path(username): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        &s.ops.delete_user(&actor, &username).await?,
    ))
}

/// Changes a user's limits: absent fields stay, `null` removes a limit.
#[utoipa::path(patch, path = "/api/v1/users/{username}/limits", tag = "users",
    params(("username" = String, Path, description = "the user")), request_body = LimitsBody,
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn set_limits(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path(username): Path<String>,
    Body(body): Body<LimitsBody>,
) -> Result<Response, ApiError> {
    let view = s
        .ops
        .set_user_limits(&actor, &username, &body.update())
        .await?;
    Ok(json_response(StatusCode::OK, &view))
}

/// Moves a user to another team, whose shared limits apply to them from now on.
#[utoipa::path(post, path = "/api/v1/users/{username}/move", tag = "users",
    params(("username" = String, Path, description = "the user")), request_body = MoveTo,
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn move_user(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path(username): Path<String>,
    Body(body): Body<MoveTo>,
) -> Result<Response, ApiError> {
    let view = s.ops.move_user(&actor, &username, &body.team).await?;
    Ok(json_response(StatusCode::OK, &view))
}

/// Renames a user; their keys, limits, blocks and usage follow.
#[utoipa::path(post, path = "/api/v1/users/{username}/rename", tag = "users",
    params(("username" = String, Path, description = "the user")), request_body = NewName,
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn rename(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path(username): Path<String>,
    Body(body): Body<NewName>,
) -> Result<Response, ApiError> {
    let view = s.ops.rename_user(&actor, &username, &body.new_name).await?;
    Ok(json_response(StatusCode::OK, &view))
}
