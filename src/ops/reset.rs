//! The daily reset: at 00:00 in `quota.timezone` (or now, with `bedrock-gate reset`) it
//! lifts automatic blocks whose period has ended and manual blocks whose duration ran
//! out, and ends day-long protections, each through the blocking service (status, audit
//! row and event together), then writes one `reset_done` event with the summary.
//! Counters need no reset: a new day is a new counter row.
//!
//! With several proxies exactly one runs each day's reset: it first claims the day in
//! `scheduler_runs` (a unique row). A proxy that was down at midnight claims and runs
//! the day's reset when it starts, unless another proxy already did.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::admin_audit::{json, record};
use super::block_rule::{self, reset_effect, Clock, Requested, ResetEffect};
use super::blocking::{audit_row, clock};
use super::{Ops, OpsError};
use crate::calendar;
use crate::domain::{Actor, AdminOperation, AuditOperation, DomainEvent, NewEvent};
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
    /// summary is the admin audit row, written with the `reset_done` event.
    pub async fn reset_now(&self, actor: &Actor) -> Result<ResetReport, OpsError> {
        let now = self.now();
        let report = self.daily_reset(actor, now, Some(Once::ByHand)).await?;
        self.store
            .claim_job(JOB, &report.day, actor.as_str())
            .await?;
        Ok(report)
    }

    /// Runs the reset as of `now`, by the scheduler (its `reset_done` event once per
    /// day, key `reset:<day>`) or by hand (audited).
    async fn daily_reset(
        &self,
        actor: &Actor,
        now: DateTime<Utc>,
        how: Option<Once>,
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
        let event = DomainEvent::ResetDone {
            day: report.day.clone(),
            unblocked: report.unblocked.clone(),
            unprotected: report.unprotected.clone(),
            by: actor.to_string(),
        };
        match how {
            Some(Once::Scheduled(key)) => {
                self.store.append_event(&NewEvent::once(event, key)).await?;
            }
            Some(Once::ByHand) | None => {
                let audit = record(
                    actor,
                    AdminOperation::Reset,
                    "reset".into(),
                    None,
                    json(&report),
                );
                self.store
                    .append_event_audited(&NewEvent::new(event), &audit)
                    .await?;
            }
        }
        Ok(report)
    }

    /// Runs the reset once per local day, on exactly one proxy; catches up at start.
    pub(crate) async fn run_reset_scheduler(self: Arc<Self>, actor: Actor) {
        loop {
            let now = Utc::now();
            let (day, _) = period_keys(self.tz, now);
            match self.store.claim_job(JOB, &day, actor.as_str()).await {
                Ok(true) => match self
                    .daily_reset(&actor, now, Some(Once::Scheduled(format!("reset:{day}"))))
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
            let next = calendar::day(self.tz, Utc::now()).end_ms;
            let wait = u64::try_from(next - Utc::now().timestamp_millis()).unwrap_or(0) + 1000;
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }
}

/// Who runs a reset: the scheduler, once per day under this dedupe key, or an
/// administrator by hand.
enum Once {
    Scheduled(String),
    ByHand,
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
