//! One row per call (`bedrock_requests`): batched inserts that are safe to retry (and
//! keep the usage rollups in step), and the queries behind `usage`. Calls the proxy
//! refused have rows too (`refused`, `refusal_message`), which no sum counts.

use serde::{Deserialize, Serialize};

use super::rollup_sql::write_rollup;
use super::rollups::Rollup;
use super::{on_pool, Store, StoreError};
use crate::config::DatabaseKind;
use crate::domain::{EndedEarly, NotSent, Refused, UsageSource};

/// One proxied call, as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct RequestRecord {
    /// Unique id (32 hex chars); makes a retried batch insert idempotent.
    pub request_uid: String,
    /// When the call arrived (epoch ms).
    pub created_at: i64,
    /// The user's id.
    pub user_id: i64,
    /// The user's name.
    pub username: String,
    /// The user's team.
    pub team: String,
    /// The user's full name.
    pub person: String,
    /// The tool the key was issued for.
    pub tool: String,
    /// The proxy key used.
    pub access_key_id: String,
    /// Model id as the caller named it (bare, profile id or ARN).
    pub model_id: String,
    /// Bedrock operation (`Converse`, `InvokeModel`, ...).
    pub operation: String,
    /// `x-amzn-RequestId` of the upstream response.
    pub upstream_request_id: Option<String>,
    /// The caller's address.
    pub source_ip: String,
    /// The caller's User-Agent.
    pub user_agent: Option<String>,
    /// Upstream region.
    pub region: String,
    /// HTTP status returned to the caller.
    pub status_code: i64,
    /// Error type (upstream `x-amzn-ErrorType`, a mid-stream exception, or the proxy's).
    pub error_type: Option<String>,
    /// Input tokens.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Cache-read input tokens.
    pub cache_read_tokens: i64,
    /// Cache-write input tokens.
    pub cache_write_tokens: i64,
    /// Cost in USD at the model's price.
    #[serde(serialize_with = "crate::domain::money::serialize_usd")]
    pub cost_usd: f64,
    /// Time from arrival to the last byte (ms).
    pub latency_ms: i64,
    /// Where the token counts came from: `reported`, `estimated` or `none`.
    #[schema(value_type = String, example = "reported")]
    pub usage_source: UsageSource,
    /// Why the proxy failed the call before it reached Bedrock; `None` for every call
    /// sent upstream. A not-sent call counts in no usage sum and no quota.
    #[serde(default)]
    pub not_sent: Option<NotSent>,
    /// Why the response did not reach its normal end (`client_closed`,
    /// `upstream_reset`, `upstream_timeout`, `truncated`, `malformed`); `None` when it
    /// did. The usage is what was seen (or estimated from it), never zero for a 2xx.
    #[serde(default)]
    pub ended_early: Option<EndedEarly>,
    /// An upstream token count was past the per-call ceiling (10,000,000) and was
    /// recorded as the ceiling.
    #[serde(default)]
    pub usage_clamped: bool,
    /// Why the proxy refused the call (`blocked`, `quota_exceeded`, `throttled`,
    /// `validation`, `no_price`, ...); `None` for every call it did not refuse. A
    /// refused call never reached Bedrock and counts in no usage sum, limit or budget.
    #[serde(default, with = "readable_only")]
    #[schema(value_type = Option<String>, example = "quota_exceeded")]
    pub refused: Option<Refused>,
    /// The message the refused caller got (at most 1,000 characters).
    #[serde(default, with = "readable_only")]
    pub refusal_message: Option<String>,
}

/// Serde for a field that only human-readable formats carry (JSON: the admin API, the
/// command line, the spill file). The crash journal's compact binary format (postcard)
/// writes nothing for it and reads it as the default, so its frames keep the layout they
/// had before the field existed, and frames written by an older version still read.
/// Only for fields that are always the default in the journal: a refused call is never
/// journaled (it is refused before it begins).
mod readable_only {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<T: Serialize, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            v.serialize(s)
        } else {
            s.serialize_unit()
        }
    }

    pub(super) fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: Deserialize<'de> + Default,
        D: Deserializer<'de>,
    {
        if d.is_human_readable() {
            T::deserialize(d)
        } else {
            <()>::deserialize(d).map(|()| T::default())
        }
    }
}

impl RequestRecord {
    /// Whether the call counts as usage: it was sent upstream (not refused, not failed
    /// before it went), and it is not a failed
    /// direct call seen in CloudTrail (recorded, not counted).
    pub(crate) fn counts(&self) -> bool {
        self.not_sent.is_none()
            && self.refused.is_none()
            && !(self.usage_source == UsageSource::Cloudtrail && self.error_type.is_some())
    }
}

