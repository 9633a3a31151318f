//! Deactivating and reactivating a user (SCIM `active`). Deactivation revokes every key
//! of theirs in the same transaction, with a `key_revoked` event each and a new state
//! version, so every running proxy refuses those keys within its refresh interval (the
//! same path as `key revoke`, 2 seconds); while deactivated no key is issued to them
//! (neither `user create-key` nor sign-in). Reactivating issues nothing and brings no
//! revoked key back: the user signs in again or is given a new key.

use super::admin_audit::record;
use super::{Ops, OpsError};
use crate::domain::{Actor, AdminOperation};

/// What a change of a user's active flag did.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub(crate) struct ActiveChange {
    /// The user.
    pub(crate) username: String,
    /// Active now.
    pub(crate) active: bool,
    /// The keys revoked by a deactivation.
    pub(crate) revoked_keys: Vec<String>,
}

impl Ops {
    /// Makes `username` active or not; setting what already holds changes nothing and
    /// writes nothing.
    pub(crate) async fn set_user_active(
        &self,
        actor: &Actor,
        username: &str,
        active: bool,
    ) -> Result<ActiveChange, OpsError> {
        let user = self.store.user(username).await?;
        if user.active == active {
            return Ok(ActiveChange {
                username: user.username,
                active,
                revoked_keys: Vec::new(),
            });
        }
        let operation = if active {
            AdminOperation::ReactivateUser
        } else {
            AdminOperation::DeactivateUser
        };
        let audit = record(
            actor,
            operation,
            format!("user:{username}"),
            Some(serde_json::json!({ "active": user.active })),
            Some(serde_json::json!({ "active": active })),
        );
        let revoked_keys = self
            .store
            .set_user_active(user.id, &user.username, active, &audit)
            .await?;
        Ok(ActiveChange {
            username: user.username,
            active,
            revoked_keys,
        })
    }
}
