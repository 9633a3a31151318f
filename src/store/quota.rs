//! The quota side of the store: capacity grants on `quota_counters`, blocks and
//! protections (`user_blocking_status`), the audit trail (`blocking_audit_log`), the
//! once-per-period job claims (`scheduler_runs`) and quota events (`quota_events`).

use serde::Serialize;
use sqlx::Row;

use super::{now_ms, on_pool, Store, StoreError};
use crate::config::DatabaseKind;
use crate::quota::CounterKey;

/// How a user came to be blocked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockKind {
    /// By an administrator (`user block`): 403 AccessDenied.
    Manual,
    /// By reaching a limit: the limit's 400 until the reset.
    Automatic,
}

impl BlockKind {
    fn stored(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Automatic => "automatic",
        }
    }
}

/// A change of a user's blocking status, with what the audit row records.
#[derive(Clone, Debug)]
pub struct BlockChange {
    /// The user.
    pub user_id: i64,
    /// The user's name (kept in the audit row even after the user is deleted).
    pub username: String,
    /// `block`, `unblock`, `auto_block`, `protect`, `unprotect`, `reset_unblock`, ...
    pub operation: String,
    /// Why.
    pub reason: Option<String>,
    /// Who (`cli:<login>`, `proxy:<host>`, `scheduler`).
    pub performed_by: String,
    /// Requests counted when it happened.
    pub requests_at_time: Option<i64>,
    /// The limit involved.
    pub limit_at_time: Option<i64>,
    /// Usage as a share of the limit, in percent.
    pub usage_percent: Option<f64>,
}

/// One audit row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Row id.
    pub id: i64,
    /// The user's name.
    pub username: String,
    /// What happened.
    pub operation: String,
    /// Why.
    pub reason: Option<String>,
    /// Who did it.
    pub performed_by: String,
    /// Requests counted at the time.
    pub requests_at_time: Option<i64>,
    /// The limit at the time.
    pub limit_at_time: Option<i64>,
    /// Usage share in percent.
    pub usage_percent: Option<f64>,
    /// When (epoch ms).
    pub created_at: i64,
}

/// A user's blocking row, as the proxy snapshots it.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockRow {
    /// The user.
    pub user_id: i64,
    /// The user's name.
    pub username: String,
    /// Blocked now.
    pub blocked: bool,
    /// Manual or automatic.
    pub kind: Option<BlockKind>,
    /// Why.
    pub reason: Option<String>,
    /// Until when (epoch ms); `None` with `blocked` is indefinite.
    pub blocked_until: Option<i64>,
    /// Protected from limits.
    pub administrative_safe: bool,
    /// Until when the protection lasts; `None` is standing.
    pub safe_until: Option<i64>,
}

impl StoreError {
    /// A lock conflict between concurrent transactions (deadlock, busy database): the
    /// transaction was rolled back and can be retried.
    pub fn is_retryable_conflict(&self) -> bool {
        let Self::Database(sqlx::Error::Database(db)) = self else {
            return false;
        };
        if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
            return matches!(my.number(), 1213 | 1205);
        }
        matches!(
            db.code().as_deref(),
            Some("5" | "6" | "261" | "517" | "40001")
        )
    }
}

