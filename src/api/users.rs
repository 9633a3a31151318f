//! `/api/v1/users`: create, list with usage today and this month, info, change limits,
//! delete.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::csv::{self, Format};
use super::error::{json_response, ApiError, ErrorBody};
use super::input::{Body, LimitsBody, Params};
use super::ApiState;
use crate::domain::{Actor, Language};
use crate::ops::users::CreateUser;
use crate::ops::views::{DayMonth, Deleted, UserInfo, UserView};

/// The routes of this file.
pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(info, delete))
        .routes(routes!(set_limits))
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

/// `?team=&format=`
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Only this team's users.
    team: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<Format>,
}

/// A user in the list, with usage today and this month (in `quota.timezone`).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct UserWithUsage {
    /// The user.
    #[serde(flatten)]
    user: UserView,
    /// Usage today and this month.
    usage: DayMonth,
}

/// Every user (or one team's), by name, with usage today and this month.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(ListQuery),
    responses((status = 200, body = [UserWithUsage], description = "users (JSON or CSV)"),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Params(q): Params<ListQuery>,
) -> Result<Response, ApiError> {
    let users = s.ops.users(q.team.as_deref()).await?;
    let mut usage = s.ops.usage_by_user(q.team.as_deref()).await?;
    let rows: Vec<UserWithUsage> = users
        .into_iter()
        .map(|user| UserWithUsage {
            usage: usage.remove(&user.username).unwrap_or_default(),
            user,
        })
        .collect();
    Ok(csv::list(csv::negotiate(q.format, &headers), "users", rows))
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
