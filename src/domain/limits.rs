//! Request limits and USD budgets of a user or team, their short-term limit overrides,
//! and changes to them.

use serde::{Deserialize, Serialize};

use super::RateLimit;

/// The largest request limit (per day or month).
pub const MAX_REQUESTS: i64 = 1_000_000_000;
/// The largest budget in USD (per day or month).
pub const MAX_BUDGET_USD: f64 = 1_000_000.0;

/// Request limits and budgets; `None` is unlimited. The short-term limits (`rpm`, `tpm`,
/// `max_concurrent`) are overrides: `None` takes the configured default
/// (`ratelimit.*`), [`RateLimit::Unlimited`] removes the limit.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema,
)]
pub struct Limits {
    /// Requests per calendar day.
    pub daily_requests: Option<i64>,
    /// Requests per calendar month.
    pub monthly_requests: Option<i64>,
    /// USD per calendar day.
    pub daily_budget_usd: Option<f64>,
    /// USD per calendar month.
    pub monthly_budget_usd: Option<f64>,
    /// Requests per minute (override of `ratelimit.*_rpm`).
    #[serde(default)]
    #[sqlx(default)]
    pub rpm: Option<RateLimit>,
    /// Input plus output tokens per minute (override of `ratelimit.*_tpm`).
    #[serde(default)]
    #[sqlx(default)]
    pub tpm: Option<RateLimit>,
    /// Calls in flight at once (override of `ratelimit.*_max_concurrent`).
    #[serde(default)]
    #[sqlx(default)]
    pub max_concurrent: Option<RateLimit>,
}

/// A change to limits: `None` leaves a limit as it is, `Some(None)` makes it unlimited
/// (for the short-term limits: removes the override, so the default applies).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LimitsUpdate {
    /// New daily request limit.
    pub daily_requests: Option<Option<i64>>,
    /// New monthly request limit.
    pub monthly_requests: Option<Option<i64>>,
    /// New daily budget.
    pub daily_budget_usd: Option<Option<f64>>,
    /// New monthly budget.
    pub monthly_budget_usd: Option<Option<f64>>,
    /// New requests-per-minute override.
    pub rpm: Option<Option<RateLimit>>,
    /// New tokens-per-minute override.
    pub tpm: Option<Option<RateLimit>>,
    /// New concurrent-calls override.
    pub max_concurrent: Option<Option<RateLimit>>,
}

impl LimitsUpdate {
    /// The limits after applying this update to `base`.
    pub(crate) fn apply(&self, base: Limits) -> Limits {
        Limits {
            daily_requests: self.daily_requests.unwrap_or(base.daily_requests),
            monthly_requests: self.monthly_requests.unwrap_or(base.monthly_requests),
            daily_budget_usd: self.daily_budget_usd.unwrap_or(base.daily_budget_usd),
            monthly_budget_usd: self.monthly_budget_usd.unwrap_or(base.monthly_budget_usd),
            rpm: self.rpm.unwrap_or(base.rpm),
            tpm: self.tpm.unwrap_or(base.tpm),
            max_concurrent: self.max_concurrent.unwrap_or(base.max_concurrent),
        }
    }

    /// An update that sets every limit to `limits`' value.
    pub fn exactly(limits: Limits) -> Self {
        Self {
            daily_requests: Some(limits.daily_requests),
            monthly_requests: Some(limits.monthly_requests),
            daily_budget_usd: Some(limits.daily_budget_usd),
            monthly_budget_usd: Some(limits.monthly_budget_usd),
            rpm: Some(limits.rpm),
            tpm: Some(limits.tpm),
            max_concurrent: Some(limits.max_concurrent),
        }
    }

    /// Whether the update changes nothing.
    pub(crate) fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}
