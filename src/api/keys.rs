//! `/api/v1/keys` and `/api/v1/users/{username}/keys`: issue a key for a user's tool
//! (the secret and bearer token shown once), list keys, revoke one.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::csv::{self, Format};
use super::error::{json_response, ApiError, ErrorBody};
use super::input::{Body, Params};
use super::ApiState;
use crate::domain::Actor;
use crate::ops::views::KeyInfo;
use crate::ops::views::{IssuedKeyView, Revoked};

/// The routes of this file.
pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(issue))
        .routes(routes!(list))
        .routes(routes!(revoke))
}

/// What a key is for.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewKey {
    /// The tool (e.g. `claude-code`).
    tool: String,
}

/// `?user=&format=`
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Only this user's keys.
    user: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<Format>,
}

/// Issues a key for one of the user's tools: the only time its secret and bearer token
/// are shown.
#[utoipa::path(post, path = "/api/v1/users/{username}/keys", tag = "keys",
    params(("username" = String, Path, description = "the user")), request_body = NewKey,
    responses((status = 201, body = IssuedKeyView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn issue(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path(username): Path<String>,
    Body(body): Body<NewKey>,
) -> Result<Response, ApiError> {
    let issued = s.ops.issue_key(&actor, &username, &body.tool).await?;
    Ok(json_response(StatusCode::CREATED, &issued))
}

/// Keys (never their secrets), newest first.
#[utoipa::path(get, path = "/api/v1/keys", tag = "keys", params(ListQuery),
    responses((status = 200, body = [KeyInfo], description = "keys (JSON or CSV)"),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Params(q): Params<ListQuery>,
) -> Result<Response, ApiError> {
    let keys = s.ops.keys(q.user.as_deref()).await?;
    Ok(csv::list(csv::negotiate(q.format, &headers), "keys", keys))
}

/// Revokes an active key; running proxies refuse it within 2 seconds.
#[utoipa::path(post, path = "/api/v1/keys/{access_key_id}/revoke", tag = "keys",
    params(("access_key_id" = String, Path, description = "the key's access key id")),
    responses((status = 200, body = Revoked), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "no such active key")),
    security(("bearer" = [])))]
async fn revoke(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path(access_key_id): Path<String>,
) -> Result<Response, ApiError> {
    let r = s.ops.revoke_key(&actor, &access_key_id).await?;
    Ok(json_response(StatusCode::OK, &r))
}
