//! Usage today and this month of many users or teams at once (the user and team lists),
//! from two aggregates over the rollups instead of two queries per user or team.

use std::collections::HashMap;

use chrono::Datelike;

use super::aggregates::{AggregateQuery, AggregateRow, GroupBy};
use super::views::DayMonth;
use super::{Ops, OpsError};
use crate::store::UsageTotals;

fn totals(r: &AggregateRow) -> UsageTotals {
    UsageTotals {
        requests: r.requests,
        errors: r.errors,
        input_tokens: r.input_tokens,
        output_tokens: r.output_tokens,
        cache_read_tokens: r.cache_read_tokens,
        cache_write_tokens: r.cache_write_tokens,
        cost_usd: r.cost_usd,
    }
}

impl Ops {
    /// Usage today and this month (local days in `quota.timezone`) per username, of one
    /// team's users or everyone's; users without usage are absent.
    pub(crate) async fn usage_by_user(
        &self,
        team: Option<&str>,
    ) -> Result<HashMap<String, DayMonth>, OpsError> {
        self.usage_grouped(GroupBy::User, team).await
    }

    /// Usage today and this month per team name; teams without usage are absent.
    pub(crate) async fn usage_by_team(&self) -> Result<HashMap<String, DayMonth>, OpsError> {
        self.usage_grouped(GroupBy::Team, None).await
    }

    async fn usage_grouped(
        &self,
        group_by: GroupBy,
        team: Option<&str>,
    ) -> Result<HashMap<String, DayMonth>, OpsError> {
        let today = self.today();
        let month_start = today.with_day(1).unwrap_or(today);
        let query = |from| AggregateQuery {
            group_by,
            from,
            to: today,
            user: None,
            team: team.map(str::to_string),
            model: None,
        };
        let mut out: HashMap<String, DayMonth> = HashMap::new();
        for row in self.aggregate(&query(month_start)).await? {
            out.entry(row.key.clone()).or_default().month = totals(&row);
        }
        for row in self.aggregate(&query(today)).await? {
            out.entry(row.key.clone()).or_default().day = totals(&row);
        }
        Ok(out)
    }
}
