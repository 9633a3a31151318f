//! Input rules shared by every operation: names and email addresses.

use super::OpsError;

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
