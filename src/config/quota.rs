//! `[quota]`: the calendar time zone, default request limits for new users, the warning
//! thresholds, the output tokens a budget reservation assumes, the fallback price for
//! unpriced models, how long a call may wait for the quota store and what happens to
//! calls while it does not answer.

use std::time::Duration;

use super::raw::RawQuota;
use super::values::positive;
use super::ConfigError;

/// `[quota]`
#[derive(Clone, Debug)]
pub struct QuotaConfig {
    /// Days and months begin at 00:00 here.
    pub timezone: chrono_tz::Tz,
    /// For users created without their own daily request limit.
    pub(crate) default_daily_requests: Option<u64>,
    /// For users created without their own monthly request limit.
    pub(crate) default_monthly_requests: Option<u64>,
    /// Shares of a limit (percent, ascending, distinct) at which a warning goes out,
    /// once each per limit and period.
    pub(crate) warning_thresholds: Vec<u8>,
    /// Output tokens a budget reservation assumes when a request sets no maximum.
    pub(crate) default_max_output_tokens: u64,
    /// Price (USD per 1,000 input, output tokens) for models without one; `None`
    /// refuses calls to unpriced models from users with a budget.
    pub(crate) fallback_price: Option<(f64, f64)>,
    /// `quota.store_timeout_ms`: how long a call waits for the quota store (a chunk
    /// grant) before it is refused with 503.
    pub(crate) store_timeout: Duration,
    /// `quota.on_store_outage`: refuse calls that need the quota store while it does not
    /// answer (503), or admit them on a per-user allowance reconciled afterwards.
    pub(crate) on_store_outage: OnStoreOutage,
    /// `quota.lease_secs`: how long this proxy's quota lease lives without renewal;
    /// after that other proxies reclaim its reserve (a crashed proxy's unused chunks).
    pub(crate) lease: Duration,
}

/// What happens to a call that needs the quota store (a chunk grant) while the store
/// does not answer within `quota.store_timeout_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnStoreOutage {
    /// 503 `ServiceUnavailableException` with `Retry-After`; nothing reaches Bedrock.
    Refuse,
    /// Admitted while its user's outage allowance lasts (requests, and micro-USD of
    /// worst-case cost, per proxy and outage); the units are charged to the store when
    /// it answers again, past the limit if need be (the overshoot this bounds).
    Allow {
        /// Calls per user per outage.
        requests: i64,
        /// Worst-case cost per user per outage, in micro-USD.
        micro_usd: i64,
    },
}

/// `quota.lease_secs` bounds: renewed every 2 s, a lease must outlive a few renewals;
/// past an hour a crashed proxy's capacity would come back too late to matter.
const LEASE_SECS: std::ops::RangeInclusive<u64> = 6..=3600;

/// The longest `quota.store_timeout_ms` accepted: a call should not wait longer than
/// an SDK's own read timeout for an answer.
const MAX_STORE_TIMEOUT_MS: u64 = 60_000;

impl QuotaConfig {
    /// Validates `[quota]` and fills in its defaults (a default limit of 0 means none).
    pub(super) fn from_raw(q: RawQuota) -> Result<Self, ConfigError> {
        let tz_name = q.timezone.unwrap_or_else(|| "CET".to_string());
        let timezone: chrono_tz::Tz = tz_name.parse().map_err(|_| {
            ConfigError::new(
                "quota.timezone",
                format!("`{tz_name}` is not an IANA time zone"),
            )
        })?;
        let warning_thresholds = warning_thresholds(q.warning_percent, q.warning_thresholds)?;
        let default_max_output_tokens = positive(
            "quota.default_max_output_tokens",
            q.default_max_output_tokens,
            4096,
        )?;
        let fallback_price =
            fallback_price(q.fallback_usd_per_1k_input, q.fallback_usd_per_1k_output)?;
        let store_timeout_ms = positive("quota.store_timeout_ms", q.store_timeout_ms, 2000)?;
        if store_timeout_ms > MAX_STORE_TIMEOUT_MS {
            return Err(ConfigError::new(
                "quota.store_timeout_ms",
                format!("{store_timeout_ms} is more than {MAX_STORE_TIMEOUT_MS} ms"),
            ));
        }
        let lease_secs = positive("quota.lease_secs", q.lease_secs, 30)?;
        if !LEASE_SECS.contains(&lease_secs) {
            return Err(ConfigError::new(
                "quota.lease_secs",
                format!(
                    "{lease_secs} is not between {} and {} seconds",
                    LEASE_SECS.start(),
                    LEASE_SECS.end()
                ),
            ));
        }
        Ok(Self {
            timezone,
            default_daily_requests: q.default_daily_requests.or(Some(350)).filter(|v| *v > 0),
            default_monthly_requests: q.default_monthly_requests.or(Some(5000)).filter(|v| *v > 0),
            warning_thresholds,
            default_max_output_tokens,
            fallback_price,
            store_timeout: Duration::from_millis(store_timeout_ms),
            lease: Duration::from_secs(lease_secs),
            on_store_outage: on_store_outage(
                q.on_store_outage.as_deref(),
                q.outage_allowance_requests,
                q.outage_allowance_usd,
            )?,
        })
    }
}

