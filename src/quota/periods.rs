//! Period keys: the local day (`2026-11-25`) and month (`2026-11`) a call counts
//! against, and when each ends, cached for the whole local day so that admitting a
//! call formats no dates.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use parking_lot::Mutex;

use crate::calendar;

/// The period keys of `now`: the local day and the local month.
pub fn period_keys(tz: Tz, now: DateTime<Utc>) -> (String, String) {
    let local = now.with_timezone(&tz);
    (
        local.format("%Y-%m-%d").to_string(),
        local.format("%Y-%m").to_string(),
    )
}

/// The day and month periods around one instant, valid for the whole local day.
#[derive(Clone, Debug)]
pub(super) struct Periods {
    /// The local day's key.
    pub(super) day: Arc<str>,
    /// The local month's key.
    pub(super) month: Arc<str>,
    day_start_ms: i64,
    day_end_ms: i64,
    /// When the local day ends.
    pub(super) day_end: DateTime<Utc>,
    /// When the local month ends.
    pub(super) month_end: DateTime<Utc>,
}

impl Periods {
    pub(super) fn at(tz: Tz, now: DateTime<Utc>) -> Self {
        let (day, month) = period_keys(tz, now);
        let today = calendar::day(tz, now);
        let month_end_ms = calendar::month(tz, now).end_ms;
        Self {
            day: day.into(),
            month: month.into(),
            day_start_ms: today.start_ms,
            day_end_ms: today.end_ms,
            day_end: utc_ms(today.end_ms),
            month_end: utc_ms(month_end_ms),
        }
    }

    fn contains(&self, now: DateTime<Utc>) -> bool {
        (self.day_start_ms..self.day_end_ms).contains(&now.timestamp_millis())
    }
}

/// The periods last asked about, in one time zone.
pub(super) struct PeriodCache {
    tz: Tz,
    cached: Mutex<Option<Periods>>,
}

impl PeriodCache {
    /// An empty cache counting periods in `tz`.
    pub(super) fn new(tz: Tz) -> Self {
        Self {
            tz,
            cached: Mutex::new(None),
        }
    }

    /// The day and month around `now`, from the cache while `now` is in the cached day.
    pub(super) fn get(&self, now: DateTime<Utc>) -> Periods {
        let mut cached = self.cached.lock();
        match cached.as_ref() {
            Some(p) if p.contains(now) => p.clone(),
            _ => cached.insert(Periods::at(self.tz, now)).clone(),
        }
    }
}

/// The instant of a period bound.
#[allow(clippy::expect_used)]
fn utc_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms)
        .expect("a period bound is the timestamp of a DateTime, so it converts back")
}
