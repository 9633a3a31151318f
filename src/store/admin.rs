//! Administrators' side of the database: admin API tokens (`admin_tokens`, stored only
//! as SHA-256 hashes) and the admin audit log (`admin_audit_log`), whose rows are
//! written by the other table groups' writers in the same transaction as the change
//! ([`insert_admin_audit!`]).

use serde::Serialize;

use super::outbox::{insert_event, EventRow};
use super::{conflict, now_ms, on_pool, Store, StoreError};
use crate::domain::{AdminOperation, NewEvent, TokenScope};

/// One administrative change as the audit log records it.
#[derive(Clone, Debug)]
pub struct AdminAuditRecord {
    /// Who (`cli:<login>`, `api:<token name>`).
    pub(crate) actor: String,
    /// What.
    pub(crate) operation: AdminOperation,
    /// Which resource (`user:alice`, `team:research`, `price:<model>`, ...).
    pub(crate) resource: String,
    /// The value before, as JSON (none for a creation).
    pub(crate) before: Option<String>,
    /// The value after, as JSON (none for a deletion).
    pub(crate) after: Option<String>,
}

/// Inserts an [`AdminAuditRecord`] on a connection or transaction.
macro_rules! insert_admin_audit {
    ($rec:expr, $conn:expr) => {
        sqlx::query(
            "INSERT INTO admin_audit_log (actor, operation, resource, before_json, after_json, \
             created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&$rec.actor)
        .bind($rec.operation)
        .bind(&$rec.resource)
        .bind(&$rec.before)
        .bind(&$rec.after)
        .bind($crate::store::now_ms())
        .execute($conn)
        .await?
    };
}
pub(crate) use insert_admin_audit;

/// A row of the admin audit log as read back.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow)]
pub(crate) struct AdminAuditRow {
    /// Row id (increasing).
    pub(crate) id: i64,
    /// Who.
    pub(crate) actor: String,
    /// What.
    pub(crate) operation: AdminOperation,
    /// Which resource.
    pub(crate) resource: String,
    /// Before, as JSON text.
    pub(crate) before_json: Option<String>,
    /// After, as JSON text.
    pub(crate) after_json: Option<String>,
    /// When (epoch ms).
    pub(crate) created_at: i64,
}

/// Which admin audit rows to read: every filter optional, newest first, rows with an
/// id below `before_id` (keyset paging).
#[derive(Clone, Debug, Default)]
pub(crate) struct AdminAuditFilter {
    pub(crate) actor: Option<String>,
    pub(crate) operation: Option<AdminOperation>,
    pub(crate) resource: Option<String>,
    pub(crate) from_ms: Option<i64>,
    pub(crate) to_ms: Option<i64>,
    pub(crate) before_id: Option<i64>,
    pub(crate) limit: i64,
}

/// An admin token as listed (never the token or its hash).
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AdminToken {
    /// Unique name (what the audit log names as `api:<name>`).
    pub name: String,
    /// Creation time (epoch ms).
    pub created_at: i64,
    /// Who created it.
    pub created_by: String,
    /// Revocation time (epoch ms); `None` while the token works.
    pub revoked_at: Option<i64>,
    /// What the token is for: `admin` (admin API, dashboard) or `scim` (`/scim/v2` only).
    pub scope: TokenScope,
}

/// An active token's name and hash, for authentication.
#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct TokenHash {
    pub(crate) name: String,
    pub(crate) token_hash: String,
}

