//! Quota leases (`quota_leases`): per proxy run (`owner`) and counter, the units of
//! `quota_counters.granted` that proxy keeps in reserve. Reserved units are not usable
//! by their owner until it moves them out of the row ([`Store::activate_reserve`], a
//! conditional update under the row lock). The owner renews `expires_at` while it
//! runs; once it has passed, any proxy may reclaim the reserve
//! ([`Store::reclaim_lease`]): the row is deleted and its reserve taken off the
//! counter in one transaction. So a unit is either activated by its owner or
//! reclaimed, never both, whatever the clocks say: the expiry only decides when
//! reclaiming is worth trying. The rules (how much to keep, when to reclaim) are the
//! quota engine's; this file only writes.
//!
//! Lock order on MySQL, as in the grant: the counter row, then the lease row.

use sqlx::{Connection as _, Row};

use super::counters::{CounterRef, TAKE_OFF_COUNTER};
use super::{now_ms, on_conn_within, on_pool, Store, StoreError};

/// Locks a counter row (MySQL) or takes the write lock (SQLite) by touching it: now,
/// subject, metric, period.
const LOCK_COUNTER: &str =
    "UPDATE quota_counters SET updated_at = ? WHERE subject = ? AND metric = ? AND period = ?";

/// One proxy run's lease and the expiry to write with it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LeaseRef<'a> {
    /// The proxy run.
    pub(crate) owner: &'a str,
    /// Epoch milliseconds after which others may reclaim the reserve.
    pub(crate) expires_at: i64,
}

/// Reads a lease's reserve inside the transaction `$tx` (after the row was locked or
/// written there): evaluates to the units, `?` on failure.
macro_rules! lease_reserve {
    ($tx:expr, $owner:expr, $subject:expr, $metric:expr, $period:expr) => {
        sqlx::Row::try_get::<i64, _>(
            &sqlx::query(
                "SELECT reserve FROM quota_leases \
                 WHERE owner = ? AND subject = ? AND metric = ? AND period = ?",
            )
            .bind($owner)
            .bind($subject)
            .bind($metric)
            .bind($period)
            .fetch_one(&mut *$tx)
            .await?,
            "reserve",
        )?
    };
}
pub(super) use lease_reserve;

/// Adds to a lease's reserve (creating the row): owner, subject, metric, period,
/// units, expiry.
pub(super) const UPSERT_RESERVE_SQLITE: &str =
    "INSERT INTO quota_leases (owner, subject, metric, period, reserve, expires_at) \
     VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (owner, subject, metric, period) \
     DO UPDATE SET reserve = reserve + excluded.reserve, expires_at = excluded.expires_at";
/// [`UPSERT_RESERVE_SQLITE`] for MySQL/MariaDB.
pub(super) const UPSERT_RESERVE_MYSQL: &str =
    "INSERT INTO quota_leases (owner, subject, metric, period, reserve, expires_at) \
     VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE \
     reserve = reserve + VALUES(reserve), expires_at = VALUES(expires_at)";

/// A lease whose expiry has passed, as listed for reclaiming.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ExpiredLease {
    /// The proxy run that held it.
    pub(crate) owner: String,
    /// `user:12` or `team:3`.
    pub(crate) subject: String,
    /// `requests` or `micro_usd`.
    pub(crate) metric: String,
    /// `2026-11-25` or `2026-11`.
    pub(crate) period: String,
}

