//! The CloudTrail/IAM backstop over the admin API: `POST /api/v1/cloudtrail/events`
//! (EventBridge deliveries of CloudTrail events, through an API destination carrying an
//! admin token: one event with its record under `detail`, or a JSON array; 202 once
//! counted and stored, idempotent by `eventID`), and a user's links to IAM principals
//! (`/api/v1/users/{username}/iam-links`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{json_response, ApiError, ErrorBody};
use super::input::{Body, Params};
use super::ApiState;
use crate::cloudtrail::parse_delivery;
use crate::domain::{Actor, IamPrincipalKind};
use crate::ops::direct_calls::IngestCounts;
use crate::ops::views::IamLinkView;

/// The routes of this file.
pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(cloudtrail_events))
        .routes(routes!(links, link))
        .routes(routes!(unlink))
}

/// A link to make.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewLink {
    /// The IAM user name (or, with `kind` = `role_session`, a session name pattern
    /// where `*` matches any run of characters).
    principal: String,
    /// `iam_user` (default) or `role_session`.
    #[schema(value_type = Option<String>)]
    kind: Option<IamPrincipalKind>,
}

/// `?kind=`
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct KindQuery {
    /// `iam_user` (default) or `role_session`.
    #[param(value_type = Option<String>)]
    kind: Option<IamPrincipalKind>,
}

/// Counts the direct Bedrock calls in an EventBridge delivery of CloudTrail events: one
/// event (`"detail-type": "AWS API Call via CloudTrail"`, the record under `detail`),
/// a JSON array of events or records, or `{"Records": [...]}`. Each `eventID` counts
/// once, however often it is delivered.
#[utoipa::path(post, path = "/api/v1/cloudtrail/events", tag = "cloudtrail",
    request_body(content = serde_json::Value, description = "an EventBridge event or a list of them"),
    responses((status = 202, body = IngestCounts, description = "counted and stored"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn cloudtrail_events(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let seen = parse_delivery(&body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let counts = s.ops.ingest_direct_calls(&actor, seen).await?;
    Ok(json_response(StatusCode::ACCEPTED, &counts))
}

/// The IAM principals linked to a user for the backstop.
#[utoipa::path(get, path = "/api/v1/users/{username}/iam-links", tag = "users",
    params(("username" = String, Path, description = "the user")),
    responses((status = 200, body = [IamLinkView]), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn links(
    State(s): State<ApiState>,
    Path(username): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        &s.ops.iam_links_of(&username).await?,
    ))
}

/// Links a user to an IAM user (or an assumed-role session name pattern): its direct
/// Bedrock calls count as the user's, and it is denied Bedrock in IAM while the user is
/// blocked. A principal linked to anyone already is a conflict.
#[utoipa::path(post, path = "/api/v1/users/{username}/iam-links", tag = "users",
    params(("username" = String, Path, description = "the user")), request_body = NewLink,
    responses((status = 201, body = [IamLinkView]), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn link(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path(username): Path<String>,
    Body(b): Body<NewLink>,
) -> Result<Response, ApiError> {
    let kind = b.kind.unwrap_or(IamPrincipalKind::IamUser);
    let links = s
        .ops
        .link_iam(&actor, &username, kind, &b.principal)
        .await?;
    Ok(json_response(StatusCode::CREATED, &links))
}

/// Removes a link.
#[utoipa::path(delete, path = "/api/v1/users/{username}/iam-links/{principal}", tag = "users",
    params(("username" = String, Path, description = "the user"),
           ("principal" = String, Path, description = "the IAM user or session pattern"),
           KindQuery),
    responses((status = 200, body = [IamLinkView]), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn unlink(
    State(s): State<ApiState>,
    Extension(actor): Extension<Actor>,
    Path((username, principal)): Path<(String, String)>,
    Params(q): Params<KindQuery>,
) -> Result<Response, ApiError> {
    let kind = q.kind.unwrap_or(IamPrincipalKind::IamUser);
    let links = s
        .ops
        .unlink_iam(&actor, &username, kind, &principal)
        .await?;
    Ok(json_response(StatusCode::OK, &links))
}
