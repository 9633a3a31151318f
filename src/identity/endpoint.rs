//! The sign-in endpoints on the proxy listener, the address every developer already
//! reaches: `GET /_gate/v1/issuers` (public: each trusted issuer's name, URL and public
//! client id) and `POST /_gate/v1/credentials` (`Authorization: Bearer <ID token>`),
//! which answers a key that expires after `oidc.credential_ttl`:
//! `{access_key_id, secret_access_key, bearer_token, expiration, user, team}`.
//! Refusals are `{"message": ...}`: 401 for a token that does not verify, 403 when no
//! team takes the user, 503 when the issuer cannot be reached. Every exchange is counted
//! in `bedrock_gate_sign_ins_total{issuer, result}`. Tokens are never logged.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use serde_json::json;

use super::fetch::Fetcher;
use super::issuer::TrustedIssuer;
use super::verify::claimed_issuer;
use super::IdentityError;
use crate::config::OidcConfig;
use crate::metrics::{Metrics, SignInResult};
use crate::ops::sign_in::{placement, SignedInUser};
use crate::ops::{Ops, OpsError};

/// The path prefix of the proxy's own endpoints.
pub(crate) const PREFIX: &str = "/_gate/";
/// The database work of one sign-in gets this long.
const SIGN_IN_DEADLINE: Duration = Duration::from_secs(10);

/// Everything sign-in needs: the issuers, the HTTP client that reaches them, the
/// configuration, the service layer and the metrics.
pub(crate) struct SignIn {
    issuers: Vec<TrustedIssuer>,
    fetcher: Fetcher,
    config: OidcConfig,
    ops: Arc<Ops>,
    metrics: Arc<Metrics>,
}

/// A refused exchange: the status, what the caller is told, and how it is counted.
struct Refusal {
    status: StatusCode,
    message: String,
    result: SignInResult,
}

impl Refusal {
    fn new(status: StatusCode, result: SignInResult, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            result,
        }
    }
}

impl SignIn {
    /// Sign-in for the issuers of `config`, counted in `metrics`.
    pub(crate) fn new(
        config: OidcConfig,
        ops: Arc<Ops>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, String> {
        metrics.sign_in_issuers(config.issuers.iter().map(|i| i.name.as_str()));
        let issuers = config
            .issuers
            .iter()
            .map(|i| TrustedIssuer::new(i.clone(), config.jwks_refresh_interval, config.clock_skew))
            .collect();
        Ok(Self {
            issuers,
            fetcher: Fetcher::new()?,
            config,
            ops,
            metrics,
        })
    }

    /// Warns (in the log) about each team named in `[oidc.teams]` or
    /// `oidc.default_team` that does not exist (yet): sign-ins placed there are refused
    /// until an administrator creates it.
    pub(crate) async fn check_teams(&self) {
        let named = self
            .config
            .teams
            .values()
            .chain(self.config.default_team.as_ref());
        let mut seen = std::collections::BTreeSet::new();
        for team in named {
            if seen.insert(team) && matches!(self.ops.team_exists(team).await, Ok(false)) {
                tracing::warn!(team = %team,
                    "[oidc.teams] or oidc.default_team names a team that does not exist; \
                     sign-ins placed there are refused until it is created");
            }
        }
    }

    /// Answers a request under [`PREFIX`].
    pub(crate) async fn respond(
        &self,
        method: &Method,
        path: &str,
        headers: &http::HeaderMap,
    ) -> Response<Bytes> {
        match (method, path) {
            (&Method::GET, "/_gate/v1/issuers") => self.issuers(),
            (&Method::POST, "/_gate/v1/credentials") if self.issuers.is_empty() => {
                not_configured(method, path)
            }
            (&Method::POST, "/_gate/v1/credentials") => {
                let (issuer, outcome) = self.credentials(headers, SystemTime::now()).await;
                match outcome {
                    Ok(body) => {
                        self.metrics.sign_in(issuer, SignInResult::Ok);
                        answer(StatusCode::OK, &body)
                    }
                    Err(r) => {
                        self.metrics.sign_in(issuer, r.result);
                        tracing::info!(issuer = issuer.unwrap_or("(none)"),
                            result = r.result.as_str(), reason = %loggable(&r.message),
                            "sign-in refused");
                        answer(r.status, &json!({ "message": r.message }))
                    }
                }
            }
            (_, "/_gate/v1/issuers" | "/_gate/v1/credentials") => answer(
                StatusCode::METHOD_NOT_ALLOWED,
                &json!({"message": format!("{method} is not allowed on {path}")}),
            ),
            _ => answer(
                StatusCode::NOT_FOUND,
                &json!({"message": format!("{path} is not an endpoint of this proxy")}),
            ),
        }
    }

    fn issuers(&self) -> Response<Bytes> {
        let list: Vec<_> = self
            .config
            .issuers
            .iter()
            .map(|i| json!({"name": i.name, "issuer": i.issuer, "client_id": i.client_id}))
            .collect();
        answer(StatusCode::OK, &json!({ "issuers": list }))
    }

    /// Exchanges the ID token in `headers`; the configured name of the issuer it
    /// names (when trusted), and the answer's body or the refusal.
    async fn credentials(
        &self,
        headers: &http::HeaderMap,
        now: SystemTime,
    ) -> (Option<&str>, Result<serde_json::Value, Refusal>) {
        let invalid =
            |m: String| Refusal::new(StatusCode::UNAUTHORIZED, SignInResult::InvalidToken, m);
        let token = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            return (
                None,
                Err(invalid(
                    "Send the ID token as Authorization: Bearer <id_token>.".into(),
                )),
            );
        };
        let Some(claimed) = claimed_issuer(token) else {
            return (
                None,
                Err(invalid("The ID token names no issuer (`iss`).".into())),
            );
        };
        let Some(issuer) = self.issuers.iter().find(|i| i.config.issuer == claimed) else {
            return (
                None,
                Err(invalid(format!(
                    "The ID token was issued by `{claimed}`, which this proxy does not trust."
                ))),
            );
        };
        let name = issuer.config.name.as_str();
        (Some(name), self.exchange(issuer, token, now).await)
    }

