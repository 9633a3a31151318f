//! The sign-in endpoints on the proxy listener, the address every developer already
//! reaches: `GET /_gate/v1/issuers` (public: each trusted issuer's name, URL and public
//! client id) and `POST /_gate/v1/credentials` (`Authorization: Bearer <ID token>`),
//! which answers a key that expires after `oidc.credential_ttl`:
//! `{access_key_id, secret_access_key, bearer_token, expiration, user, team}`.
//! Refusals are `{"message": ...}`: 401 for a token that does not verify, 403 when no
//! team takes the user, 503 when the issuer cannot be reached. Tokens are never logged.

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
use crate::ops::sign_in::{team_for, SignedInUser};
use crate::ops::{Ops, OpsError};

/// The path prefix of the proxy's own endpoints.
pub(crate) const PREFIX: &str = "/_gate/";
/// The database work of one sign-in gets this long.
const SIGN_IN_DEADLINE: Duration = Duration::from_secs(10);

/// Everything sign-in needs: the issuers, the HTTP client that reaches them, the
/// configuration and the service layer.
pub(crate) struct SignIn {
    issuers: Vec<TrustedIssuer>,
    fetcher: Fetcher,
    config: OidcConfig,
    ops: Arc<Ops>,
}

impl SignIn {
    /// Sign-in for the issuers of `config`.
    pub(crate) fn new(config: OidcConfig, ops: Arc<Ops>) -> Result<Self, String> {
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
        })
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
            (&Method::POST, "/_gate/v1/credentials") => {
                match self.credentials(headers, SystemTime::now()).await {
                    Ok(body) => answer(StatusCode::OK, &body),
                    Err((status, message)) => answer(status, &json!({ "message": message })),
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

    async fn credentials(
        &self,
        headers: &http::HeaderMap,
        now: SystemTime,
    ) -> Result<serde_json::Value, (StatusCode, String)> {
        let unauthorized = |m: String| (StatusCode::UNAUTHORIZED, m);
        if self.issuers.is_empty() {
            return Err((
                StatusCode::NOT_FOUND,
                "Sign-in is not configured on this proxy (no [[oidc.issuer]]).".into(),
            ));
        }
        let token = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                unauthorized("Send the ID token as Authorization: Bearer <id_token>.".into())
            })?;
        let claimed = claimed_issuer(token)
            .ok_or_else(|| unauthorized("The ID token names no issuer (`iss`).".into()))?;
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.config.issuer == claimed)
            .ok_or_else(|| {
                unauthorized(format!(
                    "The ID token was issued by `{claimed}`, which this proxy does not trust."
                ))
            })?;
        let secs = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let who = issuer
            .verify(&self.fetcher, token, secs, std::time::Instant::now())
            .await
            .map_err(|e| match e {
                IdentityError::Refused(m) => (StatusCode::UNAUTHORIZED, m),
                IdentityError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m),
            })?;
        let team = team_for(
            &who.groups,
            &self.config.teams,
            self.config.default_team.as_deref(),
        )
        .ok_or_else(|| {
            (
                StatusCode::FORBIDDEN,
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
        let signed =
            tokio::time::timeout(SIGN_IN_DEADLINE, self.ops.sign_in(&user, team, expires_at))
                .await
                .map_err(|_| {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "The database did not answer in time; try again.".to_string(),
                    )
                })?
                .map_err(|e| match e {
                    OpsError::Invalid(m) | OpsError::Conflict(m) => (StatusCode::FORBIDDEN, m),
                    other => {
                        tracing::error!(error = %other, user = %who.username, "sign-in failed");
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "The sign-in could not be stored; try again.".to_string(),
                        )
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
