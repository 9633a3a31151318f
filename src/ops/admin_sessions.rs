//! Dashboard sessions: login with an admin token opens a session (a random id the
//! browser keeps in an `HttpOnly` cookie; the database keeps only its SHA-256 hash),
//! each session has a CSRF token derived from its id, and logout ends it for every
//! listener at once. A session acts as `dashboard:<token name>` in the audit log and
//! stops working when it expires, is ended, or its admin token is revoked.

use base64::Engine as _;
use rand::RngCore;
use serde::Serialize;
use sha2::Digest;
use subtle::ConstantTimeEq;

use super::admin_audit::record;
use super::admin_tokens::AdminTokenChecker;
use super::{Ops, OpsError};
use crate::domain::{Actor, AdminOperation};

/// A session just opened: the id goes into the cookie, never into a body.
#[derive(Clone, Debug)]
pub(crate) struct NewSession {
    /// The session id (the cookie's value).
    pub(crate) id: String,
    /// What the session looks like to the browser.
    pub(crate) info: SessionInfo,
}

/// A live session as the dashboard sees it.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub(crate) struct SessionInfo {
    /// The admin token the session was made from.
    pub(crate) token_name: String,
    /// When it expires (epoch ms).
    pub(crate) expires_at: i64,
    /// Send it as `X-CSRF-Token` on every change made with the session cookie.
    pub(crate) csrf_token: String,
}

fn hash_hex(id: &str) -> String {
    crate::hash::to_hex(&sha2::Sha256::digest(id.as_bytes()))
}

/// The CSRF token of session `id`: a hash of the id under a fixed label, so it needs no
/// storage, differs from the stored hash, and cannot be made without the id.
fn csrf_of(id: &str) -> String {
    let mut h = sha2::Sha256::new();
    h.update(b"bedrock-gate dashboard csrf\0");
    h.update(id.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.finalize())
}

fn actor_of(token_name: &str) -> Actor {
    Actor::system(format!("dashboard:{token_name}"))
}

/// Whether `presented` is the CSRF token of session `id` (constant time).
pub(crate) fn csrf_matches(id: &str, presented: &str) -> bool {
    bool::from(csrf_of(id).as_bytes().ct_eq(presented.as_bytes()))
}

impl Ops {
    /// Opens a session for the admin token `presented`; `None` when the token is not an
    /// active one. The login is written to the admin audit log.
    pub(crate) async fn open_admin_session(
        &self,
        checker: &AdminTokenChecker,
        presented: &str,
    ) -> Result<Option<NewSession>, OpsError> {
        let Some(token_name) = checker.check(presented).await? else {
            return Ok(None);
        };
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let ttl = i64::try_from(self.session_ttl.as_millis()).unwrap_or(i64::MAX);
        let expires_at = self.now().timestamp_millis().saturating_add(ttl);
        let audit = record(
            &actor_of(&token_name),
            AdminOperation::Login,
            format!("admin_token:{token_name}"),
            None,
            Some(serde_json::json!({ "expires_at": expires_at })),
        );
        self.store
            .create_admin_session(&hash_hex(&id), &token_name, expires_at, &audit)
            .await?;
        Ok(Some(NewSession {
            info: SessionInfo {
                token_name,
                expires_at,
                csrf_token: csrf_of(&id),
            },
            id,
        }))
    }

    /// The live session `id`, or `None` (unknown, expired, ended or token revoked).
    pub(crate) async fn admin_session(&self, id: &str) -> Result<Option<SessionInfo>, OpsError> {
        let row = self.store.live_admin_session(&hash_hex(id)).await?;
        Ok(row.map(|r| SessionInfo {
            token_name: r.token_name,
            expires_at: r.expires_at,
            csrf_token: csrf_of(id),
        }))
    }

    /// Ends session `id` made from `token_name` (logout); whether it was live.
    pub(crate) async fn end_admin_session(
        &self,
        id: &str,
        token_name: &str,
    ) -> Result<bool, OpsError> {
        let audit = record(
            &actor_of(token_name),
            AdminOperation::Logout,
            format!("admin_token:{token_name}"),
            None,
            None,
        );
        Ok(self.store.end_admin_session(&hash_hex(id), &audit).await?)
    }

    /// How long a session lasts (`admin.session_hours`).
    pub(crate) fn session_ttl(&self) -> std::time::Duration {
        self.session_ttl
    }

    /// Whether session cookies are always `Secure` (`admin.cookie_secure`).
    pub(crate) fn session_cookie_always_secure(&self) -> bool {
        self.cookie_secure
    }

    /// The actor of a request made with a session of `token_name`.
    pub(crate) fn session_actor(token_name: &str) -> Actor {
        actor_of(token_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_belong_to_one_session() {
        let a = csrf_of("session-a");
        assert!(csrf_matches("session-a", &a));
        assert!(!csrf_matches("session-b", &a));
        assert!(!csrf_matches("session-a", ""));
        assert_ne!(
            a,
            hash_hex("session-a"),
            "the CSRF token is not the stored hash"
        );
    }
}
