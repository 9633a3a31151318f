//! Authentication of `/scim/v2`: `Authorization: Bearer <token>` where the token is an
//! active admin token of scope `scim` (`bedrock-gate admin create-token NAME --scope
//! scim`), checked by the service layer's token checker (SHA-256 hashes, constant-time
//! comparison, revocations seen within 2 seconds). Admin-scope tokens and dashboard
//! sessions are refused here, as SCIM tokens are refused by the admin API. The caller
//! acts as `scim:<token name>` in the audit log.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;

use super::error::ScimError;
use super::ScimState;
use crate::domain::Actor;

/// Refuses the request with a SCIM 401 unless it carries an active SCIM token.
pub(crate) async fn require_scim_token(
    State(state): State<ScimState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ScimError> {
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
            ScimError::Unauthorized("missing `Authorization: Bearer <SCIM token>`".into())
        })?
        .to_string();
    let name = state
        .tokens
        .check(&presented)
        .await
        .map_err(ScimError::from)?;
    let Some(name) = name else {
        return Err(ScimError::Unauthorized(
            "the token is not an active SCIM token (admin tokens are not accepted here; \
             create one with `bedrock-gate admin create-token NAME --scope scim`)"
                .into(),
        ));
    };
    req.extensions_mut()
        .insert(Actor::system(format!("scim:{name}")));
    Ok(next.run(req).await)
}