impl Store {
    fn insert_ignore(&self) -> &'static str {
        match self.kind() {
            DatabaseKind::Sqlite => "INSERT OR IGNORE",
            DatabaseKind::MySql => "INSERT IGNORE",
        }
    }

    /// Grants units of `key` as [`crate::quota::ledger::units_to_give`] decides from the
    /// counter's current value, without letting the total pass `limit`. Returns (units
    /// given, total granted afterwards).
    pub async fn grant_capacity(
        &self,
        key: &CounterKey,
        need: i64,
        want: i64,
        limit: i64,
    ) -> Result<(i64, i64), StoreError> {
        let subject = key.subject.stored();
        let metric = key.metric.stored();
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
                sqlx::query(&insert).bind(&subject).bind(metric).bind(&*key.period).bind(now)
                    .execute(p).await?;
            }
            let mut tx = p.begin().await?;
            if !mysql {
                sqlx::query(&insert).bind(&subject).bind(metric).bind(&*key.period).bind(now)
                    .execute(&mut *tx).await?;
            }
            let granted: i64 = sqlx::query(select)
                .bind(&subject)
                .bind(metric)
                .bind(&*key.period)
                .fetch_one(&mut *tx)
                .await?
                .try_get("granted")?;
            let give = crate::quota::ledger::units_to_give(granted, need, want, limit);
            if give > 0 {
                sqlx::query(
                    "UPDATE quota_counters SET granted = granted + ?, updated_at = ? \
                     WHERE subject = ? AND metric = ? AND period = ?",
                )
                .bind(give)
                .bind(now)
                .bind(&subject)
                .bind(metric)
                .bind(&*key.period)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            (give, granted + give)
        });
        Ok(result)
    }

    /// Returns unused units of `key`.
    pub async fn release_capacity(&self, key: &CounterKey, amount: i64) -> Result<(), StoreError> {
        on_pool!(self, p => {
            sqlx::query(
                "UPDATE quota_counters SET granted = CASE WHEN granted >= ? THEN granted - ? ELSE 0 END, \
                 updated_at = ? WHERE subject = ? AND metric = ? AND period = ?",
            )
            .bind(amount)
            .bind(amount)
            .bind(now_ms())
            .bind(key.subject.stored())
            .bind(key.metric.stored())
            .bind(&*key.period)
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    /// Units of `key` granted to all proxies together.
    pub async fn granted(&self, key: &CounterKey) -> Result<i64, StoreError> {
        let v: Option<i64> = on_pool!(self, p => {
            match sqlx::query(
                "SELECT granted FROM quota_counters WHERE subject = ? AND metric = ? AND period = ?",
            )
            .bind(key.subject.stored())
            .bind(key.metric.stored())
            .bind(&*key.period)
            .fetch_optional(p)
            .await?
            {
                Some(r) => Some(r.try_get("granted")?),
                None => None,
            }
        });
        Ok(v.unwrap_or(0))
    }

    /// Sets a user's blocking status and writes the audit row, in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn set_block(
        &self,
        change: &BlockChange,
        blocked: bool,
        kind: Option<BlockKind>,
        blocked_until: Option<i64>,
        administrative_safe: bool,
        safe_until: Option<i64>,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let insert = format!(
            "{} INTO user_blocking_status (user_id, blocked, administrative_safe, updated_at) \
             VALUES (?, FALSE, FALSE, ?)",
            self.insert_ignore()
        );
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(&insert).bind(change.user_id).bind(now).execute(&mut *tx).await?;
            sqlx::query(
                "UPDATE user_blocking_status SET blocked = ?, block_kind = ?, blocked_reason = ?, \
                 blocked_at = ?, blocked_until = ?, blocked_by = ?, administrative_safe = ?, \
                 safe_until = ?, updated_at = ? WHERE user_id = ?",
            )
            .bind(blocked)
            .bind(kind.map(BlockKind::stored))
            .bind(if blocked { change.reason.clone() } else { None })
            .bind(if blocked { Some(now) } else { None })
            .bind(blocked_until)
            .bind(if blocked { Some(change.performed_by.clone()) } else { None })
            .bind(administrative_safe)
            .bind(safe_until)
            .bind(now)
            .bind(change.user_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO blocking_audit_log (user_id, username, operation, reason, performed_by, \
                 requests_at_time, limit_at_time, usage_percent, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(change.user_id)
            .bind(&change.username)
            .bind(&change.operation)
            .bind(&change.reason)
            .bind(&change.performed_by)
            .bind(change.requests_at_time)
            .bind(change.limit_at_time)
            .bind(change.usage_percent)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        self.bump_state_version().await
    }

    /// Every blocking row that blocks or protects someone.
    pub async fn block_rows(&self) -> Result<Vec<BlockRow>, StoreError> {
        let rows = on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT b.user_id, u.username, b.blocked, b.block_kind, b.blocked_reason, \
                 b.blocked_until, b.administrative_safe, b.safe_until \
                 FROM user_blocking_status b JOIN users u ON u.id = b.user_id \
                 WHERE b.blocked = TRUE OR b.administrative_safe = TRUE",
            )
            .fetch_all(p)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let kind: Option<String> = r.try_get("block_kind")?;
                out.push(BlockRow {
                    user_id: r.try_get("user_id")?,
                    username: r.try_get("username")?,
                    blocked: r.try_get("blocked")?,
                    kind: match kind.as_deref() {
                        Some("manual") => Some(BlockKind::Manual),
                        Some("automatic") => Some(BlockKind::Automatic),
                        _ => None,
                    },
                    reason: r.try_get("blocked_reason")?,
                    blocked_until: r.try_get("blocked_until")?,
                    administrative_safe: r.try_get("administrative_safe")?,
                    safe_until: r.try_get("safe_until")?,
                });
            }
            out
        });
        Ok(rows)
    }

    /// The audit log, newest first.
    pub async fn audit(
        &self,
        username: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let entries = on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT id, username, operation, reason, performed_by, requests_at_time, \
                 limit_at_time, usage_percent, created_at FROM blocking_audit_log \
                 WHERE (? IS NULL OR username = ?) ORDER BY created_at DESC, id DESC LIMIT ?",
            )
            .bind(username)
            .bind(username)
            .bind(limit.max(0))
            .fetch_all(p)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(AuditEntry {
                    id: r.try_get("id")?,
                    username: r.try_get("username")?,
                    operation: r.try_get("operation")?,
                    reason: r.try_get("reason")?,
                    performed_by: r.try_get("performed_by")?,
                    requests_at_time: r.try_get("requests_at_time")?,
                    limit_at_time: r.try_get("limit_at_time")?,
                    usage_percent: r.try_get("usage_percent")?,
                    created_at: r.try_get("created_at")?,
                });
            }
            out
        });
        Ok(entries)
    }

    /// Claims `job` for `period`: true for exactly one caller per (job, period).
    pub async fn claim_job(&self, job: &str, period: &str, by: &str) -> Result<bool, StoreError> {
        let sql = format!(
            "{} INTO scheduler_runs (job, period, ran_at, ran_by) VALUES (?, ?, ?, ?)",
            self.insert_ignore()
        );
        let n = on_pool!(self, p => {
            sqlx::query(&sql).bind(job).bind(period).bind(now_ms()).bind(by)
                .execute(p).await?.rows_affected()
        });
        Ok(n == 1)
    }

    /// Records a quota event once per (kind, subject, limit, period); true if new.
    pub async fn quota_event(
        &self,
        kind: &str,
        subject: &str,
        limit_name: &str,
        period: &str,
        detail: &str,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "{} INTO quota_events (kind, subject, limit_name, period, detail, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
            self.insert_ignore()
        );
        let n = on_pool!(self, p => {
            sqlx::query(&sql).bind(kind).bind(subject).bind(limit_name).bind(period)
                .bind(detail).bind(now_ms()).execute(p).await?.rows_affected()
        });
        Ok(n == 1)
    }

    /// Quota events, newest first (for the notifier and tests).
    pub async fn quota_events(
        &self,
        kind: Option<&str>,
    ) -> Result<Vec<(String, String, String, String, String)>, StoreError> {
        let rows = on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT kind, subject, limit_name, period, detail FROM quota_events \
                 WHERE (? IS NULL OR kind = ?) ORDER BY id DESC",
            )
            .bind(kind)
            .bind(kind)
            .fetch_all(p)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push((
                    r.try_get("kind")?,
                    r.try_get("subject")?,
                    r.try_get("limit_name")?,
                    r.try_get("period")?,
                    r.try_get("detail")?,
                ));
            }
            out
        });
        Ok(rows)
    }

    /// Every user's and team's limits: (user id, team id, user limits) and (team id,
    /// team limits), for the proxy's policy snapshot.
    pub async fn all_limits(
        &self,
    ) -> Result<(Vec<(i64, i64, super::Limits)>, Vec<(i64, super::Limits)>), StoreError> {
        let mut users = Vec::new();
        self.each_user_limits(|id, team, l| users.push((id, team, l)))
            .await?;
        let teams = self.teams().await?;
        Ok((users, teams.into_iter().map(|t| (t.id, t.limits)).collect()))
    }
}
