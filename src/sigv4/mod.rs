//! SigV4, once, for both directions: [`verify`] checks a caller's signature made with a
//! proxy-issued key, [`sign`] signs the upstream request with the proxy's own AWS
//! credentials. Both build the same [`canonical`] request, the same credential scope and
//! `X-Amz-Date` ([`scope`]), and take their signing keys from the same per-day cache
//! ([`signing_key`]).
//!
//! Hand-written rather than built on `aws-sigv4`: a signer decides which headers to sign,
//! a verifier must follow whatever list the caller chose, and both must agree on the
//! canonical request byte for byte.

pub(crate) mod canonical;
pub(crate) mod scope;
pub(crate) mod sign;
pub(crate) mod signing_key;
pub(crate) mod verify;

/// The signing algorithm, the only one accepted and used.
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The service name Bedrock runtime requests are signed with.
pub(crate) const SERVICE: &str = "bedrock";
