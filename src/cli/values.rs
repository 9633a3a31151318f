//! Parsers of command-line values: each refuses bad input with one sentence that says
//! what is accepted (a usage error, exit 2), including negative numbers and absurd
//! amounts; and `--until` times in `quota.timezone`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::args::{Limit, RateArg};
use crate::domain::RateLimit;
use crate::ops::blocking::{BlockDuration, MAX_BLOCK_SECS};
use crate::ops::validate::{MAX_BUDGET_USD, MAX_PRICE_USD, MAX_RATE, MAX_REQUESTS};

/// A request limit: a whole number from 0 to [`MAX_REQUESTS`], or `unlimited`.
pub(crate) fn count(s: &str) -> Result<Limit<i64>, String> {
    if s.eq_ignore_ascii_case("unlimited") {
        return Ok(Limit::Unlimited);
    }
    match s.parse::<i64>() {
        Ok(n) if (0..=MAX_REQUESTS).contains(&n) => Ok(Limit::Value(n)),
        _ => Err(format!(
            "`{s}` is not a whole number from 0 to {MAX_REQUESTS} or `unlimited`"
        )),
    }
}

/// A short-term limit: a whole number from 0 to [`MAX_RATE`], `unlimited`, or `default`
/// (remove the override: `ratelimit.*` applies).
pub(crate) fn rate(s: &str) -> Result<RateArg, String> {
    if s.eq_ignore_ascii_case("unlimited") {
        return Ok(RateArg(Some(RateLimit::Unlimited)));
    }
    if s.eq_ignore_ascii_case("default") {
        return Ok(RateArg(None));
    }
    match s.parse::<u64>() {
        Ok(n) if n <= MAX_RATE => Ok(RateArg(Some(RateLimit::Max(n)))),
        _ => Err(format!(
            "`{s}` is not a whole number from 0 to {MAX_RATE}, `unlimited` or `default`"
        )),
    }
}

/// A budget: an amount in USD from 0 to [`MAX_BUDGET_USD`], or `unlimited`.
pub(crate) fn usd(s: &str) -> Result<Limit<f64>, String> {
    if s.eq_ignore_ascii_case("unlimited") {
        return Ok(Limit::Unlimited);
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=MAX_BUDGET_USD).contains(&v) => Ok(Limit::Value(v)),
        _ => Err(format!(
            "`{s}` is not an amount from 0 to {MAX_BUDGET_USD} (USD) or `unlimited`"
        )),
    }
}

/// A price in USD per 1,000 tokens, from 0 to [`MAX_PRICE_USD`].
pub(crate) fn price(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=MAX_PRICE_USD).contains(&v) => Ok(v),
        _ => Err(format!(
            "`{s}` is not a price from 0 to {MAX_PRICE_USD} (USD per 1,000 tokens)"
        )),
    }
}

/// A block duration (see [`BlockDuration`]).
pub(crate) fn duration(s: &str) -> Result<BlockDuration, String> {
    s.parse()
}

/// A day, `YYYY-MM-DD`.
pub(crate) fn date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("`{s}` is not a date like 2026-11-24"))
}

/// A percent from 1 to 100.
pub(crate) fn percent(s: &str) -> Result<u8, String> {
    match s.parse::<u8>() {
        Ok(p) if (1..=100).contains(&p) => Ok(p),
        _ => Err(format!("`{s}` is not a percent from 1 to 100")),
    }
}

/// `--limit` of a list: a whole number from 1 to 100,000.
pub(crate) fn limit(s: &str) -> Result<i64, String> {
    match s.parse::<i64>() {
        Ok(n) if (1..=100_000).contains(&n) => Ok(n),
        _ => Err(format!("`{s}` is not a whole number from 1 to 100000")),
    }
}

/// An email address (the service's rule).
pub(crate) fn email(s: &str) -> Result<String, String> {
    crate::ops::validate::email(s)
        .map(|()| s.to_string())
        .map_err(|e| e.to_string())
}

