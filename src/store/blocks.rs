//! Blocks and protections (`user_blocking_status`). A change is written together with
//! its audit row and its domain event, in one transaction; the service layer's blocking
//! service is the only caller.

use serde::Serialize;

use super::admin::{insert_admin_audit, AdminAuditRecord};
use super::audit::AuditRecord;
use super::outbox::{insert_event_id, EventRow};
use super::{now_ms, on_pool, Store, StoreError};
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

impl Store {
    /// Writes `status` with its audit row and event, in one transaction. When the event
    /// has a dedupe key that is already taken, nothing is written and the result is
    /// `false` (another proxy made the same change first). An administrator's change
    /// also writes its admin audit row (`admin`) in the same transaction.
    pub(crate) async fn write_block(
        &self,
        status: &BlockStatus,
        audit: &AuditRecord,
        event: &NewEvent,
        admin: Option<&AdminAuditRecord>,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let row = EventRow::new(self, event)?;
        let ensure = format!(
            "{} INTO user_blocking_status (user_id, blocked, administrative_safe, updated_at) \
             VALUES (?, FALSE, FALSE, ?)",
            self.insert_ignore()
        );
        let written = on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let Some(event_id) = insert_event_id!(row, &mut *tx) else {
                tx.rollback().await?;
                return Ok(false);
            };
            sqlx::query(&ensure).bind(status.user_id).bind(now).execute(&mut *tx).await?;
            sqlx::query(
                "UPDATE user_blocking_status SET blocked = ?, block_kind = ?, blocked_reason = ?, \
                 blocked_at = ?, blocked_until = ?, blocked_by = ?, administrative_safe = ?, \
                 safe_until = ?, updated_at = ? WHERE user_id = ?",
            )
            .bind(status.blocked)
            .bind(status.kind)
            .bind(&status.reason)
            .bind(status.blocked.then_some(now))
            .bind(status.blocked_until)
            .bind(status.blocked.then_some(audit.performed_by.as_str()))
            .bind(status.administrative_safe)
            .bind(status.safe_until)
            .bind(now)
            .bind(status.user_id)
            .execute(&mut *tx)
            .await?;
            super::audit::insert_audit!(audit, now, event_id, &mut *tx);
            if let Some(admin) = admin {
                insert_admin_audit!(admin, &mut *tx);
            }
            tx.commit().await?;
            true
        });
        self.bump_state_version().await?;
        Ok(written)
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
