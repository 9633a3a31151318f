//! The IAM calls the backstop and provisioning make (aws-sdk-iam), each with a deadline
//! and one error type that names the call and AWS's answer. A missing entity is an
//! answer (`None`, `false`), not an error.

use std::time::Duration;

use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::{PolicyScopeType, Tag};
use aws_sdk_iam::Client;

/// The longest one IAM call may take.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// An IAM call that failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum IamError {
    /// AWS answered with an error, or the call could not be made.
    #[error("IAM {call} failed: {detail}")]
    Call {
        /// The operation.
        call: &'static str,
        /// What AWS (or the connection) said.
        detail: String,
    },
    /// The call did not finish within [`CALL_TIMEOUT`].
    #[error("IAM {0} did not answer within 20 s")]
    Timeout(&'static str),
    /// Something about the request itself.
    #[error("{0}")]
    Invalid(String),
}

/// Awaits an IAM call with the deadline; `Ok(None)` when AWS says the entity does not
/// exist (`NoSuchEntity`).
async fn call<T, E, R>(
    name: &'static str,
    fut: impl std::future::Future<Output = Result<T, SdkError<E, R>>>,
) -> Result<Option<T>, IamError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match tokio::time::timeout(CALL_TIMEOUT, fut).await {
        Err(_) => Err(IamError::Timeout(name)),
        Ok(Ok(v)) => Ok(Some(v)),
        Ok(Err(e)) if e.code() == Some("NoSuchEntity") => Ok(None),
        Ok(Err(e)) => Err(IamError::Call {
            call: name,
            detail: DisplayErrorContext(&e).to_string(),
        }),
    }
}

/// Like [`call`], for calls where a missing entity is an error too.
async fn must<T, E, R>(
    name: &'static str,
    fut: impl std::future::Future<Output = Result<T, SdkError<E, R>>>,
) -> Result<T, IamError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    call(name, fut).await?.ok_or(IamError::Call {
        call: name,
        detail: "NoSuchEntity".into(),
    })
}

/// How many versions a managed policy may have (AWS's quota).
const MAX_POLICY_VERSIONS: usize = 5;

