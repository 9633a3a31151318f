//! Domain events: the changes a person or another system must hear about (a warning
//! threshold crossed, a block, an unblock, protection, limits changed, a key issued or
//! revoked, a user moved to another team, a user or team renamed, an IAM user linked or
//! unlinked, the daily reset, a day's summary due, a system alert), as one typed value each.
//!
//! The service layer writes each event to the outbox in the same transaction as the
//! change it describes; subscribers (the log today, email, webhooks and the IAM
//! backstop later) read them from there. The JSON form (`{"type": "blocked", ...}`) is
//! what the outbox stores and what webhooks will carry, so fields are only ever added.

use serde::{Deserialize, Serialize};

use super::{BlockKind, Limits, ResetByHand};

/// Whose limit an event is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LimitSubject {
    /// A user's own limit.
    User {
        /// Database id.
        id: i64,
        /// Username.
        name: String,
    },
    /// A team's shared limit.
    Team {
        /// Database id.
        id: i64,
        /// Team name.
        name: String,
    },
}

impl LimitSubject {
    /// `user:12` or `team:3`, as in quota counters.
    pub(crate) fn key(&self) -> String {
        match self {
            Self::User { id, .. } => format!("user:{id}"),
            Self::Team { id, .. } => format!("team:{id}"),
        }
    }
}

/// One change others must hear about.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DomainEvent {
    /// Usage crossed a warning threshold of a limit (once per threshold, limit, period).
    Warning {
        /// Whose limit.
        subject: LimitSubject,
        /// `daily_requests`, `monthly_budget_usd`, ...
        limit: String,
        /// The threshold crossed, in percent of the limit.
        threshold_percent: u8,
        /// Used or held when it was crossed (requests, or micro-USD for budgets).
        used: i64,
        /// The limit, in the same unit.
        limit_value: i64,
        /// The period (`2026-11-25`, `2026-11`).
        period: String,
        /// When the period ends (epoch ms).
        resets_at: i64,
    },
    /// A team's limit was reached (its members' calls are refused until it resets).
    TeamLimitReached {
        /// The team.
        subject: LimitSubject,
        /// Which limit.
        limit: String,
        /// Used or held.
        used: i64,
        /// The limit.
        limit_value: i64,
        /// The period.
        period: String,
        /// When it resets (epoch ms).
        resets_at: i64,
    },
    /// A user was blocked, by an administrator or by reaching a limit.
    Blocked {
        /// Database id.
        user_id: i64,
        /// Username.
        username: String,
        /// Manual or automatic.
        kind: BlockKind,
        /// Why (for automatic blocks: the limit's refusal message).
        reason: String,
        /// Until when (epoch ms); `None` is indefinite.
        until: Option<i64>,
        /// The limit reached (automatic blocks only).
        limit: Option<String>,
        /// Who blocked (`cli:alice`, `proxy:host:pid`).
        by: String,
    },
    /// A block was lifted, by an administrator or by the daily reset.
    Unblocked {
        /// Database id.
        user_id: i64,
        /// Username.
        username: String,
        /// What kind of block was lifted.
        was: Option<BlockKind>,
        /// Why.
        reason: Option<String>,
        /// Until when the user is now protected (after an automatic block).
        protected_until: Option<i64>,
        /// Who.
        by: String,
    },
    /// Protection from limits was given or taken away.
    ProtectionChanged {
        /// Database id.
        user_id: i64,
        /// Username.
        username: String,
        /// Protected now.
        protected: bool,
        /// Until when (epoch ms); `None` is standing (or none).
        until: Option<i64>,
        /// Who (`scheduler` names the daily reset ending a day-long protection).
        by: String,
    },
    /// A user's or team's limits were changed.
    LimitsChanged {
        /// Whose.
        subject: LimitSubject,
        /// Before the change.
        before: Limits,
        /// After it.
        after: Limits,
        /// Who.
        by: String,
    },
    /// A key was issued.
    KeyIssued {
        /// The owner.
        username: String,
        /// The tool it is for.
        tool: String,
        /// Its access key id (never the secret).
        access_key_id: String,
        /// Who.
        by: String,
    },
    /// A key was revoked.
    KeyRevoked {
        /// The owner.
        username: String,
        /// The key.
        access_key_id: String,
        /// Who.
        by: String,
    },
    /// A user moved to another team (whose limits now apply to them).
    UserMoved {
        /// Database id.
        user_id: i64,
        /// The user.
        username: String,
        /// The team before.
        from_team: String,
        /// The team after.
        to_team: String,
        /// Who.
        by: String,
    },
    /// A user or team was renamed (records and rollups carry the new name).
    Renamed {
        /// Whose name, under its new name.
        subject: LimitSubject,
        /// The name before.
        from: String,
        /// Who.
        by: String,
    },
    /// Something is failing (database, upstream credentials, email, a webhook); at most
    /// one per kind per 15 minutes (dedupe key `alert:<kind>:<quarter hour>`).
    SystemAlert {
        /// `database_unreachable`, `upstream_credentials`, `email_failing`,
        /// `webhook_failing`.
        alert: String,
        /// What failed, for the administrator (never a secret).
        detail: String,
        /// The proxy that saw it.
        source: String,
        /// When (epoch ms).
        at: i64,
    },
    /// A proxy user was linked to an IAM user, or the link went (unlinked, or the user
    /// deleted): the IAM backstop brings that IAM user's deny policy in line.
    IamLinkChanged {
        /// Database id of the proxy user.
        user_id: i64,
        /// Its username.
        username: String,
        /// The IAM user name.
        iam_user: String,
        /// Linked now (`false`: the link went).
        linked: bool,
        /// Who.
        by: String,
    },
    /// The daily reset ran.
    ResetDone {
        /// The local day it ran for.
        day: String,
        /// Users whose block was lifted.
        unblocked: Vec<String>,
        /// Users whose day-long protection ended.
        unprotected: Vec<String>,
        /// Who ran it.
        by: String,
        /// Set when an administrator ran it by hand (`bedrock-gate reset`): when, and
        /// the day it cleared, so far. `None`: the scheduled reset at 00:00.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by_hand: Option<ResetByHand>,
    },
    /// A local day ended and its records are in: the administrators' summary of it is
    /// due. Once per day across proxies and restarts (dedupe key `daily_summary:<day>`).
    DailySummary {
        /// The local day that ended.
        day: String,
    },
}