impl Store {
    /// Moves up to `amount` units of `counter` out of `lease`'s reserve and renews it.
    /// Returns (units moved, reserve left); (0, 0) when the lease is gone (reclaimed).
    pub(crate) async fn activate_reserve(
        &self,
        counter: CounterRef<'_>,
        lease: LeaseRef<'_>,
        amount: i64,
        deadline: std::time::Duration,
    ) -> Result<(i64, i64), StoreError> {
        let CounterRef {
            subject,
            metric,
            period,
        } = counter;
        let moved = on_conn_within!(self, deadline, conn => {
            let mut tx = conn.begin().await?;
            // Takes the row lock (MySQL) or the write lock (SQLite) before reading.
            let found = sqlx::query(
                "UPDATE quota_leases SET expires_at = ? \
                 WHERE owner = ? AND subject = ? AND metric = ? AND period = ?",
            )
            .bind(lease.expires_at)
            .bind(lease.owner)
            .bind(subject)
            .bind(metric)
            .bind(period)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if found == 0 {
                tx.rollback().await?;
                (0, 0)
            } else {
                let reserve = lease_reserve!(tx, lease.owner, subject, metric, period);
                let take = reserve.min(amount).max(0);
                if take > 0 {
                    sqlx::query(
                        "UPDATE quota_leases SET reserve = reserve - ? \
                         WHERE owner = ? AND subject = ? AND metric = ? AND period = ?",
                    )
                    .bind(take)
                    .bind(lease.owner)
                    .bind(subject)
                    .bind(metric)
                    .bind(period)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                (take, reserve - take)
            }
        });
        Ok(moved)
    }

    /// Returns `usable` units of `counter` and `reserved` units of `owner`'s reserve to
    /// the counter in one transaction. Reserved units no longer in the row (reclaimed by
    /// another proxy) are not returned twice. Returns the units taken off the counter.
    pub(crate) async fn release_with_reserve(
        &self,
        counter: CounterRef<'_>,
        owner: &str,
        usable: i64,
        reserved: i64,
    ) -> Result<i64, StoreError> {
        let CounterRef {
            subject,
            metric,
            period,
        } = counter;
        let now = now_ms();
        let released = on_pool!(self, p => {
            let mut tx = p.begin().await?;
            // The counter row first (lock order), then the lease row.
            sqlx::query(
                LOCK_COUNTER,
            )
            .bind(now)
            .bind(subject)
            .bind(metric)
            .bind(period)
            .execute(&mut *tx)
            .await?;
            let mut amount = usable.max(0);
            if reserved > 0 {
                let took = sqlx::query(
                    "UPDATE quota_leases SET reserve = reserve - ? \
                     WHERE owner = ? AND subject = ? AND metric = ? AND period = ? \
                     AND reserve >= ?",
                )
                .bind(reserved)
                .bind(owner)
                .bind(subject)
                .bind(metric)
                .bind(period)
                .bind(reserved)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if took == 1 {
                    amount += reserved;
                }
            }
            if amount > 0 {
                sqlx::query(
                    TAKE_OFF_COUNTER,
                )
                .bind(amount)
                .bind(amount)
                .bind(now)
                .bind(subject)
                .bind(metric)
                .bind(period)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            amount
        });
        Ok(released)
    }

    /// Takes back capacity of `counter` granted under a limit that has since been lowered,
    /// in one transaction: `usable` units this run holds, and the reserves of every lease
    /// of the counter, this run's and other runs' (their rows are deleted: an activation
    /// then finds nothing and draws a new grant, which checks the limit as stored).
    /// Adds `spent` to the counter's `used` (the run's use since its last report).
    /// Returns the counter's (granted, used) afterwards and the units taken off it.
    pub(crate) async fn take_back(
        &self,
        counter: CounterRef<'_>,
        usable: i64,
        spent: i64,
        deadline: std::time::Duration,
    ) -> Result<(i64, i64, i64), StoreError> {
        let CounterRef {
            subject,
            metric,
            period,
        } = counter;
        let mysql = self.kind() == crate::config::DatabaseKind::MySql;
        let leases = if mysql {
            "SELECT reserve FROM quota_leases WHERE subject = ? AND metric = ? AND period = ? \
             FOR UPDATE"
        } else {
            "SELECT reserve FROM quota_leases WHERE subject = ? AND metric = ? AND period = ?"
        };
        let now = now_ms();
        let result = on_conn_within!(self, deadline, conn => {
            let mut tx = conn.begin().await?;
            // The counter row first (lock order), then the lease rows.
            sqlx::query(
                "UPDATE quota_counters SET used = used + ?, updated_at = ? \
                 WHERE subject = ? AND metric = ? AND period = ?",
            )
                .bind(spent)
                .bind(now)
                .bind(subject)
                .bind(metric)
                .bind(period)
                .execute(&mut *tx)
                .await?;
            let mut amount = usable.max(0);
            for row in sqlx::query(leases)
                .bind(subject)
                .bind(metric)
                .bind(period)
                .fetch_all(&mut *tx)
                .await?
            {
                amount += row.try_get::<i64, _>("reserve")?.max(0);
            }
            sqlx::query("DELETE FROM quota_leases WHERE subject = ? AND metric = ? AND period = ?")
                .bind(subject)
                .bind(metric)
                .bind(period)
                .execute(&mut *tx)
                .await?;
            if amount > 0 {
                sqlx::query(TAKE_OFF_COUNTER)
                    .bind(amount)
                    .bind(amount)
                    .bind(now)
                    .bind(subject)
                    .bind(metric)
                    .bind(period)
                    .execute(&mut *tx)
                    .await?;
            }
            let after = sqlx::query(
                "SELECT granted, used FROM quota_counters \
                 WHERE subject = ? AND metric = ? AND period = ?",
            )
            .bind(subject)
            .bind(metric)
            .bind(period)
            .fetch_optional(&mut *tx)
            .await?;
            let (granted, used) = match after {
                Some(row) => (row.try_get::<i64, _>("granted")?, row.try_get::<i64, _>("used")?),
                None => (0, 0),
            };
            tx.commit().await?;
            (granted, used, amount)
        });
        Ok(result)
    }

    /// Renews every lease of `owner` until `expires_at`.
    pub(crate) async fn renew_leases(
        &self,
        owner: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, p => {
            sqlx::query("UPDATE quota_leases SET expires_at = ? WHERE owner = ?")
                .bind(expires_at)
                .bind(owner)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Leases of other proxy runs whose expiry is before `now` (epoch ms) and that still
    /// hold a reserve, at most `limit`; or, with `owner_is` set, that run's leases
    /// whatever their expiry (a run known to be dead).
    pub(crate) async fn expired_leases(
        &self,
        own: &str,
        now: i64,
        owner_is: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ExpiredLease>, StoreError> {
        let rows = on_pool!(self, p => {
            let q = match owner_is {
                Some(dead) => sqlx::query(
                    "SELECT owner, subject, metric, period FROM quota_leases \
                     WHERE owner = ? AND reserve > 0 LIMIT ?",
                )
                .bind(dead),
                None => sqlx::query(
                    "SELECT owner, subject, metric, period FROM quota_leases \
                     WHERE expires_at < ? AND owner <> ? AND reserve > 0 LIMIT ?",
                )
                .bind(now)
                .bind(own),
            };
            q.bind(limit)
                .fetch_all(p)
                .await?
                .into_iter()
                .map(|r| {
                    Ok(ExpiredLease {
                        owner: r.try_get("owner")?,
                        subject: r.try_get("subject")?,
                        metric: r.try_get("metric")?,
                        period: r.try_get("period")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        Ok(rows)
    }

    /// Reclaims `lease` if it is still expired at `now` (or `dead`: its run is known to
    /// have stopped): deletes the row and takes its reserve off the counter, in one
    /// transaction. Returns the units reclaimed (0 when it was renewed or is gone).
    pub(crate) async fn reclaim_lease(
        &self,
        lease: &ExpiredLease,
        now: i64,
        dead: bool,
    ) -> Result<i64, StoreError> {
        let cutoff = if dead { i64::MAX } else { now };
        let updated = now_ms();
        let reclaimed = on_pool!(self, p => {
            let mut tx = p.begin().await?;
            // The counter row first (lock order), then the lease row.
            sqlx::query(
                LOCK_COUNTER,
            )
            .bind(updated)
            .bind(&lease.subject)
            .bind(&lease.metric)
            .bind(&lease.period)
            .execute(&mut *tx)
            .await?;
            let found = sqlx::query(
                "SELECT reserve FROM quota_leases WHERE owner = ? AND subject = ? \
                 AND metric = ? AND period = ? AND expires_at < ?",
            )
            .bind(&lease.owner)
            .bind(&lease.subject)
            .bind(&lease.metric)
            .bind(&lease.period)
            .bind(cutoff)
            .fetch_optional(&mut *tx)
            .await?;
            match found {
                None => {
                    tx.rollback().await?;
                    0
                }
                Some(row) => {
                    let reserve: i64 = row.try_get("reserve")?;
                    sqlx::query(
                        "DELETE FROM quota_leases WHERE owner = ? AND subject = ? \
                         AND metric = ? AND period = ?",
                    )
                    .bind(&lease.owner)
                    .bind(&lease.subject)
                    .bind(&lease.metric)
                    .bind(&lease.period)
                    .execute(&mut *tx)
                    .await?;
                    if reserve > 0 {
                        sqlx::query(
                            TAKE_OFF_COUNTER,
                        )
                        .bind(reserve)
                        .bind(reserve)
                        .bind(updated)
                        .bind(&lease.subject)
                        .bind(&lease.metric)
                        .bind(&lease.period)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    reserve
                }
            }
        });
        Ok(reclaimed)
    }

    /// Deletes the empty leases of `owner` (its reserve all returned or activated), and
    /// empty leases of any run that expired before `now`.
    pub(crate) async fn drop_empty_leases(&self, owner: &str, now: i64) -> Result<(), StoreError> {
        on_pool!(self, p => {
            sqlx::query(
                "DELETE FROM quota_leases WHERE reserve <= 0 AND (owner = ? OR expires_at < ?)",
            )
            .bind(owner)
            .bind(now)
            .execute(p)
            .await?;
        });
        Ok(())
    }
}
