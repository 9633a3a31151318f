//! Sums over the usage rollups (by local day: `usage_daily` per user and model,
//! `usage_team_daily` per team and model, `usage_user_day_total` per user,
//! `usage_team_day_total` per team, `usage_model_day_total` per model; `usage_hourly` by UTC hour),
//! and over one user's request rows by hour (per-user hours are not rolled up: that
//! table would be as large as the request rows themselves).

use serde::Serialize;

use super::requests::COUNTED;
use super::rollups::HOUR_MS;
use super::{on_pool, Store, StoreError, UsageTotals};

/// Which `usage_daily` rows to sum; every field narrows.
#[derive(Clone, Debug, Default)]
pub(crate) struct DailyFilter {
    /// First local day, `YYYY-MM-DD` (inclusive).
    pub(crate) from_day: String,
    /// Last local day, `YYYY-MM-DD` (inclusive).
    pub(crate) to_day: String,
    /// Only this username.
    pub(crate) username: Option<String>,
    /// Only this team.
    pub(crate) team: Option<String>,
    /// Only this model id.
    pub(crate) model_id: Option<String>,
}

/// What `usage_daily` rows are grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DailyGroup {
    /// Username.
    User,
    /// Team.
    Team,
    /// Model id.
    Model,
    /// Local day.
    Day,
}

/// Sums of one group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, sqlx::FromRow)]
pub(crate) struct GroupSums {
    /// Calls sent to Bedrock (refused calls are not among them).
    pub(crate) requests: i64,
    /// Calls answered with status 400 or more: calls Bedrock or the proxy failed, and
    /// calls the proxy refused (blocked, limit or budget reached, rate limit, ...).
    pub(crate) errors: i64,
    /// Input tokens.
    pub(crate) input_tokens: i64,
    /// Output tokens.
    pub(crate) output_tokens: i64,
    /// Cache-read tokens.
    pub(crate) cache_read_tokens: i64,
    /// Cache-write tokens.
    pub(crate) cache_write_tokens: i64,
    /// USD.
    pub(crate) cost_usd: f64,
}

/// A group's key (text) and sums.
#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct Bucket {
    pub(crate) key: String,
    #[sqlx(flatten)]
    pub(crate) sums: GroupSums,
}

/// An hour's start (epoch ms) and sums.
#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct HourBucket {
    pub(crate) hour_ms: i64,
    #[sqlx(flatten)]
    pub(crate) sums: GroupSums,
}

const SUMS: &str = "CAST(COALESCE(SUM(requests), 0) AS SIGNED) AS requests, \
     CAST(COALESCE(SUM(errors), 0) AS SIGNED) AS errors, \
     CAST(COALESCE(SUM(input_tokens), 0) AS SIGNED) AS input_tokens, \
     CAST(COALESCE(SUM(output_tokens), 0) AS SIGNED) AS output_tokens, \
     CAST(COALESCE(SUM(cache_read_tokens), 0) AS SIGNED) AS cache_read_tokens, \
     CAST(COALESCE(SUM(cache_write_tokens), 0) AS SIGNED) AS cache_write_tokens, \
     COALESCE(SUM(cost_usd), 0.0) AS cost_usd";

/// `WHERE` clauses and text arguments for the optional equality filters.
fn equal_filters<'a>(pairs: &[(&str, &'a Option<String>)]) -> (String, Vec<&'a str>) {
    let mut sql = String::new();
    let mut args = Vec::new();
    for (column, value) in pairs {
        let value: &'a Option<String> = value;
        if let Some(v) = value {
            sql.push_str(&format!(" AND {column} = ?"));
            args.push(v.as_str());
        }
    }
    (sql, args)
}

/// The smallest daily rollup that answers: the model is in the key only when the query
/// filters or groups by model, the user only when it filters or groups by user.
/// `usage_team_day_total` holds one row per team and day (1,550 for a month of 50
/// teams), `usage_model_day_total` one per model and day, `usage_user_day_total` one per
/// user and day; the tables keyed by two of them are about the number of models in use
/// larger.
fn daily_table(group: Option<DailyGroup>, filter: &DailyFilter) -> &'static str {
    let by_user = filter.username.is_some() || group == Some(DailyGroup::User);
    let by_model = filter.model_id.is_some() || group == Some(DailyGroup::Model);
    let by_team = filter.team.is_some() || group == Some(DailyGroup::Team);
    match (by_user, by_model) {
        (false, false) => "usage_team_day_total",
        (true, false) => "usage_user_day_total",
        (false, true) if !by_team => "usage_model_day_total",
        (false, true) => "usage_team_daily",
        (true, true) => "usage_daily",
    }
}

