//! Admin API tokens: create (random, `bga_` prefix, shown once, stored as a SHA-256
//! hash) with a scope (`admin`: the admin API and dashboard; `scim`: only `/scim/v2`),
//! list (never the token), revoke, and [`AdminTokenChecker`], which authenticates a
//! presented token of one scope in constant time against the active tokens, read
//! from the database at most once per [`RELOAD_AFTER`] (and, for a token not among
//! them, once more: a token just created elsewhere works on its first use).

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rand::RngCore;
use serde::Serialize;
use subtle::ConstantTimeEq;

use super::admin_audit::{json, record};
use super::{validate, Ops, OpsError};
use crate::domain::{Actor, AdminOperation, TokenScope};
use crate::store::{AdminToken, Store};

/// What every admin token starts with (recognisable in logs and secret scanners).
pub(crate) const TOKEN_PREFIX: &str = "bga_";

/// How long the active tokens are served from memory before they are read again; a
/// token revoked elsewhere (another process, the CLI) stops working within this.
pub(crate) const RELOAD_AFTER: Duration = Duration::from_secs(2);

/// A token not among those loaded has them read again, at most once per this interval:
/// a token created by the CLI or another proxy works on its first use, and a caller
/// presenting wrong tokens makes at most one read per interval.
pub(crate) const RELOAD_UNKNOWN_AFTER: Duration = Duration::from_millis(100);

/// A token just created: the only time it is shown.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// The token's name.
    pub name: String,
    /// The token itself (`bga_...`).
    pub token: String,
    /// What the token is for.
    pub scope: TokenScope,
}

/// The name of a revoked token.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RevokedToken {
    /// The token's name.
    pub revoked: String,
}

fn token_hash(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).into()
}

impl Ops {
    /// Creates a token named `name` for `scope`: 32 random bytes, base64url, after
    /// [`TOKEN_PREFIX`].
    pub async fn create_admin_token(
        &self,
        actor: &Actor,
        name: &str,
        scope: TokenScope,
    ) -> Result<CreatedToken, OpsError> {
        validate::name("admin token", name)?;
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let token = format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        let hash = crate::hash::to_hex(&token_hash(&token));
        let audit = record(
            actor,
            AdminOperation::CreateToken,
            format!("admin_token:{name}"),
            None,
            Some(serde_json::json!({ "name": name, "scope": scope })),
        );
        self.store
            .create_admin_token(name, &hash, scope, &audit)
            .await?;
        Ok(CreatedToken {
            name: name.to_string(),
            token,
            scope,
        })
    }

    /// Every token, by name (never the token itself).
    pub async fn admin_tokens(&self) -> Result<Vec<AdminToken>, OpsError> {
        Ok(self.store.admin_tokens().await?)
    }

    /// Revokes an active token; every admin listener refuses it within [`RELOAD_AFTER`].
    pub async fn revoke_admin_token(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<RevokedToken, OpsError> {
        let before = self.store.admin_token(name).await?;
        let audit = record(
            actor,
            AdminOperation::RevokeToken,
            format!("admin_token:{name}"),
            json(&before),
            None,
        );
        self.store.revoke_admin_token(name, &audit).await?;
        Ok(RevokedToken {
            revoked: name.to_string(),
        })
    }

    /// The checker the admin API and the dashboard login authenticate with: only
    /// tokens of scope `admin`.
    pub(crate) fn admin_token_checker(&self) -> AdminTokenChecker {
        self.token_checker(TokenScope::Admin)
    }

    /// The checker `/scim/v2` authenticates with: only tokens of scope `scim`.
    pub(crate) fn scim_token_checker(&self) -> AdminTokenChecker {
        self.token_checker(TokenScope::Scim)
    }

    fn token_checker(&self, scope: TokenScope) -> AdminTokenChecker {
        AdminTokenChecker {
            scope,
            store: Arc::clone(&self.store),
            loaded: parking_lot::Mutex::new(None),
            unknown_reload: parking_lot::Mutex::new(None),
        }
    }
}

/// The active tokens as last read.
struct Loaded {
    at: Instant,
    tokens: Arc<Vec<([u8; 32], String)>>,
}

/// Authenticates admin tokens against the active ones, reading them at most once per
/// [`RELOAD_AFTER`] however many calls arrive, and for an unknown token at most once
/// per [`RELOAD_UNKNOWN_AFTER`].
pub(crate) struct AdminTokenChecker {
    /// The only scope whose tokens this checker accepts.
    scope: TokenScope,
    store: Arc<Store>,
    loaded: parking_lot::Mutex<Option<Loaded>>,
    /// When an unknown token last had the tokens read again.
    unknown_reload: parking_lot::Mutex<Option<Instant>>,
}

impl AdminTokenChecker {
    /// The name of the active token `presented` is, or `None`. Every active token is
    /// compared, in constant time, whatever matches.
    pub(crate) async fn check(&self, presented: &str) -> Result<Option<String>, OpsError> {
        let hash = token_hash(presented);
        let tokens = self.tokens(RELOAD_AFTER).await?;
        if let Some(name) = find(&tokens, &hash) {
            return Ok(Some(name));
        }
        // Not among those loaded: perhaps created since they were read.
        let due = {
            let mut last = self.unknown_reload.lock();
            let due = last.is_none_or(|t| t.elapsed() >= RELOAD_UNKNOWN_AFTER);
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if !due {
            return Ok(None);
        }
        Ok(find(&self.tokens(Duration::ZERO).await?, &hash))
    }

    /// Forgets the loaded tokens (after a revocation through this process).
    pub(crate) fn invalidate(&self) {
        *self.loaded.lock() = None;
    }

    /// The active tokens, read again if those loaded are older than `max_age`.
    async fn tokens(&self, max_age: Duration) -> Result<Arc<Vec<([u8; 32], String)>>, OpsError> {
        if let Some(l) = self.loaded.lock().as_ref() {
            if l.at.elapsed() < max_age {
                return Ok(Arc::clone(&l.tokens));
            }
        }
        let rows = self.store.active_admin_token_hashes(self.scope).await?;
        let tokens: Vec<([u8; 32], String)> = rows
            .into_iter()
            .filter_map(|r| {
                let mut h = [0u8; 32];
                hex::decode_to_slice(&r.token_hash, &mut h).ok()?;
                Some((h, r.name))
            })
            .collect();
        let tokens = Arc::new(tokens);
        *self.loaded.lock() = Some(Loaded {
            at: Instant::now(),
            tokens: Arc::clone(&tokens),
        });
        Ok(tokens)
    }
}

/// The name of the token whose hash is `hash`; every token is compared in constant
/// time, whatever matches.
fn find(tokens: &[([u8; 32], String)], hash: &[u8; 32]) -> Option<String> {
    let mut found = None;
    for (candidate, name) in tokens {
        if bool::from(candidate.ct_eq(hash)) {
            found = Some(name.clone());
        }
    }
    found
}
