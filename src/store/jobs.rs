//! Jobs that exactly one proxy runs per period (`scheduler_runs`), such as the daily
//! reset: the first to insert the (job, period) row runs it.

use super::{now_ms, on_pool, Store, StoreError};

impl Store {
    /// Claims `job` for `period`: true for exactly one caller per (job, period).
    pub async fn claim_job(&self, job: &str, period: &str, by: &str) -> Result<bool, StoreError> {
        let sql = format!(
            "{} INTO scheduler_runs (job, period, ran_at, ran_by) VALUES (?, ?, ?, ?)",
            self.insert_ignore()
        );
        let n = on_pool!(self, p => {
            sqlx::query(&sql).bind(job).bind(period).bind(now_ms()).bind(by)
                .execute(p).await?.rows_affected()
        });
        Ok(n == 1)
    }
}
