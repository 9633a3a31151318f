//! Every user's and team's limits at once, streamed for the proxy's policy snapshot.

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
