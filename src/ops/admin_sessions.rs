//! Dashboard sessions: login with an admin token, or single sign-on through an OpenID
//! issuer, opens a session (a random id the browser keeps in an `HttpOnly` cookie; the
//! database keeps only its SHA-256 hash) with a role ([`DashboardRole`]); each session
//! has a CSRF token derived from its id, and logout ends it for every listener at once.
//! A token session acts as `dashboard:<token name>` in the audit log and stops working
//! when it expires, is ended, or its admin token is revoked; a single sign-on session
//! acts as `oidc:<username>` and stops working when it expires or is ended.

use base64::Engine as _;
use rand::RngCore;
use serde::Serialize;
use sha2::Digest;
use subtle::ConstantTimeEq;

use super::admin_audit::record;
use super::admin_tokens::AdminTokenChecker;
use super::{Ops, OpsError};
use crate::domain::{Actor, AdminOperation, DashboardRole};
use crate::store::NewSessionRow;

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
    /// The admin token the session was made from (`oidc:<username>` for single
    /// sign-on).
    pub(crate) token_name: String,
    /// When it expires (epoch ms).
    pub(crate) expires_at: i64,
    /// Send it as `X-CSRF-Token` on every change made with the session cookie.
    pub(crate) csrf_token: String,
    /// `admin`, `viewer` or `team_admin`.
    pub(crate) role: String,
    /// The teams a `team_admin` manages (empty for the other roles).
    pub(crate) teams: Vec<String>,
    /// The signed-in user of a single sign-on session (`null` for an admin token).
    pub(crate) user: Option<String>,
    /// Who changes made with this session are audited as (`dashboard:<token name>` or
    /// `oidc:<username>`).
    pub(crate) actor: String,
}

/// A live session: what the browser sees, the role the API enforces, the audit actor.
#[derive(Clone, Debug)]
pub(crate) struct LiveSession {
    /// As shown.
    pub(crate) info: SessionInfo,
    /// What it may do.
    pub(crate) role: DashboardRole,
    /// Who its changes are made by.
    pub(crate) actor: Actor,
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

/// The actor of a single sign-on session of `username`.
fn sso_actor(username: &str) -> Actor {
    Actor::system(format!("oidc:{username}"))
}

fn new_id() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
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
        let id = new_id();
        let expires_at = self.session_expiry();
        let audit = record(
            &actor_of(&token_name),
            AdminOperation::Login,
            format!("admin_token:{token_name}"),
            None,
            Some(serde_json::json!({ "expires_at": expires_at })),
        );
        let row = NewSessionRow {
            id_hash: &hash_hex(&id),
            token_name: &token_name,
            expires_at,
            role: DashboardRole::Admin.as_str(),
            oidc_user: None,
            teams: None,
        };
        self.store.create_admin_session(&row, &audit).await?;
        let info = info_of(&id, token_name, expires_at, &DashboardRole::Admin, None);
        Ok(Some(NewSession { info, id }))
    }

    /// Opens a single sign-on session for `username` (signed in through issuer
    /// `issuer`) with `role`. The sign-in is written to the admin audit log as
    /// `oidc:<username>`.
    pub(crate) async fn open_sso_session(
        &self,
        issuer: &str,
        username: &str,
        role: &DashboardRole,
    ) -> Result<NewSession, OpsError> {
        let id = new_id();
        let expires_at = self.session_expiry();
        let token_name = format!("oidc:{username}");
        let audit = record(
            &sso_actor(username),
            AdminOperation::Login,
            format!("oidc:{issuer}"),
            None,
            Some(serde_json::json!({
                "expires_at": expires_at, "role": role.as_str(), "teams": role.teams(),
            })),
        );
        let teams = role.stored_teams();
        let row = NewSessionRow {
            id_hash: &hash_hex(&id),
            token_name: &token_name,
            expires_at,
            role: role.as_str(),
            oidc_user: Some(username),
            teams: teams.as_deref(),
        };
        self.store.create_admin_session(&row, &audit).await?;
        let info = info_of(&id, token_name, expires_at, role, Some(username));
        Ok(NewSession { info, id })
    }

    fn session_expiry(&self) -> i64 {
        let ttl = i64::try_from(self.session_ttl.as_millis()).unwrap_or(i64::MAX);
        self.now().timestamp_millis().saturating_add(ttl)
    }

    /// The live session `id`, or `None` (unknown, expired, ended, token revoked, or a
    /// role this version does not know).
    pub(crate) async fn admin_session(&self, id: &str) -> Result<Option<LiveSession>, OpsError> {
        let Some(r) = self.store.live_admin_session(&hash_hex(id)).await? else {
            return Ok(None);
        };
        let Some(role) = DashboardRole::from_stored(&r.role, r.teams.as_deref()) else {
            tracing::warn!(role = %r.role, "a dashboard session with an unknown role is refused");
            return Ok(None);
        };
        let info = info_of(
            id,
            r.token_name,
            r.expires_at,
            &role,
            r.oidc_user.as_deref(),
        );
        let actor = Actor::system(info.actor.clone());
        Ok(Some(LiveSession { info, role, actor }))
    }

    /// Ends session `id` acting as `actor` (logout); whether it was live.
    pub(crate) async fn end_admin_session(
        &self,
        id: &str,
        actor: &Actor,
    ) -> Result<bool, OpsError> {
        let resource = match actor.as_str().strip_prefix("dashboard:") {
            Some(token_name) => format!("admin_token:{token_name}"),
            None => actor.to_string(),
        };
        let audit = record(actor, AdminOperation::Logout, resource, None, None);
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
}

/// What the browser is told about session `id`.
fn info_of(
    id: &str,
    token_name: String,
    expires_at: i64,
    role: &DashboardRole,
    user: Option<&str>,
) -> SessionInfo {
    let actor = match user {
        Some(u) => sso_actor(u),
        None => actor_of(&token_name),
    };
    SessionInfo {
        token_name,
        expires_at,
        csrf_token: csrf_of(id),
        role: role.as_str().to_string(),
        teams: role.teams().to_vec(),
        user: user.map(str::to_string),
        actor: actor.to_string(),
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
