//! Moving a user to another team and renaming users and teams. A rename also rewrites
//! the name in the user's or team's request records and usage rollups, so that reports
//! and "usage today" follow the new name; a move leaves history alone (earlier calls
//! were made for the old team). Each change is written with its event and admin audit
//! row in one transaction.

use super::admin::{insert_admin_audit, AdminAuditRecord};
use super::outbox::{insert_event, EventRow};
use super::{conflict, on_pool, Store, StoreError};
use crate::domain::NewEvent;

/// Tables that carry a user's name, keyed by `user_id`.
const USER_NAME_TABLES: [&str; 3] = ["bedrock_requests", "usage_daily", "blocking_audit_log"];
/// Tables that carry a team's name.
const TEAM_NAME_TABLES: [&str; 4] = [
    "bedrock_requests",
    "usage_daily",
    "usage_hourly",
    "usage_team_daily",
];

impl Store {
    /// Moves user `user_id` to team `team_id`.
    pub(crate) async fn move_user(
        &self,
        user_id: i64,
        team_id: i64,
        event: &NewEvent,
        audit: &AdminAuditRecord,
    ) -> Result<(), StoreError> {
        let row = EventRow::new(self, event)?;
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE users SET team_id = ? WHERE id = ?")
                .bind(team_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            let _always_new = insert_event!(row, &mut *tx);
            insert_admin_audit!(audit, &mut *tx);
            tx.commit().await?;
        });
        self.bump_state_version().await
    }

    /// Renames user `user_id` from `old` to `new`, in their records too.
    pub(crate) async fn rename_user(
        &self,
        user_id: i64,
        new: &str,
        event: &NewEvent,
        audit: &AdminAuditRecord,
    ) -> Result<(), StoreError> {
        let row = EventRow::new(self, event)?;
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE users SET username = ? WHERE id = ?")
                .bind(new)
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err(|e| conflict(e, || format!("user `{new}` already exists")))?;
            for table in USER_NAME_TABLES {
                sqlx::query(&format!("UPDATE {table} SET username = ? WHERE user_id = ?"))
                    .bind(new)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
            }
            let _always_new = insert_event!(row, &mut *tx);
            insert_admin_audit!(audit, &mut *tx);
            tx.commit().await?;
        });
        self.bump_state_version().await
    }

    /// Renames team `team_id` from `old` to `new`, in its records and rollups too.
    /// Refuses a name that records of an earlier (deleted) team still carry.
    pub(crate) async fn rename_team(
        &self,
        team_id: i64,
        old: &str,
        new: &str,
        event: &NewEvent,
        audit: &AdminAuditRecord,
    ) -> Result<(), StoreError> {
        let row = EventRow::new(self, event)?;
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            for table in ["bedrock_requests", "usage_daily"] {
                let used = sqlx::query(&format!("SELECT 1 AS x FROM {table} WHERE team = ? LIMIT 1"))
                    .bind(new)
                    .fetch_optional(&mut *tx)
                    .await?;
                if used.is_some() {
                    return Err(StoreError::Conflict(format!(
                        "records of an earlier team `{new}` exist; choose another name"
                    )));
                }
            }
            sqlx::query("UPDATE teams SET name = ? WHERE id = ?")
                .bind(new)
                .bind(team_id)
                .execute(&mut *tx)
                .await
                .map_err(|e| conflict(e, || format!("team `{new}` already exists")))?;
            for table in TEAM_NAME_TABLES {
                sqlx::query(&format!("UPDATE {table} SET team = ? WHERE team = ?"))
                    .bind(new)
                    .bind(old)
                    .execute(&mut *tx)
                    .await?;
            }
            let _always_new = insert_event!(row, &mut *tx);
            insert_admin_audit!(audit, &mut *tx);
            tx.commit().await?;
        });
        self.bump_state_version().await
    }
}
