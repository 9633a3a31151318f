//! `[ratelimit]`: the default short-term limits of users and teams without their own
//! override (requests and input+output tokens per minute, calls in flight), and how
//! many proxies share one database (each enforces its share of every limit).

use super::raw::RawRateLimit;
use super::values::positive;
use super::ConfigError;

/// One subject kind's default short-term limits; `None` is unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateDefaults {
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Input plus output tokens per minute.
    pub tpm: Option<u64>,
    /// Calls in flight at once.
    pub max_concurrent: Option<u64>,
}

/// `[ratelimit]`
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// For users without their own override (`user_rpm`, `user_tpm`,
    /// `user_max_concurrent`).
    pub user: RateDefaults,
    /// For teams without their own override (`team_*`).
    pub team: RateDefaults,
    /// `ratelimit.proxies`: how many proxies serve from one database; each enforces
    /// `max(1, limit / proxies)` of every short-term limit (default 1).
    pub proxies: u64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            user: RateDefaults::default(),
            team: RateDefaults::default(),
            proxies: 1,
        }
    }
}

impl RateLimitConfig {
    /// Validates `[ratelimit]`: every limit, when set, is greater than zero (leave a key
    /// out for no limit), and `proxies` is at least 1.
    pub(super) fn from_raw(r: RawRateLimit) -> Result<Self, ConfigError> {
        let limit = |key: &str, v: Option<u64>| -> Result<Option<u64>, ConfigError> {
            v.map(|v| positive(key, Some(v), 1)).transpose()
        };
        Ok(Self {
            user: RateDefaults {
                rpm: limit("ratelimit.user_rpm", r.user_rpm)?,
                tpm: limit("ratelimit.user_tpm", r.user_tpm)?,
                max_concurrent: limit("ratelimit.user_max_concurrent", r.user_max_concurrent)?,
            },
            team: RateDefaults {
                rpm: limit("ratelimit.team_rpm", r.team_rpm)?,
                tpm: limit("ratelimit.team_tpm", r.team_tpm)?,
                max_concurrent: limit("ratelimit.team_max_concurrent", r.team_max_concurrent)?,
            },
            proxies: positive("ratelimit.proxies", r.proxies, 1)?,
        })
    }
}
