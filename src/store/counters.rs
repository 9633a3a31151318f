//! Quota counters (`quota_counters`): capacity granted to proxies per subject, metric and
//! period. The store runs the grant transaction; how much to give is the quota engine's
//! rule, passed in as a function of the counter's current value. A grant may keep part
//! of what it gives in the proxy's lease reserve (`quota_leases`, see `leases`) in the
//! same transaction. Beside `granted`, a counter keeps `used`: the units proxies report
//! as spent (migration 0019), for refusal messages that tell spending from capacity held.

use sqlx::Row;

use super::leases::{lease_reserve, LeaseRef, UPSERT_RESERVE_MYSQL, UPSERT_RESERVE_SQLITE};
use super::limits::stored_limit;
use sqlx::Connection as _;

use super::{now_ms, on_conn_within, on_pool, Store, StoreError};
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

/// Takes units off a counter (never below 0): amount, amount, now, subject, metric,
/// period.
pub(super) const TAKE_OFF_COUNTER: &str =
    "UPDATE quota_counters SET granted = CASE WHEN granted >= ? THEN granted - ? ELSE 0 END, \
     updated_at = ? WHERE subject = ? AND metric = ? AND period = ?";

/// What a grant transaction did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Granted {
    /// Units given.
    pub(crate) given: i64,
    /// Units granted to all proxies together afterwards.
    pub(crate) total: i64,
    /// Units of `given` kept in the lease's reserve.
    pub(crate) kept: i64,
    /// The lease's reserve afterwards (0 without a lease).
    pub(crate) reserve: i64,
    /// Units reported spent by all proxies together.
    pub(crate) used: i64,
}

impl Store {
    /// Grants `decide(granted, limit)` units of `counter`, where `granted` is the
    /// counter's value read under the row lock and `limit` the counter's limit as stored
    /// now (`None`: unset), in one transaction. With `lease` = (lease, `activate`),
    /// all but `activate` of the units given go to that lease's reserve in the same
    /// transaction.
    pub(crate) async fn grant_capacity(
        &self,
        counter: CounterRef<'_>,
        decide: impl FnOnce(i64, Option<i64>) -> i64,
        lease: Option<(LeaseRef<'_>, i64)>,
        deadline: std::time::Duration,
    ) -> Result<Granted, StoreError> {
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
            "SELECT granted, used FROM quota_counters WHERE subject = ? AND metric = ? AND period = ? FOR UPDATE"
        } else {
            "SELECT granted, used FROM quota_counters WHERE subject = ? AND metric = ? AND period = ?"
        };
        let result = on_conn_within!(self, deadline, conn => {
            // MySQL: create the row outside the transaction, so two grants never hold
            // shared locks that both want to upgrade. SQLite: inside it, so the
            // transaction takes the write lock first and never has to upgrade.
            if mysql {
                sqlx::query(&insert).bind(subject).bind(metric).bind(period).bind(now)
                    .execute(&mut *conn).await?;
            }
            let mut tx = conn.begin().await?;
            if !mysql {
                sqlx::query(&insert).bind(subject).bind(metric).bind(period).bind(now)
                    .execute(&mut *tx).await?;
            }
            let row = sqlx::query(select)
                .bind(subject)
                .bind(metric)
                .bind(period)
                .fetch_one(&mut *tx)
                .await?;
            let (granted, used): (i64, i64) = (row.try_get("granted")?, row.try_get("used")?);
            let limit = stored_limit!(tx, subject, metric, period);
            let give = decide(granted, limit);
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
            let (mut kept, mut reserve) = (0, 0);
            if let Some((lease, activate)) = lease {
                kept = (give - activate.max(0)).max(0);
                if kept > 0 {
                    let upsert = if mysql { UPSERT_RESERVE_MYSQL } else { UPSERT_RESERVE_SQLITE };
                    sqlx::query(upsert)
                        .bind(lease.owner)
                        .bind(subject)
                        .bind(metric)
                        .bind(period)
                        .bind(kept)
                        .bind(lease.expires_at)
                        .execute(&mut *tx)
                        .await?;
                    reserve = lease_reserve!(tx, lease.owner, subject, metric, period);
                }
            }
            tx.commit().await?;
            Granted { given: give, total: granted + give, kept, reserve, used }
        });
        Ok(result)
    }

    /// Adds `units` spent to `counter`'s `used` (a report of calls settled on one proxy).
    pub(crate) async fn report_used(
        &self,
        counter: CounterRef<'_>,
        units: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, p => {
            sqlx::query(
                "UPDATE quota_counters SET used = used + ?, updated_at = ? \
                 WHERE subject = ? AND metric = ? AND period = ?",
            )
            .bind(units)
            .bind(now_ms())
            .bind(counter.subject)
            .bind(counter.metric)
            .bind(counter.period)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// `counter`'s units granted to all proxies and reported spent, read within
    /// `deadline` (`None`: no such row).
    pub(crate) async fn counter_totals(
        &self,
        counter: CounterRef<'_>,
        deadline: std::time::Duration,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        let row = on_conn_within!(self, deadline, conn => {
            sqlx::query(
                "SELECT granted, used FROM quota_counters \
                 WHERE subject = ? AND metric = ? AND period = ?",
            )
            .bind(counter.subject)
            .bind(counter.metric)
            .bind(counter.period)
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| -> Result<(i64, i64), sqlx::Error> {
                Ok((r.try_get("granted")?, r.try_get("used")?))
            })
            .transpose()?
        });
        Ok(row)
    }

    /// Returns unused units of `counter`.
    pub(crate) async fn release_capacity(
        &self,
        counter: CounterRef<'_>,
        amount: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, p => {
            sqlx::query(
                TAKE_OFF_COUNTER,
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
