//! The user and team lists: each user with usage today and this month, whether they are
//! blocked or protected now and how close they are to their own limits (filters: only
//! blocked, only near a limit); each team with its member count and spend.

use std::collections::HashMap;

use super::views::{DayMonth, TeamSummary, UserList, UserSummary};
use super::{Ops, OpsError};
use crate::domain::Limits;

/// Which users `user list` shows.
#[derive(Clone, Debug, Default)]
pub struct UserListQuery {
    /// Only this team's.
    pub team: Option<String>,
    /// Only users whose calls are refused now.
    pub blocked: bool,
    /// Only users who used at least this percent (1-100) of one of their own limits.
    pub near_limit: Option<u8>,
}

/// The highest share (percent) of `limits` that `usage` used; `None` without limits. A
/// limit of 0 counts as fully used.
pub(crate) fn used_percent(limits: &Limits, usage: &DayMonth) -> Option<f64> {
    let share = |used: f64, limit: f64| {
        if limit <= 0.0 {
            100.0
        } else {
            used / limit * 100.0
        }
    };
    let as_f64 = |n: i64| n as f64;
    [
        limits
            .daily_requests
            .map(|l| share(as_f64(usage.day.requests), as_f64(l))),
        limits
            .monthly_requests
            .map(|l| share(as_f64(usage.month.requests), as_f64(l))),
        limits
            .daily_budget_usd
            .map(|l| share(usage.day.cost_usd, l)),
        limits
            .monthly_budget_usd
            .map(|l| share(usage.month.cost_usd, l)),
    ]
    .into_iter()
    .flatten()
    .reduce(f64::max)
}

impl Ops {
    /// Users by name with usage, blocking status and the share of their limits used.
    pub async fn user_list(&self, q: &UserListQuery) -> Result<UserList, OpsError> {
        if let Some(p) = q.near_limit {
            if !(1..=100).contains(&p) {
                return Err(OpsError::Invalid(format!(
                    "--near-limit {p} is not a percent from 1 to 100"
                )));
            }
        }
        let team_id = match &q.team {
            Some(t) => Some(self.store.team(t).await?.id),
            None => None,
        };
        let users = self.store.users(team_id).await?;
        let mut usage = self.usage_by_user(q.team.as_deref()).await?;
        let statuses: HashMap<i64, _> = self
            .store
            .block_rows()
            .await?
            .into_iter()
            .map(|s| (s.user_id, s))
            .collect();
        let now = self.now().timestamp_millis();
        let current = |until: Option<i64>| until.is_none_or(|u| u > now);
        let mut out = Vec::new();
        for user in &users {
            let usage = usage.remove(&user.username).unwrap_or_default();
            let status = statuses.get(&user.id);
            let blocked = status.is_some_and(|s| s.blocked && current(s.blocked_until));
            let protected = status.is_some_and(|s| s.administrative_safe && current(s.safe_until));
            let used = used_percent(&user.limits, &usage);
            if q.blocked && !blocked {
                continue;
            }
            if let Some(p) = q.near_limit {
                if used.is_none_or(|u| u < f64::from(p)) {
                    continue;
                }
            }
            out.push(UserSummary {
                user: self.user_view(user),
                usage,
                blocked,
                administrative_safe: protected,
                used_percent: used.map(|u| (u * 10.0).round() / 10.0),
            });
        }
        Ok(UserList {
            users: out,
            near_limit: q.near_limit,
        })
    }

    /// `quota.warning_percent`: the default of `--near-limit`.
    pub(crate) fn warning_percent(&self) -> u8 {
        self.warning_percent
    }

    /// Teams by name with their member count and spend today and this month.
    pub async fn team_list(&self) -> Result<Vec<TeamSummary>, OpsError> {
        let teams = self.store.teams().await?;
        let mut members: HashMap<i64, usize> = HashMap::new();
        for u in self.store.users(None).await? {
            *members.entry(u.team_id).or_default() += 1;
        }
        let mut usage = self.usage_by_team().await?;
        Ok(teams
            .iter()
            .map(|t| TeamSummary {
                team: self.team_view(t),
                members: members.get(&t.id).copied().unwrap_or(0),
                usage: usage.remove(&t.name).unwrap_or_default(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::UsageTotals;

    #[test]
    fn the_highest_share_counts() {
        let usage = DayMonth {
            day: UsageTotals {
                requests: 9,
                cost_usd: 1.0,
                ..Default::default()
            },
            month: UsageTotals {
                requests: 40,
                cost_usd: 3.0,
                ..Default::default()
            },
        };
        assert_eq!(used_percent(&Limits::default(), &usage), None);
        let limits = Limits {
            daily_requests: Some(10),
            monthly_requests: Some(100),
            daily_budget_usd: None,
            monthly_budget_usd: Some(4.0),
            ..Default::default()
        };
        assert_eq!(used_percent(&limits, &usage), Some(90.0));
        let zero = Limits {
            daily_requests: Some(0),
            ..Default::default()
        };
        assert_eq!(used_percent(&zero, &usage), Some(100.0));
    }
}
