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
const USER_NAME_TABLES: [&str; 4] = [
    "bedrock_requests",
    "usage_daily",
    "usage_user_day_total",
    "blocking_audit_log",
];
/// Tables that carry a team's name.
const TEAM_NAME_TABLES: [&str; 6] = [
    "bedrock_requests",
    "usage_daily",
    "usage_hourly",
    "usage_team_daily",
    "usage_user_day_total",
    "usage_team_day_total",
];

/// A value bound to a statement.
enum Value<'a> {
    Text(&'a str),
    Id(i64),
}

/// One statement of a change.
struct Statement<'a> {
    sql: String,
    binds: [Value<'a>; 2],
}

impl Store {
    /// Moves user `user_id` to team `team_id`.
    pub(crate) async fn move_user(
        &self,
        user_id: i64,
        team_id: i64,
        event: &NewEvent,
        audit: &AdminAuditRecord,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE users SET team_id = ? WHERE id = ?".to_string();
        let binds = [Value::Id(team_id), Value::Id(user_id)];
        self.change(vec![Statement { sql, binds }], String::new(), event, audit)
            .await
    }

    /// Renames user `user_id` to `new`, in their records too.
    pub(crate) async fn rename_user(
        &self,
        user_id: i64,
        new: &str,
        event: &NewEvent,
        audit: &AdminAuditRecord,
    ) -> Result<(), StoreError> {
        let mut statements = vec![Statement {
            sql: "UPDATE users SET username = ? WHERE id = ?".into(),
            binds: [Value::Text(new), Value::Id(user_id)],
        }];
        statements.extend(USER_NAME_TABLES.iter().map(|t| Statement {
            sql: format!("UPDATE {t} SET username = ? WHERE user_id = ?"),
            binds: [Value::Text(new), Value::Id(user_id)],
        }));
        let taken = format!("user `{new}` already exists");
        self.change(statements, taken, event, audit).await
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
        for table in ["bedrock_requests", "usage_daily"] {
            let sql = format!("SELECT 1 AS x FROM {table} WHERE team = ? LIMIT 1");
            let used =
                on_pool!(self, p => sqlx::query(&sql).bind(new).fetch_optional(p).await?.is_some());
            if used {
                return Err(StoreError::Conflict(format!(
                    "records of an earlier team `{new}` exist; choose another name"
                )));
            }
        }
        let mut statements = vec![Statement {
            sql: "UPDATE teams SET name = ? WHERE id = ?".into(),
            binds: [Value::Text(new), Value::Id(team_id)],
        }];
        statements.extend(TEAM_NAME_TABLES.iter().map(|t| Statement {
            sql: format!("UPDATE {t} SET team = ? WHERE team = ?"),
            binds: [Value::Text(new), Value::Text(old)],
        }));
        let taken = format!("team `{new}` already exists");
        self.change(statements, taken, event, audit).await
    }

    /// Runs `statements` with the event and audit row in one transaction; a unique
    /// violation is [`StoreError::Conflict`] with `taken`.
    async fn change(
        &self,
        statements: Vec<Statement<'_>>,
        taken: String,
        event: &NewEvent,
        audit: &AdminAuditRecord,
    ) -> Result<(), StoreError> {
        let row = EventRow::new(self, event)?;
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            for s in &statements {
                let mut q = sqlx::query(&s.sql);
                for b in &s.binds {
                    q = match b {
                        Value::Text(t) => q.bind(*t),
                        Value::Id(id) => q.bind(*id),
                    };
                }
                q.execute(&mut *tx).await.map_err(|e| conflict(e, || taken.clone()))?;
            }
            let _always_new = insert_event!(row, &mut *tx);
            insert_admin_audit!(audit, &mut *tx);
            super::bump_state_version!(&mut *tx);
            super::commit(tx).await?;
        });
        Ok(())
    }
}
