//! What a proxy enforces for each user, as an in-memory snapshot reloaded by the change
//! watcher: the user's and team's limits, and blocks and protections.

use std::collections::HashMap;

/// Maps keyed by ids the proxy assigned itself: a fast hasher is safe here.
type IdMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

use crate::domain::{BlockKind, Limits};
use crate::store::BlockStatus;

/// A user's standing at one moment.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Standing {
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

/// Limits of every user and team, and every block and protection. Users share their
/// limit sets (most users have the defaults), so a user costs a team id and an index.
#[derive(Clone, Debug, Default)]
pub(crate) struct Policy {
    users: IdMap<i64, (i64, u32)>,
    limit_sets: Vec<Limits>,
    teams: IdMap<i64, Limits>,
    blocks: IdMap<i64, BlockStatus>,
}

/// The bit pattern of limits, for sharing equal sets.
fn limits_key(l: &Limits) -> [u64; 7] {
    let n = |v: Option<i64>| v.map_or(u64::MAX, |v| v as u64);
    let f = |v: Option<f64>| v.map_or(u64::MAX, f64::to_bits);
    // -2 is no stored rate value (-1 is unlimited).
    let r = |v: Option<crate::domain::RateLimit>| v.map_or(u64::MAX - 1, |v| v.stored() as u64);
    [
        n(l.daily_requests),
        n(l.monthly_requests),
        f(l.daily_budget_usd),
        f(l.monthly_budget_usd),
        r(l.rpm),
        r(l.tpm),
        r(l.max_concurrent),
    ]
}

impl Policy {
    /// A snapshot from the store's rows.
    #[allow(clippy::expect_used)]
    pub(crate) fn new(
        users: Vec<(i64, i64, Limits)>,
        teams: Vec<(i64, Limits)>,
        blocks: Vec<BlockStatus>,
    ) -> Self {
        let mut limit_sets = Vec::new();
        let mut index: HashMap<[u64; 7], u32> = HashMap::new();
        let mut map = IdMap::with_capacity_and_hasher(users.len(), Default::default());
        for (id, team_id, limits) in users {
            let i = *index.entry(limits_key(&limits)).or_insert_with(|| {
                limit_sets.push(limits);
                u32::try_from(limit_sets.len() - 1)
                    .expect("fewer than 2^32 distinct limit sets: each is one user's row")
            });
            map.insert(id, (team_id, i));
        }
        Self {
            users: map,
            limit_sets,
            teams: teams.into_iter().collect(),
            blocks: blocks.into_iter().map(|b| (b.user_id, b)).collect(),
        }
    }

    /// The user's own limits and their team's (unlimited when unknown).
    #[allow(clippy::expect_used)]
    pub(crate) fn limits(&self, user_id: i64) -> (Limits, Limits) {
        match self.users.get(&user_id) {
            Some((team_id, i)) => (
                self.limit_sets
                    .get(*i as usize)
                    .copied()
                    .expect("a user's limit set index points into limit_sets: new() built both"),
                self.teams.get(team_id).copied().unwrap_or_default(),
            ),
            None => (Limits::default(), Limits::default()),
        }
    }

    /// The limit of one counter kind of `subject` (in the counter's unit: requests, or
    /// micro-USD rounded down), `None` when unset or the subject is unknown.
    pub(crate) fn limit_for(
        &self,
        subject: super::Subject,
        window: super::Window,
        metric: super::Metric,
    ) -> Option<i64> {
        use super::{Metric, Window};
        let limits = match subject {
            super::Subject::User(id) => {
                let (_, i) = self.users.get(&id)?;
                *self.limit_sets.get(*i as usize)?
            }
            super::Subject::Team(id) => *self.teams.get(&id)?,
        };
        match (window, metric) {
            (Window::Day, Metric::Requests) => limits.daily_requests,
            (Window::Month, Metric::Requests) => limits.monthly_requests,
            (Window::Day, Metric::MicroUsd) => limits.daily_budget_usd.map(super::limit_micro),
            (Window::Month, Metric::MicroUsd) => limits.monthly_budget_usd.map(super::limit_micro),
        }
    }

