//! Dashboard sessions (`admin_sessions`): rows keyed by the SHA-256 hash of the session
//! id, naming the admin token the session was made from, or (single sign-on) the
//! signed-in user, with the session's role. A session is live while it is not expired,
//! not ended (logout) and, when made from a token, its token is not revoked; the
//! database decides that in one query, so every admin listener sharing the database
//! agrees at once.

use super::admin::{insert_admin_audit, AdminAuditRecord};
use super::{now_ms, on_pool, Store, StoreError};

/// A live session as read back.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub(crate) struct SessionRow {
    /// The admin token it was made from.
    pub(crate) token_name: String,
    /// When it expires (epoch ms).
    pub(crate) expires_at: i64,
    /// `admin`, `viewer` or `team_admin` (migration 0023).
    pub(crate) role: String,
    /// The signed-in user of a single sign-on session.
    pub(crate) oidc_user: Option<String>,
    /// A team admin's teams (a JSON list).
    pub(crate) teams: Option<String>,
}

/// A session to store.
pub(crate) struct NewSessionRow<'a> {
    /// SHA-256 of the session id (hex).
    pub(crate) id_hash: &'a str,
    /// The admin token's name, or `oidc:<username>` for single sign-on.
    pub(crate) token_name: &'a str,
    /// When it expires (epoch ms).
    pub(crate) expires_at: i64,
    /// `admin`, `viewer` or `team_admin`.
    pub(crate) role: &'a str,
    /// The signed-in user (single sign-on only).
    pub(crate) oidc_user: Option<&'a str>,
    /// A team admin's teams (a JSON list).
    pub(crate) teams: Option<&'a str>,
}

impl Store {
    /// Stores a new session with its audit row, and deletes sessions that expired or
    /// ended more than a day ago (so the table holds only recent ones).
    pub(crate) async fn create_admin_session(
        &self,
        row: &NewSessionRow<'_>,
        audit: &AdminAuditRecord,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let stale = now - 86_400_000;
        on_pool!(self, p => {
            sqlx::query(
                "DELETE FROM admin_sessions WHERE expires_at < ? OR ended_at < ?",
            )
            .bind(stale)
            .bind(stale)
            .execute(p)
            .await?;
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO admin_sessions \
                 (id_hash, token_name, created_at, expires_at, role, oidc_user, teams) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(row.id_hash)
            .bind(row.token_name)
            .bind(now)
            .bind(row.expires_at)
            .bind(row.role)
            .bind(row.oidc_user)
            .bind(row.teams)
            .execute(&mut *tx)
            .await?;
            insert_admin_audit!(audit, &mut *tx);
            tx.commit().await?;
        });
        Ok(())
    }

    /// The live session with this id hash, if any.
    pub(crate) async fn live_admin_session(
        &self,
        id_hash: &str,
    ) -> Result<Option<SessionRow>, StoreError> {
        let row = on_pool!(self, p => {
            sqlx::query_as::<_, SessionRow>(
                "SELECT s.token_name, s.expires_at, s.role, s.oidc_user, s.teams \
                 FROM admin_sessions s \
                 LEFT JOIN admin_tokens t ON t.name = s.token_name AND s.oidc_user IS NULL \
                 WHERE s.id_hash = ? AND s.ended_at IS NULL AND s.expires_at > ? \
                 AND (s.oidc_user IS NOT NULL OR (t.name IS NOT NULL AND t.revoked_at IS NULL))",
            )
            .bind(id_hash)
            .bind(now_ms())
            .fetch_optional(p)
            .await?
        });
        Ok(row)
    }

    /// Ends a session (logout) with its audit row; whether it was live.
    pub(crate) async fn end_admin_session(
        &self,
        id_hash: &str,
        audit: &AdminAuditRecord,
    ) -> Result<bool, StoreError> {
        let affected = on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let affected = sqlx::query(
                "UPDATE admin_sessions SET ended_at = ? WHERE id_hash = ? AND ended_at IS NULL",
            )
            .bind(now_ms())
            .bind(id_hash)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if affected > 0 {
                insert_admin_audit!(audit, &mut *tx);
            }
            tx.commit().await?;
            affected
        });
        Ok(affected > 0)
    }
}

/// Ends every dashboard single sign-on session of the user with id `?` (the session's
/// `oidc_user` is their user name or their email, whichever the issuer's
/// `username_claim` gave): run inside the transaction that deactivates or deletes them,
/// before the user row goes. Sessions are checked against the database on every request,
/// so this takes effect at once on every admin listener.
pub(crate) const END_USER_SSO_SESSIONS: &str =
    "DELETE FROM admin_sessions WHERE oidc_user IS NOT NULL \
     AND oidc_user IN (SELECT username FROM users WHERE id = ? \
     UNION SELECT email FROM users WHERE id = ? AND email IS NOT NULL)";
