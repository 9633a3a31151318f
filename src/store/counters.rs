//! Quota counters (`quota_counters`): capacity granted to proxies per subject, metric and
//! period. The store runs the grant transaction; how much to give is the quota engine's
//! rule, passed in as a function of the counter's current value.

use sqlx::Row;

use super::{now_ms, on_pool, Store, StoreError};
use crate::config::DatabaseKind;

/// One counter row's key in its stored form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CounterRef<'a> {
    /// `user:12` or `team:3`.
    pub(crate) subject: &'a str,
    /// `requests` or `micro_usd`.
    pub(crate) metric: &'a str,
    /// `2026-11-25` or `2026-11`.
    pub(crate) period: &'a str,
}

impl Store {
    /// Grants `decide(granted)` units of `counter`, where `granted` is the counter's value
    /// read under the row lock, in one transaction. Returns (units given, total granted
    /// afterwards).
    pub(crate) async fn grant_capacity(
        &self,
        counter: CounterRef<'_>,
        decide: impl FnOnce(i64) -> i64,
    ) -> Result<(i64, i64), StoreError> {
        let CounterRef {
            subject,
            metric,
            period,
        } = counter;
        let now = now_ms();
        let insert = format!(
            "{} INTO quota_counters (subject, metric, period, granted, updated_at) VALUES (?, ?, ?, 0, ?)",
            self.insert_ignore()
        );
        let mysql = self.kind() == DatabaseKind::MySql;
        let select = if mysql {
            "SELECT granted FROM quota_counters WHERE subject = ? AND metric = ? AND period = ? FOR UPDATE"
        } else {
            "SELECT granted FROM quota_counters WHERE subject = ? AND metric = ? AND period = ?"
        };
        let result = on_pool!(self, p => {
            // MySQL: create the row outside the transaction, so two grants never hold
            // shared locks that both want to upgrade. SQLite: inside it, so the
            // transaction takes the write lock first and never has to upgrade.
            if mysql {
                sqlx::query(&insert).bind(subject).bind(metric).bind(period).bind(now)
                    .execute(p).await?;
            }
            let mut tx = p.begin().await?;
            if !mysql {
                sqlx::query(&insert).bind(subject).bind(metric).bind(period).bind(now)
                    .execute(&mut *tx).await?;
            }
            let granted: i64 = sqlx::query(select)
                .bind(subject)
                .bind(metric)
                .bind(period)
                .fetch_one(&mut *tx)
                .await?
                .try_get("granted")?;
            let give = decide(granted);
            if give > 0 {
                sqlx::query(
                    "UPDATE quota_counters SET granted = granted + ?, updated_at = ? \
                     WHERE subject = ? AND metric = ? AND period = ?",
                )
                .bind(give)
                .bind(now)
                .bind(subject)
                .bind(metric)
                .bind(period)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            (give, granted + give)
        });
        Ok(result)
    }

    /// Returns unused units of `counter`.
    pub(crate) async fn release_capacity(
        &self,
        counter: CounterRef<'_>,
        amount: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, p => {
            sqlx::query(
                "UPDATE quota_counters SET granted = CASE WHEN granted >= ? THEN granted - ? ELSE 0 END, \
                 updated_at = ? WHERE subject = ? AND metric = ? AND period = ?",
            )
            .bind(amount)
            .bind(amount)
            .bind(now_ms())
            .bind(counter.subject)
            .bind(counter.metric)
            .bind(counter.period)
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(())
    }
}
