//! `[admin]`: the listener for the dashboard, the admin API, metrics and health checks,
//! and how long dashboard sessions last and whether their cookie is `Secure`.

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
        })
    }
}
