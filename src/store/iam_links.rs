//! Links from proxy users to IAM principals (`iam_links`) for the CloudTrail/IAM
//! backstop, each written with its admin audit row in one transaction; and the
//! `iam_policy_updated` mark the IAM subscriber sets on blocking audit rows.

use serde::Serialize;

use super::admin::{insert_admin_audit, AdminAuditRecord};
use super::{conflict, now_ms, on_pool, Store, StoreError};
use crate::domain::IamPrincipalKind;

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

    /// Links `principal` to the user; a principal already linked (to anyone) is a
    /// conflict.
    pub(crate) async fn link_iam(
        &self,
        user_id: i64,
        kind: IamPrincipalKind,
        principal: &str,
        audit: &AdminAuditRecord,
    ) -> Result<(), StoreError> {
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
            insert_admin_audit!(audit, &mut *tx);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Removes the user's link to `principal`; `NotFound` when there is none.
    pub(crate) async fn unlink_iam(
        &self,
        user_id: i64,
        kind: IamPrincipalKind,
        principal: &str,
        audit: &AdminAuditRecord,
    ) -> Result<(), StoreError> {
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
