//! The organisation at a glance (the dashboard's overview and the settings every page
//! needs): usage of everyone today and this month, the sum of the teams' limits to set
//! it against, how many users are blocked or protected, and the calendar the numbers
//! are counted in (`quota.timezone`, today, the warning threshold).

use chrono::Datelike;
use serde::Serialize;

use super::views::DayMonth;
use super::{Ops, OpsError};
use crate::domain::Limits;
use crate::store::UsageFilter;

/// The organisation's totals and the calendar they are counted in.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub(crate) struct Summary {
    /// `quota.timezone` (IANA name): days and months begin at 00:00 here.
    pub(crate) timezone: String,
    /// Today in `timezone`, `YYYY-MM-DD`.
    pub(crate) today: String,
    /// Days in the current month.
    pub(crate) days_in_month: u32,
    /// The time of this answer (epoch ms).
    pub(crate) now: i64,
    /// `quota.warning_percent`: the share of a limit at which users are warned.
    pub(crate) warning_percent: u8,
    /// Everyone's usage today and this month.
    pub(crate) usage: DayMonth,
    /// Each limit summed over the teams that set it (`null`: no team sets it).
    pub(crate) team_limits_total: Limits,
    /// Teams without one limit or another (their usage is not capped by the sum).
    pub(crate) teams_without_limits: usize,
    /// Teams.
    pub(crate) teams: usize,
    /// Users.
    pub(crate) users: usize,
    /// Users whose calls are refused now.
    pub(crate) blocked: usize,
    /// Users protected from limits now.
    pub(crate) protected: usize,
}

fn add<T: std::ops::Add<Output = T>>(sum: Option<T>, v: Option<T>) -> Option<T> {
    match (sum, v) {
        (Some(s), Some(v)) => Some(s + v),
        (s, None) => s,
        (None, v) => v,
    }
}

impl Ops {
    /// The organisation's totals now.
    pub(crate) async fn summary(&self) -> Result<Summary, OpsError> {
        let today = self.today();
        let usage = self.day_and_month(UsageFilter::default()).await?;
        let teams = self.teams().await?;
        let users = self.users(None).await?.len();
        let blocks = self.blocks().await?;
        let mut total = Limits::default();
        let mut without = 0;
        for t in &teams {
            let l = t.limits;
            if l.daily_requests.is_none()
                || l.monthly_requests.is_none()
                || l.daily_budget_usd.is_none()
                || l.monthly_budget_usd.is_none()
            {
                without += 1;
            }
            total.daily_requests = add(total.daily_requests, l.daily_requests);
            total.monthly_requests = add(total.monthly_requests, l.monthly_requests);
            total.daily_budget_usd = add(total.daily_budget_usd, l.daily_budget_usd);
            total.monthly_budget_usd = add(total.monthly_budget_usd, l.monthly_budget_usd);
        }
        let next_month = if today.month() == 12 {
            chrono::NaiveDate::from_ymd_opt(today.year() + 1, 1, 1)
        } else {
            chrono::NaiveDate::from_ymd_opt(today.year(), today.month() + 1, 1)
        };
        let days_in_month = next_month
            .and_then(|n| n.pred_opt())
            .map_or(31, |last| last.day());
        Ok(Summary {
            timezone: self.tz.name().to_string(),
            today: super::aggregates::day_key(today),
            days_in_month,
            now: self.now().timestamp_millis(),
            warning_percent: self.warning_percent,
            usage,
            team_limits_total: total,
            teams_without_limits: without,
            teams: teams.len(),
            users,
            blocked: blocks.iter().filter(|b| b.blocked).count(),
            protected: blocks.iter().filter(|b| b.administrative_safe).count(),
        })
    }
}