/// The name of an event's type (the `type` field of its JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// [`DomainEvent::Warning`]
    Warning,
    /// [`DomainEvent::TeamLimitReached`]
    TeamLimitReached,
    /// [`DomainEvent::Blocked`]
    Blocked,
    /// [`DomainEvent::Unblocked`]
    Unblocked,
    /// [`DomainEvent::ProtectionChanged`]
    ProtectionChanged,
    /// [`DomainEvent::LimitsChanged`]
    LimitsChanged,
    /// [`DomainEvent::KeyIssued`]
    KeyIssued,
    /// [`DomainEvent::KeyRevoked`]
    KeyRevoked,
    /// [`DomainEvent::ResetDone`]
    ResetDone,
    /// [`DomainEvent::DailySummary`]
    DailySummary,
    /// [`DomainEvent::UserMoved`]
    UserMoved,
    /// [`DomainEvent::Renamed`]
    Renamed,
    /// [`DomainEvent::SystemAlert`]
    SystemAlert,
    /// [`DomainEvent::IamLinkChanged`]
    IamLinkChanged,
}

super::text_enum!(EventKind, "event type", {
    Warning => "warning",
    TeamLimitReached => "team_limit_reached",
    Blocked => "blocked",
    Unblocked => "unblocked",
    ProtectionChanged => "protection_changed",
    LimitsChanged => "limits_changed",
    KeyIssued => "key_issued",
    KeyRevoked => "key_revoked",
    ResetDone => "reset_done",
    DailySummary => "daily_summary",
    UserMoved => "user_moved",
    Renamed => "renamed",
    SystemAlert => "system_alert",
    IamLinkChanged => "iam_link_changed",
});

impl DomainEvent {
    /// The event's type.
    pub(crate) fn kind(&self) -> EventKind {
        match self {
            Self::Warning { .. } => EventKind::Warning,
            Self::TeamLimitReached { .. } => EventKind::TeamLimitReached,
            Self::Blocked { .. } => EventKind::Blocked,
            Self::Unblocked { .. } => EventKind::Unblocked,
            Self::ProtectionChanged { .. } => EventKind::ProtectionChanged,
            Self::LimitsChanged { .. } => EventKind::LimitsChanged,
            Self::KeyIssued { .. } => EventKind::KeyIssued,
            Self::KeyRevoked { .. } => EventKind::KeyRevoked,
            Self::ResetDone { .. } => EventKind::ResetDone,
            Self::DailySummary { .. } => EventKind::DailySummary,
            Self::UserMoved { .. } => EventKind::UserMoved,
            Self::Renamed { .. } => EventKind::Renamed,
            Self::SystemAlert { .. } => EventKind::SystemAlert,
            Self::IamLinkChanged { .. } => EventKind::IamLinkChanged,
        }
    }

    /// The user or team the event is about, as `user:<name>`/`team:<name>` (`None` for
    /// the reset and system alerts).
    pub(crate) fn subject(&self) -> Option<String> {
        let subject = |s: &LimitSubject| match s {
            LimitSubject::User { name, .. } => format!("user:{name}"),
            LimitSubject::Team { name, .. } => format!("team:{name}"),
        };
        match self {
            Self::Warning { subject: s, .. }
            | Self::TeamLimitReached { subject: s, .. }
            | Self::LimitsChanged { subject: s, .. }
            | Self::Renamed { subject: s, .. } => Some(subject(s)),
            Self::Blocked { username, .. }
            | Self::Unblocked { username, .. }
            | Self::ProtectionChanged { username, .. }
            | Self::KeyIssued { username, .. }
            | Self::KeyRevoked { username, .. }
            | Self::UserMoved { username, .. }
            | Self::IamLinkChanged { username, .. } => Some(format!("user:{username}")),
            Self::ResetDone { .. } | Self::DailySummary { .. } | Self::SystemAlert { .. } => None,
        }
    }
}

/// An event on its way into the outbox. Events with a `dedupe_key` are stored at most
/// once per key, across every proxy on the database: the second writer of the same key
/// learns that it lost and does nothing (no second block, no second warning).
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    /// The event.
    pub(crate) event: DomainEvent,
    /// Unique per happening (`warning:user:12:daily_requests:2026-11-25:80`), or `None`
    /// for events that are unique by nature (each manual action).
    pub(crate) dedupe_key: Option<String>,
}

impl NewEvent {
    /// An event that is stored every time.
    pub fn new(event: DomainEvent) -> Self {
        Self {
            event,
            dedupe_key: None,
        }
    }

    /// An event stored once per `key`.
    pub fn once(event: DomainEvent, key: String) -> Self {
        Self {
            event,
            dedupe_key: Some(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_tagged_by_type() {
        let e = DomainEvent::KeyRevoked {
            username: "alice".into(),
            access_key_id: "BGX".into(),
            by: "cli:root".into(),
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["type"], e.kind().as_str());
        assert_eq!(serde_json::from_value::<DomainEvent>(json).unwrap(), e);
        assert_eq!(e.subject().as_deref(), Some("user:alice"));
    }
}
