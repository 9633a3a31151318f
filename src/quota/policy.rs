//! What a proxy enforces for each user, as an in-memory snapshot reloaded by the change
//! watcher: the user's and team's limits, and blocks and protections.

use std::collections::HashMap;

use crate::store::{BlockKind, BlockRow, Limits};

/// A user's standing at one moment.
#[derive(Clone, Debug, PartialEq)]
pub enum Standing {
    /// Limits apply.
    Clear,
    /// Protected (`administrative_safe`): never refused or blocked for limits.
    Protected,
    /// Blocked by an administrator: 403 until `until` (epoch ms; `None` indefinite).
    Blocked {
        /// Why.
        reason: String,
        /// Until when.
        until: Option<i64>,
    },
    /// Blocked for reaching a limit: no new capacity until `until`.
    LimitReached {
        /// The recorded reason (names the limit).
        reason: String,
        /// Until when.
        until: Option<i64>,
    },
}

#[derive(Clone, Debug)]
struct UserEntry {
    team_id: i64,
    limits: Limits,
}

/// Limits of every user and team, and every block and protection.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    users: HashMap<i64, UserEntry>,
    teams: HashMap<i64, Limits>,
    blocks: HashMap<i64, BlockRow>,
}

impl Policy {
    /// A snapshot from the store's rows.
    pub fn new(
        users: Vec<(i64, i64, Limits)>,
        teams: Vec<(i64, Limits)>,
        blocks: Vec<BlockRow>,
    ) -> Self {
        Self {
            users: users
                .into_iter()
                .map(|(id, team_id, limits)| (id, UserEntry { team_id, limits }))
                .collect(),
            teams: teams.into_iter().collect(),
            blocks: blocks.into_iter().map(|b| (b.user_id, b)).collect(),
        }
    }

    /// The user's own limits and their team's (unlimited when unknown).
    pub fn limits(&self, user_id: i64) -> (Limits, Limits) {
        match self.users.get(&user_id) {
            Some(u) => (
                u.limits,
                self.teams.get(&u.team_id).copied().unwrap_or_default(),
            ),
            None => (Limits::default(), Limits::default()),
        }
    }

    /// The user's standing at `now_ms`. Blocks and protections whose time has passed no
    /// longer count, even before the reset job clears them.
    pub fn standing(&self, user_id: i64, now_ms: i64) -> Standing {
        let Some(b) = self.blocks.get(&user_id) else {
            return Standing::Clear;
        };
        let live = |until: Option<i64>| until.is_none_or(|u| now_ms < u);
        if b.blocked && live(b.blocked_until) {
            let reason = b.reason.clone().unwrap_or_default();
            return match b.kind {
                Some(BlockKind::Automatic) => Standing::LimitReached {
                    reason,
                    until: b.blocked_until,
                },
                _ => Standing::Blocked {
                    reason,
                    until: b.blocked_until,
                },
            };
        }
        if b.administrative_safe && live(b.safe_until) {
            return Standing::Protected;
        }
        Standing::Clear
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        blocked: bool,
        kind: Option<BlockKind>,
        until: Option<i64>,
        safe: bool,
        safe_until: Option<i64>,
    ) -> BlockRow {
        BlockRow {
            user_id: 1,
            blocked,
            kind,
            reason: Some("r".into()),
            blocked_until: until,
            administrative_safe: safe,
            safe_until,
        }
    }

    #[test]
    fn standing_follows_blocks_and_their_expiry() {
        let p = |r| Policy::new(vec![], vec![], vec![r]);
        assert!(matches!(
            p(row(true, Some(BlockKind::Manual), None, false, None)).standing(1, 5),
            Standing::Blocked { .. }
        ));
        assert_eq!(
            p(row(true, Some(BlockKind::Manual), Some(10), false, None)).standing(1, 10),
            Standing::Clear
        );
        assert!(matches!(
            p(row(true, Some(BlockKind::Automatic), Some(10), false, None)).standing(1, 9),
            Standing::LimitReached { .. }
        ));
        assert_eq!(
            p(row(false, None, None, true, Some(10))).standing(1, 9),
            Standing::Protected
        );
        assert_eq!(
            p(row(false, None, None, true, Some(10))).standing(1, 10),
            Standing::Clear
        );
        assert_eq!(
            p(row(false, None, None, true, None)).standing(1, i64::MAX - 1),
            Standing::Protected
        );
        assert_eq!(Policy::default().standing(1, 0), Standing::Clear);
    }
}
