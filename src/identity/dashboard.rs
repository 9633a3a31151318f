//! Dashboard single sign-on as a relying party: [`DashboardSignIn::start`] makes a
//! pending sign-in (random `state`, `nonce` and PKCE verifier, kept in this process
//! for [`PENDING_TTL`], keyed by the hash of the state, bound to the browser by a
//! random value only the browser's cookie holds) and the URL to send the browser to;
//! [`DashboardSignIn::finish`] takes the issuer's answer, uses the pending sign-in up
//! (single use), exchanges the code, verifies the ID token with the issuer's rules
//! ([`super::issuer`]) and its `nonce`, maps the groups to a role
//! (`ops::dashboard_roles`) and opens a session with it. Every refusal says why and
//! opens nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use subtle::ConstantTimeEq;

use super::code_flow::{
    authorization_url, endpoints, random_value, verified_claim, AuthorizationRequest, CodeExchange,
    Endpoints, TokenClient,
};
use super::discovery;
use super::fetch::Fetcher;
use super::issuer::TrustedIssuer;
use super::verify::claimed_issuer;
use super::IdentityError;
use crate::config::{OidcConfig, RoleGroups};
use crate::ops::admin_sessions::NewSession;
use crate::ops::dashboard_roles::{role_for, NoRole};
use crate::ops::Ops;

/// How long a started sign-in may take to come back.
pub(crate) const PENDING_TTL: Duration = Duration::from_secs(600);
/// At most this many sign-ins are pending at once (the oldest are dropped).
const MAX_PENDING: u64 = 10_000;

/// Why a dashboard sign-in did not open a session.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SsoError {
    /// Unknown issuer, a state that is wrong, used or expired, another browser: 400.
    #[error("{0}")]
    BadRequest(String),
    /// The issuer refused, or its ID token does not verify: 401.
    #[error("{0}")]
    Refused(String),
    /// Verified, but the person has no dashboard role: 403.
    #[error("{0}")]
    NoRole(String),
    /// The issuer or the database could not be reached: 503.
    #[error("{0}")]
    Unavailable(String),
}

/// A sign-in started: where to send the browser, and the value its cookie must hold.
pub(crate) struct Started {
    /// The issuer's authorization URL.
    pub(crate) url: String,
    /// Goes into the browser's short-lived sign-in cookie, never anywhere else.
    pub(crate) browser_secret: String,
}

/// A session opened by sign-in, and who it is for.
pub(crate) struct SignedIn {
    /// The session (its id goes into the cookie).
    pub(crate) session: NewSession,
    /// Who signed in.
    pub(crate) username: String,
}

#[derive(Clone)]
struct Pending {
    issuer: usize,
    nonce: String,
    verifier: String,
    redirect_uri: String,
    browser_hash: String,
}

/// The issuers, the pending sign-ins, and what is needed to finish them.
pub(crate) struct DashboardSignIn {
    issuers: Vec<TrustedIssuer>,
    endpoints: tokio::sync::Mutex<HashMap<usize, Endpoints>>,
    fetcher: Fetcher,
    tokens: TokenClient,
    roles: RoleGroups,
    teams: BTreeMap<String, String>,
    pending: moka::sync::Cache<String, Pending>,
    ops: Arc<Ops>,
}

fn sha256_hex(v: &str) -> String {
    use sha2::Digest;
    crate::hash::to_hex(&sha2::Sha256::digest(v.as_bytes()))
}

impl DashboardSignIn {
    /// Sign-in through the issuers of `config`.
    pub(crate) fn new(config: &OidcConfig, ops: Arc<Ops>) -> Result<Self, String> {
        let issuers = config
            .issuers
            .iter()
            .map(|i| TrustedIssuer::new(i.clone(), config.jwks_refresh_interval, config.clock_skew))
            .collect();
        Ok(Self {
            issuers,
            endpoints: tokio::sync::Mutex::new(HashMap::new()),
            fetcher: Fetcher::new()?,
            tokens: TokenClient::new()?,
            roles: config.roles.clone(),
            teams: config.teams.clone(),
            pending: moka::sync::Cache::builder()
                .max_capacity(MAX_PENDING)
                .time_to_live(PENDING_TTL)
                .build(),
            ops,
        })
    }

    /// The configured issuers' names, in file order.
    pub(crate) fn issuer_names(&self) -> Vec<String> {
        self.issuers.iter().map(|i| i.config.name.clone()).collect()
    }

    async fn endpoints_of(&self, n: usize) -> Result<Endpoints, SsoError> {
        if let Some(e) = self.endpoints.lock().await.get(&n) {
            return Ok(e.clone());
        }
        let issuer = &self.issuers[n].config;
        let doc = self
            .fetcher
            .json(&discovery::url(&issuer.issuer))
            .await
            .and_then(|doc| endpoints(&issuer.issuer, &doc))
            .map_err(|e| {
                tracing::warn!(issuer = %issuer.name, error = %e, "OIDC discovery failed");
                SsoError::Unavailable(format!(
                    "The identity provider `{}` cannot be reached: {e}",
                    issuer.name
                ))
            })?;
        self.endpoints.lock().await.insert(n, doc.clone());
        Ok(doc)
    }

