//! Usage: `/api/v1/usage` (per-call records filtered by user, team, model, operation,
//! status and time, keyset paging; CSV exports every match) and `/api/v1/aggregates`
//! (sums per user, team, model, day or hour over local days in `quota.timezone`, from
//! the rollups).

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
use crate::ops::aggregates::{
    AggregateQuery, AggregateRow, GroupBy, RecordPage, RecordQuery, StatusFilter,
};
use crate::ops::reports::parse_date;

/// The routes of this file.
pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(usage))
        .routes(routes!(aggregates))
}

/// `?user=&team=&model=&status=&from=&to=&cursor=&limit=&format=`
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct UsageQuery {
    /// Only this user.
    user: Option<String>,
    /// Only this team.
    team: Option<String>,
    /// Only this model id, exactly as recorded.
    model: Option<String>,
    /// Only this Bedrock operation (`Converse`, `ConverseStream`, `InvokeModel`, ...).
    operation: Option<String>,
    /// `ok` (< 400), `error` (>= 400) or one HTTP status code.
    status: Option<String>,
    /// From (inclusive): `YYYY-MM-DD` (local day in `quota.timezone`) or RFC 3339.
    from: Option<String>,
    /// To: `YYYY-MM-DD` (inclusive day) or RFC 3339 (exclusive).
    to: Option<String>,
    /// The previous page's `next_cursor` (JSON only).
    cursor: Option<String>,
    /// Records per page, 1-1000 (default 100; JSON only: CSV exports every match).
    limit: Option<u32>,
    /// `json` (default) or `csv`.
    format: Option<Format>,
}

/// Per-call records, newest first: a page `{records, next_cursor}` as JSON, or every
/// matching record as CSV (one row per record, streamed).
#[utoipa::path(get, path = "/api/v1/usage", tag = "usage", params(UsageQuery),
    responses((status = 200, body = RecordPage,
               description = "a page of records as JSON, or every match as CSV"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "no such user or team")),
    security(("bearer" = [])))]
async fn usage(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Params(q): Params<UsageQuery>,
) -> Result<Response, ApiError> {
    let bound = |field: &str, v: &Option<String>, end: bool| {
        v.as_deref()
            .map(|v| s.ops.time_bound(field, v, end))
            .transpose()
    };
    let query = RecordQuery {
        user: q.user,
        team: q.team,
        model: q.model,
        operation: q.operation,
        status: q
            .status
            .as_deref()
            .map(str::parse::<StatusFilter>)
            .transpose()?,
        from_ms: bound("from", &q.from, false)?,
        to_ms: bound("to", &q.to, true)?,
        cursor: q.cursor,
        limit: q.limit.unwrap_or(100),
    };
    match csv::negotiate(q.format, &headers) {
        Format::Json => Ok(json_response(StatusCode::OK, &s.ops.records(&query).await?)),
        Format::Csv => {
            // Bad filters are a 400 before the 200 goes out.
            s.ops
                .records(&RecordQuery {
                    limit: 1,
                    ..query.clone()
                })
                .await?;
            Ok(csv::csv_stream("usage", s.ops.record_stream(query)))
        }
    }
}

/// `?group_by=&from=&to=&user=&team=&model=&format=`
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct AggregatesQuery {
    /// `user`, `team`, `model`, `day` or `hour`.
    group_by: String,
    /// First local day, `YYYY-MM-DD` (default: today in `quota.timezone`).
    from: Option<String>,
    /// Last local day, inclusive (default: `from`).
    to: Option<String>,
    /// Only this user.
    user: Option<String>,
    /// Only this team.
    team: Option<String>,
    /// Only this model id.
    model: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<Format>,
}

/// Sums (requests, errors, tokens, cost) per group over local days `from..=to`.
#[utoipa::path(get, path = "/api/v1/aggregates", tag = "usage", params(AggregatesQuery),
    responses((status = 200, body = [AggregateRow], description = "one row per group (JSON or CSV)"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn aggregates(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Params(q): Params<AggregatesQuery>,
) -> Result<Response, ApiError> {
    let from = match &q.from {
        Some(d) => parse_date("from", d)?,
        None => s.ops.today(),
    };
    let to = match &q.to {
        Some(d) => parse_date("to", d)?,
        None => from,
    };
    let rows = s
        .ops
        .aggregate(&AggregateQuery {
            group_by: q.group_by.parse::<GroupBy>()?,
            from,
            to,
            user: q.user,
            team: q.team,
            model: q.model,
        })
        .await?;
    Ok(csv::list(
        csv::negotiate(q.format, &headers),
        "aggregates",
        rows,
    ))
}
