//! Retention of per-call records: rows of `bedrock_requests` from local days more than
//! `records.retention_days` before today are deleted, in bounded chunks with a pause
//! between, so the table stays bounded without long locks. The usage rollups stay, so
//! totals, aggregates and `user info` keep covering the deleted days.
//!
//! A background task runs it hourly; with several proxies exactly one runs each hour's
//! pass (it claims the hour in `scheduler_runs` first, like the daily reset).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Ops, OpsError};
use crate::calendar::start_of_day;
use crate::domain::Actor;

/// The job name in `scheduler_runs`.
pub(crate) const JOB: &str = "records_retention";
/// How often the pass runs.
const EVERY: Duration = Duration::from_secs(3600);

/// How a pass deletes: rows per statement and the pause between statements.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// Rows deleted per statement (about: rows sharing the last timestamp go too).
    pub rows: u32,
    /// Pause between statements, so writers and readers get the table in between.
    pub pause: Duration,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            rows: 5_000,
            pause: Duration::from_millis(200),
        }
    }
}

impl Ops {
    /// The first instant kept when keeping `retention_days` local days before `now`'s
    /// day; `None` for 0 (keep forever).
    pub fn retention_cutoff(&self, retention_days: u32, now: DateTime<Utc>) -> Option<i64> {
        if retention_days == 0 {
            return None;
        }
        let today = now.with_timezone(&self.tz).date_naive();
        let first_kept = today - chrono::Days::new(u64::from(retention_days));
        Some(start_of_day(self.tz, first_kept).timestamp_millis())
    }

    /// Deletes the request rows older than the retention as of `now`, `pace.rows` at a
    /// time. Returns the rows deleted.
    pub async fn purge_records(
        &self,
        retention_days: u32,
        now: DateTime<Utc>,
        pace: Pace,
    ) -> Result<u64, OpsError> {
        let Some(cutoff) = self.retention_cutoff(retention_days, now) else {
            return Ok(0);
        };
        let mut deleted = 0;
        loop {
            let n = self.store.delete_requests_before(cutoff, pace.rows).await?;
            deleted += n;
            if n < u64::from(pace.rows) {
                return Ok(deleted);
            }
            tokio::time::sleep(pace.pause).await;
        }
    }

    /// Runs [`Ops::purge_records`] every hour, on one proxy per hour; does nothing when
    /// `retention_days` is 0.
    pub(crate) async fn run_retention(self: Arc<Self>, actor: Actor, retention_days: u32) {
        if retention_days == 0 {
            return;
        }
        loop {
            let now = Utc::now();
            let hour = now.format("%Y-%m-%dT%H").to_string();
            match self.store.claim_job(JOB, &hour, actor.as_str()).await {
                Ok(true) => match self
                    .purge_records(retention_days, now, Pace::default())
                    .await
                {
                    Ok(n) => {
                        tracing::info!(deleted = n, retention_days, "old request records deleted")
                    }
                    Err(e) => tracing::error!(error = %e, "deleting old request records failed"),
                },
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "cannot claim the retention pass"),
            }
            tokio::time::sleep(EVERY).await;
        }
    }
}
