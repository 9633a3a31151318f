//! Authentication of every `/api/v1/` route but `openapi.json` and login: either
//! `Authorization: Bearer <admin token>`, checked by the service layer's token checker
//! (constant-time, the active tokens cached for at most 2 seconds), or the dashboard's
//! session cookie, checked against the database on every request; a change (any method
//! but GET and HEAD) made with the cookie also needs the session's CSRF token in
//! `X-CSRF-Token`, else 403. A session's role is then enforced by [`super::roles`]
//! (admin tokens have full rights). The caller's [`Actor`] (`api:<token name>`, or
//! `dashboard:<token name>` / `oidc:<username>` for a session) goes into the request's
//! extensions, and for a session its [`SessionId`] too.

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;

use super::error::ApiError;
use super::ApiState;
use crate::domain::Actor;
use crate::ops::admin_sessions::csrf_matches;

/// The name of the dashboard's session cookie.
pub(crate) const SESSION_COOKIE: &str = "bg_session";
/// The header carrying the session's CSRF token on changes.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// The session a request was authenticated with, and who it acts as.
#[derive(Clone, Debug)]
pub(crate) struct SessionId {
    /// The session id (the cookie's value).
    pub(crate) id: String,
    /// Who the session acts as (`dashboard:<token name>` or `oidc:<username>`).
    pub(crate) actor: Actor,
}

/// The value of the session cookie, if the request carries one.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn bearer(headers: &HeaderMap) -> Option<Result<String, ApiError>> {
    let value = headers.get(AUTHORIZATION)?;
    Some(
        value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .ok_or_else(|| {
                ApiError::Unauthorized("missing `Authorization: Bearer <admin token>`".into())
            }),
    )
}

/// Refuses the request with 401 unless it carries an active admin token or a live
/// session, and with 403 if it changes something with the session but without its
/// CSRF token.
pub(crate) async fn require_token(
    State(state): State<ApiState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if let Some(presented) = bearer(req.headers()) {
        let Some(name) = state.tokens.check(&presented?).await? else {
            return Err(ApiError::Unauthorized(
                "the admin token is unknown or revoked".into(),
            ));
        };
        req.extensions_mut().insert(Actor::api(&name));
        return Ok(next.run(req).await);
    }
    let Some(id) = session_cookie(req.headers()) else {
        return Err(ApiError::Unauthorized(
            "missing `Authorization: Bearer <admin token>` (or a dashboard session)".into(),
        ));
    };
    let Some(session) = state.ops.admin_session(&id).await? else {
        return Err(ApiError::Unauthorized(
            "the session has expired or ended; log in again".into(),
        ));
    };
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        let presented = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !csrf_matches(&id, presented) {
            return Err(ApiError::Forbidden(
                "a change made with the session cookie needs the session's `X-CSRF-Token`".into(),
            ));
        }
    }
    let asked = super::roles::Asked::of(&req);
    let scope = super::roles::authorize(&state, &session.role, &asked).await?;
    req.extensions_mut().insert(session.actor.clone());
    req.extensions_mut().insert(SessionId {
        id,
        actor: session.actor,
    });
    let response = next.run(req).await;
    match scope {
        None => Ok(response),
        Some(scope) => super::roles::narrow(&state, session.role.teams(), scope, response).await,
    }
}
