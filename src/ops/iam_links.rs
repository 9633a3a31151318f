//! Linking proxy users to IAM principals for the CloudTrail/IAM backstop: an IAM user
//! name, or an assumed-role session name pattern (`*` matches any run of characters).
//! Direct calls by a linked principal count as the user's; while the user is blocked,
//! the IAM backstop puts its deny policy on each linked IAM user.

use super::admin_audit::record;
use super::views::IamLinkView;
use super::{Ops, OpsError};
use crate::domain::{Actor, AdminOperation, IamPrincipalKind};

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
        self.store
            .link_iam(user.id, kind, principal, &audit)
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
        self.store
            .unlink_iam(user.id, kind, principal, &audit)
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
