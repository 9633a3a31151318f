//! Links from proxy users to IAM principals (`iam_links`) for the CloudTrail/IAM
//! backstop, each written with its admin audit row (and, for IAM users, its
//! `iam_link_changed` event) in one transaction; and the `iam_policy_updated` mark the
//! IAM subscriber sets on blocking audit rows.

use serde::Serialize;

use super::admin::{insert_admin_audit, AdminAuditRecord};
use super::outbox::{insert_event, EventRow};
use super::{conflict, now_ms, on_pool, Store, StoreError};
use crate::domain::{IamPrincipalKind, NewEvent};

/// One link as stored, with the user's name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct IamLink {
    /// The proxy user's id.
    #[serde(skip)]
    pub(crate) user_id: i64,
    /// The proxy user's name.
    pub(crate) username: String,
    /// `iam_user` or `role_session`.
    #[schema(value_type = String, example = "iam_user")]
    pub(crate) kind: IamPrincipalKind,
    /// The IAM user name, or the session name pattern.
    pub(crate) principal: String,
}

impl Store {
    /// Every link, or one user's, by kind and principal.
    pub(crate) async fn iam_links(&self, user_id: Option<i64>) -> Result<Vec<IamLink>, StoreError> {
        let links = on_pool!(self, p => {
            sqlx::query_as::<_, IamLink>(
                "SELECT l.user_id, u.username, l.kind, l.principal FROM iam_links l \
                 JOIN users u ON u.id = l.user_id WHERE (? IS NULL OR l.user_id = ?) \
                 ORDER BY l.kind, l.principal",
            )
            .bind(user_id)
            .bind(user_id)
            .fetch_all(p)
            .await?
        });
        Ok(links)
    }

    /// The proxy user IAM user `iam_user` is linked to: (id, username).
    pub(crate) async fn iam_user_owner(
        &self,
        iam_user: &str,
    ) -> Result<Option<(i64, String)>, StoreError> {
        let owner = on_pool!(self, p => {
            sqlx::query_as::<_, (i64, String)>(
                "SELECT l.user_id, u.username FROM iam_links l JOIN users u ON u.id = l.user_id \
                 WHERE l.kind = 'iam_user' AND l.principal = ?",
            )
            .bind(iam_user)
            .fetch_optional(p)
            .await?
        });
        Ok(owner)
    }

    /// Links `principal` to the user, with `event` (if any); a principal already linked
    /// (to anyone) is a conflict.
    pub(crate) async fn link_iam(
        &self,
        user_id: i64,
        kind: IamPrincipalKind,
        principal: &str,
        event: Option<&NewEvent>,
        audit: &AdminAuditRecord,
    ) -> Result<(), StoreError> {
        let row = event.map(|e| EventRow::new(self, e)).transpose()?;
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO iam_links (user_id, kind, principal, created_at) VALUES (?, ?, ?, ?)",
            )
            .bind(user_id)
            .bind(kind)
            .bind(principal)
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict(e, || format!("{kind} `{principal}` is already linked")))?;
            if let Some(row) = &row {
                let _always_new = insert_event!(row, &mut *tx);
            }
            insert_admin_audit!(audit, &mut *tx);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Removes the user's link to `principal`, with `event` (if any); `NotFound` when
    /// there is none.
    pub(crate) async fn unlink_iam(
        &self,
        user_id: i64,
        kind: IamPrincipalKind,
        principal: &str,
        event: Option<&NewEvent>,
        audit: &AdminAuditRecord,
    ) -> Result<(), StoreError> {
        let row = event.map(|e| EventRow::new(self, e)).transpose()?;
        let removed = on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "DELETE FROM iam_links WHERE user_id = ? AND kind = ? AND principal = ?",
            )
            .bind(user_id)
            .bind(kind)
            .bind(principal)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n > 0 {
                if let Some(row) = &row {
                    let _always_new = insert_event!(row, &mut *tx);
                }
                insert_admin_audit!(audit, &mut *tx);
            }
            tx.commit().await?;
            n
        });
        if removed == 0 {
            return Err(StoreError::NotFound(format!(
                "link to {kind} `{principal}`"
            )));
        }
        Ok(())
    }

    /// Records on the blocking audit row written with outbox event `event_id` whether
    /// the IAM deny policy was brought in line with it.
    pub(crate) async fn set_iam_policy_updated(
        &self,
        event_id: i64,
        updated: bool,
    ) -> Result<(), StoreError> {
        on_pool!(self, p => {
            sqlx::query("UPDATE blocking_audit_log SET iam_policy_updated = ? WHERE event_id = ?")
                .bind(updated)
                .bind(event_id)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(())
    }
}
