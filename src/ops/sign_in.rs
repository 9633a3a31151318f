//! Sign-in with an OpenID Connect issuer: the team a signed-in user belongs in (from
//! their groups through `[oidc.teams]`, else `oidc.default_team`, else a refusal), the
//! user created just in time (origin `oidc:<issuer name>`) or moved to that team (a
//! deactivated user is refused), and a key that expires. Every change
//! is audited as `oidc:<username>`.

use std::collections::BTreeMap;

use super::users::CreateUser;
use super::{Ops, OpsError};
use crate::auth::crypto::IssuedKey;
use crate::domain::{Actor, UserOrigin};

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
    /// The `[[oidc.issuer]]` `name` they signed in with (a new user's origin).
    pub(crate) issuer: &'a str,
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

/// The team for `groups`: the first group in `[oidc.teams]` order that the user is in,
/// else `default_team`; `None` when neither applies.
pub(crate) fn team_for<'t>(
    groups: &[String],
    teams: &'t BTreeMap<String, String>,
    default_team: Option<&'t str>,
) -> Option<&'t str> {
    teams
        .iter()
        .find(|(group, _)| groups.iter().any(|g| g == *group))
        .map(|(_, team)| team.as_str())
        .or(default_team)
}

impl Ops {
    /// Signs `who` in: puts them in `team` (creating the user on first sign-in, moving
    /// them on later ones) and issues a key that expires at `expires_at` (epoch ms).
    pub(crate) async fn sign_in(
        &self,
        who: &SignedInUser<'_>,
        team: &str,
        expires_at: i64,
    ) -> Result<SignInKey, OpsError> {
        let actor = Actor::system(format!("oidc:{}", who.username));
        self.store.team(team).await.map_err(|_| {
            OpsError::Invalid(format!(
                "team `{team}` (from the sign-in configuration) does not exist; ask an administrator"
            ))
        })?;
        match self.store.user(who.username).await {
            Ok(user) if !user.active => {
                return Err(OpsError::Invalid(format!(
                    "user `{}` is deactivated; ask an administrator",
                    who.username
                )));
            }
            Ok(user) if user.team != team => {
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
                    origin: UserOrigin::Oidc(who.issuer.to_string()),
                    ..CreateUser::default()
                };
                self.create_user(&actor, &new).await?;
            }
            Err(e) => return Err(e.into()),
        }
        let issued = self
            .issue_key_until(&actor, who.username, SIGN_IN_TOOL, Some(expires_at))
            .await?;
        Ok(SignInKey {
            key: issued.key,
            username: issued.username,
            team: team.to_string(),
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_groups_to_a_team_in_configuration_order() {
        let teams: BTreeMap<String, String> = [("b-devs", "beta"), ("a-devs", "alpha")]
            .into_iter()
            .map(|(g, t)| (g.to_string(), t.to_string()))
            .collect();
        let groups = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            team_for(&groups(&["b-devs", "a-devs"]), &teams, None),
            Some("alpha")
        );
        assert_eq!(
            team_for(&groups(&["other"]), &teams, Some("eng")),
            Some("eng")
        );
        assert_eq!(team_for(&groups(&["other"]), &teams, None), None);
        assert_eq!(team_for(&[], &teams, None), None);
    }
}
