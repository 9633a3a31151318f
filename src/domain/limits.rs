//! Request limits and USD budgets of a user or team, and changes to them.

use serde::{Deserialize, Serialize};

/// Request limits and budgets; `None` is unlimited.
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
}

/// A change to limits: `None` leaves a limit as it is, `Some(None)` makes it unlimited.
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
}

impl LimitsUpdate {
    /// The limits after applying this update to `base`.
    pub(crate) fn apply(&self, base: Limits) -> Limits {
        Limits {
            daily_requests: self.daily_requests.unwrap_or(base.daily_requests),
            monthly_requests: self.monthly_requests.unwrap_or(base.monthly_requests),
            daily_budget_usd: self.daily_budget_usd.unwrap_or(base.daily_budget_usd),
            monthly_budget_usd: self.monthly_budget_usd.unwrap_or(base.monthly_budget_usd),
        }
    }

    /// An update that sets every limit to `limits`' value.
    pub fn exactly(limits: Limits) -> Self {
        Self {
            daily_requests: Some(limits.daily_requests),
            monthly_requests: Some(limits.monthly_requests),
            daily_budget_usd: Some(limits.daily_budget_usd),
            monthly_budget_usd: Some(limits.monthly_budget_usd),
        }
    }

    /// Whether the update changes nothing.
    pub(crate) fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}
