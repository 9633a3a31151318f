//! How a user came to exist (`users.origin`): `cli`, `api`, `oidc:<issuer name>` (created
//! at their first sign-in) or `scim` (provisioned by an identity provider).

use std::fmt;

/// How a user was created.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum UserOrigin {
    /// `bedrock-gate user create`.
    #[default]
    Cli,
    /// The admin API (or the dashboard, which calls it).
    Api,
    /// Just in time, at the first sign-in with the named `[[oidc.issuer]]`.
    Oidc(String),
    /// SCIM provisioning (`POST /scim/v2/Users`).
    Scim,
}

impl UserOrigin {
    /// The stored text.
    pub(crate) fn as_text(&self) -> String {
        match self {
            Self::Cli => "cli".into(),
            Self::Api => "api".into(),
            Self::Oidc(issuer) => format!("oidc:{issuer}"),
            Self::Scim => "scim".into(),
        }
    }
}

impl fmt::Display for UserOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_stored_as_documented() {
        assert_eq!(UserOrigin::Cli.as_text(), "cli");
        assert_eq!(UserOrigin::Api.as_text(), "api");
        assert_eq!(UserOrigin::Oidc("corp".into()).as_text(), "oidc:corp");
        assert_eq!(UserOrigin::Scim.as_text(), "scim");
    }
}
