//! `admin create-token|list-tokens|revoke-token|audit`: admin API tokens and the admin
//! audit log, through the service layer.

use super::args::{AdminCommand, Output};
use super::blocking::local;
use super::print;
use crate::domain::Actor;
use crate::ops::admin_audit::AdminAuditQuery;
use crate::ops::Ops;

/// `admin ...`
pub(crate) async fn admin(ops: &Ops, out: Output, cmd: AdminCommand) -> anyhow::Result<()> {
    let actor = Actor::cli();
    match cmd {
        AdminCommand::CreateToken { name } => {
            let t = ops.create_admin_token(&actor, &name).await?;
            let text = format!(
                "admin token {} — shown once, store it now:\n  {}",
                t.name, t.token
            );
            print(out, &t, text);
        }
        AdminCommand::ListTokens => {
            let tokens = ops.admin_tokens().await?;
            let text = tokens
                .iter()
                .map(|t| {
                    let state = match t.revoked_at {
                        Some(_) => format!("revoked {}", local(t.revoked_at, ops)),
                        None => "active".into(),
                    };
                    format!(
                        "{:<24} created {} by {:<20} {}",
                        t.name,
                        local(Some(t.created_at), ops),
                        t.created_by,
                        state
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            print(out, &tokens, text);
        }
        AdminCommand::RevokeToken { name } => {
            let r = ops.revoke_admin_token(&actor, &name).await?;
            print(
                out,
                &r,
                format!("revoked admin token {name}; admin listeners refuse it within 2 seconds"),
            );
        }
        AdminCommand::Audit {
            actor,
            resource,
            operation,
            limit,
        } => {
            let page = ops
                .admin_audit(&AdminAuditQuery {
                    actor,
                    resource,
                    operation,
                    limit,
                    ..Default::default()
                })
                .await?;
            let show = |v: &Option<serde_json::Value>| {
                v.as_ref().map_or("-".to_string(), |v| v.to_string())
            };
            let text = page
                .entries
                .iter()
                .map(|e| {
                    format!(
                        "{}  {:<20} {:<16} {:<28} {} -> {}",
                        local(Some(e.created_at), ops),
                        e.actor,
                        e.operation,
                        e.resource,
                        show(&e.before),
                        show(&e.after)
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            print(out, &page.entries, text);
        }
    }
    Ok(())
}
