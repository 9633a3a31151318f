//! The limit flags shared by `team|user create` and `set-limits` (clap derive), and
//! how they become a limits update: a value, `unlimited`, or (short-term limits)
//! `default`.

use clap::Args;

use super::values;

/// Limit flags shared by create and set-limits. A value of `unlimited` removes a limit.
#[derive(Debug, Args, Default)]
pub(crate) struct LimitArgs {
    /// Requests per calendar day (0 allows none).
    #[arg(long, value_name = "N|unlimited", allow_negative_numbers = true, value_parser = values::count)]
    pub(crate) daily_requests: Option<Limit<i64>>,
    /// Requests per calendar month (0 allows none).
    #[arg(long, value_name = "N|unlimited", allow_negative_numbers = true, value_parser = values::count)]
    pub(crate) monthly_requests: Option<Limit<i64>>,
    /// USD per calendar day.
    #[arg(long, value_name = "USD|unlimited", allow_negative_numbers = true, value_parser = values::usd)]
    pub(crate) daily_budget_usd: Option<Limit<f64>>,
    /// USD per calendar month.
    #[arg(long, value_name = "USD|unlimited", allow_negative_numbers = true, value_parser = values::usd)]
    pub(crate) monthly_budget_usd: Option<Limit<f64>>,
    /// Requests per minute (`default`: back to `ratelimit.*`).
    #[arg(long, value_name = "N|unlimited|default", allow_negative_numbers = true, value_parser = values::rate)]
    pub(crate) rpm: Option<RateArg>,
    /// Input plus output tokens per minute (`default`: back to `ratelimit.*`).
    #[arg(long, value_name = "N|unlimited|default", allow_negative_numbers = true, value_parser = values::rate)]
    pub(crate) tpm: Option<RateArg>,
    /// Calls in flight at once (`default`: back to `ratelimit.*`).
    #[arg(long, value_name = "N|unlimited|default", allow_negative_numbers = true, value_parser = values::rate)]
    pub(crate) max_concurrent: Option<RateArg>,
}

/// A short-term limit on the command line: `None` removes the override.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RateArg(pub(crate) Option<crate::domain::RateLimit>);

/// A limit value on the command line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Limit<T> {
    /// No limit.
    Unlimited,
    /// This many.
    Value(T),
}

impl<T: Copy> Limit<T> {
    /// As stored: `None` for unlimited.
    pub(crate) fn stored(self) -> Option<T> {
        match self {
            Self::Unlimited => None,
            Self::Value(v) => Some(v),
        }
    }
}

impl LimitArgs {
    /// The flags as a limits update (flags not given leave a limit as it is).
    pub(crate) fn update(&self) -> crate::domain::LimitsUpdate {
        crate::domain::LimitsUpdate {
            daily_requests: self.daily_requests.map(Limit::stored),
            monthly_requests: self.monthly_requests.map(Limit::stored),
            daily_budget_usd: self.daily_budget_usd.map(Limit::stored),
            monthly_budget_usd: self.monthly_budget_usd.map(Limit::stored),
            rpm: self.rpm.map(|r| r.0),
            tpm: self.tpm.map(|r| r.0),
            max_concurrent: self.max_concurrent.map(|r| r.0),
        }
    }
}
