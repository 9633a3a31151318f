//! Acting on quota events off the request path: an automatic block (with its audit row)
//! when a user reaches one of their own limits, and one warning event per limit and
//! period when usage crosses `quota.warning_percent`. Each is recorded once per period
//! across all proxies (`quota_events` is unique per kind, subject, limit and period).

use std::sync::Arc;

use chrono_tz::Tz;
use tokio::sync::mpsc;

use super::engine::{refusal_message, LimitRef, QuotaEvent, Refusal};
use super::{Metric, Subject};
use crate::store::{BlockChange, BlockKind, Store, StoreError};

/// The name of a limit as stored (`daily_requests`, `monthly_budget_usd`).
pub fn limit_name(limit: &LimitRef) -> String {
    let metric = match limit.metric {
        Metric::Requests => "requests",
        Metric::MicroUsd => "budget_usd",
    };
    format!("{}_{metric}", limit.window.adjective())
}

/// Handles events until the channel closes.
pub async fn run(
    store: Arc<Store>,
    tz: Tz,
    performed_by: String,
    mut rx: mpsc::UnboundedReceiver<QuotaEvent>,
) {
    while let Some(event) = rx.recv().await {
        let mut delay = std::time::Duration::from_millis(100);
        for _ in 0..20 {
            match handle(&store, tz, &performed_by, &event).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "recording a quota event failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(5));
                }
            }
        }
    }
}

/// Records one event.
pub async fn handle(
    store: &Store,
    tz: Tz,
    performed_by: &str,
    event: &QuotaEvent,
) -> Result<(), StoreError> {
    match event {
        QuotaEvent::Warning {
            limit,
            used,
            period,
        } => {
            let detail = format!(
                "{} {} of {} used ({:.0}%)",
                limit.name,
                used,
                limit.limit,
                percent(*used, limit.limit)
            );
            store
                .quota_event(
                    "warning",
                    &limit.subject.stored(),
                    &limit_name(limit),
                    period,
                    &detail,
                )
                .await?;
        }
        QuotaEvent::Exhausted {
            user_id,
            username,
            limit,
            used,
            period,
            resets_at,
        } => {
            let message = refusal_message(
                &Refusal::Limit {
                    limit: limit.clone(),
                    used: *used,
                    resets_at: *resets_at,
                    period: period.clone(),
                },
                tz,
            );
            let subject = limit.subject.stored();
            let first = store
                .quota_event("exhausted", &subject, &limit_name(limit), period, &message)
                .await?;
            if !first || !matches!(limit.subject, Subject::User(_)) {
                return Ok(());
            }
            let change = BlockChange {
                user_id: *user_id,
                username: username.clone(),
                operation: "auto_block".into(),
                reason: Some(message),
                performed_by: performed_by.to_string(),
                requests_at_time: (limit.metric == Metric::Requests).then_some(*used),
                limit_at_time: Some(limit.limit),
                usage_percent: Some(percent(*used, limit.limit)),
            };
            store
                .set_block(
                    &change,
                    true,
                    Some(BlockKind::Automatic),
                    Some(resets_at.timestamp_millis()),
                    false,
                    None,
                )
                .await?;
            tracing::info!(user = %username, limit = %limit_name(limit), "user blocked automatically");
        }
    }
    Ok(())
}

fn percent(used: i64, limit: i64) -> f64 {
    if limit <= 0 {
        100.0
    } else {
        used as f64 * 100.0 / limit as f64
    }
}