/// Which records `usage` shows.
#[derive(Clone, Debug, Default)]
pub struct UsageFilter {
    /// Only this user.
    pub username: Option<String>,
    /// Only this team.
    pub team: Option<String>,
    /// From this time (epoch ms, inclusive).
    pub from_ms: Option<i64>,
    /// Until this time (epoch ms, exclusive).
    pub to_ms: Option<i64>,
    /// At most this many records (newest first).
    pub limit: Option<i64>,
}

/// Sums over a set of records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, sqlx::FromRow)]
pub struct UsageTotals {
    /// Calls sent to Bedrock (refused calls are not among them).
    pub requests: i64,
    /// Calls answered with status 400 or more, those the proxy refused included (a
    /// refused call has no tokens and no cost and never counts toward a limit).
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

const COLUMNS: [&str; 29] = [
    "request_uid",
    "created_at",
    "user_id",
    "username",
    "team",
    "person",
    "tool",
    "access_key_id",
    "model_id",
    "operation",
    "upstream_request_id",
    "source_ip",
    "user_agent",
    "region",
    "status_code",
    "error_type",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_usd",
    "latency_ms",
    "usage_source",
    "not_sent",
    "ended_early",
    "usage_clamped",
    "refused",
    "refusal_message",
    "id",
];

/// The SQL condition of [`RequestRecord::counts`]: rows that are usage.
pub(crate) const COUNTED: &str = "not_sent IS NULL AND refused IS NULL \
     AND NOT (usage_source = 'cloudtrail' AND error_type IS NOT NULL)";

const FILTER: &str = "WHERE (? IS NULL OR username = ?) AND (? IS NULL OR team = ?) \
     AND (? IS NULL OR created_at >= ?) AND (? IS NULL OR created_at < ?)";

macro_rules! bind_filter {
    ($q:expr, $f:expr) => {
        $q.bind(&$f.username)
            .bind(&$f.username)
            .bind(&$f.team)
            .bind(&$f.team)
            .bind($f.from_ms)
            .bind($f.from_ms)
            .bind($f.to_ms)
            .bind($f.to_ms)
    };
}

/// The columns of a [`RequestRecord`] (and `id`) for a `SELECT`.
pub(super) fn select_list() -> String {
    let mut list: Vec<&str> = COLUMNS
        .iter()
        .filter(|c| **c != "user_id")
        .copied()
        .collect();
    list.push("COALESCE(user_id, 0) AS user_id");
    list.join(", ")
}

/// Rows per multi-row insert statement: powers of two up to the largest.
pub(super) const INSERT_SHAPES: [usize; 8] = [128, 64, 32, 16, 8, 4, 2, 1];

/// Rows for the next statement when `left` rows remain: the largest shape that fits.
pub(super) fn chunk_rows(left: usize) -> usize {
    INSERT_SHAPES
        .iter()
        .copied()
        .find(|&n| n <= left)
        .unwrap_or(1)
}

/// `INSERT ... VALUES (...), ...` for `rows` rows, ignoring rows whose uid exists.
pub(super) fn insert_sql(kind: DatabaseKind, rows: usize) -> String {
    let columns = &COLUMNS[..COLUMNS.len() - 1];
    let group = format!("({})", vec!["?"; columns.len()].join(", "));
    let verb = match kind {
        DatabaseKind::Sqlite => "INSERT OR IGNORE",
        DatabaseKind::MySql => "INSERT IGNORE",
    };
    format!(
        "{verb} INTO bedrock_requests ({}) VALUES {}",
        columns.join(", "),
        vec![group.as_str(); rows].join(", ")
    )
}

/// Binds one record's columns (in `COLUMNS` order, without `id`).
macro_rules! bind_record {
    ($q:expr, $r:expr) => {
        // `&str`, not `&String`: the driver borrows the text instead of copying it into
        // the statement's arguments.
        $q.bind($r.request_uid.as_str())
            .bind($r.created_at)
            .bind($r.user_id)
            .bind($r.username.as_str())
            .bind($r.team.as_str())
            .bind($r.person.as_str())
            .bind($r.tool.as_str())
            .bind($r.access_key_id.as_str())
            .bind($r.model_id.as_str())
            .bind($r.operation.as_str())
            .bind($r.upstream_request_id.as_deref())
            .bind($r.source_ip.as_str())
            .bind($r.user_agent.as_deref())
            .bind($r.region.as_str())
            .bind($r.status_code)
            .bind($r.error_type.as_deref())
            .bind($r.input_tokens)
            .bind($r.output_tokens)
            .bind($r.cache_read_tokens)
            .bind($r.cache_write_tokens)
            .bind($r.cost_usd)
            .bind($r.latency_ms)
            .bind($r.usage_source.as_str())
            .bind($r.not_sent.map(|n| n.as_str()))
            .bind($r.ended_early.map(|e| e.as_str()))
            .bind($r.usage_clamped)
            .bind($r.refused.map(|r| r.as_str()))
            .bind($r.refusal_message.as_deref())
    };
}
pub(super) use bind_record;

/// The `request_uid`s of `$records` already stored, read on transaction `$tx` in
/// chunks of the largest insert shape.
macro_rules! stored_uids {
    ($tx:expr, $records:expr) => {{
        let mut stored = std::collections::HashSet::new();
        for chunk in $records.chunks($crate::store::requests::INSERT_SHAPES[0]) {
            let sql = format!(
                "SELECT request_uid FROM bedrock_requests WHERE request_uid IN ({})",
                vec!["?"; chunk.len()].join(", ")
            );
            let mut q = sqlx::query_scalar::<_, String>(&sql);
            for r in chunk {
                q = q.bind(r.request_uid.as_str());
            }
            stored.extend(q.fetch_all(&mut *$tx).await?);
        }
        stored
    }};
}
pub(super) use stored_uids;

impl Store {
    /// Inserts records in one transaction, with their sums in the usage rollups; a record
    /// whose `request_uid` is already stored is skipped (and not summed again), so a
    /// batch can be retried after an unknown outcome. Returns the rows inserted.
    ///
    /// Rows go in as multi-row statements of `INSERT_SHAPES` sizes only (a batch of 300
    /// is 128 + 128 + 32 + 8 + 4), so every statement is one of a few the connection has
    /// already prepared and cached. When every statement inserted all its rows (the
    /// normal case), the whole batch is new and is summed in memory, then written as one
    /// upsert row per rollup key. When a statement skipped a row (a retried batch, a
    /// spill import, a uid twice in the batch), which rows went in is unknown, so the
    /// transaction is rolled back and the batch goes in row by row instead.
    pub async fn insert_requests(&self, records: &[RequestRecord]) -> Result<u64, StoreError> {
        if records.is_empty() {
            return Ok(0);
        }
        if let Some(n) = self.insert_all_new(records).await? {
            return Ok(n);
        }
        self.insert_one_by_one(records).await
    }

