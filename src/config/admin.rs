//! `[admin]`: the listener for the dashboard, the admin API, metrics and health checks.

use std::net::SocketAddr;

use super::raw::RawAdmin;
use super::values::parse_addr;
use super::ConfigError;

/// `[admin]`
#[derive(Clone, Debug)]
pub(crate) struct AdminConfig {
    /// Dashboard, admin API, metrics and health checks.
    pub(crate) listen: SocketAddr,
}

impl AdminConfig {
    /// Validates `[admin]` and fills in its default.
    pub(super) fn from_raw(a: RawAdmin) -> Result<Self, ConfigError> {
        Ok(Self {
            listen: parse_addr("admin.listen", a.listen.as_deref(), "127.0.0.1:8081")?,
        })
    }
}
