//! The blocking service: the only writer of blocks and protections. Manual actions
//! (block, unblock, protect, unprotect), automatic blocks for a reached limit and the
//! daily reset all end in `Ops::change_block`, which writes the new status, its audit
//! row and its domain event in one transaction.

use super::admin_audit::{json, record};
use super::views::BlockingView;
use super::{Ops, OpsError};
use crate::calendar;
use crate::domain::{Actor, AdminOperation, AuditOperation, BlockKind, DomainEvent, NewEvent};
use crate::store::{AdminAuditRecord, AuditRecord, BlockStatus, User};

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

/// One change to a user's blocking status: the status after it, what the audit row
/// records, and the event others hear.
pub(crate) struct BlockChange {
    pub(crate) status: BlockStatus,
    pub(crate) audit: AuditRecord,
    pub(crate) event: NewEvent,
    /// The admin audit row of an administrator's change (none for automatic ones).
    pub(crate) admin: Option<AdminAuditRecord>,
}

impl BlockChange {
    /// An audit record for `status`'s user.
    pub(crate) fn audit(
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
}

impl Ops {
    /// Writes one blocking change. Returns `false` when the event's dedupe key was
    /// taken (another proxy made the same change first) and nothing was written.
    pub(crate) async fn change_block(&self, change: BlockChange) -> Result<bool, OpsError> {
        Ok(self
            .store
            .write_block(
                &change.status,
                &change.audit,
                &change.event,
                change.admin.as_ref(),
            )
            .await?)
    }

    /// Writes an administrator's change with its audit rows and event; returns the view.
    async fn manual(
        &self,
        actor: &Actor,
        before: &BlockStatus,
        status: BlockStatus,
        operation: AuditOperation,
        reason: Option<String>,
        event: DomainEvent,
    ) -> Result<BlockingView, OpsError> {
        let view = self.view(&status);
        let admin_op = match operation {
            AuditOperation::Block => AdminOperation::Block,
            AuditOperation::Unblock => AdminOperation::Unblock,
            AuditOperation::Protect => AdminOperation::Protect,
            _ => AdminOperation::Unprotect,
        };
        let mut after = json(&view);
        if let (Some(serde_json::Value::Object(m)), Some(r)) = (after.as_mut(), &reason) {
            m.insert("reason".into(), r.clone().into());
        }
        let admin = record(
            actor,
            admin_op,
            format!("user:{}", status.username),
            json(&self.view(before)),
            after,
        );
        let audit = BlockChange::audit(&status, operation, reason, actor);
        self.change_block(BlockChange {
            status,
            audit,
            event: NewEvent::new(event),
            admin: Some(admin),
        })
        .await?;
        Ok(view)
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

    /// A user's current blocking row (all clear when none).
    pub(crate) async fn status_of(&self, user: &User) -> Result<BlockStatus, OpsError> {
        Ok(self
            .store
            .block_status(user.id)
            .await?
            .unwrap_or(BlockStatus {
                user_id: user.id,
                username: user.username.clone(),
                ..Default::default()
            }))
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
        let user = self.store.user(username).await?;
        let before = self.status_of(&user).await?;
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
        let status = BlockStatus {
            blocked: true,
            kind: Some(BlockKind::Manual),
            reason: Some(reason.clone()),
            blocked_until: until,
            administrative_safe: before.administrative_safe && before.safe_until.is_none(),
            safe_until: None,
            ..before.clone()
        };
        let event = DomainEvent::Blocked {
            user_id: user.id,
            username: user.username.clone(),
            kind: BlockKind::Manual,
            reason: reason.clone(),
            until,
            limit: None,
            by: actor.to_string(),
        };
        self.manual(
            actor,
            &before,
            status,
            AuditOperation::Block,
            Some(reason),
            event,
        )
        .await
    }

    /// Lifts a block. After an automatic block the user is also protected until the
    /// next daily reset, so the same limit does not block them again at once.
    pub async fn unblock(
        &self,
        actor: &Actor,
        username: &str,
        reason: Option<String>,
    ) -> Result<BlockingView, OpsError> {
        let user = self.store.user(username).await?;
        let before = self.status_of(&user).await?;
        if !before.blocked {
            return Err(OpsError::Conflict(format!(
                "user `{username}` is not blocked (calls refused for a reached limit are not \
                 a block: raise the limit or protect the user)"
            )));
        }
        let (safe, safe_until) = if before.kind == Some(BlockKind::Automatic) {
            (true, Some(calendar::day(self.tz, self.now()).end_ms))
        } else {
            (before.administrative_safe, before.safe_until)
        };
        let status = BlockStatus {
            blocked: false,
            kind: None,
            reason: None,
            blocked_until: None,
            administrative_safe: safe,
            safe_until,
            ..before.clone()
        };
        let event = DomainEvent::Unblocked {
            user_id: user.id,
            username: user.username.clone(),
            was: before.kind,
            reason: reason.clone(),
            protected_until: safe_until.filter(|_| safe),
            by: actor.to_string(),
        };
        self.manual(
            actor,
            &before,
            status,
            AuditOperation::Unblock,
            reason,
            event,
        )
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
        let user = self.store.user(username).await?;
        let before = self.status_of(&user).await?;
        let lift_auto = on && before.kind == Some(BlockKind::Automatic);
        let blocked = before.blocked && !lift_auto;
        let status = BlockStatus {
            blocked,
            kind: if blocked { before.kind } else { None },
            reason: if blocked { before.reason.clone() } else { None },
            blocked_until: if blocked { before.blocked_until } else { None },
            administrative_safe: on,
            safe_until: None,
            ..before.clone()
        };
        let operation = if on {
            AuditOperation::Protect
        } else {
            AuditOperation::Unprotect
        };
        let event = DomainEvent::ProtectionChanged {
            user_id: user.id,
            username: user.username.clone(),
            protected: on,
            until: None,
            by: actor.to_string(),
        };
        self.manual(actor, &before, status, operation, None, event)
            .await
    }
}

impl Ops {
    fn view(&self, s: &BlockStatus) -> BlockingView {
        BlockingView::new(s, s.username.clone(), self.tz)
    }
}