/// `--until` as a moment: RFC 3339 (`2026-12-01T08:00:00+01:00`), or a local date and
/// time in `tz` (`2026-12-01T08:00`, `2026-12-01 08:00[:00]`), or a date (its start).
pub(crate) fn until(s: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let local = [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })
    .ok_or_else(|| {
        format!(
            "--until `{s}` is not a date or time like 2026-12-01, 2026-12-01T08:00 or \
                 2026-12-01T08:00:00+01:00"
        )
    })?;
    tz.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("--until `{s}` does not exist in {tz} (a clock change)"))
}

/// The block that lasts from `now` until `end`: in the future, at most 366 days away.
pub(crate) fn block_until(end: DateTime<Utc>, now: DateTime<Utc>) -> Result<BlockDuration, String> {
    let secs = (end - now).num_seconds();
    match u64::try_from(secs) {
        Ok(s) if s > 0 && s <= MAX_BLOCK_SECS => Ok(BlockDuration::For(s)),
        Ok(s) if s > 0 => {
            Err("--until is more than 366 days away; use --duration indefinite".into())
        }
        _ => Err("--until is not in the future".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("90s"), Ok(BlockDuration::For(90)));
        assert_eq!(duration("30m"), Ok(BlockDuration::For(1800)));
        assert_eq!(duration("2h30m"), Ok(BlockDuration::For(9000)));
        assert_eq!(duration("1d"), Ok(BlockDuration::For(86400)));
        assert_eq!(duration("1w"), Ok(BlockDuration::For(604_800)));
        assert_eq!(duration("366d"), Ok(BlockDuration::For(MAX_BLOCK_SECS)));
        assert_eq!(duration("until-reset"), Ok(BlockDuration::UntilReset));
        assert_eq!(duration("indefinite"), Ok(BlockDuration::Indefinite));
        for bad in ["", "m", "0h", "5x", "-1d", "1.5h", "2h30", "h30m"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
        for long in ["367d", "99999999d", "99999999999999999999999d"] {
            let e = duration(long).unwrap_err();
            assert!(
                e.contains("longest") || e.contains("not a duration"),
                "{long}: {e}"
            );
        }
        assert!(duration("99999999d").unwrap_err().contains("indefinite"));
    }

    #[test]
    fn numbers_have_ranges() {
        assert_eq!(count("5"), Ok(Limit::Value(5)));
        assert_eq!(count("UNLIMITED"), Ok(Limit::Unlimited));
        assert!(count("-5").unwrap_err().contains("from 0 to"));
        assert!(usd("1e300").unwrap_err().contains("from 0 to 1000000"));
        assert!(usd("-1").is_err());
        assert_eq!(usd("12.5"), Ok(Limit::Value(12.5)));
        assert!(price("abc")
            .unwrap_err()
            .contains("is not a price from 0 to 1000"));
        assert!(price("1e300").is_err());
        assert_eq!(price("0.25"), Ok(0.25));
        assert!(limit("-1").is_err());
        assert!(limit("0").is_err());
        assert!(percent("0").is_err());
        assert_eq!(percent("80"), Ok(80));
        assert!(email("notanemail").is_err());
        assert!(date("yesterday").unwrap_err().contains("2026-11-24"));
    }

    #[test]
    fn until_takes_dates_and_times_in_the_zone() {
        let tz: Tz = "Europe/Madrid".parse().unwrap();
        let t = until("2026-12-01", tz).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-30T23:00:00+00:00");
        let t = until("2026-12-01T08:30", tz).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-01T07:30:00+00:00");
        let t = until("2026-12-01T08:30:00Z", tz).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-01T08:30:00+00:00");
        assert!(until("tomorrow", tz).is_err());
        let now = until("2026-11-30T12:00:00Z", tz).unwrap();
        assert_eq!(
            block_until(until("2026-11-30T13:00:00Z", tz).unwrap(), now),
            Ok(BlockDuration::For(3600))
        );
        assert!(block_until(now, now).is_err());
        assert!(block_until(until("2028-01-01", tz).unwrap(), now).is_err());
    }
}
