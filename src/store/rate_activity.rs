//! `rate_activity`: what each proxy's rate limiter saw in the last minute per subject,
//! replaced by that proxy every few seconds and summed over fresh rows for display.

use sqlx::Row;

use super::{on_pool, Store, StoreError};

/// One subject's last minute on one proxy, as published.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RateRow {
    /// `user:12`, `team:3`.
    pub(crate) subject: String,
    /// Requests in the last minute.
    pub(crate) requests: i64,
    /// Tokens in the last minute.
    pub(crate) tokens: i64,
    /// Calls in flight.
    pub(crate) in_flight: i64,
}

/// Rows older than this are another proxy's leftovers (it stopped or died): removed.
const FORGET_MS: i64 = 120_000;

impl Store {
    /// Replaces `proxy`'s rows with `rows` (stamped `now_ms`), and removes every
    /// proxy's rows older than two minutes, in one transaction.
    pub(crate) async fn publish_rate_activity(
        &self,
        proxy: &str,
        rows: &[RateRow],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("DELETE FROM rate_activity WHERE proxy = ? OR updated_at < ?")
                .bind(proxy)
                .bind(now_ms - FORGET_MS)
                .execute(&mut *tx)
                .await?;
            for r in rows {
                sqlx::query(
                    "INSERT INTO rate_activity (proxy, subject, requests, tokens, in_flight, \
                     updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                )
                .bind(proxy)
                .bind(&r.subject)
                .bind(r.requests)
                .bind(r.tokens)
                .bind(r.in_flight)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// `subject`'s last minute summed over the proxies that published since `since_ms`.
    pub(crate) async fn rate_activity(
        &self,
        subject: &str,
        since_ms: i64,
    ) -> Result<RateRow, StoreError> {
        let seen = on_pool!(self, p => {
            let row = sqlx::query(
                "SELECT CAST(COALESCE(SUM(requests), 0) AS SIGNED) AS requests, \
                 CAST(COALESCE(SUM(tokens), 0) AS SIGNED) AS tokens, \
                 CAST(COALESCE(SUM(in_flight), 0) AS SIGNED) AS in_flight \
                 FROM rate_activity WHERE subject = ? AND updated_at >= ?",
            )
            .bind(subject)
            .bind(since_ms)
            .fetch_one(p)
            .await?;
            RateRow {
                subject: subject.to_string(),
                requests: row.try_get("requests")?,
                tokens: row.try_get("tokens")?,
                in_flight: row.try_get("in_flight")?,
            }
        });
        Ok(seen)
    }
}
