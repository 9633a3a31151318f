//! The blocking audit trail (`blocking_audit_log`): one row per change of a user's
//! blocking status, written with the change (and the id of its outbox event); read
//! newest first. The email subscriber records on it whether the user's mail went out.

use serde::Serialize;

use super::{on_pool, Store, StoreError};
use crate::domain::AuditOperation;

/// What an audit row records about a change (written by [`Store::change_block`]).
#[derive(Clone, Debug)]
pub(crate) struct AuditRecord {
    /// The user.
    pub(crate) user_id: i64,
    /// The user's name (kept in the row even after the user is deleted).
    pub(crate) username: String,
    /// What happened.
    pub(crate) operation: AuditOperation,
    /// Why.
    pub(crate) reason: Option<String>,
    /// Who (`cli:<login>`, `proxy:<host>:<pid>`, ...).
    pub(crate) performed_by: String,
    /// Requests counted when it happened.
    pub(crate) requests_at_time: Option<i64>,
    /// The limit involved.
    pub(crate) limit_at_time: Option<i64>,
    /// Usage as a share of the limit, in percent.
    pub(crate) usage_percent: Option<f64>,
}

/// One audit row as read back.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Row id.
    pub(crate) id: i64,
    /// The user's name.
    pub(crate) username: String,
    /// What happened.
    pub operation: AuditOperation,
    /// Why.
    pub(crate) reason: Option<String>,
    /// Who did it.
    pub performed_by: String,
    /// Requests counted at the time.
    pub requests_at_time: Option<i64>,
    /// The limit at the time.
    pub limit_at_time: Option<i64>,
    /// Usage share in percent.
    pub usage_percent: Option<f64>,
    /// When (epoch ms).
    pub(crate) created_at: i64,
    /// Whether the user's email about it went out: `None` not (yet) decided or no email
    /// configured, `Some(false)` it finally failed or the user has no address.
    pub email_sent: Option<bool>,
    /// Whether the IAM deny policy of the user's linked IAM users was brought in line
    /// with the change: `None` no linked IAM user or the backstop off (or not yet done),
    /// `Some(false)` it finally failed.
    pub iam_policy_updated: Option<bool>,
}

/// Inserts an [`AuditRecord`] at time `$now`, written with outbox event `$event_id`, on a
/// transaction.
macro_rules! insert_audit {
    ($audit:expr, $now:expr, $event_id:expr, $conn:expr) => {
        sqlx::query(
            "INSERT INTO blocking_audit_log (user_id, username, operation, reason, performed_by, \
             requests_at_time, limit_at_time, usage_percent, created_at, event_id) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind($audit.user_id)
        .bind(&$audit.username)
        .bind($audit.operation)
        .bind(&$audit.reason)
        .bind(&$audit.performed_by)
        .bind($audit.requests_at_time)
        .bind($audit.limit_at_time)
        .bind($audit.usage_percent)
        .bind($now)
        .bind($event_id)
        .execute($conn)
        .await?
    };
}
pub(crate) use insert_audit;

impl Store {
    /// The audit log, newest first, optionally of one user.
    pub async fn audit(
        &self,
        username: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let entries = on_pool!(self, p => {
            sqlx::query_as::<_, AuditEntry>(
                "SELECT id, username, operation, reason, performed_by, requests_at_time, \
                 limit_at_time, usage_percent, created_at, email_sent, iam_policy_updated \
                 FROM blocking_audit_log \
                 WHERE (? IS NULL OR username = ?) ORDER BY created_at DESC, id DESC LIMIT ?",
            )
            .bind(username)
            .bind(username)
            .bind(limit.max(0))
            .fetch_all(p)
            .await?
        });
        Ok(entries)
    }

    /// Records on the audit row written with outbox event `event_id` whether the user's
    /// email went out.
    pub(crate) async fn set_email_sent(&self, event_id: i64, sent: bool) -> Result<(), StoreError> {
        on_pool!(self, p => {
            sqlx::query("UPDATE blocking_audit_log SET email_sent = ? WHERE event_id = ?")
                .bind(sent)
                .bind(event_id)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(())
    }
}
