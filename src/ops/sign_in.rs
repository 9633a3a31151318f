//! Sign-in with an OpenID Connect issuer: the team a signed-in user belongs in (from
//! their groups through `[oidc.teams]`, else `oidc.default_team`, else a refusal), the
//! user created just in time (origin `oidc:<issuer name>`) or moved to that team (a
//! deactivated user is refused), and a key that expires. A group's default limits
//! (`[oidc.teams]` in table form) are the limits of a user it creates, and of a user it
//! moves whose limits no administrator set; an administrator's limits are never changed
//! here. Every change is audited as `oidc:<username>`, with a `sign_in` row beside the
//! key's `issue_key` row.

use std::collections::BTreeMap;

use super::admin_audit::{json, record};
use super::users::CreateUser;
use super::{Ops, OpsError};
use crate::auth::crypto::IssuedKey;
use crate::config::{GroupLimits, OidcConfig};
use crate::domain::{
    Actor, AdminOperation, DomainEvent, LimitSubject, Limits, LimitsSource, LimitsUpdate, NewEvent,
    UserOrigin,
};
use crate::store::User;

/// The tool name of keys issued at sign-in.
pub(crate) const SIGN_IN_TOOL: &str = "oidc";

/// Who signed in, as the issuer vouches for them.
#[derive(Clone, Debug)]
pub(crate) struct SignedInUser<'a> {
    /// User name (`username_claim`).
    pub(crate) username: &'a str,
    /// The person's name.
    pub(crate) person_name: &'a str,
    /// Their email, when the issuer gives a verified one.
    pub(crate) email: Option<&'a str>,
    /// The configured name of the issuer that vouches for them.
    pub(crate) issuer: &'a str,
}

/// Where sign-in puts a user: the team, the `[oidc.teams]` group that chose it (`None`:
/// `oidc.default_team`) and that group's default limits (empty: none).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Placement<'t> {
    /// The team.
    pub(crate) team: &'t str,
    /// The group that mapped to it.
    pub(crate) group: Option<&'t str>,
    /// The group's default limits, as an update over `quota.default_*`.
    pub(crate) limits: LimitsUpdate,
}

/// A key issued at sign-in.
#[derive(Debug)]
pub(crate) struct SignInKey {
    /// The credentials (shown once).
    pub(crate) key: IssuedKey,
    /// The user.
    pub(crate) username: String,
    /// Their team now.
    pub(crate) team: String,
    /// When the key stops working (epoch ms).
    pub(crate) expires_at: i64,
}

/// The first group in `[oidc.teams]` order that the user is in, with its team.
fn mapped_group<'t>(
    groups: &[String],
    teams: &'t BTreeMap<String, String>,
) -> Option<(&'t str, &'t str)> {
    teams
        .iter()
        .find(|(group, _)| groups.iter().any(|g| g == *group))
        .map(|(group, team)| (group.as_str(), team.as_str()))
}

/// Where `groups` put a user under `config`: the team of the first group in
/// `[oidc.teams]` order that the user is in, with that group's default limits; else
/// `oidc.default_team`; `None` when neither applies.
pub(crate) fn placement<'t>(groups: &[String], config: &'t OidcConfig) -> Option<Placement<'t>> {
    match mapped_group(groups, &config.teams) {
        Some((group, team)) => Some(Placement {
            team,
            group: Some(group),
            limits: config
                .group_limits
                .get(group)
                .map(group_update)
                .unwrap_or_default(),
        }),
        None => config.default_team.as_deref().map(|team| Placement {
            team,
            group: None,
            limits: LimitsUpdate::default(),
        }),
    }
}

/// A group's default limits as an update: the limits it gives, nothing else.
fn group_update(l: &GroupLimits) -> LimitsUpdate {
    LimitsUpdate {
        daily_requests: l.daily_requests.map(Some),
        monthly_requests: l.monthly_requests.map(Some),
        daily_budget_usd: l.daily_budget_usd.map(Some),
        monthly_budget_usd: l.monthly_budget_usd.map(Some),
        ..LimitsUpdate::default()
    }
}

impl Placement<'_> {
    /// Where limits set from this placement come from.
    fn source(&self) -> LimitsSource {
        if self.limits.is_empty() {
            LimitsSource::Defaults
        } else {
            LimitsSource::Group
        }
    }
}