    /// Users blocked at `now_ms`: (by an administrator, automatically for a limit).
    pub(crate) fn blocked_counts(&self, now_ms: i64) -> (u64, u64) {
        let mut counts = (0, 0);
        for &user_id in self.blocks.keys() {
            match self.standing(user_id, now_ms) {
                Standing::Blocked { .. } => counts.0 += 1,
                Standing::LimitReached { .. } => counts.1 += 1,
                Standing::Clear | Standing::Protected => {}
            }
        }
        counts
    }

    /// The user's standing at `now_ms`. Blocks and protections whose time has passed no
    /// longer count, even before the reset job clears them.
    pub(crate) fn standing(&self, user_id: i64, now_ms: i64) -> Standing {
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
    ) -> BlockStatus {
        BlockStatus {
            user_id: 1,
            username: "u".into(),
            blocked,
            kind,
            reason: Some("r".into()),
            blocked_until: until,
            administrative_safe: safe,
            safe_until,
        }
    }

    #[test]
    fn users_share_equal_limit_sets() {
        let a = Limits {
            daily_requests: Some(350),
            ..Default::default()
        };
        let b = Limits {
            monthly_budget_usd: Some(5.0),
            ..Default::default()
        };
        let p = Policy::new(
            vec![(1, 10, a), (2, 10, a), (3, 11, b)],
            vec![(10, b)],
            vec![],
        );
        assert_eq!(p.limit_sets.len(), 2);
        assert_eq!(p.limits(1), (a, b));
        assert_eq!(p.limits(3), (b, Limits::default()));
        assert_eq!(p.limits(9), (Limits::default(), Limits::default()));
    }

    #[test]
    fn a_counter_kind_finds_its_limit_in_the_users_or_teams_set() {
        use crate::quota::{Metric, Subject, Window};
        let user = Limits {
            daily_requests: Some(12),
            monthly_budget_usd: Some(2.5),
            ..Default::default()
        };
        let team = Limits {
            monthly_requests: Some(900),
            daily_budget_usd: Some(1.0),
            ..Default::default()
        };
        let p = Policy::new(vec![(1, 10, user)], vec![(10, team)], vec![]);
        let at = |s, w, m| p.limit_for(s, w, m);
        assert_eq!(
            at(Subject::User(1), Window::Day, Metric::Requests),
            Some(12)
        );
        assert_eq!(at(Subject::User(1), Window::Month, Metric::Requests), None);
        assert_eq!(
            at(Subject::User(1), Window::Month, Metric::MicroUsd),
            Some(2_500_000)
        );
        assert_eq!(
            at(Subject::Team(10), Window::Month, Metric::Requests),
            Some(900)
        );
        assert_eq!(
            at(Subject::Team(10), Window::Day, Metric::MicroUsd),
            Some(1_000_000)
        );
        assert_eq!(at(Subject::User(2), Window::Day, Metric::Requests), None);
        assert_eq!(at(Subject::Team(11), Window::Day, Metric::Requests), None);
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

    #[test]
    fn blocked_users_are_counted_by_kind_while_their_block_lasts() {
        let mut rows = vec![
            row(true, Some(BlockKind::Manual), None, false, None),
            row(true, Some(BlockKind::Automatic), Some(10), false, None),
            row(true, Some(BlockKind::Automatic), Some(20), false, None),
            row(false, None, None, true, None),
        ];
        for (i, r) in rows.iter_mut().enumerate() {
            r.user_id = i as i64 + 1;
        }
        let p = Policy::new(vec![], vec![], rows);
        assert_eq!(p.blocked_counts(5), (1, 2));
        assert_eq!(p.blocked_counts(15), (1, 1));
        assert_eq!(p.blocked_counts(25), (1, 0));
    }
}
