//! The admin API on `admin.listen` under `/api/v1/`: JSON (CSV for lists), bearer admin
//! tokens, an OpenAPI 3.1 document generated from the same code that routes
//! (utoipa-axum: a route cannot exist without its documentation). It calls only the
//! service layer (`ops`); every rule lives there.
//!
//! One concept per file: [`auth`] (the bearer token or dashboard session check),
//! [`error`] (the one mapping of errors to responses), [`input`] (body and query
//! extractors with 400s naming the field), [`csv`] (lists as JSON or streamed CSV), and
//! one file per resource group ([`session`]: the dashboard's login and logout;
//! [`roles`]: what a dashboard session's role may do, enforced for every request).

mod audit;
mod auth;
mod backstop;
mod blocks;
mod csv;
mod error;
mod input;
mod keys;
mod prices;
mod retry_doc;
mod roles;
mod session;
pub(crate) mod sso;
mod summary;
mod system;
mod teams;
mod tokens;
mod usage;
mod users;

use std::sync::{Arc, OnceLock};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) use error::{no_route, wrong_method};

use crate::identity::dashboard::DashboardSignIn;
use crate::ops::admin_tokens::AdminTokenChecker;
use crate::ops::Ops;

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct ApiState {
    /// The service layer.
    pub(crate) ops: Arc<Ops>,
    /// Admin token authentication.
    pub(crate) tokens: Arc<AdminTokenChecker>,
    /// Dashboard single sign-on, when issuers are configured.
    pub(crate) sso: Option<Arc<DashboardSignIn>>,
    /// `admin.public_url`: the base of the sign-on redirect URI.
    pub(crate) public_url: Option<String>,
}

impl ApiState {
    /// The state over `ops`.
    pub(crate) fn new(ops: Arc<Ops>) -> Self {
        let tokens = Arc::new(ops.admin_token_checker());
        Self {
            ops,
            tokens,
            sso: None,
            public_url: None,
        }
    }

    /// With dashboard single sign-on through `sso`, redirecting to `public_url`.
    pub(crate) fn with_sso(
        mut self,
        sso: Option<Arc<DashboardSignIn>>,
        public_url: Option<String>,
    ) -> Self {
        self.sso = sso;
        self.public_url = public_url;
        self
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "bedrock-gate admin API",
        description = "Teams, users, keys, limits, blocks, prices, usage, aggregates and \
                       audit logs. Every route but `openapi.json` and \
                       `session/login` needs `Authorization: Bearer <admin token>` \
                       (`bedrock-gate admin create-token`) or the dashboard's session \
                       cookie (changes with the cookie also need `X-CSRF-Token`). \
                       Errors are `{\"message\": ...}`. Lists are JSON, or \
                       CSV with `?format=csv` or `Accept: text/csv`."
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// Declares the `bearer` security scheme the operations name.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut OpenApiDoc) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("an admin token (`bga_...`)"))
                    .build(),
            ),
        );
    }
}

/// The authenticated routes with their documentation.
fn protected() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .merge(teams::routes())
        .merge(users::routes())
        .merge(keys::routes())
        .merge(blocks::routes())
        .merge(prices::routes())
        .merge(usage::routes())
        .merge(audit::routes())
        .merge(tokens::routes())
        .merge(system::routes())
        .merge(backstop::routes())
        .merge(summary::routes())
        .merge(session::routes())
}

/// Every route and the document describing them, from one definition.
fn parts() -> (Router<ApiState>, OpenApiDoc) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(protected())
        .merge(session::public_routes())
        .routes(routes!(openapi_json))
        .split_for_parts();
    retry_doc::add_retry_after(&mut doc);
    (router, doc)
}

/// The OpenAPI document (built once).
pub(crate) fn openapi() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let (_, doc) = parts();
        doc.to_json().unwrap_or_else(|e| {
            tracing::error!(error = %e, "the OpenAPI document does not encode");
            "{}".into()
        })
    })
}

/// The API's router: `/api/v1/...`, authenticated but for `openapi.json`.
pub(crate) fn router(state: ApiState) -> Router {
    let (protected, _) = OpenApiRouter::new().merge(protected()).split_for_parts();
    let protected = protected.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::require_token,
    ));
    let (public, _) = OpenApiRouter::new()
        .merge(session::public_routes())
        .routes(routes!(openapi_json))
        .split_for_parts();
    protected
        .merge(public)
        .merge(sso::routes())
        .with_state(state)
}

/// The OpenAPI 3.1 document of this API (no authentication).
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "the OpenAPI 3.1 document")))]
async fn openapi_json() -> Response {
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi(),
    )
        .into_response()
}