    /// The fast path: `None` (and nothing written) when some record was already stored.
    async fn insert_all_new(&self, records: &[RequestRecord]) -> Result<Option<u64>, StoreError> {
        let inserted = on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let mut all_new = true;
            let mut rest = records;
            while !rest.is_empty() {
                let n = chunk_rows(rest.len());
                let (chunk, tail) = rest.split_at(n);
                rest = tail;
                let sql = insert_sql(self.kind(), n);
                let mut q = sqlx::query(&sql);
                for r in chunk {
                    q = bind_record!(q, r);
                }
                if q.execute(&mut *tx).await?.rows_affected() != n as u64 {
                    all_new = false;
                    break;
                }
            }
            if all_new {
                let mut rollup = Rollup::new(self.day_zone);
                for r in records {
                    rollup.add(r);
                }
                write_rollup!(self.kind(), tx, rollup);
                tx.commit().await?;
                Some(records.len() as u64)
            } else {
                tx.rollback().await?;
                None
            }
        });
        Ok(inserted)
    }

    /// The exact path: skips the uids already stored, then inserts the others one at a
    /// time, summing each that went in.
    async fn insert_one_by_one(&self, records: &[RequestRecord]) -> Result<u64, StoreError> {
        let one = insert_sql(self.kind(), 1);
        let inserted = on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let stored = stored_uids!(tx, records);
            let mut rollup = Rollup::new(self.day_zone);
            let mut inserted = 0;
            for r in records.iter().filter(|r| !stored.contains(&r.request_uid)) {
                let q = bind_record!(sqlx::query(&one), r);
                if q.execute(&mut *tx).await?.rows_affected() == 1 {
                    rollup.add(r);
                    inserted += 1;
                }
            }
            if !rollup.is_empty() {
                write_rollup!(self.kind(), tx, rollup);
            }
            tx.commit().await?;
            inserted
        });
        Ok(inserted)
    }

    /// Records matching `filter`, newest first.
    pub async fn requests(&self, filter: &UsageFilter) -> Result<Vec<RequestRecord>, StoreError> {
        let sql = format!(
            "SELECT {} FROM bedrock_requests {FILTER} ORDER BY created_at DESC, id DESC LIMIT ?",
            select_list()
        );
        let limit = filter.limit.unwrap_or(i64::MAX).max(0);
        let records = on_pool!(self, p => {
            bind_filter!(sqlx::query_as::<_, RequestRecord>(&sql), filter)
                .bind(limit)
                .fetch_all(p)
                .await?
        });
        Ok(records)
    }

    /// Sums over the records matching `filter` (its `limit` is ignored); calls never sent
    /// upstream count in none of them, except that refused calls count as errors.
    pub async fn usage_totals(&self, filter: &UsageFilter) -> Result<UsageTotals, StoreError> {
        let sql = format!(
            "SELECT CAST(COALESCE(SUM(CASE WHEN refused IS NULL THEN 1 ELSE 0 END), 0) AS SIGNED) AS requests, \
             CAST(COALESCE(SUM(CASE WHEN status_code >= 400 OR refused IS NOT NULL THEN 1 ELSE 0 END), 0) AS SIGNED) AS errors, \
             COALESCE(CAST(SUM(input_tokens) AS SIGNED), 0) AS input_tokens, \
             COALESCE(CAST(SUM(output_tokens) AS SIGNED), 0) AS output_tokens, \
             COALESCE(CAST(SUM(cache_read_tokens) AS SIGNED), 0) AS cache_read_tokens, \
             COALESCE(CAST(SUM(cache_write_tokens) AS SIGNED), 0) AS cache_write_tokens, \
             COALESCE(SUM(cost_usd), 0.0) AS cost_usd FROM bedrock_requests {FILTER} \
             AND ({COUNTED} OR refused IS NOT NULL)"
        );
        let totals = on_pool!(self, p => {
            bind_filter!(sqlx::query_as::<_, UsageTotals>(&sql), filter).fetch_one(p).await?
        });
        Ok(totals)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A refused call's record (user `user_id`, blocked), for tests here and elsewhere.
    pub(crate) fn refused_record(user_id: i64) -> RequestRecord {
        RequestRecord {
            request_uid: format!("r{user_id}"),
            created_at: 1,
            user_id,
            username: "u".into(),
            team: "t".into(),
            person: "p".into(),
            tool: "x".into(),
            access_key_id: "k".into(),
            model_id: "m".into(),
            operation: "Converse".into(),
            upstream_request_id: None,
            source_ip: "127.0.0.1".into(),
            user_agent: None,
            region: "eu-west-1".into(),
            status_code: 403,
            error_type: Some("AccessDeniedException".into()),
            input_tokens: 0,
            output_tokens: 0,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            cost_usd: 0.0,
            latency_ms: 0,
            usage_source: UsageSource::None,
            not_sent: None,
            ended_early: None,
            usage_clamped: false,
            refused: Some(Refused::Blocked),
            refusal_message: Some("blocked".into()),
        }
    }

    #[test]
    fn refusals_are_in_json_and_not_in_the_journal_format() {
        let r = refused_record(2);
        assert!(!r.counts());
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains(r#""refused":"blocked","refusal_message":"blocked""#));
        assert_eq!(serde_json::from_str::<RequestRecord>(&json).unwrap(), r);
        // The postcard bytes are those of the record without the refusal (the layout of
        // journal frames written before refusals were recorded), and read back without it.
        let plain = RequestRecord {
            refused: None,
            refusal_message: None,
            ..r.clone()
        };
        let packed = postcard::to_allocvec(&r).unwrap();
        assert_eq!(packed, postcard::to_allocvec(&plain).unwrap());
        assert_eq!(
            postcard::from_bytes::<RequestRecord>(&packed).unwrap(),
            plain
        );
    }

    #[test]
    fn batches_split_into_cached_shapes() {
        for total in 0..600usize {
            let mut left = total;
            let mut statements = 0;
            while left > 0 {
                let n = chunk_rows(left);
                assert!(INSERT_SHAPES.contains(&n) && n <= left, "{total}: {n}");
                left -= n;
                statements += 1;
            }
            // Full 128-row statements plus at most one of each smaller shape.
            assert!(statements <= total / 128 + 7, "{total}: {statements}");
        }
    }
}
