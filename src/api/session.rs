//! `/api/v1/session`: the dashboard's login (an admin token in, an `HttpOnly`,
//! `SameSite=Strict` session cookie out, `Secure` over TLS), the current session (who,
//! until when, its CSRF token), and logout, which ends the session in the database so
//! the cookie stops working on every listener at once.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{SessionId, SESSION_COOKIE};
use super::error::{json_response, ApiError, ErrorBody};
use super::input::Body;
use super::ApiState;
use crate::ops::admin_sessions::SessionInfo;

/// Login: needs no authentication.
pub(crate) fn public_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(login))
}

/// The current session and logout: need the session cookie.
pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(current))
        .routes(routes!(logout))
}

/// A login.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Login {
    /// An active admin token (`bga_...`).
    token: String,
}

/// The end of a session.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LoggedOut {
    /// Whether a live session was ended.
    ended: bool,
}

/// Whether the cookie must be `Secure`: always when configured, else when a
/// TLS-terminating proxy in front says the browser spoke HTTPS.
fn secure(s: &ApiState, headers: &HeaderMap) -> bool {
    s.ops.session_cookie_always_secure()
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

fn cookie(value: &str, max_age_secs: u64, secure: bool) -> Result<HeaderValue, ApiError> {
    let text = format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&text)
        .map_err(|_| ApiError::BadRequest("the session cookie does not encode".into()))
}

/// Opens a dashboard session with an admin token: sets the session cookie and answers
/// the session's CSRF token, which every change made with the cookie must send as
/// `X-CSRF-Token`.
#[utoipa::path(post, path = "/api/v1/session/login", tag = "session", request_body = Login,
    responses((status = 201, body = SessionInfo, description = "logged in; the cookie is set"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn login(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Body(b): Body<Login>,
) -> Result<Response, ApiError> {
    let Some(session) = s.ops.open_admin_session(&s.tokens, b.token.trim()).await? else {
        return Err(ApiError::Unauthorized(
            "the admin token is unknown or revoked".into(),
        ));
    };
    let ttl = s.ops.session_ttl().as_secs();
    let mut response = json_response(StatusCode::CREATED, &session.info);
    response
        .headers_mut()
        .insert(SET_COOKIE, cookie(&session.id, ttl, secure(&s, &headers))?);
    Ok(response)
}

/// The session the cookie belongs to: the admin token it was made from, its expiry and
/// its CSRF token.
#[utoipa::path(get, path = "/api/v1/session", tag = "session",
    responses((status = 200, body = SessionInfo), (status = 401, body = ErrorBody)))]
async fn current(
    State(s): State<ApiState>,
    session: Option<Extension<SessionId>>,
) -> Result<Response, ApiError> {
    let Some(Extension(session)) = session else {
        return Err(ApiError::BadRequest(
            "this request is authenticated with a bearer token, not a dashboard session".into(),
        ));
    };
    let live = s.ops.admin_session(&session.id).await?.ok_or_else(|| {
        ApiError::Unauthorized("the session has expired or ended; log in again".into())
    })?;
    Ok(json_response(StatusCode::OK, &live.info))
}

/// Ends the session (needs `X-CSRF-Token`) and clears the cookie; the old cookie is
/// refused from then on.
#[utoipa::path(post, path = "/api/v1/session/logout", tag = "session",
    responses((status = 200, body = LoggedOut), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "no or a wrong CSRF token")))]
async fn logout(
    State(s): State<ApiState>,
    headers: HeaderMap,
    session: Option<Extension<SessionId>>,
) -> Result<Response, ApiError> {
    let Some(Extension(session)) = session else {
        return Err(ApiError::BadRequest(
            "this request is authenticated with a bearer token, not a dashboard session".into(),
        ));
    };
    let ended = s.ops.end_admin_session(&session.id, &session.actor).await?;
    let mut response = json_response(StatusCode::OK, &LoggedOut { ended });
    response
        .headers_mut()
        .insert(SET_COOKIE, cookie("", 0, secure(&s, &headers))?);
    Ok(response)
}
