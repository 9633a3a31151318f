//! Users of the proxy (`users`) with their own limits (`user_limits`).

use serde::Serialize;
use sqlx::Row;

use super::admin::{insert_admin_audit, AdminAuditRecord};
use super::limits::bind_limits;
use super::outbox::{insert_event, EventRow};
use super::{conflict, now_ms, on_pool, Store, StoreError};
use crate::domain::{Language, Limits, LimitsSource, NewEvent};

/// A user of the proxy.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow)]
pub struct User {
    /// Database id.
    pub id: i64,
    /// Unique login-like name.
    pub(crate) username: String,
    /// The person's full name.
    pub(crate) person_name: String,
    /// Team id.
    pub(crate) team_id: i64,
    /// Team name.
    pub(crate) team: String,
    /// Where notifications go.
    pub(crate) email: Option<String>,
    /// Template language.
    pub(crate) language: Language,
    /// The first IAM user linked for the backstop, if any (`iam_links`).
    pub(crate) iam_user: Option<String>,
    /// The user's own limits.
    #[sqlx(flatten)]
    pub(crate) limits: Limits,
    /// Who last set them.
    pub(crate) limits_source: LimitsSource,
    /// Creation time (epoch ms).
    pub(crate) created_at: i64,
    /// How the user was created (`cli`, `api`, `oidc:<issuer>`, `scim`).
    pub(crate) origin: String,
    /// False once deactivated (SCIM `active: false`): no key works, none is issued.
    pub(crate) active: bool,
    /// The identity provider's id for the user (SCIM `externalId`).
    pub(crate) external_id: Option<String>,
}

/// What `user create` stores.
#[derive(Clone, Debug)]
pub(crate) struct NewUser {
    /// Unique name.
    pub(crate) username: String,
    /// Full name.
    pub(crate) person_name: String,
    /// Existing team.
    pub(crate) team: String,
    /// Email address.
    pub(crate) email: Option<String>,
    /// Message language.
    pub(crate) language: Language,
    /// IAM user name for the backstop.
    pub(crate) iam_user: Option<String>,
    /// Initial limits.
    pub(crate) limits: Limits,
    /// Where they came from.
    pub(crate) limits_source: LimitsSource,
    /// How the user is being created.
    pub(crate) origin: String,
    /// The identity provider's id (SCIM `externalId`).
    pub(crate) external_id: Option<String>,
}

const USER_COLUMNS: &str = "u.id, u.username, u.person_name, u.team_id, t.name AS team, \
     u.email, u.language, (SELECT MIN(k.principal) FROM iam_links k WHERE k.user_id = u.id \
     AND k.kind = 'iam_user') AS iam_user, u.created_at, u.origin, u.active, u.external_id, \
     l.daily_requests, l.monthly_requests, \
     l.daily_budget_usd, l.monthly_budget_usd, l.rpm, l.tpm, l.max_concurrent, \
     COALESCE(l.limits_source, 'defaults') AS limits_source \
     FROM users u JOIN teams t ON t.id = u.team_id LEFT JOIN user_limits l ON l.user_id = u.id";

