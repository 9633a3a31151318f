//! Blocks and protections (`user_blocking_status`). A change is one transaction: it
//! locks the user's row, hands the row as it is now to the service layer's rule (which
//! says what to write, or nothing), writes the new row with its audit row, its domain
//! event and the state version bump, and commits; a lock conflict (deadlock, lock wait
//! time-out, busy database) is tried again. The service layer's blocking service is
//! the only caller.

use std::time::Duration;

use serde::Serialize;
use sqlx::Row;

use super::admin::{insert_admin_audit, AdminAuditRecord};
use super::audit::AuditRecord;
use super::outbox::{insert_event_id, EventRow};
use super::{now_ms, on_conn_within, on_pool, retry_conflicts, Store, StoreError};
use crate::domain::{BlockKind, NewEvent};
/// A user's row in `user_blocking_status` (all clear when the user has none).
#[derive(Clone, Debug, Default, PartialEq, Serialize, sqlx::FromRow)]
pub struct BlockStatus {
    /// The user.
    pub(crate) user_id: i64,
    /// The user's name.
    pub(crate) username: String,
    /// Whether calls are refused.
    pub blocked: bool,
    /// Manual or automatic.
    #[sqlx(rename = "block_kind")]
    pub kind: Option<BlockKind>,
    /// Why.
    #[sqlx(rename = "blocked_reason")]
    pub(crate) reason: Option<String>,
    /// Until when (epoch ms); `None` with `blocked` is indefinite.
    pub blocked_until: Option<i64>,
    /// Never refused or blocked for limits.
    pub administrative_safe: bool,
    /// Until when the protection lasts (epoch ms); `None` is standing.
    pub(crate) safe_until: Option<i64>,
}

const STATUS_COLUMNS: &str = "b.user_id, u.username, b.blocked, b.block_kind, \
     b.blocked_reason, b.blocked_until, b.administrative_safe, b.safe_until \
     FROM user_blocking_status b JOIN users u ON u.id = b.user_id";

/// One change to a user's blocking row as the service layer decided it: the row after
/// it, what the audit row records, the event others hear, and the administrator's
/// audit row (none for automatic changes).
pub(crate) struct BlockChange {
    /// The row after the change.
    pub(crate) status: BlockStatus,
    /// The blocking audit row.
    pub(crate) audit: AuditRecord,
    /// The domain event.
    pub(crate) event: NewEvent,
    /// The admin audit row of an administrator's change.
    pub(crate) admin: Option<AdminAuditRecord>,
}

/// What a change did: the row it found (locked) and the row it left.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct BlockApplied {
    /// The row as the transaction found it.
    pub(crate) before: BlockStatus,
    /// The row as it is after the transaction (`before` when nothing was written).
    pub(crate) after: BlockStatus,
    /// Whether anything was written: `false` when the rule said "no change" or the
    /// event's dedupe key was taken (another proxy made the same change first).
    pub(crate) written: bool,
}

/// How long one attempt of a change may take, the wait for its connection and its
/// locks included. Past it the connection is closed ([`StoreError::Abandoned`]: the
/// change may or may not have landed).
const CHANGE_DEADLINE: Duration = Duration::from_secs(15);

/// The row columns, without the user's name (the caller knows it).
const ROW_COLUMNS: &str = "user_id, blocked, block_kind, blocked_reason, blocked_until, \
     administrative_safe, safe_until FROM user_blocking_status";

impl Store {
    /// Changes a user's blocking row in one transaction: locks the row (creating an
    /// all-clear one first when the user has none), calls `decide` with the row as it
    /// is now, and writes what `decide` returns (the new row, its audit row, event and
    /// admin audit row, and the state version bump) before committing. `decide`
    /// returning `None` changes nothing; its error aborts the change. When the event has
    /// a dedupe key that is already taken, nothing is written. A lock conflict is tried
    /// again (`decide` is then called again, on the row as it is then).
    pub(crate) async fn change_block<F>(
        &self,
        user_id: i64,
        username: &str,
        mut decide: F,
    ) -> Result<BlockApplied, StoreError>
    where
        F: FnMut(&BlockStatus) -> Result<Option<BlockChange>, StoreError>,
    {
        // Outside the transaction: a user without a row gets the all-clear one (the same
        // as none), so the transaction's first statement can lock it.
        let ensure = format!(
            "{} INTO user_blocking_status (user_id, blocked, administrative_safe, updated_at) \
             VALUES (?, FALSE, FALSE, ?)",
            self.insert_ignore()
        );
        retry_conflicts!(on_pool!(self, p => sqlx::query(&ensure)
                .bind(user_id)
                .bind(now_ms())
                .execute(p)
                .await
                .map(|done| done.rows_affected()))
        .map_err(StoreError::from))?;
        retry_conflicts!(self.change_block_once(user_id, username, &mut decide).await)
    }

