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
pub(crate) async fn admin(
    ops: &Ops,
    out: Output,
    cmd: AdminCommand,
    actor: &Actor,
) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::CreateToken { name, scope } => {
            let t = ops.create_admin_token(actor, &name, scope.into()).await?;
            let text = format!(
                "{} token {} — shown once, store it now:\n  {}",
                t.scope, t.name, t.token
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
                        t.scope.to_string(),
                        local(Some(t.created_at), ops),
                        t.created_by.clone(),
                        state,
                    ]
                })
                .collect();
            let cols = [
                Col("name", Align::Left),
                Col("scope", Align::Left),
                Col("created", Align::Left),
                Col("by", Align::Left),
                Col("status", Align::Left),
            ];
            print(out, &tokens, table("admin tokens", &cols, rows));
        }
        AdminCommand::RevokeToken { name } => {
            let r = ops.revoke_admin_token(actor, &name).await?;
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
            let rows = page
                .entries
                .iter()
                .map(|e| {
                    vec![
                        local(Some(e.created_at), ops),
                        e.actor.clone(),
                        e.operation.to_string(),
                        e.resource.clone(),
                        change(e.before.as_ref(), e.after.as_ref()),
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

/// An audit entry's change in a few words: the fields that differ (`blocked: false ->
/// true`), or the whole value of a creation or deletion.
fn change(before: Option<&serde_json::Value>, after: Option<&serde_json::Value>) -> String {
    use serde_json::Value;
    match (before, after) {
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let mut parts = Vec::new();
            for (k, v) in a {
                let old = b.get(k).unwrap_or(&Value::Null);
                if old != v {
                    parts.push(format!("{k}: {old} -> {v}"));
                }
            }
            if parts.is_empty() {
                "no change".into()
            } else {
                parts.join(", ")
            }
        }
        (None, Some(a)) => format!("created {a}"),
        (Some(b), None) => format!("deleted {b}"),
        (Some(b), Some(a)) => format!("{b} -> {a}"),
        (None, None) => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_show_only_what_differs() {
        let b = json!({"blocked": false, "username": "a", "x": 1});
        let a = json!({"blocked": true, "username": "a", "x": 1, "reason": "r"});
        assert_eq!(
            change(Some(&b), Some(&a)),
            "blocked: false -> true, reason: null -> \"r\""
        );
        assert_eq!(change(None, Some(&json!({"n": 1}))), "created {\"n\":1}");
        assert_eq!(change(Some(&b), Some(&b)), "no change");
    }
}
