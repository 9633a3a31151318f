//! Users as SCIM provisioning sees them: created with origin `scim` in
//! `oidc.default_team` (groups mapped in `[oidc.teams]` move them on), found by id or
//! user name, replaced as a whole (a PATCH is applied to the current state by the SCIM
//! front end and replaced here), deleted. Every input is checked before anything is
//! written, so a refused change changes nothing. Deactivation is [`Ops::set_user_active`].

use super::admin_audit::record;
use super::users::CreateUser;
use super::{validate, Ops, OpsError};
use crate::domain::{Actor, AdminOperation, UserOrigin};
use crate::store::scim::{Member, Profile};
use crate::store::User;

/// Everything of a user that SCIM can set.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ScimUserState {
    /// `userName`.
    pub(crate) username: String,
    /// `name.formatted` / `displayName`.
    pub(crate) person_name: String,
    /// The primary email.
    pub(crate) email: Option<String>,
    /// `externalId`.
    pub(crate) external_id: Option<String>,
    /// `active`.
    pub(crate) active: bool,
}

impl ScimUserState {
    /// The state of `u`.
    pub(crate) fn of(u: &User) -> Self {
        Self {
            username: u.username.clone(),
            person_name: u.person_name.clone(),
            email: u.email.clone(),
            external_id: u.external_id.clone(),
            active: u.active,
        }
    }

    fn check(&self) -> Result<(), OpsError> {
        validate::name("user", &self.username)?;
        if self.person_name.trim().is_empty() {
            return Err(OpsError::Invalid(
                "the person's name must not be empty".into(),
            ));
        }
        if self.person_name.len() > 200 {
            return Err(OpsError::Invalid(
                "the person's name is longer than 200 characters".into(),
            ));
        }
        if let Some(e) = &self.email {
            validate::email(e)?;
        }
        if self.external_id.as_ref().is_some_and(|e| e.len() > 512) {
            return Err(OpsError::Invalid(
                "externalId is longer than 512 characters".into(),
            ));
        }
        Ok(())
    }
}

impl Ops {
    /// Creates a user provisioned by SCIM, in `oidc.default_team`.
    pub(crate) async fn scim_create_user(
        &self,
        actor: &Actor,
        new: &ScimUserState,
    ) -> Result<User, OpsError> {
        new.check()?;
        let team = self.default_team.clone().ok_or_else(|| {
            OpsError::Invalid(
                "no team for provisioned users: set oidc.default_team (groups mapped in \
                 [oidc.teams] then move their members)"
                    .into(),
            )
        })?;
        self.create_user(
            actor,
            &CreateUser {
                username: new.username.clone(),
                person_name: new.person_name.clone(),
                team,
                email: new.email.clone(),
                origin: UserOrigin::Scim,
                external_id: new.external_id.clone(),
                ..CreateUser::default()
            },
        )
        .await?;
        if !new.active {
            self.set_user_active(actor, &new.username, false).await?;
        }
        Ok(self.store.user(&new.username).await?)
    }

    /// The user with SCIM id `id`.
    pub(crate) async fn scim_user(&self, id: i64) -> Result<User, OpsError> {
        Ok(self.store.user_by_id(id).await?)
    }

    /// Every user, or the one named `username`.
    pub(crate) async fn scim_users(&self, username: Option<&str>) -> Result<Vec<User>, OpsError> {
        match username {
            Some(name) => match self.store.user(name).await {
                Ok(u) => Ok(vec![u]),
                Err(crate::store::StoreError::NotFound(_)) => Ok(Vec::new()),
                Err(e) => Err(e.into()),
            },
            None => Ok(self.store.users(None).await?),
        }
    }

    /// The groups user `id` is in.
    pub(crate) async fn scim_user_groups(&self, id: i64) -> Result<Vec<Member>, OpsError> {
        Ok(self.store.user_groups(id).await?)
    }

    /// Makes user `id` what `to` says: a new user name (refused if taken), profile and
    /// active flag, each written only where it differs.
    pub(crate) async fn scim_replace_user(
        &self,
        actor: &Actor,
        id: i64,
        to: &ScimUserState,
    ) -> Result<User, OpsError> {
        to.check()?;
        let user = self.store.user_by_id(id).await?;
        let now = ScimUserState::of(&user);
        if to.username != now.username {
            match self.store.user(&to.username).await {
                Ok(_) => {
                    return Err(OpsError::Conflict(format!(
                        "user `{}` already exists",
                        to.username
                    )))
                }
                Err(crate::store::StoreError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
            self.rename_user(actor, &now.username, &to.username).await?;
        }
        let profile = Profile {
            person_name: to.person_name.clone(),
            email: to.email.clone(),
            external_id: to.external_id.clone(),
        };
        let before = Profile {
            person_name: now.person_name.clone(),
            email: now.email.clone(),
            external_id: now.external_id.clone(),
        };
        if profile != before {
            let audit = record(
                actor,
                AdminOperation::UpdateUser,
                format!("user:{}", to.username),
                Some(profile_json(&before)),
                Some(profile_json(&profile)),
            );
            self.store.set_user_profile(id, &profile, &audit).await?;
        }
        if to.active != now.active {
            self.set_user_active(actor, &to.username, to.active).await?;
        }
        Ok(self.store.user_by_id(id).await?)
    }

    /// Deletes user `id` (their keys with them; every proxy refuses those keys within
    /// its refresh interval).
    pub(crate) async fn scim_delete_user(&self, actor: &Actor, id: i64) -> Result<(), OpsError> {
        let user = self.store.user_by_id(id).await?;
        self.delete_user(actor, &user.username).await?;
        Ok(())
    }
}

fn profile_json(p: &Profile) -> serde_json::Value {
    serde_json::json!({
        "person": p.person_name, "email": p.email, "external_id": p.external_id,
    })
}
