//! The admin listener's health checks: `GET /healthz` (200 while the process runs) and
//! `GET /readyz` (200 only when the database answers and upstream credentials are
//! loaded), and `GET /metrics` (Prometheus, no authentication; `crate::metrics`). The
//! admin API and dashboard are not built yet; other paths get a JSON 404. It shares the
//! proxy's accept loop and drains its connections on shutdown like the proxy does
//! (`lifecycle`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::lifecycle::accept::accept_until_stopped;
use crate::lifecycle::draining::ConnectionSet;
use crate::proxy::upstream::CredentialCache;
use crate::store::Store;

/// What the health checks look at.
#[derive(Clone)]
pub(crate) struct AdminState {
    /// The database.
    pub(crate) store: Arc<Store>,
    /// Upstream credentials.
    pub(crate) credentials: Arc<CredentialCache>,
    /// What `/metrics` serves.
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
}

/// Serves until `stop` fires, then lets open requests finish within `grace`.
pub(crate) async fn run(
    listener: TcpListener,
    state: AdminState,
    stop: CancellationToken,
    grace: Duration,
) {
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    let mut open = ConnectionSet::new();
    accept_until_stopped("admin", listener, &stop, |stream, _| {
        let state = state.clone();
        let builder = Arc::clone(&builder);
        open.spawn(move |watcher| async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(route(&state, req).await) }
            });
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            let _ = watcher.watch(conn.into_owned()).await;
        });
    })
    .await;
    if !open.drain(grace).await {
        tracing::warn!("admin: grace period over; closed the remaining connections");
    }
}

async fn route(state: &AdminState, req: Request<Incoming>) -> Response<Full<Bytes>> {
    match (req.method().as_str(), req.uri().path()) {
        ("GET", "/metrics") => state.metrics.scrape().map(Full::new),
        ("GET", "/healthz") => json(StatusCode::OK, serde_json::json!({"status": "ok"})),
        ("GET", "/readyz") => {
            let db = state.store.ping().await;
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
                    "database": db.map(|_| "ok".to_string()).unwrap_or_else(|e| e.to_string()),
                    "upstream_credentials": if creds { "loaded" } else { "missing" },
                }),
            )
        }
        _ => json(
            StatusCode::NOT_FOUND,
            serde_json::json!({"message": "not found"}),
        ),
    }
}

fn json(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}
