//! Value checks shared by several sections: a listen address with a port and a count that
//! must be greater than zero, each with its default and an error naming the key.

use std::net::SocketAddr;

use super::ConfigError;

/// `value` (or `default`) as a socket address with a port.
pub(super) fn parse_addr(
    key: &str,
    value: Option<&str>,
    default: &str,
) -> Result<SocketAddr, ConfigError> {
    let v = value.unwrap_or(default);
    v.parse().map_err(|_| {
        ConfigError::new(
            key,
            format!("`{v}` is not an address with a port (like 127.0.0.1:8080)"),
        )
    })
}

/// `value` (or `default`), refused when zero.
pub(super) fn positive(key: &str, value: Option<u64>, default: u64) -> Result<u64, ConfigError> {
    match value.unwrap_or(default) {
        0 => Err(ConfigError::new(key, "must be greater than zero")),
        v => Ok(v),
    }
}
