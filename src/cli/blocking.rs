//! `user block|unblock|protect|unprotect`, `audit` and `reset`: call the blocking
//! service and the reports, print their views with times in `quota.timezone`.

use super::args::Output;
use super::print;
use super::table::{table, Align, Col};
use crate::domain::Actor;
use crate::ops::blocking::BlockDuration;
use crate::ops::Ops;

/// A time in `quota.timezone` (`2026-11-27 12:01 CET`), `-` for none.
pub(super) fn local(ms: Option<i64>, ops: &Ops) -> String {
    super::table::local(ms, ops.timezone())
}

/// `user block`
pub(crate) async fn block(
    ops: &Ops,
    out: Output,
    username: &str,
    duration: BlockDuration,
    reason: Option<String>,
    actor: &Actor,
) -> anyhow::Result<()> {
    let v = ops.block(actor, username, duration, reason).await?;
    let until = match v.blocked_until {
        Some(_) => format!("until {}", local(v.blocked_until, ops)),
        None => "until an administrator unblocks them".into(),
    };
    print(out, &v, format!("blocked {username} {until}"));
    Ok(())
}

/// `user unblock`
pub(crate) async fn unblock(
    ops: &Ops,
    out: Output,
    username: &str,
    reason: Option<String>,
    actor: &Actor,
) -> anyhow::Result<()> {
    let v = ops.unblock(actor, username, reason).await?;
    let text = if v.administrative_safe && v.protected_until.is_some() {
        format!(
            "unblocked {username}; protected from limits until {}",
            local(v.protected_until, ops)
        )
    } else {
        format!("unblocked {username}")
    };
    print(out, &v, text);
    Ok(())
}

/// `user protect` / `user unprotect`
pub(crate) async fn protect(
    ops: &Ops,
    out: Output,
    username: &str,
    on: bool,
    actor: &Actor,
) -> anyhow::Result<()> {
    let v = ops.protect(actor, username, on).await?;
    let verb = if on { "protected" } else { "unprotected" };
    print(out, &v, format!("{verb} {username}"));
    Ok(())
}

/// `audit`
pub(crate) async fn audit(
    ops: &Ops,
    out: Output,
    user: Option<String>,
    limit: i64,
) -> anyhow::Result<()> {
    let entries = ops.audit(user.as_deref(), limit).await?;
    let rows = entries
        .iter()
        .map(|e| {
            vec![
                local(Some(e.created_at), ops),
                e.username.clone(),
                e.operation.to_string(),
                e.performed_by.clone(),
                e.reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let cols = [
        Col("time", Align::Left),
        Col("user", Align::Left),
        Col("operation", Align::Left),
        Col("by", Align::Left),
        Col("reason", Align::Left),
    ];
    print(out, &entries, table("audit entries", &cols, rows));
    Ok(())
}

/// `reset`
pub(crate) async fn reset(ops: &Ops, out: Output, actor: &Actor) -> anyhow::Result<()> {
    let report = ops.reset_now(actor).await?;
    let text = format!(
        "daily reset for {}: {} unblocked, {} protections ended",
        report.day,
        report.unblocked.len(),
        report.unprotected.len()
    );
    print(out, &report, text);
    Ok(())
}