impl Store {
    /// Creates a user, their limits and the audit row, in one transaction.
    pub(crate) async fn create_user(
        &self,
        user: &NewUser,
        audit: &AdminAuditRecord,
    ) -> Result<User, StoreError> {
        let team = self.team(&user.team).await?;
        let l = user.limits;
        let now = now_ms();
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO users (username, person_name, team_id, email, language, iam_user, \
                 created_at, origin, external_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&user.username)
            .bind(&user.person_name)
            .bind(team.id)
            .bind(&user.email)
            .bind(user.language)
            .bind(&user.iam_user)
            .bind(now)
            .bind(&user.origin)
            .bind(&user.external_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict(e, || format!("user `{}` already exists", user.username)))?;
            let id: i64 = sqlx::query("SELECT id FROM users WHERE username = ?")
                .bind(&user.username)
                .fetch_one(&mut *tx)
                .await?
                .try_get("id")?;
            bind_limits!(sqlx::query(
                "INSERT INTO user_limits (user_id, daily_requests, monthly_requests, \
                 daily_budget_usd, monthly_budget_usd, rpm, tpm, max_concurrent, updated_at, \
                 limits_source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(id), l)
            .bind(now)
            .bind(user.limits_source)
            .execute(&mut *tx)
            .await?;
            if let Some(iam_user) = &user.iam_user {
                sqlx::query(
                    "INSERT INTO iam_links (user_id, kind, principal, created_at) \
                     VALUES (?, 'iam_user', ?, ?)",
                )
                .bind(id)
                .bind(iam_user)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|e| conflict(e, || format!("iam_user `{iam_user}` is already linked")))?;
            }
            insert_admin_audit!(audit, &mut *tx);
            super::bump_state_version!(&mut *tx);
            super::commit(tx).await?;
        });
        self.user(&user.username).await
    }

    /// One user by name.
    pub async fn user(&self, username: &str) -> Result<User, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} WHERE u.username = ?");
        let user = on_pool!(self, p => {
            sqlx::query_as::<_, User>(&sql).bind(username).fetch_optional(p).await?
        });
        user.ok_or_else(|| StoreError::NotFound(format!("user `{username}`")))
    }

    /// One user by database id.
    pub(crate) async fn user_by_id(&self, id: i64) -> Result<User, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} WHERE u.id = ?");
        let user = on_pool!(self, p => {
            sqlx::query_as::<_, User>(&sql).bind(id).fetch_optional(p).await?
        });
        user.ok_or_else(|| StoreError::NotFound(format!("user with id {id}")))
    }

    /// All users, or one team's, by name.
    pub(crate) async fn users(&self, team_id: Option<i64>) -> Result<Vec<User>, StoreError> {
        let sql =
            format!("SELECT {USER_COLUMNS} WHERE (? IS NULL OR u.team_id = ?) ORDER BY u.username");
        let users = on_pool!(self, p => {
            sqlx::query_as::<_, User>(&sql).bind(team_id).bind(team_id).fetch_all(p).await?
        });
        Ok(users)
    }

    /// Sets a user's limits (as an administrator's) and writes `event` and the audit
    /// row, in one transaction.
    pub(crate) async fn set_user_limits(
        &self,
        user_id: i64,
        limits: &Limits,
        event: &NewEvent,
        audit: &AdminAuditRecord,
    ) -> Result<(), StoreError> {
        self.write_user_limits(user_id, limits, LimitsSource::Admin, event, audit)
            .await
            .map(|_| ())
    }

    /// Sets a user's limits from sign-in (`source` is not `Admin`) unless an
    /// administrator has set them meanwhile; whether they were set. Writes `event` and
    /// the audit row with them, in one transaction.
    pub(crate) async fn set_sign_in_limits(
        &self,
        user_id: i64,
        limits: &Limits,
        source: LimitsSource,
        event: &NewEvent,
        audit: &AdminAuditRecord,
    ) -> Result<bool, StoreError> {
        self.write_user_limits(user_id, limits, source, event, audit)
            .await
    }

    /// Writes a user's limits with `source`; an update from anything but an
    /// administrator leaves an administrator's limits alone (and then writes nothing).
    async fn write_user_limits(
        &self,
        user_id: i64,
        limits: &Limits,
        source: LimitsSource,
        event: &NewEvent,
        audit: &AdminAuditRecord,
    ) -> Result<bool, StoreError> {
        let row = EventRow::new(self, event)?;
        let keep = if source == LimitsSource::Admin {
            None
        } else {
            Some(LimitsSource::Admin)
        };
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let affected = bind_limits!(sqlx::query(
                "UPDATE user_limits SET daily_requests = ?, monthly_requests = ?, \
                 daily_budget_usd = ?, monthly_budget_usd = ?, rpm = ?, tpm = ?, \
                 max_concurrent = ?, updated_at = ?, limits_source = ? \
                 WHERE user_id = ? AND (? IS NULL OR limits_source <> ?)",
            ), limits)
            .bind(now_ms())
            .bind(source)
            .bind(user_id)
            .bind(keep)
            .bind(keep)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if affected == 0 && keep.is_some() {
                return Ok(false);
            }
            let _always_new = insert_event!(row, &mut *tx);
            insert_admin_audit!(audit, &mut *tx);
            super::bump_state_version!(&mut *tx);
            super::commit(tx).await?;
        });
        Ok(true)
    }

    /// Deletes a user with their keys, limits, IAM links and dashboard sign-on sessions
    /// (their request rows stay), with `events` and the audit row, in one transaction.
    pub(crate) async fn delete_user(
        &self,
        user_id: i64,
        events: &[NewEvent],
        audit: &AdminAuditRecord,
    ) -> Result<(), StoreError> {
        let rows = events
            .iter()
            .map(|e| EventRow::new(self, e))
            .collect::<Result<Vec<_>, _>>()?;
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(super::sessions::END_USER_SSO_SESSIONS)
                .bind(user_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM users WHERE id = ?")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            for row in &rows {
                let _always_new = insert_event!(row, &mut *tx);
            }
            insert_admin_audit!(audit, &mut *tx);
            super::bump_state_version!(&mut *tx);
            super::commit(tx).await?;
        });
        Ok(())
    }
}
