//! Dashboard single sign-on roles: which role a person's groups give
//! ([`role_for`]: `oidc.admin_groups` first, then `oidc.team_admin_groups` with the teams
//! their groups map to through `[oidc.teams]`, then `oidc.viewer_groups`), and the team
//! a user or a key belongs to, which the API's role check asks before a team admin may
//! touch it.

use std::collections::BTreeMap;

use super::{Ops, OpsError};
use crate::config::RoleGroups;
use crate::domain::DashboardRole;
use crate::store::StoreError;

/// Why a person gets no dashboard role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NoRole {
    /// None of their groups is an admin, viewer or team admin group.
    NotInAnyRoleGroup,
    /// They are in a team admin group, but none of their groups maps to a team.
    TeamAdminWithoutTeam,
}

/// The role `groups` give: admin, else team admin of every team their groups map to
/// (at least one), else viewer; else why not.
pub(crate) fn role_for(
    groups: &[String],
    roles: &RoleGroups,
    teams: &BTreeMap<String, String>,
) -> Result<DashboardRole, NoRole> {
    let member = |list: &[String]| list.iter().any(|g| groups.contains(g));
    if member(&roles.admin) {
        return Ok(DashboardRole::Admin);
    }
    let team_admin = member(&roles.team_admin);
    if team_admin {
        let mine: Vec<String> = teams
            .iter()
            .filter(|(group, _)| groups.contains(group))
            .map(|(_, team)| team.clone())
            .collect();
        if let Some(role) = DashboardRole::team_admin(mine) {
            return Ok(role);
        }
    }
    if member(&roles.viewer) {
        return Ok(DashboardRole::Viewer);
    }
    Err(if team_admin {
        NoRole::TeamAdminWithoutTeam
    } else {
        NoRole::NotInAnyRoleGroup
    })
}

impl Ops {
    /// The team of user `username`; `None` when there is no such user.
    pub(crate) async fn team_of_user(&self, username: &str) -> Result<Option<String>, OpsError> {
        match self.store.user(username).await {
            Ok(u) => Ok(Some(u.team)),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The team of the user owning key `access_key_id`; `None` when there is no such key.
    pub(crate) async fn team_of_key(
        &self,
        access_key_id: &str,
    ) -> Result<Option<String>, OpsError> {
        match self.store.key(access_key_id).await {
            Ok(k) => self.team_of_user(&k.username).await,
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The names of the users in `teams`.
    pub(crate) async fn usernames_in(&self, teams: &[String]) -> Result<Vec<String>, OpsError> {
        let mut names = Vec::new();
        for u in self.users(None).await? {
            if teams.contains(&u.team) {
                names.push(u.username);
            }
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn groups_give_one_role() {
        let roles = RoleGroups {
            admin: g(&["ops"]),
            viewer: g(&["finance"]),
            team_admin: g(&["leads"]),
        };
        let teams: BTreeMap<String, String> = [("ml-devs", "ml"), ("data-devs", "data")]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let role = |groups: &[&str]| role_for(&g(groups), &roles, &teams);
        assert_eq!(role(&["ops", "finance"]), Ok(DashboardRole::Admin));
        assert_eq!(role(&["finance"]), Ok(DashboardRole::Viewer));
        assert_eq!(
            role(&["leads", "ml-devs", "data-devs", "finance"]),
            Ok(DashboardRole::TeamAdmin(g(&["data", "ml"])))
        );
        assert_eq!(role(&["leads"]), Err(NoRole::TeamAdminWithoutTeam));
        assert_eq!(role(&["leads", "finance"]), Ok(DashboardRole::Viewer));
        assert_eq!(role(&["ml-devs"]), Err(NoRole::NotInAnyRoleGroup));
        assert_eq!(role(&[]), Err(NoRole::NotInAnyRoleGroup));
    }
}
