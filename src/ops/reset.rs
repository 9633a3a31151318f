//! The daily reset: at 00:00 in `quota.timezone` (or now, with `bedrock-gate reset`) it
//! lifts automatic blocks whose period has ended and manual blocks whose duration ran
//! out, and ends day-long protections, each through the blocking service (status, audit
//! row and event together), then writes one `reset_done` event. Counters need no reset:
//! a new day is a new counter row.
//!
//! With several proxies exactly one runs each day's reset: it first claims the day in
//! `scheduler_runs` (a unique row). A proxy that was down at midnight claims and runs
//! the day's reset when it starts, unless another proxy (or a reset by hand) already did.
//!
//! The administrators' summary of the day that ended is a separate event,
//! `daily_summary`, written once per day (dedupe key `daily_summary:<day>`, so restarts,
//! several proxies and resets by hand never write a second one) when the day's records
//! are in: `summary_delay` after midnight, or at start when that is later. A reset by
//! hand carries the day so far in its own `reset_done` event instead (what the reset
//! cleared, as it was just before), and mails that, never the daily summary.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::admin_audit::{json, record};
use super::block_rule::{self, reset_effect, Clock, Requested, ResetEffect};
use super::blocking::{audit_row, clock};
use super::{Ops, OpsError};
use crate::calendar;
use crate::domain::{Actor, AdminOperation, AuditOperation, DomainEvent, NewEvent, ResetByHand};
use crate::quota::engine::period_keys;
use crate::store::{BlockChange, BlockStatus};

/// The job name in `scheduler_runs`.
pub(crate) const JOB: &str = "daily_reset";

/// What a reset did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ResetReport {
    /// The local day the reset ran for.
    pub(crate) day: String,
    /// Users whose block was lifted.
    pub unblocked: Vec<String>,
    /// Users whose day-long protection ended.
    pub(crate) unprotected: Vec<String>,
}

impl Ops {
    /// Runs the daily reset now, by hand, and marks today's scheduled reset as done. Its
    /// `reset_done` event (with the admin audit row) carries the day so far, read just
    /// before the reset changed anything.
    pub async fn reset_now(&self, actor: &Actor) -> Result<ResetReport, OpsError> {
        let now = self.now();
        let today = now.with_timezone(&self.tz).date_naive();
        let so_far = self.daily_summary(today).await?;
        let by_hand = ResetByHand {
            at: now.timestamp_millis(),
            so_far,
        };
        let report = self
            .daily_reset(actor, now, Once::ByHand(Box::new(by_hand)))
            .await?;
        self.store
            .claim_job(JOB, &report.day, actor.as_str())
            .await?;
        Ok(report)
    }

    /// Runs the reset as of `now`, by the scheduler (its `reset_done` event once per
    /// day, key `reset:<day>`) or by hand (audited, keyed by the run).
    async fn daily_reset(
        &self,
        actor: &Actor,
        now: DateTime<Utc>,
        how: Once,
    ) -> Result<ResetReport, OpsError> {
        let clock = clock(self.tz, now);
        let mut report = ResetReport {
            day: period_keys(self.tz, now).0,
            ..Default::default()
        };
        for row in self.store.block_rows().await? {
            if reset_effect(&row, clock) == NO_EFFECT {
                continue;
            }
            // On the row as it is now (an administrator may have changed it since).
            let applied = self
                .store
                .change_block(row.user_id, &row.username, |before| {
                    let Ok(Some(status)) = block_rule::apply(before, &Requested::Reset, clock)
                    else {
                        return Ok(None);
                    };
                    Ok(Some(reset_change(before, status, clock, actor)))
                })
                .await?;
            if !applied.written {
                continue;
            }
            let effect = reset_effect(&applied.before, clock);
            if effect.lift {
                report.unblocked.push(row.username.clone());
            }
            if effect.end_protection {
                report.unprotected.push(row.username.clone());
            }
        }
        let event = |by_hand| DomainEvent::ResetDone {
            day: report.day.clone(),
            unblocked: report.unblocked.clone(),
            unprotected: report.unprotected.clone(),
            by: actor.to_string(),
            by_hand,
        };
        match how {
            Once::Scheduled(key) => {
                self.store
                    .append_event(&NewEvent::once(event(None), key))
                    .await?;
            }
            Once::ByHand(by_hand) => {
                let key = format!("reset_by_hand:{}:{actor}", by_hand.at);
                let audit = record(
                    actor,
                    AdminOperation::Reset,
                    "reset".into(),
                    None,
                    json(&report),
                );
                self.store
                    .append_event_audited(&NewEvent::once(event(Some(*by_hand)), key), &audit)
                    .await?;
            }
        }
        Ok(report)
    }

