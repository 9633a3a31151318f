//! Acting on the quota engine's events, off the request path: a warning event once per
//! threshold, limit and period; for a user's own limit, an automatic block until the
//! limit resets (through the blocking service, on the user's row as it is then: a
//! protection or a longer block given after this proxy's view stays); for a team's
//! limit, one event. Each is written once per period across all proxies (the outbox's
//! dedupe keys).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::block_rule::{self, Requested};
use super::blocking::{audit_row, clock};
use super::{Ops, OpsError};
use crate::domain::{Actor, AuditOperation, BlockKind, DomainEvent, LimitSubject, NewEvent};
use crate::quota::engine::{refusal_message, LimitRef, QuotaEvent, Refusal};
use crate::quota::{limit_name, Metric, Subject};
use crate::store::BlockChange;

/// Handles events until the channel closes, retrying each for a while when the
/// database is away.
pub(crate) async fn run(ops: Arc<Ops>, actor: Actor, mut rx: mpsc::UnboundedReceiver<QuotaEvent>) {
    while let Some(event) = rx.recv().await {
        let mut delay = Duration::from_millis(100);
        for _ in 0..20 {
            match ops.quota_event(&actor, &event).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "recording a quota event failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

fn subject(limit: &LimitRef) -> LimitSubject {
    match limit.subject {
        Subject::User(id) => LimitSubject::User {
            id,
            name: limit.name.to_string(),
        },
        Subject::Team(id) => LimitSubject::Team {
            id,
            name: limit.name.to_string(),
        },
    }
}

fn percent(used: i64, limit: i64) -> f64 {
    if limit <= 0 {
        100.0
    } else {
        used as f64 * 100.0 / limit as f64
    }
}

impl Ops {
    /// Records one quota event.
    pub(crate) async fn quota_event(
        &self,
        actor: &Actor,
        event: &QuotaEvent,
    ) -> Result<(), OpsError> {
        match event {
            QuotaEvent::Warning {
                limit,
                used,
                period,
                threshold_percent,
                resets_at,
            } => {
                let name = limit_name(limit.window, limit.metric);
                let subject = subject(limit);
                let key = format!(
                    "warning:{}:{name}:{period}:{threshold_percent}",
                    subject.key()
                );
                let event = DomainEvent::Warning {
                    subject,
                    limit: name,
                    threshold_percent: *threshold_percent,
                    used: *used,
                    limit_value: limit.limit,
                    period: period.clone(),
                    resets_at: resets_at.timestamp_millis(),
                };
                self.store.append_event(&NewEvent::once(event, key)).await?;
            }
            QuotaEvent::Exhausted {
                user_id,
                username,
                limit,
                used,
                reserved,
                period,
                resets_at,
            } => {
                let message = refusal_message(
                    &Refusal::Limit {
                        limit: limit.clone(),
                        used: *used,
                        reserved: *reserved,
                        held_elsewhere: 0,
                        asked: 0,
                        room: 0,
                        resets_at: *resets_at,
                        period: period.clone(),
                    },
                    self.tz,
                );
                let name = limit_name(limit.window, limit.metric);
                let subject = subject(limit);
                let key = format!("limit_reached:{}:{name}:{period}", subject.key());
                if !matches!(limit.subject, Subject::User(_)) {
                    let event = DomainEvent::TeamLimitReached {
                        subject,
                        limit: name,
                        used: *used,
                        limit_value: limit.limit,
                        period: period.clone(),
                        resets_at: resets_at.timestamp_millis(),
                    };
                    self.store.append_event(&NewEvent::once(event, key)).await?;
                    return Ok(());
                }
                let until = resets_at.timestamp_millis();
                let requested = Requested::AutoBlock {
                    until,
                    reason: message.clone(),
                };
                let clock = clock(self.tz, self.now());
                let applied = self
                    .store
                    .change_block(*user_id, username, |before| {
                        // On the row as it is now: a protection or a block that lasts as
                        // long (given after this proxy's view) stays as it is.
                        let Ok(Some(status)) = block_rule::apply(before, &requested, clock) else {
                            return Ok(None);
                        };
                        let mut audit = audit_row(
                            &status,
                            AuditOperation::AutoBlock,
                            Some(message.clone()),
                            actor,
                        );
                        audit.requests_at_time =
                            (limit.metric == Metric::Requests).then_some(*used);
                        audit.limit_at_time = Some(limit.limit);
                        audit.usage_percent = Some(percent(*used, limit.limit));
                        let event = DomainEvent::Blocked {
                            user_id: *user_id,
                            username: username.clone(),
                            kind: BlockKind::Automatic,
                            reason: message.clone(),
                            until: Some(until),
                            limit: Some(name.clone()),
                            by: actor.to_string(),
                        };
                        Ok(Some(BlockChange {
                            status,
                            audit,
                            event: NewEvent::once(event, key.clone()),
                            admin: None,
                        }))
                    })
                    .await?;
                if applied.written {
                    tracing::info!(user = %username, limit = %name, "user blocked automatically");
                } else {
                    tracing::debug!(user = %username, limit = %name,
                        "no automatic block: protected, blocked as long already, or blocked \
                         by another proxy");
                }
            }
        }
        Ok(())
    }
}
