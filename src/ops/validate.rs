//! Input rules shared by every operation: names, email addresses, limits and prices,
//! each with the accepted range (a typo like `1e300` is refused, not stored).

use super::OpsError;
use crate::domain::LimitsUpdate;

/// The largest request limit (per day or month).
pub const MAX_REQUESTS: i64 = crate::domain::MAX_REQUESTS;

/// The largest short-term limit (requests or tokens per minute, calls in flight).
pub const MAX_RATE: u64 = 1_000_000_000;
/// The largest budget in USD (per day or month).
pub const MAX_BUDGET_USD: f64 = crate::domain::MAX_BUDGET_USD;
/// The largest price in USD per 1,000 tokens.
pub const MAX_PRICE_USD: f64 = 1_000.0;

/// A price per 1,000 tokens given as `field`: a number from 0 to [`MAX_PRICE_USD`].
pub(crate) fn price(field: &str, v: f64) -> Result<(), OpsError> {
    if v.is_finite() && (0.0..=MAX_PRICE_USD).contains(&v) {
        Ok(())
    } else {
        Err(OpsError::Invalid(format!(
            "{field} {v} is not a price from 0 to {MAX_PRICE_USD} USD per 1,000 tokens"
        )))
    }
}

/// Team, user and tool names: 1-128 of letters, digits, `-`, `_`, `.` and `@`.
pub(crate) fn name(what: &str, name: &str) -> Result<(), OpsError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(OpsError::Invalid(format!(
            "{what} name `{name}` must be 1-128 characters of letters, digits, '-', '_', '.' or '@'"
        )))
    }
}

/// An email address: something before and after one `@`, no spaces, at most 254 bytes.
pub(crate) fn email(email: &str) -> Result<(), OpsError> {
    let ok = email.len() <= 254
        && !email.contains(char::is_whitespace)
        && matches!(email.split_once('@'), Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
    if ok {
        Ok(())
    } else {
        Err(OpsError::Invalid(format!(
            "`{email}` is not an email address"
        )))
    }
}

/// Limits: request counts and USD budgets are 0 or more (and finite); unset is
/// unlimited.
pub(crate) fn limits(update: &LimitsUpdate) -> Result<(), OpsError> {
    for (field, v) in [
        ("daily_requests", update.daily_requests.flatten()),
        ("monthly_requests", update.monthly_requests.flatten()),
    ] {
        if v.is_some_and(|v| !(0..=MAX_REQUESTS).contains(&v)) {
            return Err(OpsError::Invalid(format!(
                "{field} must be a whole number from 0 to {MAX_REQUESTS}"
            )));
        }
    }
    for (field, v) in [
        ("daily_budget_usd", update.daily_budget_usd.flatten()),
        ("monthly_budget_usd", update.monthly_budget_usd.flatten()),
    ] {
        if v.is_some_and(|v| !v.is_finite() || !(0.0..=MAX_BUDGET_USD).contains(&v)) {
            return Err(OpsError::Invalid(format!(
                "{field} must be an amount from 0 to {MAX_BUDGET_USD} USD"
            )));
        }
    }
    for (field, v) in [
        ("rpm", update.rpm.flatten()),
        ("tpm", update.tpm.flatten()),
        ("max_concurrent", update.max_concurrent.flatten()),
    ] {
        if v.and_then(crate::domain::RateLimit::max)
            .is_some_and(|v| v > MAX_RATE)
        {
            return Err(OpsError::Invalid(format!(
                "{field} must be a whole number from 0 to {MAX_RATE}, or unlimited"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_emails() {
        assert!(name("user", "alice.doe@corp").is_ok());
        assert!(name("user", "").is_err());
        assert!(name("user", "a b").is_err());
        assert!(name("user", &"x".repeat(129)).is_err());
        assert!(email("a@example.com").is_ok());
        assert!(email("nope").is_err());
        assert!(email("@x").is_err());
        assert!(email("a@b@c").is_err());
        assert!(email("a b@c").is_err());
    }

    #[test]
    fn absurd_limits_and_prices_are_refused() {
        let update = |daily_budget_usd: f64| LimitsUpdate {
            daily_budget_usd: Some(Some(daily_budget_usd)),
            ..Default::default()
        };
        assert!(limits(&update(1_000_000.0)).is_ok());
        let e = limits(&update(1e300)).unwrap_err().to_string();
        assert!(e.contains("from 0 to 1000000 USD"), "{e}");
        let requests = LimitsUpdate {
            daily_requests: Some(Some(MAX_REQUESTS + 1)),
            ..Default::default()
        };
        assert!(limits(&requests).is_err());
        let rate = |n| LimitsUpdate {
            tpm: Some(Some(crate::domain::RateLimit::Max(n))),
            ..Default::default()
        };
        assert!(limits(&rate(MAX_RATE)).is_ok());
        assert!(limits(&rate(MAX_RATE + 1)).is_err());
        assert!(price("input", 1000.0).is_ok());
        assert!(price("input", 1e300).is_err());
        assert!(price("input", -0.5).is_err());
        assert!(price("input", f64::NAN).is_err());
    }
}
