//! Proxy-issued keys (`api_keys`), stored as the proxy needs them and no more: the SigV4
//! secret encrypted (AES-256-GCM, see the `auth::crypto` module), the bearer token as a
//! SHA-256 hash, and the expiry of keys issued at sign-in (`expires_at`).

use futures_util::TryStreamExt;
use serde::Serialize;

use super::admin::{insert_admin_audit, AdminAuditRecord};
use super::outbox::{insert_event, EventRow};
use super::{conflict, now_ms, on_pool, Store, StoreError};
use crate::domain::{KeyStatus, NewEvent};

/// A key as listed (never with its secret).
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct KeyInfo {
    /// The SigV4 access key id.
    pub(crate) access_key_id: String,
    /// Owner.
    pub(crate) username: String,
    /// The tool this key was issued for.
    #[sqlx(rename = "tool_name")]
    pub tool: String,
    /// Active or revoked.
    pub status: KeyStatus,
    /// Creation time (epoch ms).
    pub(crate) created_at: i64,
    /// Revocation time (epoch ms).
    pub(crate) revoked_at: Option<i64>,
    /// When the key stops working (epoch ms): keys issued at sign-in; `None` for keys
    /// an administrator issued, which work until revoked.
    pub(crate) expires_at: Option<i64>,
    /// Past `expires_at` now (filled in by the service layer, which knows the time).
    #[sqlx(default)]
    pub(crate) expired: bool,
}

/// What `user create-key` stores.
#[derive(Clone, Debug)]
pub struct NewKey {
    /// The SigV4 access key id.
    pub access_key_id: String,
    /// The tool the key is for.
    pub tool: String,
    /// The secret, encrypted under the master key.
    pub secret_enc: Vec<u8>,
    /// Hex SHA-256 of the bearer token.
    pub bearer_hash: String,
    /// When the key stops working (epoch ms); `None`: until revoked.
    pub expires_at: Option<i64>,
}

/// An active key with everything the proxy needs to authenticate it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ActiveKey {
    /// The SigV4 access key id.
    pub access_key_id: String,
    /// The tool the key is for.
    #[sqlx(rename = "tool_name")]
    pub tool: String,
    /// The secret, encrypted under the master key.
    pub secret_enc: Vec<u8>,
    /// Hex SHA-256 of the bearer token.
    pub bearer_hash: String,
    /// Owner id.
    pub user_id: i64,
    /// Owner name.
    pub username: String,
    /// Owner's full name.
    #[sqlx(rename = "person_name")]
    pub person: String,
    /// Owner's team id.
    pub team_id: i64,
    /// Owner's team.
    pub team: String,
    /// When the key stops working (epoch ms); `None`: until revoked.
    pub expires_at: Option<i64>,
}

/// Keys that expired longer ago than this are left out of the proxy's directory (and
/// answered as unknown); until then a call with one gets `ExpiredTokenException`, which
/// tells the AWS SDKs to fetch fresh credentials.
pub(crate) const EXPIRED_KEPT_MS: i64 = 24 * 3600 * 1000;

const KEY_COLUMNS: &str = "k.access_key_id, u.username, k.tool_name, k.status, k.created_at, \
     k.revoked_at, k.expires_at FROM api_keys k JOIN users u ON u.id = k.user_id";

impl Store {
    /// Stores a new key for a user and writes `event` and the audit rows (the
    /// administrator's, a sign-in's), in one transaction.
    pub async fn create_key(
        &self,
        user_id: i64,
        key: &NewKey,
        event: &NewEvent,
        audit: &[AdminAuditRecord],
    ) -> Result<KeyInfo, StoreError> {
        let row = EventRow::new(self, event)?;
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO api_keys (access_key_id, user_id, tool_name, secret_enc, \
                 bearer_hash, status, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&key.access_key_id)
            .bind(user_id)
            .bind(&key.tool)
            .bind(&key.secret_enc)
            .bind(&key.bearer_hash)
            .bind(KeyStatus::Active)
            .bind(now_ms())
            .bind(key.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict(e, || "key id collision; try again".to_string()))?;
            let _always_new = insert_event!(row, &mut *tx);
            for audit in audit {
                insert_admin_audit!(audit, &mut *tx);
            }
            super::bump_state_version!(&mut *tx);
            super::commit(tx).await?;
        });
        self.key(&key.access_key_id).await
    }

    /// One key by its access key id.
    pub(crate) async fn key(&self, access_key_id: &str) -> Result<KeyInfo, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} WHERE k.access_key_id = ?");
        let key = on_pool!(self, p => {
            sqlx::query_as::<_, KeyInfo>(&sql).bind(access_key_id).fetch_optional(p).await?
        });
        key.ok_or_else(|| StoreError::NotFound(format!("key `{access_key_id}`")))
    }

    /// Keys, all or one user's, newest first.
    pub(crate) async fn keys(&self, user_id: Option<i64>) -> Result<Vec<KeyInfo>, StoreError> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} WHERE (? IS NULL OR k.user_id = ?) \
             ORDER BY k.created_at DESC, k.access_key_id"
        );
        let keys = on_pool!(self, p => {
            sqlx::query_as::<_, KeyInfo>(&sql).bind(user_id).bind(user_id).fetch_all(p).await?
        });
        Ok(keys)
    }

    /// Revokes an active key and writes `event` and the audit row, in one transaction;
    /// running proxies refuse the key within the propagation delay.
    pub(crate) async fn revoke_key(
        &self,
        access_key_id: &str,
        event: &NewEvent,
        audit: &AdminAuditRecord,
    ) -> Result<(), StoreError> {
        let row = EventRow::new(self, event)?;
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let affected = sqlx::query(
                "UPDATE api_keys SET status = ?, revoked_at = ? \
                 WHERE access_key_id = ? AND status = ?",
            )
            .bind(KeyStatus::Revoked)
            .bind(now_ms())
            .bind(access_key_id)
            .bind(KeyStatus::Active)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if affected == 0 {
                return Err(StoreError::NotFound(format!("active key `{access_key_id}`")));
            }
            let _always_new = insert_event!(row, &mut *tx);
            insert_admin_audit!(audit, &mut *tx);
            super::bump_state_version!(&mut *tx);
            super::commit(tx).await?;
        });
        Ok(())
    }

    /// Every active key with its owner, for the proxy's in-memory directory.
    pub async fn active_keys(&self) -> Result<Vec<ActiveKey>, StoreError> {
        let mut out = Vec::new();
        self.each_active_key(|k| out.push(k)).await?;
        Ok(out)
    }

    /// Visits every active key with its owner, one row at a time (a directory of 100,000
    /// keys never sits in memory twice).
    pub(crate) async fn each_active_key(
        &self,
        mut visit: impl FnMut(ActiveKey),
    ) -> Result<(), StoreError> {
        on_pool!(self, p => {
            let mut rows = sqlx::query_as::<_, ActiveKey>(
                "SELECT k.access_key_id, k.tool_name, k.secret_enc, k.bearer_hash, u.id AS user_id, \
                 u.username, u.person_name, u.team_id, t.name AS team, k.expires_at \
                 FROM api_keys k JOIN users u ON u.id = k.user_id JOIN teams t ON t.id = u.team_id \
                 WHERE k.status = ? AND (k.expires_at IS NULL OR k.expires_at > ?)",
            )
            .bind(KeyStatus::Active)
            .bind(now_ms() - EXPIRED_KEPT_MS)
            .fetch(p);
            while let Some(k) = rows.try_next().await? {
                visit(k);
            }
        });
        Ok(())
    }
}
