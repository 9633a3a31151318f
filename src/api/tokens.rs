//! `/api/v1/admin/tokens`: admin tokens over the API as on the command line (create:
//! shown once; list: never the token; revoke: refused at once on this listener, within
//! 2 seconds on others).

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
use crate::domain::{Actor, TokenScope};
use crate::ops::admin_tokens::{CreatedToken, RevokedToken};
use crate::ops::views::AdminToken;

/// The routes of this file.
pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(revoke))
}

/// A new token's name and scope.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewToken {
    /// Unique name (audit rows say `api:<name>`, or `scim:<name>` for a SCIM token).
    name: String,
    /// `admin` (default: the admin API and dashboard) or `scim` (only `/scim/v2`).
    #[serde(default)]
    scope: TokenScope,
}

/// Every admin token, by name (never the token itself).
#[utoipa::path(get, path = "/api/v1/admin/tokens", tag = "admin", params(ListQuery),
    responses((status = 200, body = [AdminToken], description = "JSON or CSV"),
              (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Params(q): Params<ListQuery>,
) -> Result<Response, ApiError> {
    let tokens = s.ops.admin_tokens().await?;
    Ok(csv::list(
        csv::negotiate(q.format, &headers),
        "admin-tokens",
        tokens,
    ))
}

/// Creates an admin token: the only time it is shown.
#[utoipa::path(post, path = "/api/v1/admin/tokens", tag = "admin", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Body(b): Body<NewToken>,
) -> Result<Response, ApiError> {
    let t = s.ops.create_admin_token(&actor, &b.name, b.scope).await?;
    s.tokens.invalidate();
    Ok(json_response(StatusCode::CREATED, &t))
}

/// Revokes an admin token.
#[utoipa::path(post, path = "/api/v1/admin/tokens/{name}/revoke", tag = "admin",
    params(("name" = String, Path, description = "the token's name")),
    responses((status = 200, body = RevokedToken), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "no such active token")),
    security(("bearer" = [])))]
async fn revoke(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let r = s.ops.revoke_admin_token(&actor, &name).await?;
    s.tokens.invalidate();
    Ok(json_response(StatusCode::OK, &r))
}
