//! Calendar periods in `quota.timezone`: a day runs from local midnight to the next local
//! midnight (23 or 25 hours long on DST change days), a month from local midnight on the
//! 1st to local midnight on the 1st of the next month.

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// A half-open period `[start, end)` in epoch milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Period {
    /// First millisecond of the period.
    pub(crate) start_ms: i64,
    /// First millisecond after the period.
    pub(crate) end_ms: i64,
}

/// The first instant of local day `date` in `tz`. Where midnight does not exist (a DST
/// gap at 00:00 in some zones), the day starts at the first instant after the gap.
pub(crate) fn start_of_day(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    for hour in 0..24 {
        let Some(naive) = date.and_hms_opt(hour, 0, 0) else {
            continue;
        };
        match tz.from_local_datetime(&naive) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(earliest, _) => return earliest.with_timezone(&Utc),
            LocalResult::None => continue,
        }
    }
    // Unreachable for real zones: every day has an hour that exists.
    date.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// The local day containing `now`.
pub(crate) fn day(tz: Tz, now: DateTime<Utc>) -> Period {
    let date = now.with_timezone(&tz).date_naive();
    let next = date.succ_opt().unwrap_or(date);
    Period {
        start_ms: start_of_day(tz, date).timestamp_millis(),
        end_ms: start_of_day(tz, next).timestamp_millis(),
    }
}

/// The local month containing `now`.
pub(crate) fn month(tz: Tz, now: DateTime<Utc>) -> Period {
    let date = now.with_timezone(&tz).date_naive();
    let first = date.with_day(1).unwrap_or(date);
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    }
    .unwrap_or(first);
    Period {
        start_ms: start_of_day(tz, first).timestamp_millis(),
        end_ms: start_of_day(tz, next).timestamp_millis(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn cet_days_turn_at_local_midnight_across_dst() {
        // Spring forward: 2026-03-29 is 23 hours long in CET/CEST.
        let d = day(Tz::CET, utc("2026-03-29T12:00:00Z"));
        assert_eq!(d.start_ms, utc("2026-03-28T23:00:00Z").timestamp_millis());
        assert_eq!(d.end_ms, utc("2026-03-29T22:00:00Z").timestamp_millis());
        // Fall back: 2026-10-25 is 25 hours long.
        let d = day(Tz::CET, utc("2026-10-25T12:00:00Z"));
        assert_eq!(d.start_ms, utc("2026-10-24T22:00:00Z").timestamp_millis());
        assert_eq!(d.end_ms, utc("2026-10-25T23:00:00Z").timestamp_millis());
        // 23:30 UTC on Nov 24 is already Nov 25 in CET.
        let d = day(Tz::CET, utc("2026-11-24T23:30:00Z"));
        assert_eq!(d.start_ms, utc("2026-11-24T23:00:00Z").timestamp_millis());
    }

    #[test]
    fn months_turn_on_the_first() {
        let m = month(Tz::CET, utc("2026-12-31T23:30:00Z"));
        assert_eq!(m.start_ms, utc("2026-12-31T23:00:00Z").timestamp_millis());
        assert_eq!(m.end_ms, utc("2027-01-31T23:00:00Z").timestamp_millis());
        let m = month(Tz::CET, utc("2026-03-15T00:00:00Z"));
        assert_eq!(m.start_ms, utc("2026-02-28T23:00:00Z").timestamp_millis());
        assert_eq!(m.end_ms, utc("2026-03-31T22:00:00Z").timestamp_millis());
    }
}
