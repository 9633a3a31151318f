//! `admin create-token|list-tokens|revoke-token|audit`: admin API tokens and the admin
//! audit log, through the service layer.

use super::args::{AdminCommand, Output};
use super::blocking::local;
use super::print;
use super::table::{table, Align, Col};
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
            let rows = tokens
                .iter()
                .map(|t| {
                    let state = match t.revoked_at {
                        Some(_) => format!("revoked {}", local(t.revoked_at, ops)),
                        None => "active".into(),
                    };
                    vec![
                        t.name.clone(),
                        local(Some(t.created_at), ops),
                        t.created_by.clone(),
                        state,
                    ]
                })
                .collect();
            let cols = [
                Col("name", Align::Left),
                Col("created", Align::Left),
                Col("by", Align::Left),
                Col("status", Align::Left),
            ];
            print(out, &tokens, table("admin tokens", &cols, rows));
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
            let rows = page
                .entries
                .iter()
                .map(|e| {
                    vec![
                        local(Some(e.created_at), ops),
                        e.actor.clone(),
                        e.operation.to_string(),
                        e.resource.clone(),
                        format!("{} -> {}", show(&e.before), show(&e.after)),
                    ]
                })
                .collect();
            let cols = [
                Col("time", Align::Left),
                Col("actor", Align::Left),
                Col("operation", Align::Left),
                Col("resource", Align::Left),
                Col("change", Align::Left),
            ];
            let text = table("admin audit entries", &cols, rows);
            print(out, &page.entries, text);
        }
    }
    Ok(())
}
