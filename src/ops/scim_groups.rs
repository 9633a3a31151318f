//! Groups as SCIM provisioning pushes them. A group is stored with its members; when
//! its display name is a group in `[oidc.teams]`, its members are put in that team
//! (moved, with the usual `user_moved` event and audit row), on creation and on every
//! change of the group. Leaving a group moves nobody; a user in several mapped groups
//! ends in the team of the group changed last. Every input (name, members, the mapped
//! team) is checked before anything is written.

use super::admin_audit::record;
use super::{Ops, OpsError};
use crate::domain::{Actor, AdminOperation};
use crate::store::scim::{Group, Member};

/// Everything of a group that SCIM can set.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ScimGroupState {
    /// `displayName` (unique).
    pub(crate) display_name: String,
    /// `externalId`.
    pub(crate) external_id: Option<String>,
    /// The members' user ids.
    pub(crate) members: Vec<i64>,
}

impl Ops {
    /// Checks `state`: a name, members that exist, and a mapped team that exists.
    async fn check_group(&self, state: &ScimGroupState) -> Result<Vec<Member>, OpsError> {
        let name = state.display_name.trim();
        if name.is_empty() || state.display_name.len() > 255 {
            return Err(OpsError::Invalid(
                "displayName must be 1 to 255 characters".into(),
            ));
        }
        if state.external_id.as_ref().is_some_and(|e| e.len() > 512) {
            return Err(OpsError::Invalid(
                "externalId is longer than 512 characters".into(),
            ));
        }
        if let Some(team) = self.group_teams.get(&state.display_name) {
            self.store.team(team).await.map_err(|_| {
                OpsError::Invalid(format!(
                    "group `{}` maps to team `{team}` ([oidc.teams]), which does not exist",
                    state.display_name
                ))
            })?;
        }
        let mut members = Vec::with_capacity(state.members.len());
        for id in &state.members {
            let user = self.store.user_by_id(*id).await.map_err(|_| {
                OpsError::Invalid(format!("member `{id}` is not a user of this service"))
            })?;
            members.push(Member {
                id: user.id,
                name: user.username,
            });
        }
        members.sort_by_key(|m| m.id);
        members.dedup_by_key(|m| m.id);
        Ok(members)
    }

    /// Puts the members of a group mapped in `[oidc.teams]` in its team.
    async fn place_members(
        &self,
        actor: &Actor,
        display_name: &str,
        members: &[Member],
    ) -> Result<(), OpsError> {
        let Some(team) = self.group_teams.get(display_name) else {
            return Ok(());
        };
        for m in members {
            let user = self.store.user_by_id(m.id).await?;
            if &user.team != team {
                self.move_user(actor, &user.username, team).await?;
            }
        }
        Ok(())
    }

    /// Creates a group (a duplicate display name is a conflict).
    pub(crate) async fn scim_create_group(
        &self,
        actor: &Actor,
        state: &ScimGroupState,
    ) -> Result<Group, OpsError> {
        let members = self.check_group(state).await?;
        let ids: Vec<i64> = members.iter().map(|m| m.id).collect();
        let audit = record(
            actor,
            AdminOperation::CreateGroup,
            format!("group:{}", state.display_name),
            None,
            Some(group_json(state, &members)),
        );
        let group = self
            .store
            .create_group(
                &state.display_name,
                state.external_id.as_deref(),
                &ids,
                &audit,
            )
            .await?;
        self.place_members(actor, &state.display_name, &members)
            .await?;
        Ok(group)
    }

    /// Group `id`.
    pub(crate) async fn scim_group(&self, id: i64) -> Result<Group, OpsError> {
        Ok(self.store.group(id).await?)
    }

    /// Every group, or the one named `display_name`.
    pub(crate) async fn scim_groups(
        &self,
        display_name: Option<&str>,
    ) -> Result<Vec<Group>, OpsError> {
        match display_name {
            Some(name) => match self.store.group_by_name(name).await {
                Ok(g) => Ok(vec![g]),
                Err(crate::store::StoreError::NotFound(_)) => Ok(Vec::new()),
                Err(e) => Err(e.into()),
            },
            None => Ok(self.store.groups().await?),
        }
    }

    /// Group `id`'s members.
    pub(crate) async fn scim_group_members(&self, id: i64) -> Result<Vec<Member>, OpsError> {
        Ok(self.store.group_members(id).await?)
    }

    /// Makes group `id` what `to` says (name, external id, members).
    pub(crate) async fn scim_replace_group(
        &self,
        actor: &Actor,
        id: i64,
        to: &ScimGroupState,
    ) -> Result<Group, OpsError> {
        let before = self.store.group(id).await?;
        let members = self.check_group(to).await?;
        let old_members = self.store.group_members(id).await?;
        let ids: Vec<i64> = members.iter().map(|m| m.id).collect();
        let before_state = ScimGroupState {
            display_name: before.display_name.clone(),
            external_id: before.external_id.clone(),
            members: old_members.iter().map(|m| m.id).collect(),
        };
        let audit = record(
            actor,
            AdminOperation::UpdateGroup,
            format!("group:{}", before.display_name),
            Some(group_json(&before_state, &old_members)),
            Some(group_json(to, &members)),
        );
        self.store
            .replace_group(
                id,
                &to.display_name,
                to.external_id.as_deref(),
                &ids,
                &audit,
            )
            .await?;
        self.place_members(actor, &to.display_name, &members)
            .await?;
        Ok(self.store.group(id).await?)
    }

    /// Deletes group `id`; its members stay where they are.
    pub(crate) async fn scim_delete_group(&self, actor: &Actor, id: i64) -> Result<(), OpsError> {
        let group = self.store.group(id).await?;
        let members = self.store.group_members(id).await?;
        let state = ScimGroupState {
            display_name: group.display_name.clone(),
            external_id: group.external_id.clone(),
            members: members.iter().map(|m| m.id).collect(),
        };
        let audit = record(
            actor,
            AdminOperation::DeleteGroup,
            format!("group:{}", group.display_name),
            Some(group_json(&state, &members)),
            None,
        );
        self.store.delete_group(id, &audit).await?;
        Ok(())
    }
}

fn group_json(state: &ScimGroupState, members: &[Member]) -> serde_json::Value {
    serde_json::json!({
        "display_name": state.display_name,
        "external_id": state.external_id,
        "members": members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
    })
}