impl Store {
    /// Stores a new token (by hash) with its audit row, in one transaction.
    pub(crate) async fn create_admin_token(
        &self,
        name: &str,
        token_hash: &str,
        scope: TokenScope,
        audit: &AdminAuditRecord,
    ) -> Result<(), StoreError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO admin_tokens (name, token_hash, scope, created_at, created_by) \
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(name)
            .bind(token_hash)
            .bind(scope)
            .bind(now_ms())
            .bind(&audit.actor)
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict(e, || format!("admin token `{name}` already exists")))?;
            insert_admin_audit!(audit, &mut *tx);
            super::commit(tx).await?;
        });
        Ok(())
    }

    /// Every token, by name.
    pub(crate) async fn admin_tokens(&self) -> Result<Vec<AdminToken>, StoreError> {
        let tokens = on_pool!(self, p => {
            sqlx::query_as::<_, AdminToken>(
                "SELECT name, created_at, created_by, revoked_at, scope FROM admin_tokens ORDER BY name",
            )
            .fetch_all(p)
            .await?
        });
        Ok(tokens)
    }

    /// One token by name.
    pub(crate) async fn admin_token(&self, name: &str) -> Result<AdminToken, StoreError> {
        let token = on_pool!(self, p => {
            sqlx::query_as::<_, AdminToken>(
                "SELECT name, created_at, created_by, revoked_at, scope FROM admin_tokens WHERE name = ?",
            )
            .bind(name)
            .fetch_optional(p)
            .await?
        });
        token.ok_or_else(|| StoreError::NotFound(format!("admin token `{name}`")))
    }

    /// The names and hashes of the tokens of `scope` that are not revoked.
    pub(crate) async fn active_admin_token_hashes(
        &self,
        scope: TokenScope,
    ) -> Result<Vec<TokenHash>, StoreError> {
        let rows = on_pool!(self, p => {
            sqlx::query_as::<_, TokenHash>(
                "SELECT name, token_hash FROM admin_tokens WHERE revoked_at IS NULL AND scope = ?",
            )
            .bind(scope)
            .fetch_all(p)
            .await?
        });
        Ok(rows)
    }

    /// Revokes an active token with its audit row, in one transaction.
    pub(crate) async fn revoke_admin_token(
        &self,
        name: &str,
        audit: &AdminAuditRecord,
    ) -> Result<(), StoreError> {
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let affected = sqlx::query(
                "UPDATE admin_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
            )
            .bind(now_ms())
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if affected == 0 {
                return Err(StoreError::NotFound(format!("active admin token `{name}`")));
            }
            insert_admin_audit!(audit, &mut *tx);
            super::commit(tx).await?;
        });
        Ok(())
    }

    /// Writes an event together with an administrator's audit row, in one transaction.
    pub(crate) async fn append_event_audited(
        &self,
        event: &NewEvent,
        audit: &AdminAuditRecord,
    ) -> Result<(), StoreError> {
        let row = EventRow::new(self, event)?;
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let _new = insert_event!(row, &mut *tx);
            insert_admin_audit!(audit, &mut *tx);
            super::commit(tx).await?;
        });
        Ok(())
    }

    /// Admin audit rows matching `filter`, newest first.
    pub(crate) async fn admin_audit(
        &self,
        f: &AdminAuditFilter,
    ) -> Result<Vec<AdminAuditRow>, StoreError> {
        let rows = on_pool!(self, p => {
            sqlx::query_as::<_, AdminAuditRow>(
                "SELECT id, actor, operation, resource, before_json, after_json, created_at \
                 FROM admin_audit_log WHERE (? IS NULL OR actor = ?) \
                 AND (? IS NULL OR operation = ?) AND (? IS NULL OR resource = ?) \
                 AND (? IS NULL OR created_at >= ?) AND (? IS NULL OR created_at < ?) \
                 AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?",
            )
            .bind(&f.actor)
            .bind(&f.actor)
            .bind(f.operation)
            .bind(f.operation)
            .bind(&f.resource)
            .bind(&f.resource)
            .bind(f.from_ms)
            .bind(f.from_ms)
            .bind(f.to_ms)
            .bind(f.to_ms)
            .bind(f.before_id)
            .bind(f.before_id)
            .bind(f.limit.max(0))
            .fetch_all(p)
            .await?
        });
        Ok(rows)
    }
}
