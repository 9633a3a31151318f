//! Reports: per-call records and totals over a date range in `quota.timezone`, usage
//! today and this month (from the usage rollups), and the blocking audit trail.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use super::aggregates::day_key;
use super::views::{rfc3339, DayMonth};
use super::{Ops, OpsError};
use crate::calendar::start_of_day;
use crate::store::{AuditEntry, DailyFilter, RequestRecord, UsageFilter, UsageTotals};

/// Which records a usage report covers.
#[derive(Clone, Debug, Default)]
pub(crate) struct UsageQuery {
    /// Only this user.
    pub(crate) user: Option<String>,
    /// Only this team.
    pub(crate) team: Option<String>,
    /// From this local day (inclusive).
    pub(crate) from: Option<NaiveDate>,
    /// To this local day (inclusive).
    pub(crate) to: Option<NaiveDate>,
    /// At most this many records, newest first.
    pub(crate) limit: i64,
}

/// A usage report: the totals over the whole range and the newest records.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct UsageReport {
    /// Sums over every matching record (not only those listed).
    pub(crate) totals: UsageTotals,
    /// Records, newest first.
    pub(crate) records: Vec<RecordView>,
}

/// A record with its time also in RFC 3339 in `quota.timezone`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct RecordView {
    /// The record.
    #[serde(flatten)]
    pub(crate) record: RequestRecord,
    /// `created_at` as RFC 3339 in `quota.timezone`.
    pub(crate) created_at_rfc3339: Option<String>,
}

/// Parses a `YYYY-MM-DD` date given as `field`.
pub(crate) fn parse_date(field: &str, s: &str) -> Result<NaiveDate, OpsError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| OpsError::Invalid(format!("{field} `{s}` is not a date like 2026-11-24")))
}

impl Ops {
    /// Records and totals for `query`; days are local days in `quota.timezone`.
    pub(crate) async fn usage(&self, query: &UsageQuery) -> Result<UsageReport, OpsError> {
        if let (Some(f), Some(t)) = (query.from, query.to) {
            if t < f {
                return Err(OpsError::Invalid(format!("--to {t} is before --from {f}")));
            }
        }
        if query.limit < 0 {
            return Err(OpsError::Invalid("--limit must be 0 or more".into()));
        }
        if let Some(u) = &query.user {
            self.store.user(u).await?;
        }
        if let Some(t) = &query.team {
            self.store.team(t).await?;
        }
        let filter = UsageFilter {
            username: query.user.clone(),
            team: query.team.clone(),
            from_ms: query
                .from
                .map(|d| start_of_day(self.tz, d).timestamp_millis()),
            to_ms: query
                .to
                .and_then(|d| d.succ_opt())
                .map(|d| start_of_day(self.tz, d).timestamp_millis()),
            limit: Some(query.limit),
        };
        let records = self.store.requests(&filter).await?;
        Ok(UsageReport {
            records: records
                .into_iter()
                .map(|record| RecordView {
                    created_at_rfc3339: rfc3339(Some(record.created_at), self.tz),
                    record,
                })
                .collect(),
            totals: self.store.usage_totals(&filter).await?,
        })
    }

    /// Usage today and this month of the user or team `base` names, from the daily
    /// rollups (a month is at most 31 rows per model, however many calls it had).
    pub(crate) async fn day_and_month(&self, base: UsageFilter) -> Result<DayMonth, OpsError> {
        let today = self.today();
        let since = |from: NaiveDate| DailyFilter {
            from_day: day_key(from),
            to_day: day_key(today),
            username: base.username.clone(),
            team: base.team.clone(),
            model_id: None,
        };
        Ok(DayMonth {
            day: self.store.daily_totals(&since(today)).await?,
            month: self
                .store
                .daily_totals(&since(today.with_day(1).unwrap_or(today)))
                .await?,
        })
    }

    /// The blocking audit trail, newest first; an unknown user is an error.
    pub async fn audit(&self, user: Option<&str>, limit: i64) -> Result<Vec<AuditEntry>, OpsError> {
        if limit < 0 {
            return Err(OpsError::Invalid("--limit must be 0 or more".into()));
        }
        let entries = self.store.audit(user, limit).await?;
        // A deleted user's history still shows; a name never seen is an error.
        if let (Some(u), true) = (user, entries.is_empty()) {
            self.store.user(u).await?;
        }
        Ok(entries)
    }
}

impl Ops {
    /// Empties the usage rollups and sums every retained request row again, by local
    /// day in the current `quota.timezone` (after the zone changed); returns the rows
    /// summed. Run with every proxy stopped: a row written meanwhile can count twice.
    pub(crate) async fn rebuild_rollups(&self) -> Result<u64, OpsError> {
        Ok(self.store.rebuild_rollups().await?)
    }
}
