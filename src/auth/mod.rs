//! Authentication of callers: proxy-issued SigV4 keys and bearer tokens.
//!
//! [`Authenticator::authenticate`] turns a request head and the body's SHA-256 into the
//! [`Principal`] that owns the key, or a Bedrock-shaped refusal. It reads only memory:
//! the key [`directory::Directory`] snapshot and a cache of derived signing keys (one
//! HMAC chain per key, day and region instead of one per request).

pub mod crypto;
pub mod directory;
pub mod sigv4;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use directory::{DirectoryHandle, Principal};
use sigv4::{SigV4Auth, Verification};

use crate::error::GateError;

const INVALID_TOKEN: &str = "The security token included in the request is invalid.";

/// Verifies callers against the in-memory key directory.
pub struct Authenticator {
    directory: Arc<DirectoryHandle>,
    region: String,
    signing_keys: moka::sync::Cache<String, [u8; 32]>,
}

impl Authenticator {
    /// An authenticator for callers signing for `region`.
    pub fn new(directory: Arc<DirectoryHandle>, region: &str) -> Self {
        Self {
            directory,
            region: region.to_string(),
            signing_keys: moka::sync::Cache::builder()
                .max_capacity(200_000)
                .time_to_live(Duration::from_secs(36 * 3600))
                .build(),
        }
    }

    /// The key directory this authenticator reads.
    pub fn directory(&self) -> &Arc<DirectoryHandle> {
        &self.directory
    }

    /// Authenticates a request: `Authorization: Bearer <token>` or SigV4.
    pub fn authenticate(
        &self,
        parts: &http::request::Parts,
        body_sha256: &str,
        now: SystemTime,
    ) -> Result<Arc<Principal>, GateError> {
        let dir = self.directory.get();
        let Some(value) = parts.headers.get(http::header::AUTHORIZATION) else {
            if parts
                .uri
                .query()
                .is_some_and(|q| q.contains("X-Amz-Signature"))
            {
                return Err(GateError::UnrecognizedClient(
                    "Presigned URLs are not supported by this proxy; sign the Authorization header."
                        .into(),
                ));
            }
            return Err(GateError::UnrecognizedClient(
                "Missing Authentication Token: sign the request with a key issued by bedrock-gate, \
                 or send Authorization: Bearer <token>."
                    .into(),
            ));
        };
        let value = value.to_str().map_err(|_| {
            GateError::InvalidSignature("Authorization header is not ASCII.".into())
        })?;
        if let Some(token) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
        {
            return dir
                .by_bearer(token.trim())
                .cloned()
                .ok_or_else(|| GateError::UnrecognizedClient(INVALID_TOKEN.into()));
        }
        let auth = SigV4Auth::parse(value)?;
        let principal = dir
            .by_access_key(auth.access_key_id)
            .cloned()
            .ok_or_else(|| GateError::UnrecognizedClient(INVALID_TOKEN.into()))?;
        if parts.headers.contains_key("x-amz-security-token") {
            return Err(GateError::UnrecognizedClient(
                "The security token included in the request is invalid: bedrock-gate keys take no \
                 session token (unset AWS_SESSION_TOKEN)."
                    .into(),
            ));
        }
        let check = Verification {
            auth: &auth,
            parts,
            body_sha256,
            region: &self.region,
            now,
        };
        check.verify(|| {
            let cache_key = format!(
                "{}/{}/{}",
                principal.access_key_id(),
                auth.date,
                auth.region
            );
            self.signing_keys.get_with(cache_key, || {
                sigv4::signing_key(principal.secret(), auth.date, auth.region, sigv4::SERVICE)
            })
        })?;
        Ok(principal)
    }
}
