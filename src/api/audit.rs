//! The audit logs: `/api/v1/audit/blocking` (changes of blocking status) and
//! `/api/v1/audit/admin` (every administrative change, with actor and before/after).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::csv::{self, Format};
use super::error::{json_response, ApiError, ErrorBody};
use super::input::Params;
use super::ApiState;
use crate::ops::admin_audit::{AdminAuditEntry, AdminAuditPage, AdminAuditQuery};
use crate::ops::views::AuditEntry;

/// The routes of this file.
pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(blocking))
        .routes(routes!(admin))
}

/// `?user=&limit=&format=`
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct BlockingQuery {
    /// Only this user's entries.
    user: Option<String>,
    /// At most this many entries (default 100).
    limit: Option<i64>,
    /// `json` (default) or `csv`.
    format: Option<Format>,
}

/// The blocking audit log, newest first.
#[utoipa::path(get, path = "/api/v1/audit/blocking", tag = "audit", params(BlockingQuery),
    responses((status = 200, body = [AuditEntry], description = "JSON or CSV"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn blocking(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Params(q): Params<BlockingQuery>,
) -> Result<Response, ApiError> {
    let entries = s
        .ops
        .audit(q.user.as_deref(), q.limit.unwrap_or(100))
        .await?;
    Ok(csv::list(
        csv::negotiate(q.format, &headers),
        "blocking-audit",
        entries,
    ))
}

/// `?actor=&operation=&resource=&from=&to=&cursor=&limit=&format=`
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdminQuery {
    /// Only changes by this actor (`cli:alice`, `api:ops-bot`).
    actor: Option<String>,
    /// Only this operation (`set_user_limits`, `block`, ...).
    operation: Option<String>,
    /// Only this resource (`user:alice`, `team:research`, `price:<model>`).
    resource: Option<String>,
    /// From (inclusive): `YYYY-MM-DD` (local day in `quota.timezone`) or RFC 3339.
    from: Option<String>,
    /// To: `YYYY-MM-DD` (inclusive day) or RFC 3339 (exclusive).
    to: Option<String>,
    /// The previous page's `next_cursor` (JSON only).
    cursor: Option<String>,
    /// Entries per page, 1-1000 (default 100; JSON only: CSV exports every match).
    limit: Option<u32>,
    /// `json` (default) or `csv`.
    format: Option<Format>,
}

/// The admin audit log, newest first, paged by `cursor`. CSV exports every matching
/// entry.
#[utoipa::path(get, path = "/api/v1/audit/admin", tag = "audit", params(AdminQuery),
    responses((status = 200, body = AdminAuditPage,
               description = "a page (JSON), or every matching entry (CSV)"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn admin(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Params(q): Params<AdminQuery>,
) -> Result<Response, ApiError> {
    let bound = |field: &str, v: &Option<String>, end: bool| {
        v.as_deref()
            .map(|v| s.ops.time_bound(field, v, end))
            .transpose()
    };
    let query = AdminAuditQuery {
        actor: q.actor,
        operation: q.operation,
        resource: q.resource,
        from_ms: bound("from", &q.from, false)?,
        to_ms: bound("to", &q.to, true)?,
        cursor: q.cursor,
        limit: q.limit.unwrap_or(100),
    };
    match csv::negotiate(q.format, &headers) {
        Format::Json => Ok(json_response(
            StatusCode::OK,
            &s.ops.admin_audit(&query).await?,
        )),
        Format::Csv => {
            // Validate before the 200 goes out.
            s.ops
                .admin_audit(&AdminAuditQuery {
                    limit: 1,
                    ..query.clone()
                })
                .await?;
            let rows = Arc::clone(&s.ops).admin_audit_stream(AdminAuditQuery {
                limit: 1000,
                cursor: None,
                ..query
            });
            Ok(csv::csv_stream::<AdminAuditEntry>("admin-audit", rows))
        }
    }
}
