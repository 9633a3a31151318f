//! Users: create (with the configured default limits and language, and how they were
//! created: `users.origin`), list, show with usage, blocking status and keys, change
//! limits, delete.

use super::admin_audit::{json, record};
use super::iam_links::link_event;
use super::retry;
use super::teams::limits_change;
use super::views::{rfc3339, BlockingView, Deleted, IamLinkView, KeySummary, UserInfo, UserView};
use super::{validate, Ops, OpsError};
use crate::domain::{
    Actor, AdminOperation, Language, LimitSubject, LimitsSource, LimitsUpdate, NewEvent, UserOrigin,
};
use crate::store::{NewUser, UsageFilter};

/// What creating a user takes.
#[derive(Clone, Debug, Default)]
pub struct CreateUser {
    /// Unique name (1-128 of letters, digits, `-_.@`).
    pub username: String,
    /// The person's full name.
    pub person_name: String,
    /// An existing team.
    pub team: String,
    /// Where messages go.
    pub email: Option<String>,
    /// Message language; `email.language` when unset.
    pub language: Option<Language>,
    /// IAM user for the backstop.
    pub iam_user: Option<String>,
    /// Limits over the configured defaults.
    pub limits: LimitsUpdate,
    /// How the user is being created (`cli`, `api`, `oidc:<issuer>`, `scim`).
    pub origin: UserOrigin,
    /// The identity provider's id for the user (SCIM `externalId`).
    pub external_id: Option<String>,
}

impl Ops {
    /// Creates a user; limits not given take `quota.default_*`. Limits given count as
    /// an administrator's (sign-in never changes them).
    pub async fn create_user(&self, actor: &Actor, new: &CreateUser) -> Result<UserView, OpsError> {
        let source = if new.limits.is_empty() {
            LimitsSource::Defaults
        } else {
            LimitsSource::Admin
        };
        self.create_user_with(actor, new, source).await
    }

    /// Creates a user whose limits (`new.limits` over `quota.default_*`) come from
    /// `source`.
    pub(crate) async fn create_user_with(
        &self,
        actor: &Actor,
        new: &CreateUser,
        source: LimitsSource,
    ) -> Result<UserView, OpsError> {
        validate::name("user", &new.username)?;
        validate::limits(&new.limits)?;
        if new.person_name.trim().is_empty() {
            return Err(OpsError::Invalid("person_name must not be empty".into()));
        }
        if let Some(e) = &new.email {
            validate::email(e)?;
        }
        if let Some(name) = &new.iam_user {
            super::iam_links::check_principal(crate::domain::IamPrincipalKind::IamUser, name)?;
        }
        let row = NewUser {
            username: new.username.clone(),
            person_name: new.person_name.clone(),
            team: new.team.clone(),
            email: new.email.clone(),
            language: new.language.unwrap_or(self.default_language),
            iam_user: new.iam_user.clone(),
            limits: new.limits.apply(self.default_limits),
            limits_source: source,
            origin: new.origin.as_text(),
            external_id: new.external_id.clone(),
        };
        let after = serde_json::json!({
            "username": row.username, "person": row.person_name, "team": row.team,
            "email": row.email, "language": row.language, "iam_user": row.iam_user,
            "limits": row.limits, "limits_source": row.limits_source, "origin": row.origin,
        });
        let audit = record(
            actor,
            AdminOperation::CreateUser,
            format!("user:{}", new.username),
            None,
            Some(after),
        );
        let user = retry::on_conflict(|| self.store.create_user(&row, &audit)).await?;
        Ok(self.user_view(&user))
    }

    /// Every user, or one team's, by name.
    pub async fn users(&self, team: Option<&str>) -> Result<Vec<UserView>, OpsError> {
        let team_id = match team {
            Some(t) => Some(self.store.team(t).await?.id),
            None => None,
        };
        let users = self.store.users(team_id).await?;
        Ok(users.iter().map(|u| self.user_view(u)).collect())
    }

    /// A user with usage today and this month, blocking status and keys.
    pub async fn user_info(&self, username: &str) -> Result<UserInfo, OpsError> {
        let user = self.store.user(username).await?;
        let usage = self
            .day_and_month(UsageFilter {
                username: Some(user.username.clone()),
                ..Default::default()
            })
            .await?;
        let keys = self.store.keys(Some(user.id)).await?;
        let now = self.now().timestamp_millis();
        let status = self.store.block_status(user.id).await?.unwrap_or_default();
        let rate = self.user_rate_view(&user).await?;
        let iam_links = self.store.iam_links(Some(user.id)).await?;
        Ok(UserInfo {
            rate,
            user: self.user_view(&user),
            usage,
            blocking: BlockingView::new(&status, String::new(), self.tz),
            keys: keys
                .into_iter()
                .map(|k| KeySummary {
                    access_key_id: k.access_key_id,
                    tool: k.tool,
                    status: k.status,
                    created_at: k.created_at,
                    created_at_rfc3339: rfc3339(Some(k.created_at), self.tz),
                    expires_at: k.expires_at,
                    expires_at_rfc3339: rfc3339(k.expires_at, self.tz),
                    expired: super::keys::is_expired(k.expires_at, now),
                })
                .collect(),
            iam_links: iam_links.into_iter().map(IamLinkView::from).collect(),
        })
    }

    /// Changes a user's limits; refuses an update that changes nothing.
    pub async fn set_user_limits(
        &self,
        actor: &Actor,
        username: &str,
        update: &LimitsUpdate,
    ) -> Result<UserView, OpsError> {
        let user = self.store.user(username).await?;
        let subject = LimitSubject::User {
            id: user.id,
            name: user.username.clone(),
        };
        let (after, event) = limits_change(subject, user.limits, update, actor)?;
        let audit = record(
            actor,
            AdminOperation::SetUserLimits,
            format!("user:{username}"),
            json(&user.limits),
            json(&after),
        );
        retry::on_conflict(|| self.store.set_user_limits(user.id, &after, &event, &audit)).await?;
        Ok(self.user_view(&self.store.user(username).await?))
    }

    /// Deletes a user with their keys and limits; their request records stay.
    pub async fn delete_user(&self, actor: &Actor, username: &str) -> Result<Deleted, OpsError> {
        let user = self.store.user(username).await?;
        let audit = record(
            actor,
            AdminOperation::DeleteUser,
            format!("user:{username}"),
            json(&self.user_view(&user)),
            None,
        );
        // The IAM backstop hears that the user's IAM users are no longer linked (and
        // removes a deny it put on them).
        let events: Vec<NewEvent> = self
            .store
            .iam_links(Some(user.id))
            .await?
            .into_iter()
            .filter_map(|l| link_event(actor, user.id, username, l.kind, &l.principal, false))
            .collect();
        retry::on_conflict(|| self.store.delete_user(user.id, &events, &audit)).await?;
        Ok(Deleted {
            deleted: username.to_string(),
        })
    }
}
