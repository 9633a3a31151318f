//! Reports that stay fast at millions of calls: per-call records page by page (keyset
//! cursors, or a stream of every match for CSV), and sums per user, team, model, day or
//! hour read from the usage rollups. Days are local days in `quota.timezone`.

use std::str::FromStr;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, NaiveDate, SecondsFormat};
use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};
use serde::Serialize;

use super::{Ops, OpsError};
use crate::calendar::start_of_day;
use crate::store::{
    DailyFilter, DailyGroup, GroupSums, PagedRecord, RecordFilter, RequestRecord, Store,
};

/// The most records one page holds.
pub const MAX_PAGE: u32 = 1000;
/// The longest range an aggregate covers, in days.
pub const MAX_DAYS: i64 = 400;
/// Records per database round trip of [`Ops::record_stream`].
const STREAM_PAGE: u32 = 1000;
const HOUR_MS: i64 = 3_600_000;

/// Which statuses a record query keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    /// Below 400.
    Ok,
    /// 400 and above.
    Error,
    /// Exactly this code.
    Code(u16),
}

impl FromStr for StatusFilter {
    type Err = OpsError;

    fn from_str(s: &str) -> Result<Self, OpsError> {
        match s {
            "ok" => Ok(Self::Ok),
            "error" => Ok(Self::Error),
            _ => match s.parse::<u16>() {
                Ok(c) if (100..=599).contains(&c) => Ok(Self::Code(c)),
                _ => Err(OpsError::Invalid(format!(
                    "status `{s}` is not `ok`, `error` or an HTTP status code"
                ))),
            },
        }
    }
}

/// Which records to list, newest first.
#[derive(Clone, Debug, Default)]
pub struct RecordQuery {
    /// Only this user.
    pub user: Option<String>,
    /// Only this team.
    pub team: Option<String>,
    /// Only this model id, exactly as stored.
    pub model: Option<String>,
    /// Only this Bedrock operation (`Converse`, `InvokeModel`, ...).
    pub operation: Option<String>,
    /// Only these statuses.
    pub status: Option<StatusFilter>,
    /// From this time (epoch ms, inclusive).
    pub from_ms: Option<i64>,
    /// Until this time (epoch ms, exclusive).
    pub to_ms: Option<i64>,
    /// Where the previous page ended (its `next_cursor`).
    pub cursor: Option<String>,
    /// Records per page, 1 to 1000.
    pub limit: u32,
}

/// One page of records.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RecordPage {
    /// Records, newest first.
    pub records: Vec<RequestRecord>,
    /// The cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// What an aggregate groups by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    /// Username.
    User,
    /// Team.
    Team,
    /// Model id.
    Model,
    /// Local day.
    Day,
    /// Hour (local hour start).
    Hour,
}

impl FromStr for GroupBy {
    type Err = OpsError;

    fn from_str(s: &str) -> Result<Self, OpsError> {
        match s {
            "user" => Ok(Self::User),
            "team" => Ok(Self::Team),
            "model" => Ok(Self::Model),
            "day" => Ok(Self::Day),
            "hour" => Ok(Self::Hour),
            _ => Err(OpsError::Invalid(format!(
                "group_by `{s}` is not one of user, team, model, day, hour"
            ))),
        }
    }
}

/// Sums over a range of local days, per group.
#[derive(Clone, Debug)]
pub struct AggregateQuery {
    /// What to group by.
    pub group_by: GroupBy,
    /// First local day (inclusive).
    pub from: NaiveDate,
    /// Last local day (inclusive).
    pub to: NaiveDate,
    /// Only this user.
    pub user: Option<String>,
    /// Only this team.
    pub team: Option<String>,
    /// Only this model id.
    pub model: Option<String>,
}

/// One group's sums.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AggregateRow {
    /// Username, team, model id, `YYYY-MM-DD`, or the local hour start in RFC 3339 with
    /// its offset.
    pub key: String,
    /// Calls.
    pub requests: i64,
    /// Calls answered with status 400 or more.
    pub errors: i64,
    /// Input tokens.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Cache-read tokens.
    pub cache_read_tokens: i64,
    /// Cache-write tokens.
    pub cache_write_tokens: i64,
    /// USD.
    #[serde(serialize_with = "crate::domain::money::serialize_usd")]
    pub cost_usd: f64,
}

impl AggregateRow {
    fn new(key: String, s: GroupSums) -> Self {
        Self {
            key,
            requests: s.requests,
            errors: s.errors,
            input_tokens: s.input_tokens,
            output_tokens: s.output_tokens,
            cache_read_tokens: s.cache_read_tokens,
            cache_write_tokens: s.cache_write_tokens,
            cost_usd: s.cost_usd,
        }
    }
}

