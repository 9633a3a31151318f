//! Authentication of every `/api/v1/` route but `openapi.json`: `Authorization: Bearer
//! <admin token>`, checked by the service layer's token checker (constant-time, the
//! active tokens cached for at most 2 seconds). The caller's [`Actor`] (`api:<token
//! name>`) goes into the request's extensions for the handlers.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;

use super::error::ApiError;
use super::ApiState;
use crate::domain::Actor;

/// Refuses the request with 401 unless it carries an active admin token.
pub(crate) async fn require_token(
    State(state): State<ApiState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthorized("missing `Authorization: Bearer <admin token>`".into())
        })?;
    let Some(name) = state.tokens.check(presented).await? else {
        return Err(ApiError::Unauthorized(
            "the admin token is unknown or revoked".into(),
        ));
    };
    req.extensions_mut().insert(Actor::api(&name));
    Ok(next.run(req).await)
}
