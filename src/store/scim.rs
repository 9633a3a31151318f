//! What SCIM provisioning stores beyond `users`: a user's profile fields and active
//! flag (deactivation revokes every key in the same transaction), and the groups an
//! identity provider pushes (`scim_groups`, `scim_group_members`).

use serde::Serialize;
use sqlx::Row;

use super::admin::{insert_admin_audit, AdminAuditRecord};
use super::outbox::{insert_event, EventRow};
use super::{conflict, now_ms, on_pool, Store, StoreError};
use crate::domain::{DomainEvent, KeyStatus, NewEvent};

/// A user's fields a SCIM PUT or PATCH may change.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Profile {
    /// The person's name.
    pub(crate) person_name: String,
    /// Where messages go.
    pub(crate) email: Option<String>,
    /// The identity provider's id.
    pub(crate) external_id: Option<String>,
}

/// A SCIM group as stored.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow)]
pub(crate) struct Group {
    /// Database id (the SCIM `id`).
    pub(crate) id: i64,
    /// Unique display name.
    pub(crate) display_name: String,
    /// The identity provider's id.
    pub(crate) external_id: Option<String>,
    /// Creation time (epoch ms).
    pub(crate) created_at: i64,
    /// Last change (epoch ms).
    pub(crate) updated_at: i64,
}

/// A member of a group (or a group of a user): id and name.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow)]
pub(crate) struct Member {
    /// The user's (or group's) database id.
    pub(crate) id: i64,
    /// The user name (or group display name).
    pub(crate) name: String,
}

