//! Keys: issue one per user and tool (the secret is shown once, stored encrypted; the
//! bearer token only as a hash), list, revoke.

use super::admin_audit::{json, record};
use super::retry;
use super::views::{IssuedKeyView, Revoked};
use super::{validate, Ops, OpsError};
use crate::auth::crypto::{bearer_hash, IssuedKey, MasterKey};
use crate::domain::{Actor, AdminOperation, DomainEvent, NewEvent};
use crate::store::{AdminAuditRecord, KeyInfo, NewKey};

impl Ops {
    /// Issues a key for `username`'s tool `tool`.
    pub async fn issue_key(
        &self,
        actor: &Actor,
        username: &str,
        tool: &str,
    ) -> Result<IssuedKeyView, OpsError> {
        self.issue_key_until(actor, username, tool, None).await
    }

    /// Issues a key that stops working at `expires_at` (epoch ms; `None`: until revoked).
    pub(crate) async fn issue_key_until(
        &self,
        actor: &Actor,
        username: &str,
        tool: &str,
        expires_at: Option<i64>,
    ) -> Result<IssuedKeyView, OpsError> {
        self.issue_key_audited(actor, username, tool, expires_at, None)
            .await
    }

    /// Issues a key as [`Ops::issue_key_until`] does, writing `also` (a sign-in's audit
    /// row) in the same transaction as the key's own.
    pub(crate) async fn issue_key_audited(
        &self,
        actor: &Actor,
        username: &str,
        tool: &str,
        expires_at: Option<i64>,
        also: Option<AdminAuditRecord>,
    ) -> Result<IssuedKeyView, OpsError> {
        validate::name("tool", tool)?;
        let user = self.store.user(username).await?;
        if !user.active {
            return Err(OpsError::Conflict(format!(
                "user `{username}` is deactivated; no key is issued until they are active again"
            )));
        }
        let master = MasterKey::load(&self.master_key)?;
        let issued = IssuedKey::generate();
        let key = NewKey {
            access_key_id: issued.access_key_id.clone(),
            tool: tool.to_string(),
            secret_enc: master.encrypt(&issued.access_key_id, &issued.secret_access_key)?,
            bearer_hash: bearer_hash(&issued.bearer_token),
            expires_at,
        };
        let event = NewEvent::new(DomainEvent::KeyIssued {
            username: user.username.clone(),
            tool: tool.to_string(),
            access_key_id: issued.access_key_id.clone(),
            by: actor.to_string(),
        });
        let audit = record(
            actor,
            AdminOperation::IssueKey,
            format!("key:{}", issued.access_key_id),
            None,
            Some(serde_json::json!({
                "access_key_id": issued.access_key_id, "username": user.username, "tool": tool,
                "expires_at": expires_at,
            })),
        );
        let audits: Vec<AdminAuditRecord> = std::iter::once(audit).chain(also).collect();
        let info =
            retry::on_conflict(|| self.store.create_key(user.id, &key, &event, &audits)).await?;
        Ok(IssuedKeyView {
            key: issued,
            username: info.username,
            tool: info.tool,
        })
    }

    /// Keys, all or one user's, newest first.
    pub async fn keys(&self, username: Option<&str>) -> Result<Vec<KeyInfo>, OpsError> {
        let user_id = match username {
            Some(u) => Some(self.store.user(u).await?.id),
            None => None,
        };
        let now = self.now().timestamp_millis();
        let mut keys = self.store.keys(user_id).await?;
        for k in &mut keys {
            k.expired = is_expired(k.expires_at, now);
        }
        Ok(keys)
    }

    /// Revokes an active key; running proxies refuse it within 2 seconds.
    pub async fn revoke_key(
        &self,
        actor: &Actor,
        access_key_id: &str,
    ) -> Result<Revoked, OpsError> {
        let key = self
            .store
            .key(access_key_id)
            .await
            .map_err(|_| OpsError::NotFound(format!("active key `{access_key_id}`")))?;
        let audit = record(
            actor,
            AdminOperation::RevokeKey,
            format!("key:{access_key_id}"),
            json(&key),
            None,
        );
        let event = NewEvent::new(DomainEvent::KeyRevoked {
            username: key.username,
            access_key_id: access_key_id.to_string(),
            by: actor.to_string(),
        });
        retry::on_conflict(|| self.store.revoke_key(access_key_id, &event, &audit)).await?;
        Ok(Revoked {
            revoked: access_key_id.to_string(),
        })
    }
}

/// Whether a key that stops working at `expires_at` (epoch ms) has stopped at `now_ms`.
pub(crate) fn is_expired(expires_at: Option<i64>, now_ms: i64) -> bool {
    expires_at.is_some_and(|at| at <= now_ms)
}