    /// Verifies `token` with `issuer`, places the user and issues the key.
    async fn exchange(
        &self,
        issuer: &TrustedIssuer,
        token: &str,
        now: SystemTime,
    ) -> Result<serde_json::Value, Refusal> {
        let secs = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let who = issuer
            .verify(&self.fetcher, token, secs, std::time::Instant::now())
            .await
            .map_err(|e| match e {
                IdentityError::Refused(m) => {
                    Refusal::new(StatusCode::UNAUTHORIZED, SignInResult::InvalidToken, m)
                }
                IdentityError::Unavailable(m) => Refusal::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    SignInResult::IssuerUnavailable,
                    m,
                ),
            })?;
        let place = placement(&who.groups, &self.config).ok_or_else(|| {
            Refusal::new(
                StatusCode::FORBIDDEN,
                SignInResult::NoTeam,
                format!(
                    "None of {}'s groups is mapped to a team ([oidc.teams]) and there is no \
                     oidc.default_team: ask an administrator to map one of your groups.",
                    who.username
                ),
            )
        })?;
        let ttl_ms = i64::try_from(self.config.credential_ttl.as_millis()).unwrap_or(i64::MAX);
        let now_ms = i64::try_from(
            now.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis()),
        )
        .unwrap_or(i64::MAX);
        let expires_at = now_ms.saturating_add(ttl_ms);
        let user = SignedInUser {
            username: &who.username,
            person_name: &who.person_name,
            email: who.email.as_deref(),
            issuer: &issuer.config.name,
        };
        let unavailable = |m: &str| {
            Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                SignInResult::StoreUnavailable,
                m,
            )
        };
        let signed = tokio::time::timeout(
            SIGN_IN_DEADLINE,
            self.ops.sign_in(&user, &place, expires_at),
        )
        .await
        .map_err(|_| unavailable("The database did not answer in time; try again."))?
        .map_err(|e| match e {
            OpsError::NotFound(m) => Refusal::new(
                StatusCode::FORBIDDEN,
                SignInResult::NoTeam,
                format!("{m} does not exist; ask an administrator"),
            ),
            OpsError::Invalid(m) | OpsError::Conflict(m) => {
                Refusal::new(StatusCode::FORBIDDEN, SignInResult::InvalidUser, m)
            }
            other => {
                tracing::error!(error = %other, user = %who.username, "sign-in failed");
                unavailable("The sign-in could not be stored; try again.")
            }
        })?;
        tracing::info!(user = %signed.username, team = %signed.team,
            access_key_id = %signed.key.access_key_id, issuer = %issuer.config.name, "signed in");
        Ok(json!({
            "access_key_id": signed.key.access_key_id,
            "secret_access_key": signed.key.secret_access_key,
            "bearer_token": signed.key.bearer_token,
            "expiration": rfc3339(signed.expires_at),
            "user": signed.username,
            "team": signed.team,
        }))
    }
}

/// A refusal's message for the log: it may quote claims the caller chose (an unknown
/// `iss`), so it is cut to 300 characters and control characters become spaces.
fn loggable(message: &str) -> String {
    message
        .chars()
        .take(300)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Epoch milliseconds as RFC 3339 UTC (`2026-12-08T12:00:00Z`).
fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Answers the sign-in endpoints when no issuer is configured: the list is empty and
/// credentials are refused as not configured.
pub(crate) fn not_configured(method: &Method, path: &str) -> Response<Bytes> {
    match (method, path) {
        (&Method::GET, "/_gate/v1/issuers") => answer(StatusCode::OK, &json!({"issuers": []})),
        _ => answer(
            StatusCode::NOT_FOUND,
            &json!({"message": "Sign-in is not configured on this proxy (no [[oidc.issuer]])."}),
        ),
    }
}

fn answer(status: StatusCode, body: &serde_json::Value) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    r
}