impl Ops {
    /// Signs `who` in: puts them in `place`'s team (creating the user on first sign-in
    /// with the group's default limits; on a later sign-in that changes their team,
    /// moving them, and giving them the new group's default limits unless an
    /// administrator set theirs) and issues a key that expires at `expires_at` (epoch
    /// ms), audited with a `sign_in` row naming the issuer.
    pub(crate) async fn sign_in(
        &self,
        who: &SignedInUser<'_>,
        place: &Placement<'_>,
        expires_at: i64,
    ) -> Result<SignInKey, OpsError> {
        let actor = Actor::system(format!("oidc:{}", who.username));
        let team = place.team;
        if !self.team_exists(team).await? {
            return Err(OpsError::NotFound(format!(
                "team `{team}` (from the sign-in configuration)"
            )));
        }
        match self.store.user(who.username).await {
            Ok(user) if !user.active => {
                return Err(OpsError::Invalid(format!(
                    "user `{}` is deactivated; ask an administrator",
                    who.username
                )));
            }
            Ok(user) if user.team != team => {
                // Limits first: if the move then fails, the next sign-in moves (and
                // sets the same limits) again.
                self.sign_in_limits(&actor, &user, place).await?;
                self.move_user(&actor, who.username, team).await?;
            }
            Ok(_) => {}
            Err(crate::store::StoreError::NotFound(_)) => {
                let email = who
                    .email
                    .filter(|e| super::validate::email(e).is_ok())
                    .map(str::to_string);
                let new = CreateUser {
                    username: who.username.to_string(),
                    person_name: who.person_name.to_string(),
                    team: team.to_string(),
                    email,
                    limits: place.limits,
                    origin: UserOrigin::Oidc(who.issuer.to_string()),
                    ..CreateUser::default()
                };
                self.create_user_with(&actor, &new, place.source()).await?;
            }
            Err(e) => return Err(e.into()),
        }
        let signed_in = record(
            &actor,
            AdminOperation::SignIn,
            format!("user:{}", who.username),
            None,
            Some(serde_json::json!({
                "issuer": who.issuer, "group": place.group, "team": team,
                "expires_at": expires_at,
            })),
        );
        let issued = self
            .issue_key_audited(
                &actor,
                who.username,
                SIGN_IN_TOOL,
                Some(expires_at),
                Some(signed_in),
            )
            .await?;
        Ok(SignInKey {
            key: issued.key,
            username: issued.username,
            team: team.to_string(),
            expires_at,
        })
    }

    /// Whether team `name` exists.
    pub(crate) async fn team_exists(&self, name: &str) -> Result<bool, OpsError> {
        match self.store.team(name).await {
            Ok(_) => Ok(true),
            Err(crate::store::StoreError::NotFound(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Gives `user`, moving to `place`'s team, the limits a new user of that group
    /// gets (`quota.default_*` with the group's defaults over them; short-term limits
    /// stay), unless an administrator set theirs.
    async fn sign_in_limits(
        &self,
        actor: &Actor,
        user: &User,
        place: &Placement<'_>,
    ) -> Result<(), OpsError> {
        if !user.limits_source.sign_in_may_change() {
            return Ok(());
        }
        let d = self.default_limits;
        let base = Limits {
            daily_requests: d.daily_requests,
            monthly_requests: d.monthly_requests,
            daily_budget_usd: d.daily_budget_usd,
            monthly_budget_usd: d.monthly_budget_usd,
            ..user.limits
        };
        let after = place.limits.apply(base);
        let source = place.source();
        if after == user.limits && source == user.limits_source {
            return Ok(());
        }
        super::validate::limits(&place.limits)?;
        let event = NewEvent::new(DomainEvent::LimitsChanged {
            subject: LimitSubject::User {
                id: user.id,
                name: user.username.clone(),
            },
            before: user.limits,
            after,
            by: actor.to_string(),
        });
        let audit = record(
            actor,
            AdminOperation::SetUserLimits,
            format!("user:{}", user.username),
            json(&user.limits),
            json(&after),
        );
        // `false`: an administrator set the user's limits meanwhile; they stay.
        let _set = self
            .store
            .set_sign_in_limits(user.id, &after, source, &event, &audit)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_groups_to_a_team_in_configuration_order() {
        let mut config = OidcConfig::default();
        for (g, t) in [("b-devs", "beta"), ("a-devs", "alpha")] {
            config.teams.insert(g.into(), t.into());
        }
        let groups = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let team =
            |g: &[&str], c: &OidcConfig| placement(&groups(g), c).map(|p| p.team.to_string());
        assert_eq!(
            team(&["b-devs", "a-devs"], &config).as_deref(),
            Some("alpha")
        );
        assert_eq!(team(&["other"], &config), None);
        assert_eq!(team(&[], &config), None);
        config.default_team = Some("eng".into());
        assert_eq!(team(&["other"], &config).as_deref(), Some("eng"));
    }

    #[test]
    fn a_placement_carries_the_mapped_groups_limits() {
        let mut config = OidcConfig::default();
        for (g, t) in [("ml-devs", "ml"), ("data-devs", "data")] {
            config.teams.insert(g.into(), t.into());
        }
        config.group_limits.insert(
            "ml-devs".into(),
            GroupLimits {
                daily_requests: Some(1000),
                ..GroupLimits::default()
            },
        );
        let groups = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let p = placement(&groups(&["ml-devs"]), &config).unwrap();
        assert_eq!((p.team, p.group), ("ml", Some("ml-devs")));
        assert_eq!(p.limits.daily_requests, Some(Some(1000)));
        assert_eq!(p.limits.monthly_requests, None);
        assert_eq!(p.source(), LimitsSource::Group);
        let p = placement(&groups(&["data-devs"]), &config).unwrap();
        assert!(p.limits.is_empty());
        assert_eq!(p.source(), LimitsSource::Defaults);
        assert_eq!(placement(&groups(&["x"]), &config), None);
        config.default_team = Some("eng".into());
        let p = placement(&groups(&["x"]), &config).unwrap();
        assert_eq!((p.team, p.group), ("eng", None));
    }
}
