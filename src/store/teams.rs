//! Teams and their shared limits (`teams`).

use serde::Serialize;
use sqlx::Row;

use super::admin::{insert_admin_audit, AdminAuditRecord};
use super::limits::bind_limits;
use super::outbox::{insert_event, EventRow};
use super::{conflict, now_ms, on_pool, Store, StoreError};
use crate::domain::{Limits, NewEvent};

/// A team and its shared limits.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow)]
pub(crate) struct Team {
    /// Database id.
    pub(crate) id: i64,
    /// Unique name.
    pub(crate) name: String,
    /// Limits shared by all members.
    #[sqlx(flatten)]
    pub(crate) limits: Limits,
    /// Creation time (epoch ms).
    pub(crate) created_at: i64,
}

/// What `team create` stores.
#[derive(Clone, Debug)]
pub(crate) struct NewTeam {
    /// Unique name.
    pub(crate) name: String,
    /// Initial limits.
    pub(crate) limits: Limits,
}

const TEAM_COLUMNS: &str = "id, name, daily_requests, monthly_requests, daily_budget_usd, \
     monthly_budget_usd, rpm, tpm, max_concurrent, created_at FROM teams";

impl Store {
    /// Creates a team with its audit row, in one transaction.
    pub(crate) async fn create_team(
        &self,
        team: &NewTeam,
        audit: &AdminAuditRecord,
    ) -> Result<Team, StoreError> {
        let l = team.limits;
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            bind_limits!(sqlx::query(
                "INSERT INTO teams (name, daily_requests, monthly_requests, daily_budget_usd, \
                 monthly_budget_usd, rpm, tpm, max_concurrent, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&team.name), l)
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict(e, || format!("team `{}` already exists", team.name)))?;
            insert_admin_audit!(audit, &mut *tx);
            super::bump_state_version!(&mut *tx);
            super::commit(tx).await?;
        });
        self.team(&team.name).await
    }

    /// One team by name.
    pub(crate) async fn team(&self, name: &str) -> Result<Team, StoreError> {
        let sql = format!("SELECT {TEAM_COLUMNS} WHERE name = ?");
        let team = on_pool!(self, p => {
            sqlx::query_as::<_, Team>(&sql).bind(name).fetch_optional(p).await?
        });
        team.ok_or_else(|| StoreError::NotFound(format!("team `{name}`")))
    }

    /// All teams, by name.
    pub(crate) async fn teams(&self) -> Result<Vec<Team>, StoreError> {
        let sql = format!("SELECT {TEAM_COLUMNS} ORDER BY name");
        let teams = on_pool!(self, p => sqlx::query_as::<_, Team>(&sql).fetch_all(p).await?);
        Ok(teams)
    }

    /// Sets a team's limits and writes `event` and the audit row, in one transaction.
    pub(crate) async fn set_team_limits(
        &self,
        team_id: i64,
        limits: &Limits,
        event: &NewEvent,
        audit: &AdminAuditRecord,
    ) -> Result<(), StoreError> {
        let row = EventRow::new(self, event)?;
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            bind_limits!(sqlx::query(
                "UPDATE teams SET daily_requests = ?, monthly_requests = ?, \
                 daily_budget_usd = ?, monthly_budget_usd = ?, rpm = ?, tpm = ?, \
                 max_concurrent = ? WHERE id = ?",
            ), limits)
            .bind(team_id)
            .execute(&mut *tx)
            .await?;
            let _always_new = insert_event!(row, &mut *tx);
            insert_admin_audit!(audit, &mut *tx);
            super::bump_state_version!(&mut *tx);
            super::commit(tx).await?;
        });
        Ok(())
    }

    /// Members of a team.
    pub(crate) async fn team_members(&self, team_id: i64) -> Result<i64, StoreError> {
        let n: i64 = on_pool!(self, p => {
            sqlx::query("SELECT COUNT(*) AS n FROM users WHERE team_id = ?")
                .bind(team_id)
                .fetch_one(p)
                .await?
                .try_get("n")?
        });
        Ok(n)
    }

    /// Deletes a team (the caller checked it has no members; the foreign key would
    /// refuse otherwise), with its audit row, in one transaction.
    pub(crate) async fn delete_team(
        &self,
        team_id: i64,
        audit: &AdminAuditRecord,
    ) -> Result<(), StoreError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("DELETE FROM teams WHERE id = ?")
                .bind(team_id)
                .execute(&mut *tx)
                .await?;
            insert_admin_audit!(audit, &mut *tx);
            super::bump_state_version!(&mut *tx);
            super::commit(tx).await?;
        });
        Ok(())
    }
}
