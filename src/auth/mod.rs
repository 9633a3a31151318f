//! Authentication of callers: proxy-issued SigV4 keys and bearer tokens.
//!
//! [`Authenticator::authenticate`] turns a request head and the body's SHA-256 into the
//! [`Principal`] that owns the key, or a Bedrock-shaped refusal, in two steps: what the
//! head alone shows ([`Authenticator::identify`], before the body is read) and the
//! signature over the body ([`Authenticator::verify`]). It reads only memory:
//! the key [`directory::Directory`] snapshot and the per-day signing keys
//! (`sigv4::signing_key::SigningKeys`: one HMAC chain per key and day instead of
//! one per request). The signature check itself is `sigv4::verify`.

pub mod crypto;
pub mod directory;

use std::sync::Arc;
use std::time::SystemTime;

use directory::{DirectoryHandle, Principal};

use crate::error::GateError;
use crate::sigv4::signing_key::SigningKeys;
use crate::sigv4::verify::{SigV4Auth, Verification};

const EXPIRED_TOKEN: &str = "The security token included in the request is expired";
const INVALID_TOKEN: &str = "The security token included in the request is invalid.";

/// Whether `error` (from [`Authenticator::identify`]) says that the key or token is not
/// in the directory, as opposed to a missing or malformed credential: then it may have
/// been issued a moment ago, and a fresh look at the database is worth it.
pub(crate) fn is_unknown_credential(error: &GateError) -> bool {
    matches!(error, GateError::UnrecognizedClient(m) if m == INVALID_TOKEN)
}

/// Verifies callers against the in-memory key directory.
pub struct Authenticator {
    directory: Arc<DirectoryHandle>,
    signing_keys: SigningKeys,
}

/// Headers that authenticate a call, as (name, as written in messages): a request with
/// two of any of them is ambiguous.
const SINGLE_HEADERS: [(&str, &str); 4] = [
    ("authorization", "Authorization"),
    ("x-amz-date", "X-Amz-Date"),
    ("x-amz-security-token", "X-Amz-Security-Token"),
    ("x-amz-content-sha256", "X-Amz-Content-Sha256"),
];

impl Authenticator {
    /// An authenticator for callers signing for `region`.
    pub fn new(directory: Arc<DirectoryHandle>, region: &str) -> Self {
        Self {
            directory,
            signing_keys: SigningKeys::new(region),
        }
    }

    /// Authenticates a request: `Authorization: Bearer <token>` or SigV4
    /// ([`Self::identify`] then [`Self::verify`]).
    pub fn authenticate(
        &self,
        parts: &http::request::Parts,
        body_sha256: &str,
        now: SystemTime,
    ) -> Result<Arc<Principal>, GateError> {
        let caller = self.identify(parts)?;
        self.verify(caller, parts, body_sha256, now)
    }

    /// Everything that can be checked before the body is read: at most one of each
    /// header that authenticates ([`SINGLE_HEADERS`]); a bearer token checked in full;
    /// for SigV4, a well-formed header naming a key that exists and no session token. A
    /// caller refused here never gets to send a body.
    pub(crate) fn identify<'a>(
        &self,
        parts: &'a http::request::Parts,
    ) -> Result<Caller<'a>, GateError> {
        let dir = self.directory.get();
        // Which of two values counts is ambiguous (the signature covers both, a check
        // might read either): refused, not guessed.
        for (name, shown) in SINGLE_HEADERS {
            if parts.headers.get_all(name).iter().nth(1).is_some() {
                return Err(GateError::InvalidSignature(format!(
                    "The request carries more than one {shown} header; send exactly one."
                )));
            }
        }
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
                .map(Caller::Bearer)
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
        Ok(Caller::Signed { principal, auth })
    }

    /// The rest of the check, once the body's SHA-256 is known: a key past its expiry
    /// (issued at sign-in) is refused with `ExpiredTokenException`, which makes the AWS
    /// SDKs fetch fresh credentials; then a SigV4 signature over the request as received.
    pub(crate) fn verify(
        &self,
        caller: Caller<'_>,
        parts: &http::request::Parts,
        body_sha256: &str,
        now: SystemTime,
    ) -> Result<Arc<Principal>, GateError> {
        let principal_of = |c: &Caller<'_>| match c {
            Caller::Bearer(p) | Caller::Signed { principal: p, .. } => Arc::clone(p),
        };
        if let Some(expires_at) = principal_of(&caller).expires_at {
            let now_ms = now
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            if now_ms >= expires_at {
                return Err(GateError::ExpiredToken(EXPIRED_TOKEN.into()));
            }
        }
        let (principal, auth) = match caller {
            Caller::Bearer(principal) => return Ok(principal),
            Caller::Signed { principal, auth } => (principal, auth),
        };
        let check = Verification {
            auth: &auth,
            parts,
            body_sha256,
            region: self.signing_keys.region(),
            now,
        };
        check.verify(|| {
            self.signing_keys
                .get(principal.access_key_id(), principal.secret(), auth.date)
        })?;
        Ok(principal)
    }
}

/// A caller identified from the request head, before its body is read.
pub(crate) enum Caller<'a> {
    /// A bearer token: fully authenticated already.
    Bearer(Arc<Principal>),
    /// A SigV4 signature by an existing key, still to be verified over the body.
    Signed {
        /// The key's owner.
        principal: Arc<Principal>,
        /// The parsed `Authorization` header.
        auth: SigV4Auth<'a>,
    },
}
