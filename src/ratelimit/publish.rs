//! Publishing what the rate limiter saw: every [`PUBLISH_INTERVAL`] the proxy replaces
//! its rows in `rate_activity` with the subjects active in the last minute (one
//! transaction; none while nothing is or was active), so `user info`, `team info` and
//! the admin API, in any process, show the current rate and calls in flight summed over
//! proxies. The request path never waits on it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::RateLimiter;
use crate::store::{now_ms, RateRow, Store};

/// How often a proxy publishes.
pub(crate) const PUBLISH_INTERVAL: Duration = Duration::from_secs(2);

/// Rows published within this many milliseconds count as current.
pub(crate) const FRESH_MS: i64 = 3 * PUBLISH_INTERVAL.as_millis() as i64;

/// Numbers the proxies of one process (tests run several), so each has its own rows.
static STARTED: AtomicU64 = AtomicU64::new(0);

/// Publishes `limiter`'s activity as `proxy` until the task is dropped.
pub(crate) async fn run(limiter: Arc<RateLimiter>, store: Arc<Store>, proxy: String) {
    let proxy = format!("{proxy}:{}", STARTED.fetch_add(1, Ordering::Relaxed));
    let mut tick = tokio::time::interval(PUBLISH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut published_any = false;
    loop {
        tick.tick().await;
        let rows: Vec<RateRow> = limiter
            .active()
            .into_iter()
            .map(|(subject, a)| RateRow {
                subject: subject.stored(),
                requests: i64::try_from(a.requests).unwrap_or(i64::MAX),
                tokens: i64::try_from(a.tokens).unwrap_or(i64::MAX),
                in_flight: i64::try_from(a.in_flight).unwrap_or(i64::MAX),
            })
            .collect();
        if rows.is_empty() && !published_any {
            continue;
        }
        match store.publish_rate_activity(&proxy, &rows, now_ms()).await {
            Ok(()) => published_any = !rows.is_empty(),
            Err(e) => tracing::debug!(error = %e, "rate activity not published"),
        }
    }
}
