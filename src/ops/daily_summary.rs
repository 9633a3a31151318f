//! The daily summary for the administrators: one local day's calls, tokens and cost per
//! team, per user and per model (from the rollups, through [`Ops::aggregate`]), the
//! same totals for the day before, and who was blocked and unblocked that day (from the
//! blocking audit trail).

use chrono::NaiveDate;
use serde::Serialize;

use super::aggregates::{AggregateQuery, AggregateRow, GroupBy};
use super::{Ops, OpsError};
use crate::calendar;
use crate::domain::AuditOperation;

/// Audit rows read for one day's blocks and unblocks, at most.
const AUDIT_ROWS: i64 = 5000;

/// Sums of one group (or of the whole day).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct Sums {
    /// Team, username or model id (empty for totals).
    pub(crate) key: String,
    /// Calls.
    pub(crate) calls: i64,
    /// Input plus output tokens (cache tokens included).
    pub(crate) tokens: i64,
    /// USD.
    pub(crate) cost_usd: f64,
}

impl From<&AggregateRow> for Sums {
    fn from(r: &AggregateRow) -> Self {
        Self {
            key: r.key.clone(),
            calls: r.requests,
            tokens: r.input_tokens + r.output_tokens + r.cache_read_tokens + r.cache_write_tokens,
            cost_usd: r.cost_usd,
        }
    }
}

/// One day's summary.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct DailySummary {
    /// The local day.
    pub(crate) day: String,
    /// The day before.
    pub(crate) previous_day: String,
    /// The day's totals.
    pub(crate) totals: Sums,
    /// The day before's totals.
    pub(crate) previous: Sums,
    /// Per team, by cost (highest first).
    pub(crate) teams: Vec<Sums>,
    /// Per user, by cost.
    pub(crate) users: Vec<Sums>,
    /// Per model, by cost.
    pub(crate) models: Vec<Sums>,
    /// Users blocked that day (automatically or by hand), in order.
    pub(crate) blocked: Vec<String>,
    /// Users unblocked that day.
    pub(crate) unblocked: Vec<String>,
}

fn total(rows: &[Sums]) -> Sums {
    rows.iter().fold(Sums::default(), |mut t, r| {
        t.calls += r.calls;
        t.tokens += r.tokens;
        t.cost_usd += r.cost_usd;
        t
    })
}

impl Ops {
    async fn sums(&self, group_by: GroupBy, day: NaiveDate) -> Result<Vec<Sums>, OpsError> {
        let rows = self
            .aggregate(&AggregateQuery {
                group_by,
                from: day,
                to: day,
                user: None,
                team: None,
                model: None,
            })
            .await?;
        let mut sums: Vec<Sums> = rows.iter().map(Sums::from).collect();
        sums.sort_by(|a, b| {
            b.cost_usd
                .total_cmp(&a.cost_usd)
                .then(b.calls.cmp(&a.calls))
                .then(a.key.cmp(&b.key))
        });
        Ok(sums)
    }

    /// The summary of local day `day`.
    pub(crate) async fn daily_summary(&self, day: NaiveDate) -> Result<DailySummary, OpsError> {
        let before = day.pred_opt().unwrap_or(day);
        let teams = self.sums(GroupBy::Team, day).await?;
        let previous = total(&self.sums(GroupBy::Team, before).await?);
        let users = self.sums(GroupBy::User, day).await?;
        let models = self.sums(GroupBy::Model, day).await?;
        let range = calendar::day(self.tz, calendar::start_of_day(self.tz, day));
        let mut blocked = Vec::new();
        let mut unblocked = Vec::new();
        let mut audit = self.store.audit(None, AUDIT_ROWS).await?;
        audit.reverse();
        for row in audit
            .iter()
            .filter(|r| r.created_at >= range.start_ms && r.created_at < range.end_ms)
        {
            let list = match row.operation {
                AuditOperation::Block | AuditOperation::AutoBlock => &mut blocked,
                AuditOperation::Unblock | AuditOperation::ResetUnblock => &mut unblocked,
                _ => continue,
            };
            if !list.contains(&row.username) {
                list.push(row.username.clone());
            }
        }
        Ok(DailySummary {
            day: super::aggregates::day_key(day),
            previous_day: super::aggregates::day_key(before),
            totals: total(&teams),
            previous,
            teams,
            users,
            models,
            blocked,
            unblocked,
        })
    }
}
