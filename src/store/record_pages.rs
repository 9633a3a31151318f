//! Request rows page by page, newest first, by keyset (`(created_at, id)` of the last
//! row seen), so the millionth page costs what the first does; and their removal when
//! older than the retention period, in bounded chunks.

use super::requests::select_list;
use super::{on_pool, RequestRecord, Store, StoreError};

/// Which request rows a page shows; every field narrows.
#[derive(Clone, Debug, Default)]
pub(crate) struct RecordFilter {
    /// Only this user id (uses the `(user_id, created_at)` index).
    pub(crate) user_id: Option<i64>,
    /// Only this team.
    pub(crate) team: Option<String>,
    /// Only this model id, exactly as stored.
    pub(crate) model_id: Option<String>,
    /// Only this operation.
    pub(crate) operation: Option<String>,
    /// Status at least this.
    pub(crate) status_min: Option<i64>,
    /// Status at most this.
    pub(crate) status_max: Option<i64>,
    /// From this time (epoch ms, inclusive).
    pub(crate) from_ms: Option<i64>,
    /// Until this time (epoch ms, exclusive).
    pub(crate) to_ms: Option<i64>,
}

/// A stored request row with its id (the keyset's tie breaker).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PagedRecord {
    pub(crate) id: i64,
    #[sqlx(flatten)]
    pub(crate) record: RequestRecord,
}

/// One bind value of a dynamically built filter.
enum Arg<'a> {
    Int(i64),
    Text(&'a str),
}

impl Store {
    /// Up to `limit` rows matching `filter`, newest first (`created_at`, then `id`,
    /// descending), strictly after `after` (the `(created_at, id)` of the last row of
    /// the previous page).
    pub(crate) async fn request_page(
        &self,
        filter: &RecordFilter,
        after: Option<(i64, i64)>,
        limit: u32,
    ) -> Result<Vec<PagedRecord>, StoreError> {
        let mut clauses: Vec<&str> = Vec::new();
        let mut args: Vec<Arg<'_>> = Vec::new();
        if let Some(u) = filter.user_id {
            clauses.push("user_id = ?");
            args.push(Arg::Int(u));
        }
        if let Some(t) = &filter.team {
            clauses.push("team = ?");
            args.push(Arg::Text(t));
        }
        if let Some(m) = &filter.model_id {
            clauses.push("model_id = ?");
            args.push(Arg::Text(m));
        }
        if let Some(o) = &filter.operation {
            clauses.push("operation = ?");
            args.push(Arg::Text(o));
        }
        if let Some(s) = filter.status_min {
            clauses.push("status_code >= ?");
            args.push(Arg::Int(s));
        }
        if let Some(s) = filter.status_max {
            clauses.push("status_code <= ?");
            args.push(Arg::Int(s));
        }
        if let Some(t) = filter.from_ms {
            clauses.push("created_at >= ?");
            args.push(Arg::Int(t));
        }
        if let Some(t) = filter.to_ms {
            clauses.push("created_at < ?");
            args.push(Arg::Int(t));
        }
        if let Some((at, id)) = after {
            // `created_at <= ?` bounds the index range; the rest breaks ties by id.
            clauses.push("created_at <= ? AND (created_at < ? OR id < ?)");
            args.extend([Arg::Int(at), Arg::Int(at), Arg::Int(id)]);
        }
        let filter_sql = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let sql = format!(
            "SELECT {} FROM bedrock_requests {filter_sql} \
             ORDER BY created_at DESC, id DESC LIMIT ?",
            select_list()
        );
        let rows = on_pool!(self, p => {
            let mut q = sqlx::query_as::<_, PagedRecord>(&sql);
            for a in &args {
                q = match a {
                    Arg::Int(v) => q.bind(*v),
                    Arg::Text(v) => q.bind(*v),
                };
            }
            q.bind(i64::from(limit)).fetch_all(p).await?
        });
        Ok(rows)
    }

    /// Deletes request rows created before `before_ms`, at most about `max_rows` of them
    /// (the oldest; rows sharing the last timestamp go too). Returns the rows deleted.
    pub(crate) async fn delete_requests_before(
        &self,
        before_ms: i64,
        max_rows: u32,
    ) -> Result<u64, StoreError> {
        let offset = i64::from(max_rows.max(1)) - 1;
        let n = on_pool!(self, p => {
            let last: Option<i64> = sqlx::query_scalar(
                "SELECT created_at FROM bedrock_requests WHERE created_at < ? \
                 ORDER BY created_at LIMIT 1 OFFSET ?",
            )
            .bind(before_ms)
            .bind(offset)
            .fetch_optional(p)
            .await?;
            // Fewer than `max_rows` old rows: all of them.
            let upto = last.map_or(before_ms, |t| t.saturating_add(1).min(before_ms));
            sqlx::query("DELETE FROM bedrock_requests WHERE created_at < ?")
                .bind(upto)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(n)
    }
}
