//! Who performs a change: the name written to audit rows and events.

use std::fmt;

/// The acting identity of a change: `cli:<login>`, `api:<token name>`,
/// `proxy:<host>:<pid>` (automatic blocks) or `scheduler:<host>:<pid>` (the reset).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Actor(String);

impl Actor {
    /// The operator at the command line, by their login (`SUDO_USER`, else `USER`, else
    /// `LOGNAME`).
    pub(crate) fn cli() -> Self {
        let user = std::env::var("SUDO_USER")
            .or_else(|_| std::env::var("USER"))
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into());
        Self(format!("cli:{user}"))
    }

    /// A caller of the admin API, by the name of its admin token (`api:<name>`).
    pub fn api(token_name: &str) -> Self {
        Self(format!("api:{token_name}"))
    }

    /// A process acting by itself (`proxy:<host>:<pid>`), as named by the caller.
    pub fn system(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The text stored in `performed_by`.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
