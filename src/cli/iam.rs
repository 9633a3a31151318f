//! `iam ...`: provisioning and status in IAM, through an IAM client built from the
//! shared AWS configuration (`upstream.region`, the standard credential chain) at
//! `iam.endpoint_url` when set.

use super::args::{IamCommand, IamPolicyCommand, Output};
use super::print;
use crate::config::Config;
use crate::domain::Actor;
use crate::iam::provision::{self, Plan, Status};
use crate::iam::Iam;
use crate::ops::Ops;
use crate::proxy::upstream::load_aws_config;

/// `iam ...`
pub(crate) async fn iam(
    ops: &Ops,
    config: &Config,
    out: Output,
    cmd: IamCommand,
    actor: &Actor,
) -> anyhow::Result<()> {
    let aws = load_aws_config(&config.upstream.region, None).await;
    let iam = Iam::new(&aws, config.iam.endpoint_url.as_deref());
    let allowed = &config.iam.allowed_model_arns;
    match cmd {
        IamCommand::Provision { username, dry_run } => {
            let plan = provision::provision(ops, &iam, allowed, actor, &username, dry_run).await?;
            let text = plan_text(&plan);
            print(out, &plan, text);
        }
        IamCommand::Policy(IamPolicyCommand::Create { name, dry_run }) => {
            let plan = provision::create_policy(&iam, allowed, &name, dry_run).await?;
            let text = plan_text(&plan);
            print(out, &plan, text);
        }
        IamCommand::Status { username } => {
            let status =
                provision::status(ops, &iam, &config.iam.deny_policy_name, &username).await?;
            let text = status_text(&status);
            print(out, &status, text);
        }
    }
    Ok(())
}

fn plan_text(p: &Plan) -> String {
    if p.changes.is_empty() {
        return format!("{}: nothing to change", p.target);
    }
    let head = if p.dry_run {
        format!("{}: would change (dry run, nothing changed):", p.target)
    } else {
        format!("{}: changed:", p.target)
    };
    let mut text = head;
    for c in &p.changes {
        text.push_str(&format!("\n  - {c}"));
    }
    text
}

fn status_text(s: &Status) -> String {
    let mut text = format!(
        "{} ({} in the proxy)",
        s.username,
        if s.blocked { "blocked" } else { "not blocked" }
    );
    if s.iam_users.is_empty() {
        text.push_str("\n  no linked IAM user (user link-iam, or iam provision)");
    }
    for u in &s.iam_users {
        if !u.exists {
            text.push_str(&format!("\n  IAM user {}: does not exist", u.iam_user));
            continue;
        }
        let tags: Vec<String> = u.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let none = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        text.push_str(&format!(
            "\n  IAM user {}\n    tags:              {}\n    groups:            {}\n    \
             inline policies:   {}\n    attached policies: {}\n    deny policy:       {}",
            u.iam_user,
            none(&tags),
            none(&u.groups),
            none(&u.inline_policies),
            none(&u.attached_policies),
            if u.deny { "on" } else { "off" }
        ));
    }
    text
}
