//! SCIM 2.0 provisioning (RFC 7643/7644) under `/scim/v2` on the admin listener, for an
//! identity provider (Okta, Entra ID, ...) to create, change, deactivate and delete users
//! and push groups. Authenticated by a SCIM-scope token ([`auth`]); JSON in and out as
//! `application/scim+json`; errors as SCIM error bodies ([`error`]). This module only
//! translates SCIM to the service layer: the rules (origin `scim`, what deactivation
//! revokes, which team a group puts its members in) live in `ops::scim_users`,
//! `ops::scim_groups` and `ops::user_active`.
//!
//! One concept per file: [`auth`], [`error`], [`body`] (bodies and list parameters),
//! [`filter`] (`attr eq value`), [`patch`] (PATCH operations), [`users`], [`groups`],
//! [`discovery`] (`ServiceProviderConfig`, `Schemas`, `ResourceTypes`).

mod auth;
mod body;
mod discovery;
mod error;
mod filter;
mod groups;
mod patch;
mod users;

use std::sync::Arc;

use axum::http::{header, HeaderMap};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use crate::ops::admin_tokens::AdminTokenChecker;
use crate::ops::Ops;
use error::ScimError;

/// Where SCIM is served on the admin listener.
pub(crate) const PREFIX: &str = "/scim/v2";

/// What the SCIM handlers share.
#[derive(Clone)]
pub(crate) struct ScimState {
    /// The service layer.
    pub(crate) ops: Arc<Ops>,
    /// SCIM-scope token authentication.
    pub(crate) tokens: Arc<AdminTokenChecker>,
}

/// The `/scim/v2` routes over `ops`, every one authenticated.
pub(crate) fn router(ops: Arc<Ops>) -> Router {
    let tokens = Arc::new(ops.scim_token_checker());
    let state = ScimState { ops, tokens };
    let routes = Router::new()
        .route("/Users", get(users::list).post(users::create))
        .route(
            "/Users/{id}",
            get(users::get_one)
                .put(users::replace)
                .patch(users::patch)
                .delete(users::delete),
        )
        .route("/Groups", get(groups::list).post(groups::create))
        .route(
            "/Groups/{id}",
            get(groups::get_one)
                .put(groups::replace)
                .patch(groups::patch)
                .delete(groups::delete),
        )
        .route(
            "/ServiceProviderConfig",
            get(discovery::service_provider_config),
        )
        .route("/Schemas", get(discovery::schemas))
        .route("/Schemas/{id}", get(discovery::schema))
        .route("/ResourceTypes", get(discovery::resource_types_list))
        .route("/ResourceTypes/{id}", get(discovery::resource_type))
        .fallback(not_found)
        .method_not_allowed_fallback(wrong_method)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_scim_token,
        ))
        .with_state(state);
    Router::new().nest(PREFIX, routes)
}

async fn not_found() -> ScimError {
    ScimError::NotFound("no such SCIM endpoint".into())
}

async fn wrong_method() -> ScimError {
    ScimError::MethodNotAllowed("this SCIM endpoint does not take that method".into())
}

/// The absolute URL of `/scim/v2` as the caller reached it (`Host`, and
/// `X-Forwarded-Proto` where a TLS-terminating proxy sets it).
pub(crate) fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
        })
        .unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    format!("{proto}://{host}{PREFIX}")
}

/// A `ListResponse` of `total` results, this page starting at `start`.
pub(crate) fn list_response(total: usize, start: usize, page: Vec<Value>) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": page.len(),
        "Resources": page,
    })
}

/// A resource id (a database id); anything else names no resource.
pub(crate) fn parse_id(id: &str, what: &str) -> Result<i64, ScimError> {
    id.parse::<i64>()
        .map_err(|_| ScimError::NotFound(format!("{what} `{id}` not found")))
}
