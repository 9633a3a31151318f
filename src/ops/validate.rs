//! Input rules shared by every operation: names, email addresses and limits.

use super::OpsError;
use crate::domain::LimitsUpdate;

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
        if v.is_some_and(|v| v < 0) {
            return Err(OpsError::Invalid(format!("{field} must be 0 or more")));
        }
    }
    for (field, v) in [
        ("daily_budget_usd", update.daily_budget_usd.flatten()),
        ("monthly_budget_usd", update.monthly_budget_usd.flatten()),
    ] {
        if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
            return Err(OpsError::Invalid(format!(
                "{field} must be an amount in USD, 0 or more"
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
}
