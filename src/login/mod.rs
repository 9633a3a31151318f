//! The developer's side of sign-in, run from the same binary: `bedrock-gate login`
//! (the OAuth 2.0 device authorization grant, RFC 8628, against an issuer the proxy
//! trusts, then `POST /_gate/v1/credentials`), `bedrock-gate credentials` (a cached or
//! silently refreshed short-lived key for AWS `credential_process`) and
//! `bedrock-gate logout`.
//!
//! One concept per file: [`http`] (bounded HTTPS requests to the proxy and the identity
//! provider), [`oauth`] (discovery, the device grant, the refresh grant, revocation),
//! [`saved`] (the refresh token and the current key, owner-only under the user's config
//! directory, one entry per server URL), [`aws_profile`] (one profile's section of
//! `~/.aws/config`) and [`session`] (login, credentials and logout put together).
//! Tokens are never printed or logged; only the requested credentials go to stdout.

pub(crate) mod aws_profile;
pub(crate) mod http;
pub(crate) mod oauth;
pub(crate) mod saved;
pub(crate) mod session;

/// Why a sign-in command failed; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoginError {
    /// The proxy or the identity provider could not be reached or answered badly.
    #[error("{0}")]
    Remote(String),
    /// The user (or the identity provider) ended the sign-in: denied, expired, revoked.
    #[error("{0}")]
    Ended(String),
    /// Bad input on the command line (unknown issuer, bad URL).
    #[error("{0}")]
    Usage(String),
    /// A local file could not be read or written.
    #[error("{0}")]
    Local(String),
}
