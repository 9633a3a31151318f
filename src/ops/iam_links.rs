//! Linking proxy users to IAM principals for the CloudTrail/IAM backstop: an IAM user
//! name, or an assumed-role session name pattern (`*` matches any run of characters).
//! Direct calls by a linked principal count as the user's; while the user is blocked,
//! the IAM backstop puts its deny policy on each linked IAM user. Linking or unlinking
//! an IAM user raises `iam_link_changed`, so that the backstop puts the deny on (linked
//! to a blocked user) or removes the one it put (no longer linked to a blocked user).

use super::admin_audit::record;
use super::views::IamLinkView;
use super::{Ops, OpsError};
use crate::domain::{Actor, AdminOperation, DomainEvent, IamPrincipalKind, NewEvent};

/// Checks an IAM user name (1-64 of letters, digits and `+=,.@_-`) or a session name
/// pattern (2-64 of those and `*`).
pub(crate) fn check_principal(kind: IamPrincipalKind, name: &str) -> Result<(), OpsError> {
    let (max, what, extra) = match kind {
        IamPrincipalKind::IamUser => (64, "an IAM user name", ""),
        IamPrincipalKind::RoleSession => (64, "a role session name pattern", "*"),
    };
    let ok = !name.is_empty()
        && name.len() <= max
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) || extra.contains(c));
    if ok {
        Ok(())
    } else {
        Err(OpsError::Invalid(format!(
            "`{name}` is not {what}: use 1-{max} letters, digits or +=,.@_-{}",
            if extra.is_empty() {
                ""
            } else {
                " (and * as a wildcard)"
            }
        )))
    }
}

/// The `iam_link_changed` event of a change to the link of user `user_id` to an IAM
/// user (`None` for role session patterns, which carry no policy).
pub(crate) fn link_event(
    actor: &Actor,
    user_id: i64,
    username: &str,
    kind: IamPrincipalKind,
    principal: &str,
    linked: bool,
) -> Option<NewEvent> {
    (kind == IamPrincipalKind::IamUser).then(|| {
        NewEvent::new(DomainEvent::IamLinkChanged {
            user_id,
            username: username.to_string(),
            iam_user: principal.to_string(),
            linked,
            by: actor.to_string(),
        })
    })
}

impl Ops {
    /// Links `principal` to the user; a principal linked to anyone already is a
    /// conflict.
    pub async fn link_iam(
        &self,
        actor: &Actor,
        username: &str,
        kind: IamPrincipalKind,
        principal: &str,
    ) -> Result<Vec<IamLinkView>, OpsError> {
        check_principal(kind, principal)?;
        let user = self.store.user(username).await?;
        let audit = record(
            actor,
            AdminOperation::LinkIam,
            format!("user:{username}"),
            None,
            Some(serde_json::json!({"kind": kind, "principal": principal})),
        );
        let event = link_event(actor, user.id, username, kind, principal, true);
        self.store
            .link_iam(user.id, kind, principal, event.as_ref(), &audit)
            .await?;
        self.iam_links_of(username).await
    }

    /// Removes the user's link to `principal`.
    pub async fn unlink_iam(
        &self,
        actor: &Actor,
        username: &str,
        kind: IamPrincipalKind,
        principal: &str,
    ) -> Result<Vec<IamLinkView>, OpsError> {
        let user = self.store.user(username).await?;
        let audit = record(
            actor,
            AdminOperation::UnlinkIam,
            format!("user:{username}"),
            Some(serde_json::json!({"kind": kind, "principal": principal})),
            None,
        );
        let event = link_event(actor, user.id, username, kind, principal, false);
        self.store
            .unlink_iam(user.id, kind, principal, event.as_ref(), &audit)
            .await?;
        self.iam_links_of(username).await
    }

    /// The user's links.
    pub async fn iam_links_of(&self, username: &str) -> Result<Vec<IamLinkView>, OpsError> {
        let user = self.store.user(username).await?;
        Ok(self
            .store
            .iam_links(Some(user.id))
            .await?
            .into_iter()
            .map(IamLinkView::from)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_names_are_checked() {
        assert!(check_principal(IamPrincipalKind::IamUser, "alice.doe@corp").is_ok());
        assert!(check_principal(IamPrincipalKind::IamUser, "a*").is_err());
        assert!(check_principal(IamPrincipalKind::IamUser, "").is_err());
        assert!(check_principal(IamPrincipalKind::IamUser, &"a".repeat(65)).is_err());
        assert!(check_principal(IamPrincipalKind::RoleSession, "alice-*").is_ok());
        assert!(check_principal(IamPrincipalKind::RoleSession, "has space").is_err());
    }
}
