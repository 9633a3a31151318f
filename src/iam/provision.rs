//! Provisioning in IAM, idempotently: `iam provision <username>` (the IAM user with
//! `team` and `person` tags, the team's group `bedrock-gate-<team>`, the group's inline
//! invoke policy limited to `iam.allowed_model_arns`, and the link), `iam policy create
//! <name>` (a managed invoke policy) and `iam status <username>`. Each step looks
//! first and changes only what differs; with `dry_run` nothing changes and the plan
//! says what would.

use serde::Serialize;

use super::client::{same_document, Iam, IamError};
use crate::domain::{Actor, IamPrincipalKind};
use crate::ops::{Ops, OpsError};

/// The group's inline invoke policy.
pub(crate) const INVOKE_POLICY: &str = "BedrockGateInvoke";

/// Why provisioning stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProvisionError {
    /// An IAM call failed.
    #[error(transparent)]
    Iam(#[from] IamError),
    /// The service layer refused (unknown user, a link taken).
    #[error(transparent)]
    Ops(#[from] OpsError),
    /// The configuration does not allow it.
    #[error("{0}")]
    Config(String),
}

/// The invoke policy document for `arns`.
pub(crate) fn invoke_document(arns: &[String]) -> Result<String, ProvisionError> {
    if arns.is_empty() {
        return Err(ProvisionError::Config(
            "iam.allowed_model_arns is empty: list the inference profile (or model) ARNs \
             the IAM users may invoke"
                .into(),
        ));
    }
    Ok(serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "BedrockGateInvoke",
            "Effect": "Allow",
            "Action": [
                "bedrock:InvokeModel",
                "bedrock:InvokeModelWithResponseStream"
            ],
            "Resource": arns
        }]
    })
    .to_string())
}

/// What provisioning did (or, in a dry run, would do).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Plan {
    /// The IAM user, group or policy concerned.
    pub(crate) target: String,
    /// Nothing was changed.
    pub(crate) dry_run: bool,
    /// The changes, in order; empty when everything was already in place.
    pub(crate) changes: Vec<String>,
}

/// One linked IAM user as IAM has it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct IamUserStatus {
    /// The IAM user.
    pub(crate) iam_user: String,
    /// Whether it exists.
    pub(crate) exists: bool,
    /// Its tags.
    pub(crate) tags: Vec<(String, String)>,
    /// Its groups.
    pub(crate) groups: Vec<String>,
    /// Its inline policies.
    pub(crate) inline_policies: Vec<String>,
    /// The managed policies attached to it.
    pub(crate) attached_policies: Vec<String>,
    /// Whether the deny policy is on.
    pub(crate) deny: bool,
}

/// `iam status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Status {
    /// The proxy user.
    pub(crate) username: String,
    /// Blocked in the proxy now.
    pub(crate) blocked: bool,
    /// Each linked IAM user.
    pub(crate) iam_users: Vec<IamUserStatus>,
}

/// The group of a team.
pub(crate) fn group_name(team: &str) -> String {
    format!("bedrock-gate-{team}")
}

