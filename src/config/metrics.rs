//! `[metrics]`: what `/metrics` labels its series with. Per-user labels are off by
//! default (one series per user multiplies every family); when on, at most `max_users`
//! users get series of their own and the rest share `user="other"`.

use super::raw::RawMetrics;
use super::ConfigError;

/// The most users `metrics.max_users` may name: past this a scrape grows too large to
/// be useful and the per-user view belongs in the admin API's aggregates.
const MAX_USERS_LIMIT: u64 = 10_000;

/// `[metrics]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Whether series carry a `user` label.
    pub per_user: bool,
    /// With `per_user`, at most this many users have series of their own.
    pub max_users: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            per_user: false,
            max_users: 100,
        }
    }
}

impl MetricsConfig {
    /// Validates `[metrics]` and fills in its defaults.
    pub(super) fn from_raw(m: RawMetrics) -> Result<Self, ConfigError> {
        let max_users = m.max_users.unwrap_or(100);
        if !(1..=MAX_USERS_LIMIT).contains(&max_users) {
            return Err(ConfigError::new(
                "metrics.max_users",
                format!("must be between 1 and {MAX_USERS_LIMIT}"),
            ));
        }
        Ok(Self {
            per_user: m.per_user.unwrap_or(false),
            // At most MAX_USERS_LIMIT, so it fits.
            max_users: usize::try_from(max_users).unwrap_or(usize::MAX),
        })
    }
}