/// The number of a policy version id (`v12` is 12); an id of another form sorts last.
fn version_number(id: Option<&str>) -> u64 {
    id.and_then(|v| v.strip_prefix('v'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX)
}

/// Policy documents come back URL-encoded; compares them as JSON values.
pub(crate) fn same_document(stored: &str, wanted: &str) -> bool {
    let decoded = percent_encoding::percent_decode_str(stored).decode_utf8_lossy();
    let parse = |s: &str| serde_json::from_str::<serde_json::Value>(s).ok();
    match (parse(&decoded), parse(wanted)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// An IAM client.
#[derive(Clone, Debug)]
pub(crate) struct Iam {
    client: Client,
}

impl Iam {
    /// A client from the shared AWS configuration, at `endpoint_url` when set.
    pub(crate) fn new(sdk: &aws_config::SdkConfig, endpoint_url: Option<&str>) -> Self {
        let mut builder = aws_sdk_iam::config::Builder::from(sdk);
        if let Some(url) = endpoint_url {
            builder = builder.endpoint_url(url);
        }
        Self {
            client: Client::from_conf(builder.build()),
        }
    }

    /// Whether the IAM user exists.
    pub(crate) async fn user_exists(&self, user: &str) -> Result<bool, IamError> {
        let c = &self.client;
        Ok(call("GetUser", c.get_user().user_name(user).send())
            .await?
            .is_some())
    }

    /// The user's inline policy names (`None`: no such user).
    pub(crate) async fn user_policies(&self, user: &str) -> Result<Option<Vec<String>>, IamError> {
        let c = &self.client;
        let out = call(
            "ListUserPolicies",
            c.list_user_policies()
                .user_name(user)
                .max_items(1000)
                .send(),
        )
        .await?;
        Ok(out.map(|o| o.policy_names().to_vec()))
    }

    /// Puts (or replaces) an inline policy on the user.
    pub(crate) async fn put_user_policy(
        &self,
        user: &str,
        name: &str,
        document: &str,
    ) -> Result<(), IamError> {
        let c = &self.client;
        let req = c
            .put_user_policy()
            .user_name(user)
            .policy_name(name)
            .policy_document(document);
        must("PutUserPolicy", req.send()).await.map(|_| ())
    }

    /// Deletes an inline policy from the user; `false` when it was not there.
    pub(crate) async fn delete_user_policy(
        &self,
        user: &str,
        name: &str,
    ) -> Result<bool, IamError> {
        let c = &self.client;
        let req = c.delete_user_policy().user_name(user).policy_name(name);
        Ok(call("DeleteUserPolicy", req.send()).await?.is_some())
    }

    /// The user's tags (`None`: no such user).
    pub(crate) async fn user_tags(
        &self,
        user: &str,
    ) -> Result<Option<Vec<(String, String)>>, IamError> {
        let c = &self.client;
        let out = call("ListUserTags", c.list_user_tags().user_name(user).send()).await?;
        Ok(out.map(|o| {
            o.tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect()
        }))
    }

    fn tags(tags: &[(String, String)]) -> Result<Vec<Tag>, IamError> {
        tags.iter()
            .map(|(k, v)| {
                Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .map_err(|e| IamError::Invalid(format!("tag {k}: {e}")))
            })
            .collect()
    }

    /// Creates the IAM user with tags.
    pub(crate) async fn create_user(
        &self,
        user: &str,
        tags: &[(String, String)],
    ) -> Result<(), IamError> {
        let c = &self.client;
        let req = c
            .create_user()
            .user_name(user)
            .set_tags(Some(Self::tags(tags)?));
        must("CreateUser", req.send()).await.map(|_| ())
    }

    /// Sets tags on the IAM user (others stay).
    pub(crate) async fn tag_user(
        &self,
        user: &str,
        tags: &[(String, String)],
    ) -> Result<(), IamError> {
        let c = &self.client;
        let req = c
            .tag_user()
            .user_name(user)
            .set_tags(Some(Self::tags(tags)?));
        must("TagUser", req.send()).await.map(|_| ())
    }

    /// The user's groups (`None`: no such user).
    pub(crate) async fn user_groups(&self, user: &str) -> Result<Option<Vec<String>>, IamError> {
        let c = &self.client;
        let out = call(
            "ListGroupsForUser",
            c.list_groups_for_user()
                .user_name(user)
                .max_items(1000)
                .send(),
        )
        .await?;
        Ok(out.map(|o| {
            o.groups()
                .iter()
                .map(|g| g.group_name().to_string())
                .collect()
        }))
    }

    /// Whether the group exists.
    pub(crate) async fn group_exists(&self, group: &str) -> Result<bool, IamError> {
        let c = &self.client;
        Ok(call("GetGroup", c.get_group().group_name(group).send())
            .await?
            .is_some())
    }

    /// Creates a group.
    pub(crate) async fn create_group(&self, group: &str) -> Result<(), IamError> {
        let c = &self.client;
        must("CreateGroup", c.create_group().group_name(group).send())
            .await
            .map(|_| ())
    }

    /// Adds the user to the group.
    pub(crate) async fn add_to_group(&self, user: &str, group: &str) -> Result<(), IamError> {
        let c = &self.client;
        let req = c.add_user_to_group().user_name(user).group_name(group);
        must("AddUserToGroup", req.send()).await.map(|_| ())
    }

    /// The group's inline policy document (`None`: no such policy or group).
    pub(crate) async fn group_policy(
        &self,
        group: &str,
        name: &str,
    ) -> Result<Option<String>, IamError> {
        let c = &self.client;
        let req = c.get_group_policy().group_name(group).policy_name(name);
        let out = call("GetGroupPolicy", req.send()).await?;
        Ok(out.map(|o| o.policy_document().to_string()))
    }

    /// Puts (or replaces) the group's inline policy.
    pub(crate) async fn put_group_policy(
        &self,
        group: &str,
        name: &str,
        document: &str,
    ) -> Result<(), IamError> {
        let c = &self.client;
        let req = c
            .put_group_policy()
            .group_name(group)
            .policy_name(name)
            .policy_document(document);
        must("PutGroupPolicy", req.send()).await.map(|_| ())
    }

    /// The managed policies attached to the user, by name.
    pub(crate) async fn attached_user_policies(&self, user: &str) -> Result<Vec<String>, IamError> {
        let c = &self.client;
        let req = c
            .list_attached_user_policies()
            .user_name(user)
            .max_items(1000);
        let out = call("ListAttachedUserPolicies", req.send()).await?;
        Ok(out
            .map(|o| {
                o.attached_policies()
                    .iter()
                    .filter_map(|p| p.policy_name().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// A customer-managed policy by name: (ARN, default version's document).
    pub(crate) async fn managed_policy(
        &self,
        name: &str,
    ) -> Result<Option<(String, String)>, IamError> {
        let c = &self.client;
        let mut marker: Option<String> = None;
        loop {
            let req = c
                .list_policies()
                .scope(PolicyScopeType::Local)
                .max_items(1000)
                .set_marker(marker.clone());
            let out = must("ListPolicies", req.send()).await?;
            let found = out
                .policies()
                .iter()
                .find(|p| p.policy_name() == Some(name));
            if let Some(p) = found {
                let arn = p.arn().unwrap_or_default().to_string();
                let version = p.default_version_id().unwrap_or("v1").to_string();
                let req = c.get_policy_version().policy_arn(&arn).version_id(version);
                let doc = must("GetPolicyVersion", req.send())
                    .await?
                    .policy_version()
                    .and_then(|v| v.document())
                    .unwrap_or_default()
                    .to_string();
                return Ok(Some((arn, doc)));
            }
            match (out.is_truncated(), out.marker()) {
                (true, Some(m)) => marker = Some(m.to_string()),
                _ => return Ok(None),
            }
        }
    }

    /// Creates a customer-managed policy.
    pub(crate) async fn create_policy(&self, name: &str, document: &str) -> Result<(), IamError> {
        let c = &self.client;
        let req = c
            .create_policy()
            .policy_name(name)
            .policy_document(document);
        must("CreatePolicy", req.send()).await.map(|_| ())
    }

    /// Makes `document` the policy's default version, deleting the oldest non-default
    /// version first when all five are taken.
    pub(crate) async fn update_policy(&self, arn: &str, document: &str) -> Result<(), IamError> {
        let c = &self.client;
        let versions = must(
            "ListPolicyVersions",
            c.list_policy_versions().policy_arn(arn).send(),
        )
        .await?;
        let list = versions.versions();
        if list.len() >= MAX_POLICY_VERSIONS {
            // The list's order is not documented (moto lists oldest first, AWS newest
            // first): the oldest is the lowest version number (`v1`, `v2`, ...).
            let oldest = list
                .iter()
                .filter(|v| !v.is_default_version())
                .min_by_key(|v| version_number(v.version_id()));
            if let Some(old) = oldest {
                let req = c
                    .delete_policy_version()
                    .policy_arn(arn)
                    .set_version_id(old.version_id().map(str::to_string));
                must("DeletePolicyVersion", req.send()).await?;
            }
        }
        let req = c
            .create_policy_version()
            .policy_arn(arn)
            .policy_document(document)
            .set_as_default(true);
        must("CreatePolicyVersion", req.send()).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_numbers_order_policy_versions() {
        assert_eq!(version_number(Some("v1")), 1);
        assert_eq!(version_number(Some("v12")), 12);
        assert!(version_number(Some("v2")) < version_number(Some("v10")));
        assert_eq!(version_number(Some("x")), u64::MAX);
        assert_eq!(version_number(None), u64::MAX);
    }
}
