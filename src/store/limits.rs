//! Every user's and team's limits at once, streamed for the proxy's policy snapshot; and
//! one counter's limit as stored now, read inside a quota grant transaction so that a
//! proxy whose snapshot is stale never grants past a limit that was lowered.

use futures_util::TryStreamExt;
use sqlx::Row;

use super::{on_pool, Store, StoreError};
use crate::domain::Limits;

/// Binds the seven limits of `$l` in column order: daily and monthly requests, daily and
/// monthly budget, rpm, tpm, max_concurrent.
macro_rules! bind_limits {
    ($q:expr, $l:expr) => {
        $q.bind($l.daily_requests)
            .bind($l.monthly_requests)
            .bind($l.daily_budget_usd)
            .bind($l.monthly_budget_usd)
            .bind($l.rpm)
            .bind($l.tpm)
            .bind($l.max_concurrent)
    };
}
pub(crate) use bind_limits;

/// The query for one counter's limit as stored (`subject`, `metric`, `period` in their
/// stored forms), and the id to bind: `None` for a subject or metric it does not know.
/// Day periods are `YYYY-MM-DD`, month periods `YYYY-MM`.
pub(super) fn stored_limit_query(
    subject: &str,
    metric: &str,
    period: &str,
) -> Option<(&'static str, i64)> {
    let day = period.len() == 10;
    let (table, id) = match subject.split_once(':')? {
        ("user", id) => (true, id.parse().ok()?),
        ("team", id) => (false, id.parse().ok()?),
        _ => return None,
    };
    let sql = match (table, metric, day) {
        (true, "requests", true) => {
            "SELECT daily_requests AS lim FROM user_limits WHERE user_id = ?"
        }
        (true, "requests", false) => {
            "SELECT monthly_requests AS lim FROM user_limits WHERE user_id = ?"
        }
        (true, "micro_usd", true) => {
            "SELECT daily_budget_usd AS lim FROM user_limits WHERE user_id = ?"
        }
        (true, "micro_usd", false) => {
            "SELECT monthly_budget_usd AS lim FROM user_limits WHERE user_id = ?"
        }
        (false, "requests", true) => "SELECT daily_requests AS lim FROM teams WHERE id = ?",
        (false, "requests", false) => "SELECT monthly_requests AS lim FROM teams WHERE id = ?",
        (false, "micro_usd", true) => "SELECT daily_budget_usd AS lim FROM teams WHERE id = ?",
        (false, "micro_usd", false) => "SELECT monthly_budget_usd AS lim FROM teams WHERE id = ?",
        _ => return None,
    };
    Some((sql, id))
}

/// Reads a counter's limit as stored, in the counter's unit, inside the transaction
/// `$tx`: evaluates to `Option<i64>` (`None`: unset, or a subject not found), `?` on
/// failure. Budgets are stored in USD and rounded down to micro-USD, as the policy does.
macro_rules! stored_limit {
    ($tx:expr, $subject:expr, $metric:expr, $period:expr) => {
        match $crate::store::limits::stored_limit_query($subject, $metric, $period) {
            None => None,
            Some((sql, id)) => {
                let row = sqlx::query(sql).bind(id).fetch_optional(&mut *$tx).await?;
                match row {
                    None => None,
                    Some(row) if $metric == "micro_usd" => {
                        sqlx::Row::try_get::<Option<f64>, _>(&row, "lim")?
                            .map($crate::domain::money::limit_micro)
                    }
                    Some(row) => sqlx::Row::try_get::<Option<i64>, _>(&row, "lim")?,
                }
            }
        }
    };
}
pub(crate) use stored_limit;

impl Store {
    /// Visits every user's limits with their team id, one row at a time.
    pub(crate) async fn each_user_limits(
        &self,
        mut visit: impl FnMut(i64, i64, Limits),
    ) -> Result<(), StoreError> {
        on_pool!(self, p => {
            let mut rows = sqlx::query(
                "SELECT u.id, u.team_id, l.daily_requests, l.monthly_requests, l.daily_budget_usd, \
                 l.monthly_budget_usd, l.rpm, l.tpm, l.max_concurrent FROM users u LEFT JOIN user_limits l ON l.user_id = u.id",
            )
            .fetch(p);
            while let Some(r) = rows.try_next().await? {
                let limits = <Limits as sqlx::FromRow<_>>::from_row(&r)?;
                visit(r.try_get("id")?, r.try_get("team_id")?, limits);
            }
        });
        Ok(())
    }

    /// Every user's and team's limits: (user id, team id, user limits) and (team id,
    /// team limits), for the proxy's policy snapshot.
    #[allow(clippy::type_complexity)]
    pub(crate) async fn all_limits(
        &self,
    ) -> Result<(Vec<(i64, i64, Limits)>, Vec<(i64, Limits)>), StoreError> {
        let mut users = Vec::new();
        self.each_user_limits(|id, team, l| users.push((id, team, l)))
            .await?;
        let teams = self.teams().await?;
        Ok((users, teams.into_iter().map(|t| (t.id, t.limits)).collect()))
    }
}