    /// Starts a sign-in with issuer `name` that comes back to `redirect_uri`.
    pub(crate) async fn start(&self, name: &str, redirect_uri: &str) -> Result<Started, SsoError> {
        let n = self
            .issuers
            .iter()
            .position(|i| i.config.name == name)
            .ok_or_else(|| {
                SsoError::BadRequest(format!(
                    "`{name}` is not an identity provider of this gate."
                ))
            })?;
        let found = self.endpoints_of(n).await?;
        let (state, nonce, verifier, browser_secret) = (
            random_value(),
            random_value(),
            random_value(),
            random_value(),
        );
        let url = authorization_url(&AuthorizationRequest {
            endpoint: &found.authorization,
            client_id: &self.issuers[n].config.client_id,
            redirect_uri,
            state: &state,
            nonce: &nonce,
            verifier: &verifier,
        });
        self.pending.insert(
            sha256_hex(&state),
            Pending {
                issuer: n,
                nonce,
                verifier,
                redirect_uri: redirect_uri.to_string(),
                browser_hash: sha256_hex(&browser_secret),
            },
        );
        Ok(Started {
            url,
            browser_secret,
        })
    }

    /// Finishes the sign-in the issuer's answer (`state`, and `code` or `error`) belongs
    /// to, in the browser holding `browser_secret`; the pending sign-in is used up
    /// whatever the outcome.
    pub(crate) async fn finish(
        &self,
        state: Option<&str>,
        code: Option<&str>,
        error: Option<(&str, Option<&str>)>,
        browser_secret: Option<&str>,
    ) -> Result<SignedIn, SsoError> {
        let bad = |m: &str| SsoError::BadRequest(m.to_string());
        let state =
            state.ok_or_else(|| bad("The identity provider's answer carries no `state`."))?;
        let pending = self.pending.remove(&sha256_hex(state)).ok_or_else(|| {
            bad("This sign-in is unknown, already used or older than 10 minutes; sign in again.")
        })?;
        let same_browser = browser_secret.is_some_and(|s| {
            bool::from(
                sha256_hex(s)
                    .as_bytes()
                    .ct_eq(pending.browser_hash.as_bytes()),
            )
        });
        if !same_browser {
            return Err(bad(
                "This sign-in was started in another browser (or its cookie is gone); sign in again.",
            ));
        }
        let issuer = &self.issuers[pending.issuer];
        if let Some((error, description)) = error {
            return Err(SsoError::Refused(format!(
                "`{}` did not sign you in: {error}{}",
                issuer.config.name,
                description.map(|d| format!(" ({d})")).unwrap_or_default()
            )));
        }
        let code = code.ok_or_else(|| bad("The identity provider's answer carries no `code`."))?;
        let found = self.endpoints_of(pending.issuer).await?;
        let id_token = self
            .tokens
            .exchange(&CodeExchange {
                endpoint: &found.token,
                code,
                redirect_uri: &pending.redirect_uri,
                verifier: &pending.verifier,
                client_id: &issuer.config.client_id,
                client_secret: issuer.config.client_secret.as_deref(),
            })
            .await
            .map_err(|e| {
                tracing::warn!(issuer = %issuer.config.name, error = %e, "OIDC code exchange failed");
                SsoError::Refused(format!("The sign-in with `{}` failed: {e}", issuer.config.name))
            })?;
        let claimed = claimed_issuer(&id_token).unwrap_or_default();
        if claimed != issuer.config.issuer {
            return Err(SsoError::Refused(format!(
                "The ID token was issued by `{claimed}`, not by `{}` ({}), where this sign-in went.",
                issuer.config.name, issuer.config.issuer
            )));
        }
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let who = issuer
            .verify(&self.fetcher, &id_token, now, Instant::now())
            .await
            .map_err(|e| match e {
                IdentityError::Refused(m) => SsoError::Refused(m),
                IdentityError::Unavailable(m) => SsoError::Unavailable(m),
            })?;
        let nonce = verified_claim(&id_token, "nonce");
        let nonce_matches = nonce
            .as_ref()
            .and_then(|v| v.as_str())
            .is_some_and(|n| bool::from(n.as_bytes().ct_eq(pending.nonce.as_bytes())));
        if !nonce_matches {
            return Err(SsoError::Refused(
                "The ID token's nonce is not the one this sign-in sent (a replayed or \
                 substituted token)."
                    .into(),
            ));
        }
        let role = role_for(&who.groups, &self.roles, &self.teams).map_err(|why| {
            SsoError::NoRole(match why {
                NoRole::NotInAnyRoleGroup => format!(
                    "{} is signed in with `{}`, but none of their groups may use the dashboard \
                     (oidc.admin_groups, oidc.viewer_groups, oidc.team_admin_groups). Ask an \
                     administrator for access.",
                    who.username, issuer.config.name
                ),
                NoRole::TeamAdminWithoutTeam => format!(
                    "{} is a team admin, but none of their groups maps to a team ([oidc.teams]). \
                     Ask an administrator to map one.",
                    who.username
                ),
            })
        })?;
        let session = self
            .ops
            .open_sso_session(&issuer.config.name, &who.username, &role)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, user = %who.username, "a dashboard session could not be stored");
                SsoError::Unavailable("The session could not be stored; try again.".into())
            })?;
        tracing::info!(user = %who.username, role = %role, issuer = %issuer.config.name,
            "dashboard sign-in");
        Ok(SignedIn {
            session,
            username: who.username,
        })
    }
}
