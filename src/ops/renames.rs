//! Moving a user to another team and renaming users and teams. Each change writes its
//! admin audit row and a domain event (`user_moved`, `renamed`) with it; running proxies
//! pick the change up through the state version like any other.

use super::admin_audit::record;
use super::retry;
use super::views::{TeamView, UserView};
use super::{validate, Ops, OpsError};
use crate::domain::{Actor, AdminOperation, DomainEvent, LimitSubject, NewEvent};

impl Ops {
    /// Moves `username` into `team`: the team's shared limits apply to them from now on;
    /// their earlier calls stay counted for the old team.
    pub async fn move_user(
        &self,
        actor: &Actor,
        username: &str,
        team: &str,
    ) -> Result<UserView, OpsError> {
        let user = self.store.user(username).await?;
        let to = self.store.team(team).await?;
        if to.id == user.team_id {
            return Err(OpsError::Conflict(format!(
                "user `{username}` is already in team `{team}`"
            )));
        }
        let event = NewEvent::new(DomainEvent::UserMoved {
            user_id: user.id,
            username: user.username.clone(),
            from_team: user.team.clone(),
            to_team: to.name.clone(),
            by: actor.to_string(),
        });
        let audit = record(
            actor,
            AdminOperation::MoveUser,
            format!("user:{username}"),
            Some(serde_json::json!({ "team": user.team })),
            Some(serde_json::json!({ "team": to.name })),
        );
        retry::on_conflict(|| self.store.move_user(user.id, to.id, &event, &audit)).await?;
        Ok(self.user_view(&self.store.user(username).await?))
    }

    /// Renames user `old` to `new`; their keys, limits, blocks and usage follow.
    pub async fn rename_user(
        &self,
        actor: &Actor,
        old: &str,
        new: &str,
    ) -> Result<UserView, OpsError> {
        validate::name("user", new)?;
        let user = self.store.user(old).await?;
        if old == new {
            return Err(OpsError::Conflict(format!(
                "user `{old}` already has that name"
            )));
        }
        let event = NewEvent::new(DomainEvent::Renamed {
            subject: LimitSubject::User {
                id: user.id,
                name: new.to_string(),
            },
            from: old.to_string(),
            by: actor.to_string(),
        });
        let audit = record(
            actor,
            AdminOperation::RenameUser,
            format!("user:{old}"),
            Some(serde_json::json!({ "username": old })),
            Some(serde_json::json!({ "username": new })),
        );
        retry::on_conflict(|| self.store.rename_user(user.id, new, &event, &audit)).await?;
        Ok(self.user_view(&self.store.user(new).await?))
    }

    /// Renames team `old` to `new`; members, limits and usage follow.
    pub async fn rename_team(
        &self,
        actor: &Actor,
        old: &str,
        new: &str,
    ) -> Result<TeamView, OpsError> {
        validate::name("team", new)?;
        let team = self.store.team(old).await?;
        if old == new {
            return Err(OpsError::Conflict(format!(
                "team `{old}` already has that name"
            )));
        }
        let event = NewEvent::new(DomainEvent::Renamed {
            subject: LimitSubject::Team {
                id: team.id,
                name: new.to_string(),
            },
            from: old.to_string(),
            by: actor.to_string(),
        });
        let audit = record(
            actor,
            AdminOperation::RenameTeam,
            format!("team:{old}"),
            Some(serde_json::json!({ "name": old })),
            Some(serde_json::json!({ "name": new })),
        );
        retry::on_conflict(|| self.store.rename_team(team.id, old, new, &event, &audit)).await?;
        Ok(self.team_view(&self.store.team(new).await?))
    }
}
