//! Identity: OpenID Connect ID tokens exchanged for short-lived proxy keys.
//!
//! One concept per file: [`fetch`] (bounded, timed-out HTTP GETs of JSON),
//! [`discovery`] (the issuer's `/.well-known/openid-configuration`), [`jwks`] (the
//! issuer's signing keys, cached; an unknown `kid` refetches at most once per interval,
//! cached keys keep verifying while the issuer is down), [`verify`] (the rules an ID
//! token must pass), [`claims`] (user name and groups out of verified claims),
//! [`issuer`] (one trusted issuer: discovery, keys and rules together) and [`endpoint`]
//! (`GET /_gate/v1/issuers`, `POST /_gate/v1/credentials` on the proxy listener). Users,
//! teams and keys are created by the service layer (`ops::sign_in`).

pub(crate) mod claims;
pub(crate) mod code_flow;
pub(crate) mod dashboard;
pub(crate) mod discovery;
pub(crate) mod endpoint;
pub(crate) mod fetch;
pub(crate) mod issuer;
pub(crate) mod jwks;
pub(crate) mod verify;

pub(crate) use endpoint::SignIn;

/// Why an ID token was not exchanged for a key.
#[derive(Debug, thiserror::Error)]
pub(crate) enum IdentityError {
    /// The token is not acceptable (signature, issuer, audience, time, claims): 401.
    #[error("{0}")]
    Refused(String),
    /// The issuer's discovery document or keys could not be had and nothing usable is
    /// cached: 503.
    #[error("{0}")]
    Unavailable(String),
}