/// Requests a user may make on the outage allowance unless configured otherwise.
const DEFAULT_OUTAGE_REQUESTS: u64 = 20;
/// USD a user may spend on the outage allowance unless configured otherwise.
const DEFAULT_OUTAGE_USD: f64 = 1.0;

/// `quota.on_store_outage` (`refuse`, the default, or `allow`) with its allowance; the
/// allowance settings are refused beside `refuse`, where they would silently do nothing.
fn on_store_outage(
    mode: Option<&str>,
    requests: Option<u64>,
    usd: Option<f64>,
) -> Result<OnStoreOutage, ConfigError> {
    match mode.unwrap_or("refuse") {
        "refuse" => {
            let stray = if requests.is_some() {
                Some("quota.outage_allowance_requests")
            } else if usd.is_some() {
                Some("quota.outage_allowance_usd")
            } else {
                None
            };
            match stray {
                Some(key) => Err(ConfigError::new(
                    key,
                    "applies only with quota.on_store_outage = \"allow\"",
                )),
                None => Ok(OnStoreOutage::Refuse),
            }
        }
        "allow" => {
            let requests = positive(
                "quota.outage_allowance_requests",
                requests,
                DEFAULT_OUTAGE_REQUESTS,
            )?;
            let usd = usd.unwrap_or(DEFAULT_OUTAGE_USD);
            if !usd.is_finite() || usd < 0.0 {
                return Err(ConfigError::new(
                    "quota.outage_allowance_usd",
                    "must be a number >= 0",
                ));
            }
            Ok(OnStoreOutage::Allow {
                requests: i64::try_from(requests).unwrap_or(i64::MAX),
                // Rounded down, like a budget limit.
                micro_usd: (usd * 1_000_000.0).floor().min(i64::MAX as f64) as i64,
            })
        }
        other => Err(ConfigError::new(
            "quota.on_store_outage",
            format!("`{other}` is neither \"refuse\" nor \"allow\""),
        )),
    }
}

/// `warning_percent` (one threshold, default 80) or `warning_thresholds` (a list), not
/// both; each between 1 and 100.
fn warning_thresholds(percent: Option<u8>, list: Option<Vec<u8>>) -> Result<Vec<u8>, ConfigError> {
    let (key, mut thresholds) = match (percent, list) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                "quota.warning_thresholds",
                "set this or quota.warning_percent, not both",
            ))
        }
        (None, Some(list)) => ("quota.warning_thresholds", list),
        (p, None) => ("quota.warning_percent", vec![p.unwrap_or(80)]),
    };
    if thresholds.is_empty() {
        return Err(ConfigError::new(key, "must list at least one percent"));
    }
    if thresholds.iter().any(|t| !(1..=100).contains(t)) {
        return Err(ConfigError::new(key, "must be between 1 and 100"));
    }
    thresholds.sort_unstable();
    thresholds.dedup();
    Ok(thresholds)
}

/// Both prices or neither; each a finite number >= 0.
fn fallback_price(
    input: Option<f64>,
    output: Option<f64>,
) -> Result<Option<(f64, f64)>, ConfigError> {
    match (input, output) {
        (None, None) => Ok(None),
        (Some(i), Some(o)) if i.is_finite() && o.is_finite() && i >= 0.0 && o >= 0.0 => {
            Ok(Some((i, o)))
        }
        (Some(_), Some(_)) => Err(ConfigError::new(
            "quota.fallback_usd_per_1k_input",
            "fallback prices must be numbers >= 0",
        )),
        (Some(_), None) => Err(ConfigError::new(
            "quota.fallback_usd_per_1k_output",
            "must be set with quota.fallback_usd_per_1k_input",
        )),
        (None, Some(_)) => Err(ConfigError::new(
            "quota.fallback_usd_per_1k_input",
            "must be set with quota.fallback_usd_per_1k_output",
        )),
    }
}
