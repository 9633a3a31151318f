//! The admin listener's health checks: `GET /healthz` (200 while the process runs) and
//! `GET /readyz` (200 only when the database answers and upstream credentials are
//! loaded). The admin API, dashboard and `/metrics` are not built yet; other paths get
//! a JSON 404.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::proxy::upstream::CredentialCache;
use crate::store::Store;

/// What the health checks look at.
#[derive(Clone)]
pub struct AdminState {
    /// The database.
    pub store: Arc<Store>,
    /// Upstream credentials.
    pub credentials: Arc<CredentialCache>,
}

/// Serves until `shutdown` resolves.
pub async fn run(listener: TcpListener, state: AdminState, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut shutdown => return,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(_) => continue,
            },
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(route(&state, req).await) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn route(state: &AdminState, req: Request<Incoming>) -> Response<Full<Bytes>> {
    match (req.method().as_str(), req.uri().path()) {
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
