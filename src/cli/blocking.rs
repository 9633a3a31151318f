//! `user block|unblock|protect|unprotect`, `audit` and `reset`.

use serde_json::json;

use super::args::{BlockDuration, Output};
use super::print;
use crate::config::Config;
use crate::quota::{calendar, reset};
use crate::store::{BlockChange, BlockKind, Store};

/// Who the audit log names for command-line changes.
fn operator() -> String {
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

fn local(ms: Option<i64>, config: &Config) -> String {
    match ms.and_then(chrono::DateTime::from_timestamp_millis) {
        Some(t) => t
            .with_timezone(&config.quota.timezone)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string(),
        None => "indefinitely".into(),
    }
}

fn change(user_id: i64, username: &str, operation: &str, reason: Option<String>) -> BlockChange {
    BlockChange {
        user_id,
        username: username.to_string(),
        operation: operation.to_string(),
        reason,
        performed_by: operator(),
        requests_at_time: None,
        limit_at_time: None,
        usage_percent: None,
    }
}

/// `user block`
pub async fn block(
    store: &Store,
    config: &Config,
    out: Output,
    username: &str,
    duration: BlockDuration,
    reason: Option<String>,
) -> anyhow::Result<()> {
    let user = store.user(username).await?;
    let now = chrono::Utc::now();
    let until = match duration {
        BlockDuration::For(secs) => {
            Some(now.timestamp_millis() + (secs as i64).saturating_mul(1000))
        }
        BlockDuration::UntilReset => Some(calendar::day(config.quota.timezone, now).end_ms),
        BlockDuration::Indefinite => None,
    };
    let reason = reason.unwrap_or_else(|| "blocked by an administrator".into());
    let status = store.blocking_status(user.id).await?;
    store
        .set_block(
            &change(user.id, username, "block", Some(reason.clone())),
            true,
            Some(BlockKind::Manual),
            until,
            status.administrative_safe && status.safe_until.is_none(),
            None,
        )
        .await?;
    print(
        out,
        json!({"username": username, "blocked": true, "blocked_reason": reason, "blocked_until": until}),
        format!(
            "blocked {username} {}",
            match until {
                Some(_) => format!("until {}", local(until, config)),
                None => "indefinitely".into(),
            }
        ),
    );
    Ok(())
}

/// `user unblock`
pub async fn unblock(
    store: &Store,
    config: &Config,
    out: Output,
    username: &str,
    reason: Option<String>,
) -> anyhow::Result<()> {
    let user = store.user(username).await?;
    let status = store.blocking_status(user.id).await?;
    if !status.blocked {
        anyhow::bail!("user `{username}` is not blocked");
    }
    let now = chrono::Utc::now();
    // After an automatic block the user is protected until the next daily reset, so the
    // same limit does not block them again at once.
    let (safe, safe_until) = if status.block_kind.as_deref() == Some("automatic") {
        (true, Some(calendar::day(config.quota.timezone, now).end_ms))
    } else {
        (status.administrative_safe, status.safe_until)
    };
    store
        .set_block(
            &change(user.id, username, "unblock", reason),
            false,
            None,
            None,
            safe,
            safe_until,
        )
        .await?;
    let text = if safe && safe_until.is_some() {
        format!(
            "unblocked {username}; protected until {}",
            local(safe_until, config)
        )
    } else {
        format!("unblocked {username}")
    };
    print(
        out,
        json!({"username": username, "blocked": false, "administrative_safe": safe, "safe_until": safe_until}),
        text,
    );
    Ok(())
}

/// `user protect` / `user unprotect`
pub async fn protect(store: &Store, out: Output, username: &str, on: bool) -> anyhow::Result<()> {
    let user = store.user(username).await?;
    let status = store.blocking_status(user.id).await?;
    let kind = match status.block_kind.as_deref() {
        Some("manual") => Some(BlockKind::Manual),
        Some("automatic") => Some(BlockKind::Automatic),
        _ => None,
    };
    // Protection covers limits; it lifts an automatic block, not an administrator's.
    let lift_auto = on && kind == Some(BlockKind::Automatic);
    let blocked = status.blocked && !lift_auto;
    store
        .set_block(
            &change(
                user.id,
                username,
                if on { "protect" } else { "unprotect" },
                None,
            ),
            blocked,
            if blocked { kind } else { None },
            if blocked { status.blocked_until } else { None },
            on,
            None,
        )
        .await?;
    print(
        out,
        json!({"username": username, "administrative_safe": on, "blocked": blocked}),
        format!(
            "{} {username}",
            if on { "protected" } else { "unprotected" }
        ),
    );
    Ok(())
}

/// `audit`
pub async fn audit(
    store: &Store,
    config: &Config,
    out: Output,
    user: Option<String>,
    limit: i64,
) -> anyhow::Result<()> {
    if limit < 0 {
        anyhow::bail!("--limit must be 0 or more");
    }
    let entries = store.audit(user.as_deref(), limit).await?;
    let text = entries
        .iter()
        .map(|e| {
            format!(
                "{}  {:<16} {:<16} {:<24} {}",
                local(Some(e.created_at), config),
                e.username,
                e.operation,
                e.performed_by,
                e.reason.clone().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    print(out, json!(entries), text);
    Ok(())
}

/// `reset`
pub async fn reset(store: &Store, config: &Config, out: Output) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let report = reset::daily_reset(store, config.quota.timezone, now, &operator()).await?;
    let day = crate::quota::engine::period_keys(config.quota.timezone, now).0;
    store.claim_job(reset::JOB, &day, &operator()).await?;
    print(
        out,
        json!(report),
        format!(
            "daily reset for {}: {} unblocked, {} protections ended",
            report.day,
            report.unblocked.len(),
            report.unprotected.len()
        ),
    );
    Ok(())
}
