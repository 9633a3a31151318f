//! The daily reset: at 00:00 in `quota.timezone` (or now, with `bedrock-gate reset`) it
//! lifts automatic blocks whose period has ended and manual blocks whose duration ran
//! out, ends day-long protections, and writes an audit row for each. Counters need no
//! reset: a new day is a new counter row.
//!
//! With several proxies exactly one runs each day's reset: it first claims the day in
//! `scheduler_runs` (a unique row). A proxy that was down at midnight claims and runs
//! the day's reset when it starts, unless another proxy already did.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::calendar;
use super::engine::period_keys;
use crate::store::{BlockChange, BlockKind, Store, StoreError};

/// The job name in `scheduler_runs`.
pub const JOB: &str = "daily_reset";

/// What a reset did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ResetReport {
    /// The local day the reset ran for.
    pub day: String,
    /// Users whose block was lifted.
    pub unblocked: Vec<String>,
    /// Users whose day-long protection ended.
    pub unprotected: Vec<String>,
}

/// Runs the daily reset as of `now`.
pub async fn daily_reset(
    store: &Store,
    tz: Tz,
    now: DateTime<Utc>,
    performed_by: &str,
) -> Result<ResetReport, StoreError> {
    let now_ms = now.timestamp_millis();
    let day_end = calendar::day(tz, now).end_ms;
    let mut report = ResetReport {
        day: period_keys(tz, now).0,
        ..Default::default()
    };
    for row in store.block_rows().await? {
        let username = &row.username;
        let lift = row.blocked
            && match row.kind {
                // Daily limits block until the day's end; monthly ones until the month's.
                Some(BlockKind::Automatic) => row.blocked_until.is_none_or(|u| u <= day_end),
                _ => row.blocked_until.is_some_and(|u| u <= now_ms),
            };
        let end_protection =
            row.administrative_safe && row.safe_until.is_some_and(|u| u <= day_end);
        if !lift && !end_protection {
            continue;
        }
        let change = BlockChange {
            user_id: row.user_id,
            username: username.clone(),
            operation: if lift {
                "reset_unblock"
            } else {
                "reset_unprotect"
            }
            .into(),
            reason: Some("daily reset".into()),
            performed_by: performed_by.to_string(),
            requests_at_time: None,
            limit_at_time: None,
            usage_percent: None,
        };
        let (blocked, kind, until) = if lift {
            (false, None, None)
        } else {
            (row.blocked, row.kind, row.blocked_until)
        };
        let (safe, safe_until) = if end_protection {
            (false, None)
        } else {
            (row.administrative_safe, row.safe_until)
        };
        store
            .set_block(&change, blocked, kind, until, safe, safe_until)
            .await?;
        if lift {
            report.unblocked.push(username.clone());
        }
        if end_protection {
            report.unprotected.push(username.clone());
        }
    }
    Ok(report)
}

/// Runs the reset once per local day, on exactly one proxy; catches up at start.
pub async fn run_scheduler(store: Arc<Store>, tz: Tz, performed_by: String) {
    loop {
        let now = Utc::now();
        let (day, _) = period_keys(tz, now);
        match store.claim_job(JOB, &day, &performed_by).await {
            Ok(true) => match daily_reset(&store, tz, now, &performed_by).await {
                Ok(r) => tracing::info!(day = %r.day, unblocked = r.unblocked.len(),
                    unprotected = r.unprotected.len(), "daily reset done"),
                Err(e) => tracing::error!(error = %e, "daily reset failed"),
            },
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim the daily reset; retrying in 30 s");
                tokio::time::sleep(Duration::from_secs(30)).await;
                continue;
            }
        }
        let next = calendar::day(tz, Utc::now()).end_ms;
        let wait = (next - Utc::now().timestamp_millis()).max(0) as u64 + 1000;
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
}
