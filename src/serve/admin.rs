//! The admin listener: the dashboard at `/` and `/assets/` (`crate::dashboard`),
//! `GET /healthz` (200 while the process runs), `GET /readyz` (200 only when the
//! database answers and upstream credentials are loaded), `GET /metrics`
//! (Prometheus text, no authentication; `crate::metrics`) and the admin API under
//! `/api/v1/` and dashboard single sign-on under `/auth/oidc/` (`crate::api`), SCIM
//! provisioning under `/scim/v2/` (`crate::scim`). Other paths get a JSON 404. One axum
//! router, served
//! through the proxy's accept loop; connections drain on shutdown like the proxy's
//! (`lifecycle`).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::ApiState;
use crate::lifecycle::accept::accept_until_stopped;
use crate::lifecycle::draining::ConnectionSet;
use crate::ops::Ops;
use crate::proxy::upstream::CredentialCache;
use crate::store::Store;

/// What the health checks look at.
#[derive(Clone)]
pub(crate) struct AdminState {
    /// The database.
    pub(crate) store: Arc<Store>,
    /// Upstream credentials.
    pub(crate) credentials: Arc<CredentialCache>,
    /// The service layer the admin API calls.
    pub(crate) ops: Arc<Ops>,
    /// What `/metrics` serves.
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
    /// Dashboard single sign-on, when issuers are configured.
    pub(crate) sso: Option<Arc<crate::identity::dashboard::DashboardSignIn>>,
    /// `admin.public_url`.
    pub(crate) public_url: Option<String>,
}

/// Everything the admin listener answers.
pub(crate) fn router(state: AdminState) -> Router {
    let api = crate::api::router(
        ApiState::new(Arc::clone(&state.ops)).with_sso(state.sso.clone(), state.public_url.clone()),
    );
    let scim = crate::scim::router(Arc::clone(&state.ops));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
        .merge(api)
        .merge(scim)
        .merge(crate::dashboard::router())
        .fallback(crate::api::no_route)
        .method_not_allowed_fallback(crate::api::wrong_method)
}

/// Serves until `stop` fires, then lets open requests finish within `grace`.
pub(crate) async fn run(
    listener: TcpListener,
    state: AdminState,
    stop: CancellationToken,
    grace: Duration,
) {
    let service = TowerToHyperService::new(router(state));
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    let mut open = ConnectionSet::new();
    accept_until_stopped("admin", listener, &stop, |stream, _| {
        let service = service.clone();
        let builder = Arc::clone(&builder);
        open.spawn(move |watcher| async move {
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            let _ = watcher.watch(conn.into_owned()).await;
        });
    })
    .await;
    if !open.drain(grace).await {
        tracing::warn!("admin: grace period over; closed the remaining connections");
    }
}

async fn metrics(State(state): State<AdminState>) -> Response {
    let (parts, body) = state.metrics.scrape().into_parts();
    Response::from_parts(parts, axum::body::Body::from(body))
}

async fn healthz() -> Response {
    json(StatusCode::OK, serde_json::json!({"status": "ok"}))
}

/// How long `/readyz` waits for the database.
const READY_DB_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

async fn readyz(State(state): State<AdminState>) -> Response {
    // A stalled database must not stall the health check: it is "not ready" then.
    let db = match tokio::time::timeout(READY_DB_DEADLINE, state.store.ping()).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "no answer within {} s",
            READY_DB_DEADLINE.as_secs()
        )),
    };
    let creds = state.credentials.current().is_some();
    let ready = db.is_ok() && creds;
    json(
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        serde_json::json!({
            "status": if ready { "ready" } else { "not ready" },
            "database": db.map(|_| "ok".to_string()).unwrap_or_else(|e| e),
            "upstream_credentials": if creds { "loaded" } else { "missing" },
        }),
    )
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