impl Store {
    /// Changes a user's profile with the audit row, in one transaction.
    pub(crate) async fn set_user_profile(
        &self,
        user_id: i64,
        profile: &Profile,
        audit: &AdminAuditRecord,
    ) -> Result<(), StoreError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE users SET person_name = ?, email = ?, external_id = ? WHERE id = ?",
            )
            .bind(&profile.person_name)
            .bind(&profile.email)
            .bind(&profile.external_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
            insert_admin_audit!(audit, &mut *tx);
            super::bump_state_version!(&mut *tx);
            super::commit(tx).await?;
        });
        Ok(())
    }

    /// Marks a user active or not, with the audit row, in one transaction; making them
    /// inactive also ends their dashboard sign-on sessions and revokes every active key
    /// of theirs (a `key_revoked` event each) and
    /// bumps the state version, so every proxy refuses those keys within its refresh
    /// interval. Returns the revoked keys' ids.
    pub(crate) async fn set_user_active(
        &self,
        user_id: i64,
        username: &str,
        active: bool,
        audit: &AdminAuditRecord,
    ) -> Result<Vec<String>, StoreError> {
        let revoked = on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE users SET active = ? WHERE id = ?")
                .bind(active)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            let mut revoked = Vec::new();
            if !active {
                sqlx::query(super::sessions::END_USER_SSO_SESSIONS)
                    .bind(user_id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                let ids: Vec<String> = sqlx::query(
                    "SELECT access_key_id FROM api_keys WHERE user_id = ? AND status = ?",
                )
                .bind(user_id)
                .bind(KeyStatus::Active)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>("access_key_id"))
                .collect::<Result<_, _>>()?;
                sqlx::query(
                    "UPDATE api_keys SET status = ?, revoked_at = ? \
                     WHERE user_id = ? AND status = ?",
                )
                .bind(KeyStatus::Revoked)
                .bind(now_ms())
                .bind(user_id)
                .bind(KeyStatus::Active)
                .execute(&mut *tx)
                .await?;
                for id in &ids {
                    let row = EventRow::new(self, &NewEvent::new(DomainEvent::KeyRevoked {
                        username: username.to_string(),
                        access_key_id: id.clone(),
                        by: audit.actor.clone(),
                    }))?;
                    let _always_new = insert_event!(row, &mut *tx);
                }
                revoked = ids;
            }
            insert_admin_audit!(audit, &mut *tx);
            super::bump_state_version!(&mut *tx);
            super::commit(tx).await?;
            revoked
        });
        Ok(revoked)
    }

    /// Creates a group with its members and the audit row, in one transaction.
    pub(crate) async fn create_group(
        &self,
        display_name: &str,
        external_id: Option<&str>,
        members: &[i64],
        audit: &AdminAuditRecord,
    ) -> Result<Group, StoreError> {
        let now = now_ms();
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO scim_groups (display_name, external_id, created_at, updated_at) \
                 VALUES (?, ?, ?, ?)",
            )
            .bind(display_name)
            .bind(external_id)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict(e, || format!("group `{display_name}` already exists")))?;
            let id: i64 = sqlx::query("SELECT id FROM scim_groups WHERE display_name = ?")
                .bind(display_name)
                .fetch_one(&mut *tx)
                .await?
                .try_get("id")?;
            for m in members {
                sqlx::query("INSERT INTO scim_group_members (group_id, user_id) VALUES (?, ?)")
                    .bind(id)
                    .bind(m)
                    .execute(&mut *tx)
                    .await?;
            }
            insert_admin_audit!(audit, &mut *tx);
            super::commit(tx).await?;
        });
        self.group_by_name(display_name).await
    }

    /// Replaces a group's name, external id and members, with the audit row, in one
    /// transaction.
    pub(crate) async fn replace_group(
        &self,
        id: i64,
        display_name: &str,
        external_id: Option<&str>,
        members: &[i64],
        audit: &AdminAuditRecord,
    ) -> Result<(), StoreError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE scim_groups SET display_name = ?, external_id = ?, updated_at = ? \
                 WHERE id = ?",
            )
            .bind(display_name)
            .bind(external_id)
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict(e, || format!("group `{display_name}` already exists")))?;
            sqlx::query("DELETE FROM scim_group_members WHERE group_id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for m in members {
                sqlx::query("INSERT INTO scim_group_members (group_id, user_id) VALUES (?, ?)")
                    .bind(id)
                    .bind(m)
                    .execute(&mut *tx)
                    .await?;
            }
            insert_admin_audit!(audit, &mut *tx);
            super::commit(tx).await?;
        });
        Ok(())
    }

    /// Deletes a group (its memberships with it) and writes the audit row.
    pub(crate) async fn delete_group(
        &self,
        id: i64,
        audit: &AdminAuditRecord,
    ) -> Result<(), StoreError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("DELETE FROM scim_group_members WHERE group_id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let gone = sqlx::query("DELETE FROM scim_groups WHERE id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if gone == 0 {
                return Err(StoreError::NotFound(format!("group with id {id}")));
            }
            insert_admin_audit!(audit, &mut *tx);
            super::commit(tx).await?;
        });
        Ok(())
    }

    /// One group by id.
    pub(crate) async fn group(&self, id: i64) -> Result<Group, StoreError> {
        let g = on_pool!(self, p => {
            sqlx::query_as::<_, Group>(
                "SELECT id, display_name, external_id, created_at, updated_at \
                 FROM scim_groups WHERE id = ?",
            )
            .bind(id)
            .fetch_optional(p)
            .await?
        });
        g.ok_or_else(|| StoreError::NotFound(format!("group with id {id}")))
    }

    /// One group by display name.
    pub(crate) async fn group_by_name(&self, name: &str) -> Result<Group, StoreError> {
        let g = on_pool!(self, p => {
            sqlx::query_as::<_, Group>(
                "SELECT id, display_name, external_id, created_at, updated_at \
                 FROM scim_groups WHERE display_name = ?",
            )
            .bind(name)
            .fetch_optional(p)
            .await?
        });
        g.ok_or_else(|| StoreError::NotFound(format!("group `{name}`")))
    }

    /// Every group, by id.
    pub(crate) async fn groups(&self) -> Result<Vec<Group>, StoreError> {
        let g = on_pool!(self, p => {
            sqlx::query_as::<_, Group>(
                "SELECT id, display_name, external_id, created_at, updated_at \
                 FROM scim_groups ORDER BY id",
            )
            .fetch_all(p)
            .await?
        });
        Ok(g)
    }

    /// A group's members, by user name.
    pub(crate) async fn group_members(&self, group_id: i64) -> Result<Vec<Member>, StoreError> {
        let m = on_pool!(self, p => {
            sqlx::query_as::<_, Member>(
                "SELECT u.id AS id, u.username AS name FROM scim_group_members m \
                 JOIN users u ON u.id = m.user_id WHERE m.group_id = ? ORDER BY u.username",
            )
            .bind(group_id)
            .fetch_all(p)
            .await?
        });
        Ok(m)
    }

    /// The groups a user is in, by name.
    pub(crate) async fn user_groups(&self, user_id: i64) -> Result<Vec<Member>, StoreError> {
        let m = on_pool!(self, p => {
            sqlx::query_as::<_, Member>(
                "SELECT g.id AS id, g.display_name AS name FROM scim_group_members m \
                 JOIN scim_groups g ON g.id = m.group_id WHERE m.user_id = ? \
                 ORDER BY g.display_name",
            )
            .bind(user_id)
            .fetch_all(p)
            .await?
        });
        Ok(m)
    }
}
