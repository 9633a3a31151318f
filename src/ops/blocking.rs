//! The blocking service: the only writer of blocks and protections. Manual actions
//! (block, unblock, protect, unprotect), automatic blocks for a reached limit and the
//! daily reset all go through `Store::change_block`: one transaction that locks the
//! user's row, applies the blocking rule ([`block_rule`](super::block_rule)) to the row
//! as it is then, and writes the new row, its audit rows, its domain event and the state
//! version bump together (a lock conflict is tried again). Two changes that arrive
//! together on two proxies end as one of their serial orders would; none is lost.

use super::admin_audit::{json, record};
use super::block_rule::{self, Clock, Refused, Requested};
use super::views::BlockingView;
use super::{Ops, OpsError};
use crate::calendar;
use crate::domain::{Actor, AdminOperation, AuditOperation, BlockKind, DomainEvent, NewEvent};
use crate::store::{AuditRecord, BlockChange, BlockStatus, StoreError};

/// How long a manual block lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockDuration {
    /// This many seconds from now.
    For(u64),
    /// Until the next daily reset (00:00 in `quota.timezone`).
    UntilReset,
    /// Until an administrator lifts it.
    Indefinite,
}

/// The longest timed block: 366 days (longer is `indefinite`).
pub const MAX_BLOCK_SECS: u64 = 366 * 86_400;

impl std::str::FromStr for BlockDuration {
    type Err = String;

    /// `90s`, `30m`, `2h30m`, `1d`, `1w` (numbers with s/m/h/d/w, in sequence, up to
    /// 366 days), `until-reset` or `indefinite`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "until-reset" => return Ok(Self::UntilReset),
            "indefinite" => return Ok(Self::Indefinite),
            _ => {}
        }
        let bad = || {
            format!(
                "`{s}` is not a duration like 90s, 30m, 2h30m, 1d, 1w, until-reset or indefinite"
            )
        };
        let mut total: u64 = 0;
        let mut digits = String::new();
        for c in s.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3_600,
                'd' => 86_400,
                'w' => 604_800,
                _ => return Err(bad()),
            };
            let n: u64 = digits.parse().map_err(|_| bad())?;
            digits.clear();
            total = n
                .checked_mul(unit)
                .and_then(|v| total.checked_add(v))
                .unwrap_or(u64::MAX);
        }
        if !digits.is_empty() || total == 0 {
            return Err(bad());
        }
        if total > MAX_BLOCK_SECS {
            return Err(format!(
                "`{s}` is longer than the longest timed block (366d); use `indefinite`"
            ));
        }
        Ok(Self::For(total))
    }
}

/// The blocking audit row of a change to `status`'s user.
pub(crate) fn audit_row(
    status: &BlockStatus,
    operation: AuditOperation,
    reason: Option<String>,
    actor: &Actor,
) -> AuditRecord {
    AuditRecord {
        user_id: status.user_id,
        username: status.username.clone(),
        operation,
        reason,
        performed_by: actor.to_string(),
        requests_at_time: None,
        limit_at_time: None,
        usage_percent: None,
    }
}

/// The rule's clock at `now` in `tz`.
pub(crate) fn clock(tz: chrono_tz::Tz, now: chrono::DateTime<chrono::Utc>) -> Clock {
    Clock {
        now_ms: now.timestamp_millis(),
        day_end_ms: calendar::day(tz, now).end_ms,
    }
}

impl Ops {
    /// Applies an administrator's change to `username`'s blocking row, in one
    /// transaction on the row as it is then ([`block_rule::apply`]), with its audit
    /// rows and event; returns the row it left.
    async fn manual(
        &self,
        actor: &Actor,
        username: &str,
        requested: Requested,
        reason: Option<String>,
    ) -> Result<BlockingView, OpsError> {
        let user = self.store.user(username).await?;
        let clock = clock(self.tz, self.now());
        let applied = self
            .store
            .change_block(user.id, &user.username, |before| {
                let status = block_rule::apply(before, &requested, clock).map_err(|r| match r {
                    Refused::NotBlocked => StoreError::Conflict(format!(
                        "user `{username}` is not blocked (calls refused for a reached limit \
                         are not a block: raise the limit or protect the user)"
                    )),
                })?;
                Ok(status.map(|s| self.manual_change(actor, before, s, &requested, &reason)))
            })
            .await?;
        Ok(self.view(&applied.after))
    }

