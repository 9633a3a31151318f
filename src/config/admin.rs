//! `[admin]`: the listener for the dashboard, the admin API, metrics and health checks,
//! how long dashboard sessions last and whether their cookie is `Secure`, and the
//! listener's public URL (for the single sign-on redirect URI).

use std::net::SocketAddr;
use std::time::Duration;

use super::raw::RawAdmin;
use super::values::parse_addr;
use super::ConfigError;

/// The longest a dashboard session may be configured to last, in hours (30 days).
const MAX_SESSION_HOURS: u64 = 720;

/// `[admin]`
#[derive(Clone, Debug)]
pub(crate) struct AdminConfig {
    /// Dashboard, admin API, metrics and health checks.
    pub(crate) listen: SocketAddr,
    /// How long a dashboard session lasts after login.
    pub(crate) session_ttl: Duration,
    /// Mark the session cookie `Secure` always (set it when a TLS-terminating proxy
    /// fronts the listener; `X-Forwarded-Proto: https` also sets it per request).
    pub(crate) cookie_secure: bool,
    /// The URL browsers reach the admin listener at (`admin.public_url`, e.g.
    /// `https://gate-admin.example.com`, no trailing slash); the single sign-on redirect
    /// URI is `<public_url>/auth/oidc/callback`. Unset: derived per request from `Host`
    /// (and `X-Forwarded-Proto`).
    pub(crate) public_url: Option<String>,
}

impl AdminConfig {
    /// Validates `[admin]` and fills in its defaults.
    pub(super) fn from_raw(a: RawAdmin) -> Result<Self, ConfigError> {
        let hours = a.session_hours.unwrap_or(12);
        if !(1..=MAX_SESSION_HOURS).contains(&hours) {
            return Err(ConfigError::new(
                "admin.session_hours",
                format!("must be between 1 and {MAX_SESSION_HOURS}"),
            ));
        }
        Ok(Self {
            listen: parse_addr("admin.listen", a.listen.as_deref(), "127.0.0.1:8081")?,
            session_ttl: Duration::from_secs(hours * 3600),
            cookie_secure: a.cookie_secure.unwrap_or(false),
            public_url: public_url(a.public_url)?,
        })
    }
}

/// `admin.public_url`: `http://` or `https://`, a host, an optional path, no query or
/// fragment; a trailing `/` is dropped.
fn public_url(v: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(v) = v else { return Ok(None) };
    let bad = |why: &str| ConfigError::new("admin.public_url", format!("`{v}` {why}"));
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"))
        .ok_or_else(|| bad("must be an http:// or https:// URL"))?;
    if rest.split('/').next().unwrap_or("").is_empty() {
        return Err(bad("names no host"));
    }
    if v.contains(['?', '#']) || v.chars().any(char::is_whitespace) {
        return Err(bad("must not carry a query, fragment or spaces"));
    }
    Ok(Some(v.trim_end_matches('/').to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_checked_and_trimmed() {
        assert_eq!(
            public_url(Some("https://gate.example.com/".into())).unwrap(),
            Some("https://gate.example.com".into())
        );
        assert_eq!(public_url(None).unwrap(), None);
        for bad in ["gate.example.com", "https://", "https://x/?a=1", "ftp://x"] {
            let e = public_url(Some(bad.into())).unwrap_err();
            assert_eq!(e.key, "admin.public_url", "{bad}");
        }
    }
}
