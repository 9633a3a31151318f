//! The IAM deny policies the backstop put on (`iam_denies`): a row is written before
//! the `PutUserPolicy` call and deleted after the deny is removed, so the backstop
//! removes only denies it put (never a policy of the same name someone else put on an
//! IAM user it no longer manages), and reconciliation finds the denies left on IAM users
//! that are no longer linked to a blocked user (an `iam_link_changed` event missed).

use super::admin::{insert_admin_audit, AdminAuditRecord};
use super::{now_ms, on_pool, Store, StoreError};

/// A deny the backstop put on.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct IamDeny {
    /// The IAM user.
    pub(crate) iam_user: String,
    /// The inline policy's name.
    pub(crate) policy_name: String,
    /// The proxy user it was put for (their name then).
    pub(crate) username: String,
}

impl Store {
    /// Records that the deny `policy_name` is (about to be) on `iam_user` for proxy user
    /// `username`; recording it again only updates the user.
    pub(crate) async fn record_iam_deny(
        &self,
        iam_user: &str,
        policy_name: &str,
        username: &str,
    ) -> Result<(), StoreError> {
        let sql = match self.kind() {
            crate::config::DatabaseKind::Sqlite => {
                "INSERT INTO iam_denies (iam_user, policy_name, username, put_at) \
                 VALUES (?, ?, ?, ?) ON CONFLICT (iam_user, policy_name) \
                 DO UPDATE SET username = excluded.username"
            }
            crate::config::DatabaseKind::MySql => {
                "INSERT INTO iam_denies (iam_user, policy_name, username, put_at) \
                 VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE username = VALUES(username)"
            }
        };
        on_pool!(self, p => {
            sqlx::query(sql)
                .bind(iam_user)
                .bind(policy_name)
                .bind(username)
                .bind(now_ms())
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    /// The deny `policy_name` the backstop put on `iam_user`, if it did.
    pub(crate) async fn iam_deny(
        &self,
        iam_user: &str,
        policy_name: &str,
    ) -> Result<Option<IamDeny>, StoreError> {
        let deny = on_pool!(self, p => {
            sqlx::query_as::<_, IamDeny>(
                "SELECT iam_user, policy_name, username FROM iam_denies \
                 WHERE iam_user = ? AND policy_name = ?",
            )
            .bind(iam_user)
            .bind(policy_name)
            .fetch_optional(p)
            .await?
        });
        Ok(deny)
    }

    /// Every deny the backstop put on, by IAM user.
    pub(crate) async fn iam_denies(&self) -> Result<Vec<IamDeny>, StoreError> {
        let denies = on_pool!(self, p => {
            sqlx::query_as::<_, IamDeny>(
                "SELECT iam_user, policy_name, username FROM iam_denies \
                 ORDER BY iam_user, policy_name",
            )
            .fetch_all(p)
            .await?
        });
        Ok(denies)
    }

    /// Forgets the deny `policy_name` on `iam_user` (it was removed, or the IAM user is
    /// gone), with `audit` (if any), in one transaction.
    pub(crate) async fn forget_iam_deny(
        &self,
        iam_user: &str,
        policy_name: &str,
        audit: Option<&AdminAuditRecord>,
    ) -> Result<(), StoreError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query("DELETE FROM iam_denies WHERE iam_user = ? AND policy_name = ?")
                .bind(iam_user)
                .bind(policy_name)
                .execute(&mut *tx)
                .await?;
            if let Some(audit) = audit {
                insert_admin_audit!(audit, &mut *tx);
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Writes one admin audit row (a change the system made by itself).
    pub(crate) async fn admin_audit_row(&self, audit: &AdminAuditRecord) -> Result<(), StoreError> {
        on_pool!(self, p => {
            insert_admin_audit!(audit, p);
        });
        Ok(())
    }
}