    /// The rows an administrator's change from `before` to `status` writes.
    fn manual_change(
        &self,
        actor: &Actor,
        before: &BlockStatus,
        status: BlockStatus,
        requested: &Requested,
        reason: &Option<String>,
    ) -> BlockChange {
        let by = actor.to_string();
        let (user_id, username) = (status.user_id, status.username.clone());
        let (admin_op, operation, event) = match requested {
            Requested::Block { reason, until } => (
                AdminOperation::Block,
                AuditOperation::Block,
                DomainEvent::Blocked {
                    user_id,
                    username,
                    kind: BlockKind::Manual,
                    reason: reason.clone(),
                    until: *until,
                    limit: None,
                    by,
                },
            ),
            Requested::Protect(on) => (
                if *on {
                    AdminOperation::Protect
                } else {
                    AdminOperation::Unprotect
                },
                if *on {
                    AuditOperation::Protect
                } else {
                    AuditOperation::Unprotect
                },
                DomainEvent::ProtectionChanged {
                    user_id,
                    username,
                    protected: *on,
                    until: None,
                    by,
                },
            ),
            // Unblock (automatic changes never come here).
            _ => (
                AdminOperation::Unblock,
                AuditOperation::Unblock,
                DomainEvent::Unblocked {
                    user_id,
                    username,
                    was: before.kind,
                    reason: reason.clone(),
                    protected_until: status.safe_until.filter(|_| status.administrative_safe),
                    by,
                },
            ),
        };
        let view = self.view(&status);
        let mut after = json(&view);
        if let (Some(serde_json::Value::Object(m)), Some(r)) = (after.as_mut(), reason) {
            m.insert("reason".into(), r.clone().into());
        }
        let admin = record(
            actor,
            admin_op,
            format!("user:{}", status.username),
            json(&self.view(before)),
            after,
        );
        let audit = audit_row(&status, operation, reason.clone(), actor);
        BlockChange {
            status,
            audit,
            event: NewEvent::new(event),
            admin: Some(admin),
        }
    }

    /// Users who are blocked or protected now, by name.
    pub(crate) async fn blocks(&self) -> Result<Vec<BlockingView>, OpsError> {
        let mut rows: Vec<BlockingView> = self
            .store
            .block_rows()
            .await?
            .iter()
            .map(|s| self.view(s))
            .collect();
        rows.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(rows)
    }

    /// Blocks a user by hand: 403 AccessDenied until `duration` ends. A standing
    /// protection stays (it covers limits, not an administrator's block).
    pub async fn block(
        &self,
        actor: &Actor,
        username: &str,
        duration: BlockDuration,
        reason: Option<String>,
    ) -> Result<BlockingView, OpsError> {
        let now = self.now();
        let until = match duration {
            BlockDuration::For(secs) => Some(
                now.timestamp_millis()
                    .saturating_add(i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000)),
            ),
            BlockDuration::UntilReset => Some(calendar::day(self.tz, now).end_ms),
            BlockDuration::Indefinite => None,
        };
        let reason = reason.unwrap_or_else(|| "blocked by an administrator".into());
        let requested = Requested::Block {
            until,
            reason: reason.clone(),
        };
        self.manual(actor, username, requested, Some(reason)).await
    }

    /// Lifts a block. After an automatic block the user is also protected until the
    /// next daily reset, so the same limit does not block them again at once.
    pub async fn unblock(
        &self,
        actor: &Actor,
        username: &str,
        reason: Option<String>,
    ) -> Result<BlockingView, OpsError> {
        self.manual(actor, username, Requested::Unblock, reason)
            .await
    }

    /// Gives (`on`) or takes away standing protection from limits. Protection lifts an
    /// automatic block, never an administrator's.
    pub async fn protect(
        &self,
        actor: &Actor,
        username: &str,
        on: bool,
    ) -> Result<BlockingView, OpsError> {
        self.manual(actor, username, Requested::Protect(on), None)
            .await
    }
}

impl Ops {
    fn view(&self, s: &BlockStatus) -> BlockingView {
        BlockingView::new(s, s.username.clone(), self.tz)
    }
}