impl Store {
    /// The daily rollup summed per `group` over `filter`, ordered by key.
    pub(crate) async fn daily_sums(
        &self,
        group: DailyGroup,
        filter: &DailyFilter,
    ) -> Result<Vec<Bucket>, StoreError> {
        let column = match group {
            DailyGroup::User => "username",
            DailyGroup::Team => "team",
            DailyGroup::Model => "model_id",
            DailyGroup::Day => "day",
        };
        let (more, args) = equal_filters(&[
            ("username", &filter.username),
            ("team", &filter.team),
            ("model_id", &filter.model_id),
        ]);
        let table = daily_table(Some(group), filter);
        let sql = format!(
            "SELECT {column} AS `key`, {SUMS} FROM {table} \
             WHERE day >= ? AND day <= ?{more} GROUP BY {column} ORDER BY {column}"
        );
        let rows = on_pool!(self, p => {
            let mut q = sqlx::query_as::<_, Bucket>(&sql)
                .bind(filter.from_day.as_str())
                .bind(filter.to_day.as_str());
            for a in &args {
                q = q.bind(*a);
            }
            q.fetch_all(p).await?
        });
        Ok(rows)
    }

    /// The daily rollup summed over `filter`: calls, tokens and cost.
    pub(crate) async fn daily_totals(
        &self,
        filter: &DailyFilter,
    ) -> Result<UsageTotals, StoreError> {
        let (more, args) = equal_filters(&[
            ("username", &filter.username),
            ("team", &filter.team),
            ("model_id", &filter.model_id),
        ]);
        let table = daily_table(None, filter);
        let sql = format!("SELECT {SUMS} FROM {table} WHERE day >= ? AND day <= ?{more}");
        let sums = on_pool!(self, p => {
            let mut q = sqlx::query_as::<_, GroupSums>(&sql)
                .bind(filter.from_day.as_str())
                .bind(filter.to_day.as_str());
            for a in &args {
                q = q.bind(*a);
            }
            q.fetch_one(p).await?
        });
        Ok(UsageTotals {
            requests: sums.requests,
            errors: sums.errors,
            input_tokens: sums.input_tokens,
            output_tokens: sums.output_tokens,
            cache_read_tokens: sums.cache_read_tokens,
            cache_write_tokens: sums.cache_write_tokens,
            cost_usd: sums.cost_usd,
        })
    }

    /// `usage_hourly` summed per hour starting in `[from_ms, to_ms)`, oldest first.
    pub(crate) async fn hourly_sums(
        &self,
        from_ms: i64,
        to_ms: i64,
        team: &Option<String>,
        model_id: &Option<String>,
    ) -> Result<Vec<HourBucket>, StoreError> {
        let (more, args) = equal_filters(&[("team", team), ("model_id", model_id)]);
        let sql = format!(
            "SELECT hour_ms, {SUMS} FROM usage_hourly WHERE hour_ms >= ? AND hour_ms < ?{more} \
             GROUP BY hour_ms ORDER BY hour_ms"
        );
        let rows = on_pool!(self, p => {
            let mut q = sqlx::query_as::<_, HourBucket>(&sql).bind(from_ms).bind(to_ms);
            for a in &args {
                q = q.bind(*a);
            }
            q.fetch_all(p).await?
        });
        Ok(rows)
    }

    /// One user's request rows created in `[from_ms, to_ms)` summed per UTC hour,
    /// oldest first.
    pub(crate) async fn user_hourly_sums(
        &self,
        user_id: i64,
        from_ms: i64,
        to_ms: i64,
        team: &Option<String>,
        model_id: &Option<String>,
    ) -> Result<Vec<HourBucket>, StoreError> {
        let (more, args) = equal_filters(&[("team", team), ("model_id", model_id)]);
        let hour = format!("(created_at - (created_at % {HOUR_MS}))");
        let sql = format!(
            "SELECT {hour} AS hour_ms, \
             CAST(COALESCE(SUM(CASE WHEN refused IS NULL THEN 1 ELSE 0 END), 0) AS SIGNED) AS requests, \
             CAST(COALESCE(SUM(CASE WHEN status_code >= 400 OR refused IS NOT NULL THEN 1 ELSE 0 END), 0) AS SIGNED) AS errors, \
             CAST(COALESCE(SUM(input_tokens), 0) AS SIGNED) AS input_tokens, \
             CAST(COALESCE(SUM(output_tokens), 0) AS SIGNED) AS output_tokens, \
             CAST(COALESCE(SUM(cache_read_tokens), 0) AS SIGNED) AS cache_read_tokens, \
             CAST(COALESCE(SUM(cache_write_tokens), 0) AS SIGNED) AS cache_write_tokens, \
             COALESCE(SUM(cost_usd), 0.0) AS cost_usd \
             FROM bedrock_requests WHERE user_id = ? AND created_at >= ? AND created_at < ? \
             AND ({COUNTED} OR refused IS NOT NULL){more} \
             GROUP BY {hour} ORDER BY hour_ms"
        );
        let rows = on_pool!(self, p => {
            let mut q = sqlx::query_as::<_, HourBucket>(&sql)
                .bind(user_id)
                .bind(from_ms)
                .bind(to_ms);
            for a in &args {
                q = q.bind(*a);
            }
            q.fetch_all(p).await?
        });
        Ok(rows)
    }
}
