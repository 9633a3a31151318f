//! Teams: create, list, show with members and usage, change limits, delete.

use super::admin_audit::{json, record};
use super::retry;
use super::views::{Deleted, TeamInfo, TeamView};
use super::{validate, Ops, OpsError};
use crate::domain::{
    Actor, AdminOperation, DomainEvent, LimitSubject, Limits, LimitsUpdate, NewEvent,
};
use crate::store::{NewTeam, UsageFilter};

impl Ops {
    /// Creates a team with `limits` applied to no limits at all.
    pub async fn create_team(
        &self,
        actor: &Actor,
        name: &str,
        limits: &LimitsUpdate,
    ) -> Result<TeamView, OpsError> {
        validate::name("team", name)?;
        validate::limits(limits)?;
        let new = NewTeam {
            name: name.to_string(),
            limits: limits.apply(Limits::default()),
        };
        let after = serde_json::json!({ "name": name, "limits": new.limits });
        let audit = record(
            actor,
            AdminOperation::CreateTeam,
            format!("team:{name}"),
            None,
            Some(after),
        );
        let team = retry::on_conflict(|| self.store.create_team(&new, &audit)).await?;
        Ok(self.team_view(&team))
    }

    /// Every team, by name.
    pub async fn teams(&self) -> Result<Vec<TeamView>, OpsError> {
        Ok(self
            .store
            .teams()
            .await?
            .iter()
            .map(|t| self.team_view(t))
            .collect())
    }

    /// A team with its members, its usage today and this month, and its short-term
    /// limits with the current rate.
    pub async fn team_info(&self, name: &str) -> Result<TeamInfo, OpsError> {
        let team = self.store.team(name).await?;
        let members = self.store.users(Some(team.id)).await?;
        let usage = self
            .day_and_month(UsageFilter {
                team: Some(team.name.clone()),
                ..Default::default()
            })
            .await?;
        let rate = self.team_rate_view(&team).await?;
        Ok(TeamInfo {
            team: self.team_view(&team),
            rate,
            members: members.into_iter().map(|u| u.username).collect(),
            usage,
        })
    }

    /// Changes a team's limits; refuses an update that changes nothing.
    pub async fn set_team_limits(
        &self,
        actor: &Actor,
        name: &str,
        update: &LimitsUpdate,
    ) -> Result<TeamView, OpsError> {
        let team = self.store.team(name).await?;
        let subject = LimitSubject::Team {
            id: team.id,
            name: team.name.clone(),
        };
        let (after, event) = limits_change(subject, team.limits, update, actor)?;
        let audit = record(
            actor,
            AdminOperation::SetTeamLimits,
            format!("team:{name}"),
            json(&team.limits),
            json(&after),
        );
        retry::on_conflict(|| self.store.set_team_limits(team.id, &after, &event, &audit)).await?;
        Ok(self.team_view(&self.store.team(name).await?))
    }

    /// Deletes a team that has no users.
    pub async fn delete_team(&self, actor: &Actor, name: &str) -> Result<Deleted, OpsError> {
        let team = self.store.team(name).await?;
        let members = self.store.team_members(team.id).await?;
        if members > 0 {
            return Err(OpsError::Conflict(format!(
                "team `{name}` still has {members} user(s); delete or move them first"
            )));
        }
        let audit = record(
            actor,
            AdminOperation::DeleteTeam,
            format!("team:{name}"),
            json(&self.team_view(&team)),
            None,
        );
        retry::on_conflict(|| self.store.delete_team(team.id, &audit)).await?;
        Ok(Deleted {
            deleted: name.to_string(),
        })
    }
}

/// The limits after `update` and the event that says so; refuses an update without any
/// limit in it.
pub(crate) fn limits_change(
    subject: LimitSubject,
    before: Limits,
    update: &LimitsUpdate,
    actor: &Actor,
) -> Result<(Limits, NewEvent), OpsError> {
    if update.is_empty() {
        return Err(OpsError::Invalid(
            "give at least one of --daily-requests, --monthly-requests, \
             --daily-budget-usd, --monthly-budget-usd"
                .into(),
        ));
    }
    validate::limits(update)?;
    let after = update.apply(before);
    let event = NewEvent::new(DomainEvent::LimitsChanged {
        subject,
        before,
        after,
        by: actor.to_string(),
    });
    Ok((after, event))
}