/// Provisions `username` (see the module documentation).
pub(crate) async fn provision(
    ops: &Ops,
    iam: &Iam,
    allowed: &[String],
    actor: &Actor,
    username: &str,
    dry_run: bool,
) -> Result<Plan, ProvisionError> {
    let document = invoke_document(allowed)?;
    let info = ops.user_info(username).await?;
    let linked = info
        .iam_links
        .iter()
        .find(|l| l.kind == IamPrincipalKind::IamUser)
        .map(|l| l.principal.clone());
    let iam_user = linked.clone().unwrap_or_else(|| username.to_string());
    let group = group_name(&info.user.team);
    let wanted = vec![
        ("team".to_string(), info.user.team.clone()),
        ("person".to_string(), info.user.person.clone()),
    ];
    let mut changes = Vec::new();
    let apply = !dry_run;

    let exists = iam.user_exists(&iam_user).await?;
    if !exists {
        changes.push(format!(
            "create IAM user {iam_user} tagged team={}, person={}",
            wanted[0].1, wanted[1].1
        ));
        if apply {
            iam.create_user(&iam_user, &wanted).await?;
        }
    } else {
        let tags = iam.user_tags(&iam_user).await?.unwrap_or_default();
        let differ: Vec<(String, String)> = wanted
            .iter()
            .filter(|w| !tags.contains(w))
            .cloned()
            .collect();
        if !differ.is_empty() {
            let list: Vec<String> = differ.iter().map(|(k, v)| format!("{k}={v}")).collect();
            changes.push(format!("tag IAM user {iam_user} {}", list.join(", ")));
            if apply {
                iam.tag_user(&iam_user, &differ).await?;
            }
        }
    }
    if !iam.group_exists(&group).await? {
        changes.push(format!("create IAM group {group}"));
        if apply {
            iam.create_group(&group).await?;
        }
    }
    let groups = if exists {
        iam.user_groups(&iam_user).await?.unwrap_or_default()
    } else {
        Vec::new()
    };
    if !groups.contains(&group) {
        changes.push(format!("add IAM user {iam_user} to group {group}"));
        if apply {
            iam.add_to_group(&iam_user, &group).await?;
        }
    }
    let current = iam.group_policy(&group, INVOKE_POLICY).await?;
    if !current.is_some_and(|d| same_document(&d, &document)) {
        changes.push(format!(
            "put policy {INVOKE_POLICY} on group {group} allowing {}",
            allowed.join(", ")
        ));
        if apply {
            iam.put_group_policy(&group, INVOKE_POLICY, &document)
                .await?;
        }
    }
    if linked.is_none() {
        changes.push(format!("link proxy user {username} to IAM user {iam_user}"));
        if apply {
            ops.link_iam(actor, username, IamPrincipalKind::IamUser, &iam_user)
                .await?;
        }
    }
    Ok(Plan {
        target: iam_user,
        dry_run,
        changes,
    })
}

/// `iam policy create <name>`: the managed invoke policy, created or brought up to date.
pub(crate) async fn create_policy(
    iam: &Iam,
    allowed: &[String],
    name: &str,
    dry_run: bool,
) -> Result<Plan, ProvisionError> {
    let document = invoke_document(allowed)?;
    let mut changes = Vec::new();
    match iam.managed_policy(name).await? {
        None => {
            changes.push(format!(
                "create managed policy {name} allowing {}",
                allowed.join(", ")
            ));
            if !dry_run {
                iam.create_policy(name, &document).await?;
            }
        }
        Some((arn, current)) if !same_document(&current, &document) => {
            changes.push(format!(
                "make a new default version of {arn} allowing {}",
                allowed.join(", ")
            ));
            if !dry_run {
                iam.update_policy(&arn, &document).await?;
            }
        }
        Some(_) => {}
    }
    Ok(Plan {
        target: name.to_string(),
        dry_run,
        changes,
    })
}

/// `iam status <username>`.
pub(crate) async fn status(
    ops: &Ops,
    iam: &Iam,
    deny_name: &str,
    username: &str,
) -> Result<Status, ProvisionError> {
    let info = ops.user_info(username).await?;
    let mut iam_users = Vec::new();
    for l in info
        .iam_links
        .iter()
        .filter(|l| l.kind == IamPrincipalKind::IamUser)
    {
        let name = &l.principal;
        let inline = iam.user_policies(name).await?;
        let exists = inline.is_some();
        let inline = inline.unwrap_or_default();
        iam_users.push(IamUserStatus {
            iam_user: name.clone(),
            exists,
            tags: iam.user_tags(name).await?.unwrap_or_default(),
            groups: iam.user_groups(name).await?.unwrap_or_default(),
            attached_policies: if exists {
                iam.attached_user_policies(name).await?
            } else {
                Vec::new()
            },
            deny: inline.iter().any(|p| p == deny_name),
            inline_policies: inline,
        });
    }
    Ok(Status {
        username: username.to_string(),
        blocked: info.blocking.blocked,
        iam_users,
    })
}

#[cfg(test)]
mod tests {
    use super::super::backstop::deny_document;
    use super::*;

    #[test]
    fn invoke_policies_need_arns_and_compare_as_json() {
        assert!(invoke_document(&[]).is_err());
        let doc =
            invoke_document(&["arn:aws:bedrock:eu-west-1:1:inference-profile/x".into()]).unwrap();
        let encoded: String =
            percent_encoding::utf8_percent_encode(&doc, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        assert!(same_document(&encoded, &doc));
        assert!(!same_document(&encoded, &deny_document()));
    }
}
