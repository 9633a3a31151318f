//! The administrators' summary of one local day ([`DaySummary`]): calls, tokens and cost
//! per team, per user (the first [`MAX_USERS`] by cost, the rest summed in one row) and
//! per model (the first [`TOP_MODELS`]), from the rollups through [`Ops::aggregate`]; the
//! same totals for the day before; and who was blocked and unblocked that day (from the
//! blocking audit trail).
//!
//! The scheduled summary of a day is read once the day has ended and its records are in
//! ([`Ops::summary_delay`]); a reset run by hand reads the day so far.

use chrono::NaiveDate;

use super::aggregates::{day_key, AggregateQuery, AggregateRow, GroupBy};
use super::{Ops, OpsError};
use crate::calendar;
use crate::domain::{AuditOperation, DaySummary, UsageSums};

/// Audit rows read for one day's blocks and unblocks, at most.
const AUDIT_ROWS: i64 = 5000;
/// Users listed by name in a summary (the rest are summed in one row).
pub(crate) const MAX_USERS: usize = 25;
/// Models listed by name.
pub(crate) const TOP_MODELS: usize = 5;

fn sums_of(r: &AggregateRow) -> UsageSums {
    UsageSums {
        key: r.key.clone(),
        calls: r.requests,
        tokens: r.input_tokens + r.output_tokens + r.cache_read_tokens + r.cache_write_tokens,
        cost_usd: r.cost_usd,
    }
}

fn total(rows: &[UsageSums]) -> UsageSums {
    rows.iter().fold(UsageSums::default(), |mut t, r| {
        t.add(r);
        t
    })
}

/// The first `max` rows, and the rest summed in one row named `(+N)`.
fn trim(mut rows: Vec<UsageSums>, max: usize) -> Vec<UsageSums> {
    if rows.len() > max {
        let rest = rows.split_off(max);
        let mut more = total(&rest);
        more.key = format!("(+{})", rest.len());
        rows.push(more);
    }
    rows
}

impl Ops {
    async fn sums(&self, group_by: GroupBy, day: NaiveDate) -> Result<Vec<UsageSums>, OpsError> {
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
        let mut sums: Vec<UsageSums> = rows.iter().map(sums_of).collect();
        sums.sort_by(|a, b| {
            b.cost_usd
                .total_cmp(&a.cost_usd)
                .then(b.calls.cmp(&a.calls))
                .then(a.key.cmp(&b.key))
        });
        Ok(sums)
    }

    /// The summary of local day `day` as the rollups and the audit trail hold it now.
    pub(crate) async fn daily_summary(&self, day: NaiveDate) -> Result<DaySummary, OpsError> {
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
        Ok(DaySummary {
            day: day_key(day),
            previous_day: day_key(before),
            totals: total(&teams),
            previous,
            teams,
            users: trim(users, MAX_USERS),
            models: trim(models, TOP_MODELS),
            blocked,
            unblocked,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(key: &str, calls: i64) -> UsageSums {
        UsageSums {
            key: key.into(),
            calls,
            tokens: calls * 10,
            cost_usd: calls as f64 / 100.0,
        }
    }

    #[test]
    fn rows_past_the_first_are_summed_in_one() {
        let rows = vec![s("a", 5), s("b", 4), s("c", 3), s("d", 2)];
        assert_eq!(trim(rows.clone(), 4), rows);
        let trimmed = trim(rows, 2);
        assert_eq!(trimmed.len(), 3);
        assert_eq!(trimmed[..2], [s("a", 5), s("b", 4)]);
        assert_eq!(trimmed[2].key, "(+2)");
        assert_eq!((trimmed[2].calls, trimmed[2].tokens), (5, 50));
        assert!((trimmed[2].cost_usd - 0.05).abs() < 1e-9);
    }
}