    async fn change_block_once<F>(
        &self,
        user_id: i64,
        username: &str,
        decide: &mut F,
    ) -> Result<BlockApplied, StoreError>
    where
        F: FnMut(&BlockStatus) -> Result<Option<BlockChange>, StoreError>,
    {
        use sqlx::Connection as _;
        let select = format!(
            "SELECT {ROW_COLUMNS} WHERE user_id = ?{}",
            self.for_update()
        );
        let begin = self.begin_locking();
        let applied = on_conn_within!(self, CHANGE_DEADLINE, conn => {
            let mut tx = conn.begin_with(begin).await?;
            let row = sqlx::query(&select).bind(user_id).fetch_optional(&mut *tx).await?;
            let Some(row) = row else {
                return Err(StoreError::NotFound(format!("user `{username}`")));
            };
            let before = BlockStatus {
                user_id,
                username: username.to_string(),
                blocked: row.try_get("blocked")?,
                kind: row.try_get("block_kind")?,
                reason: row.try_get("blocked_reason")?,
                blocked_until: row.try_get("blocked_until")?,
                administrative_safe: row.try_get("administrative_safe")?,
                safe_until: row.try_get("safe_until")?,
            };
            let change = decide(&before)?;
            let event_id = match &change {
                None => None,
                Some(c) => {
                    let event = EventRow::new(self, &c.event)?;
                    insert_event_id!(event, &mut *tx)
                }
            };
            match (change, event_id) {
                (Some(c), Some(event_id)) => {
                    let now = now_ms();
                    let status = &c.status;
                    sqlx::query(
                        "UPDATE user_blocking_status SET blocked = ?, block_kind = ?, \
                         blocked_reason = ?, blocked_at = ?, blocked_until = ?, blocked_by = ?, \
                         administrative_safe = ?, safe_until = ?, updated_at = ? WHERE user_id = ?",
                    )
                    .bind(status.blocked)
                    .bind(status.kind)
                    .bind(&status.reason)
                    .bind(status.blocked.then_some(now))
                    .bind(status.blocked_until)
                    .bind(status.blocked.then_some(c.audit.performed_by.as_str()))
                    .bind(status.administrative_safe)
                    .bind(status.safe_until)
                    .bind(now)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                    super::audit::insert_audit!(c.audit, now, event_id, &mut *tx);
                    if let Some(admin) = &c.admin {
                        insert_admin_audit!(admin, &mut *tx);
                    }
                    super::bump_state_version!(&mut *tx);
                    super::commit(tx).await?;
                    BlockApplied { before, after: c.status, written: true }
                }
                _ => {
                    tx.rollback().await?;
                    BlockApplied { after: before.clone(), before, written: false }
                }
            }
        });
        Ok(applied)
    }

    /// A user's blocking status (all clear when the user has no row).
    pub async fn block_status(&self, user_id: i64) -> Result<Option<BlockStatus>, StoreError> {
        let sql = format!("SELECT {STATUS_COLUMNS} WHERE b.user_id = ?");
        let status = on_pool!(self, p => {
            sqlx::query_as::<_, BlockStatus>(&sql).bind(user_id).fetch_optional(p).await?
        });
        Ok(status)
    }

    /// Every blocking row that blocks or protects someone.
    pub(crate) async fn block_rows(&self) -> Result<Vec<BlockStatus>, StoreError> {
        let sql = format!(
            "SELECT {STATUS_COLUMNS} WHERE b.blocked = TRUE OR b.administrative_safe = TRUE"
        );
        let rows = on_pool!(self, p => sqlx::query_as::<_, BlockStatus>(&sql).fetch_all(p).await?);
        Ok(rows)
    }
}