    /// Writes the `daily_summary` event of local day `day` unless one was written
    /// before (by this proxy before a restart, or by another); true when this call
    /// wrote it.
    pub(crate) async fn queue_daily_summary(&self, day: NaiveDate) -> Result<bool, OpsError> {
        let day = super::aggregates::day_key(day);
        let event = DomainEvent::DailySummary { day: day.clone() };
        let new = self
            .store
            .append_event(&NewEvent::once(event, format!("daily_summary:{day}")))
            .await?;
        if new {
            tracing::info!(%day, "the daily summary of {day} is queued");
        } else {
            tracing::info!(%day, "the daily summary of {day} was queued before");
        }
        Ok(new)
    }

    /// Runs the reset once per local day, on exactly one proxy, and queues the summary
    /// of the day before once its records are in; catches up at start.
    pub(crate) async fn run_reset_scheduler(self: Arc<Self>, actor: Actor) {
        loop {
            let now = Utc::now();
            let (day, _) = period_keys(self.tz, now);
            match self.store.claim_job(JOB, &day, actor.as_str()).await {
                Ok(true) => match self
                    .daily_reset(&actor, now, Once::Scheduled(format!("reset:{day}")))
                    .await
                {
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
            let today = now.with_timezone(&self.tz).date_naive();
            if let Some(ended) = today.pred_opt() {
                sleep_until_ms(summary_due(self.tz, today, self.summary_delay)).await;
                while let Err(e) = self.queue_daily_summary(ended).await {
                    tracing::warn!(error = %e, "cannot queue the daily summary; retrying in 30 s");
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
            }
            // The next day's reset (at once if this day's work took past its end).
            sleep_until_ms(calendar::day(self.tz, now).end_ms + 1000).await;
        }
    }
}

/// When the summary of the day before `today` is due: `delay` after `today` began (the
/// calls in flight at midnight have ended and their records are stored by then).
fn summary_due(tz: chrono_tz::Tz, today: NaiveDate, delay: Duration) -> i64 {
    let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
    calendar::start_of_day(tz, today)
        .timestamp_millis()
        .saturating_add(delay_ms)
}

/// Sleeps until epoch millisecond `at` (not at all if it has passed).
async fn sleep_until_ms(at: i64) {
    let wait = u64::try_from(at - Utc::now().timestamp_millis()).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(wait)).await;
}

/// Who runs a reset: the scheduler, once per day under this dedupe key, or an
/// administrator by hand (with the day so far).
enum Once {
    Scheduled(String),
    ByHand(Box<ResetByHand>),
}

/// A reset that does nothing to a row.
const NO_EFFECT: ResetEffect = ResetEffect {
    lift: false,
    end_protection: false,
};

/// The rows the reset writes for its change of `before` to `status`: one audit row and
/// event, named after the lift when it lifts a block.
fn reset_change(
    before: &BlockStatus,
    status: BlockStatus,
    clock: Clock,
    actor: &Actor,
) -> BlockChange {
    let was = before.kind;
    let (operation, event) = if reset_effect(before, clock).lift {
        (
            AuditOperation::ResetUnblock,
            DomainEvent::Unblocked {
                user_id: status.user_id,
                username: status.username.clone(),
                was,
                reason: Some("daily reset".into()),
                protected_until: None,
                by: actor.to_string(),
            },
        )
    } else {
        (
            AuditOperation::ResetUnprotect,
            DomainEvent::ProtectionChanged {
                user_id: status.user_id,
                username: status.username.clone(),
                protected: false,
                until: None,
                by: actor.to_string(),
            },
        )
    };
    let audit = audit_row(&status, operation, Some("daily reset".into()), actor);
    BlockChange {
        status,
        audit,
        admin: None,
        event: NewEvent::new(event),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn the_summary_is_due_the_delay_after_local_midnight() {
        let delay = Duration::from_secs(660);
        // 2026-12-07 00:00 CET is 2026-12-06 23:00 UTC.
        let day = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        assert_eq!(
            summary_due(chrono_tz::Tz::CET, day, delay),
            ms("2026-12-06T23:00:00Z") + 660_000
        );
        // In summer time midnight is an hour earlier in UTC.
        let day = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
        assert_eq!(
            summary_due(chrono_tz::Tz::CET, day, delay),
            ms("2026-06-30T22:00:00Z") + 660_000
        );
    }
}