/// `YYYY-MM-DD`.
pub(crate) fn day_key(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn encode_cursor(r: &PagedRecord) -> String {
    cursor_of(r.record.created_at, r.id)
}

fn cursor_of(created_at: i64, id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{created_at}.{id}"))
}

fn decode_cursor(s: &str) -> Result<(i64, i64), OpsError> {
    let bad = || OpsError::Invalid(format!("cursor `{s}` is not a cursor this server gave out"));
    let text = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
    let text = String::from_utf8(text).map_err(|_| bad())?;
    let (at, id) = text.split_once('.').ok_or_else(bad)?;
    Ok((
        at.parse().map_err(|_| bad())?,
        id.parse().map_err(|_| bad())?,
    ))
}

/// The store filter of `q`; unknown users and teams are `NotFound`.
async fn record_filter(store: &Store, q: &RecordQuery) -> Result<RecordFilter, OpsError> {
    let user_id = match &q.user {
        Some(u) => Some(store.user(u).await?.id),
        None => None,
    };
    if let Some(t) = &q.team {
        store.team(t).await?;
    }
    let (status_min, status_max) = match q.status {
        None => (None, None),
        Some(StatusFilter::Ok) => (None, Some(399)),
        Some(StatusFilter::Error) => (Some(400), None),
        Some(StatusFilter::Code(c)) => (Some(i64::from(c)), Some(i64::from(c))),
    };
    Ok(RecordFilter {
        user_id,
        team: q.team.clone(),
        model_id: q.model.clone(),
        operation: q.operation.clone(),
        status_min,
        status_max,
        from_ms: q.from_ms,
        to_ms: q.to_ms,
    })
}

/// Where [`Ops::record_stream`] is between pages.
struct StreamState {
    store: Arc<Store>,
    query: RecordQuery,
    filter: Option<RecordFilter>,
    after: Option<(i64, i64)>,
    /// The last page was short: nothing more matches.
    done: bool,
}

impl Ops {
    /// One page of records matching `q`, newest first.
    pub async fn records(&self, q: &RecordQuery) -> Result<RecordPage, OpsError> {
        if !(1..=MAX_PAGE).contains(&q.limit) {
            return Err(OpsError::Invalid(format!(
                "limit {} is not between 1 and {MAX_PAGE}",
                q.limit
            )));
        }
        let after = q.cursor.as_deref().map(decode_cursor).transpose()?;
        let filter = record_filter(&self.store, q).await?;
        let mut rows = self.store.request_page(&filter, after, q.limit + 1).await?;
        let more = rows.len() > q.limit as usize;
        rows.truncate(q.limit as usize);
        let next_cursor = if more {
            rows.last().map(encode_cursor)
        } else {
            None
        };
        Ok(RecordPage {
            records: rows.into_iter().map(|r| r.record).collect(),
            next_cursor,
        })
    }

    /// Every record matching `q` (its `limit` is ignored), newest first, fetched page by
    /// page as the stream is read: never all in memory.
    pub fn record_stream(
        &self,
        q: RecordQuery,
    ) -> BoxStream<'static, Result<RequestRecord, OpsError>> {
        let start = StreamState {
            store: Arc::clone(&self.store),
            query: q,
            filter: None,
            after: None,
            done: false,
        };
        stream::try_unfold(start, |mut st| async move {
            if st.done {
                return Ok(None);
            }
            let filter = match st.filter.take() {
                Some(f) => f,
                None => {
                    st.after = st.query.cursor.as_deref().map(decode_cursor).transpose()?;
                    record_filter(&st.store, &st.query).await?
                }
            };
            let rows = st
                .store
                .request_page(&filter, st.after, STREAM_PAGE)
                .await?;
            if rows.is_empty() {
                return Ok(None);
            }
            st.done = rows.len() < STREAM_PAGE as usize;
            st.filter = Some(filter);
            st.after = rows.last().map(|r| (r.record.created_at, r.id));
            let page: Vec<RequestRecord> = rows.into_iter().map(|r| r.record).collect();
            Ok::<_, OpsError>(Some((page, st)))
        })
        .map_ok(|page| stream::iter(page.into_iter().map(Ok::<_, OpsError>)))
        .try_flatten()
        .boxed()
    }

    /// Sums per group over the local days `from..=to`, from the smallest daily rollup that
    /// answers (see `Store::daily_sums`); hours from `usage_hourly`, or of one user from
    /// that user's records.
    pub async fn aggregate(&self, q: &AggregateQuery) -> Result<Vec<AggregateRow>, OpsError> {
        if q.to < q.from {
            return Err(OpsError::Invalid(format!(
                "to {} is before from {}",
                q.to, q.from
            )));
        }
        let days = (q.to - q.from).num_days() + 1;
        if days > MAX_DAYS {
            return Err(OpsError::Invalid(format!(
                "from {} to {} is {days} days; at most {MAX_DAYS}",
                q.from, q.to
            )));
        }
        let user = match &q.user {
            Some(u) => Some(self.store.user(u).await?),
            None => None,
        };
        if let Some(t) = &q.team {
            self.store.team(t).await?;
        }
        let group = match q.group_by {
            GroupBy::User => DailyGroup::User,
            GroupBy::Team => DailyGroup::Team,
            GroupBy::Model => DailyGroup::Model,
            GroupBy::Day => DailyGroup::Day,
            GroupBy::Hour => return self.hours(q, user.map(|u| u.id)).await,
        };
        let filter = DailyFilter {
            from_day: day_key(q.from),
            to_day: day_key(q.to),
            username: user.map(|u| u.username),
            team: q.team.clone(),
            model_id: q.model.clone(),
        };
        Ok(self
            .store
            .daily_sums(group, &filter)
            .await?
            .into_iter()
            .map(|b| AggregateRow::new(b.key, b.sums))
            .collect())
    }

    /// Hourly sums: `usage_hourly`, or one user's records.
    async fn hours(
        &self,
        q: &AggregateQuery,
        user_id: Option<i64>,
    ) -> Result<Vec<AggregateRow>, OpsError> {
        let from_ms = start_of_day(self.tz, q.from).timestamp_millis();
        let to_ms = start_of_day(self.tz, q.to.succ_opt().unwrap_or(q.to)).timestamp_millis();
        let buckets = match user_id {
            Some(id) => {
                self.store
                    .user_hourly_sums(id, from_ms, to_ms, &q.team, &q.model)
                    .await?
            }
            // In a zone whose offset is not whole hours, the first UTC hour starts before
            // local midnight; it is included whole.
            None => {
                let first_hour = from_ms - from_ms.rem_euclid(HOUR_MS);
                self.store
                    .hourly_sums(first_hour, to_ms, &q.team, &q.model)
                    .await?
            }
        };
        Ok(buckets
            .into_iter()
            .map(|b| {
                let key = DateTime::from_timestamp_millis(b.hour_ms)
                    .unwrap_or_default()
                    .with_timezone(&self.tz)
                    .to_rfc3339_opts(SecondsFormat::Secs, false);
                AggregateRow::new(key, b.sums)
            })
            .collect())
    }

    /// `s` as epoch ms: a `YYYY-MM-DD` local day's start in `quota.timezone` (with
    /// `is_end`, the next day's start, so the day is included), or an RFC 3339 time.
    /// Errors name `field`.
    pub fn time_bound(&self, field: &str, s: &str, is_end: bool) -> Result<i64, OpsError> {
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            let d = if is_end { d.succ_opt().unwrap_or(d) } else { d };
            return Ok(start_of_day(self.tz, d).timestamp_millis());
        }
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .map_err(|_| {
                OpsError::Invalid(format!(
                    "{field} `{s}` is neither a date like 2026-11-24 nor a time like \
                     2026-11-24T13:00:00Z"
                ))
            })
    }

    /// Today, in `quota.timezone`.
    pub fn today(&self) -> NaiveDate {
        self.now().with_timezone(&self.tz).date_naive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(
            decode_cursor(&cursor_of(1_700_000_000_123, 42)).unwrap(),
            (1_700_000_000_123, 42)
        );
        for bad in ["", "abc", "!!", &URL_SAFE_NO_PAD.encode("1.x")] {
            assert!(
                matches!(decode_cursor(bad), Err(OpsError::Invalid(m)) if m.contains("cursor"))
            );
        }
    }

    #[test]
    fn filters_parse() {
        assert_eq!("ok".parse::<StatusFilter>().unwrap(), StatusFilter::Ok);
        assert_eq!(
            "error".parse::<StatusFilter>().unwrap(),
            StatusFilter::Error
        );
        assert_eq!(
            "429".parse::<StatusFilter>().unwrap(),
            StatusFilter::Code(429)
        );
        assert!("42".parse::<StatusFilter>().is_err());
        assert!("bad".parse::<StatusFilter>().is_err());
        assert_eq!("hour".parse::<GroupBy>().unwrap(), GroupBy::Hour);
        assert!(
            matches!("week".parse::<GroupBy>(), Err(OpsError::Invalid(m)) if m.contains("group_by"))
        );
    }
}
