//! The proxy listener: accepts connections (HTTP/1.1 and HTTP/2, plain or TLS), hands
//! each request to [`handler::handle`], and on shutdown stops accepting and lets in-flight
//! calls, streams included, finish within a grace period.
//!
//! [`run`] takes a bound listener and a shutdown future, so tests run it on port 0.

pub mod body;
pub mod handler;
pub mod route;
pub mod tls;
pub mod upstream;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::auth::Authenticator;
use crate::quota::engine::QuotaEngine;
use crate::quota::policy::Policy;
use crate::snapshot::Snapshot;
use crate::store::Price;
use crate::usage::{PriceBook, Recorder};

/// The service name Bedrock runtime requests are signed with.
pub const SIGNING_NAME: &str = "bedrock";

/// Everything a call needs, shared by all connections.
pub struct ProxyState {
    /// Verifies callers.
    pub auth: Authenticator,
    /// Reaches Bedrock.
    pub upstream: upstream::Upstream,
    /// Current prices.
    pub prices: Arc<Snapshot<PriceBook>>,
    /// Queues request records.
    pub recorder: Recorder,
    /// Larger request bodies get 413.
    pub max_body_bytes: usize,
    /// Whole-call limit.
    pub timeout: Duration,
    /// Upstream region (recorded with each call).
    pub region: String,
    /// Admission against limits and budgets.
    pub quota: Arc<QuotaEngine>,
    /// Current limits, blocks and protections.
    pub policy: Arc<Snapshot<Policy>>,
    /// Days and months are counted here.
    pub timezone: chrono_tz::Tz,
    /// Output tokens a budget reservation assumes when a request sets no maximum.
    pub default_max_output_tokens: u64,
    /// Price for models without one (`quota.fallback_usd_per_1k_*`).
    pub fallback_price: Option<Price>,
}

impl ProxyState {
    /// The price of a model, or the configured fallback.
    pub fn price(&self, model_id: &str) -> Option<Price> {
        self.prices
            .get()
            .lookup(model_id)
            .cloned()
            .or_else(|| self.fallback_price.clone())
    }
}

/// Serves the proxy on `listener` until `shutdown` resolves, then waits up to `grace`
/// for in-flight calls before closing what is left.
pub async fn run(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<ProxyState>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)));
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        let service = service_fn(move |req| {
            let state = Arc::clone(&state);
            async move { Ok::<_, Infallible>(handler::handle(state, req, remote).await) }
        });
        let builder = Arc::clone(&builder);
        match &tls {
            None => {
                let conn = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned();
                let conn = graceful.watch(conn);
                connections.spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, peer = %remote, "connection ended with an error");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                connections.spawn(async move {
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
                    let stream = match handshake.await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, peer = %remote, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let conn = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .into_owned();
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(error = %e, peer = %remote, "connection ended with an error");
                    }
                });
            }
        }
        // Reap finished connection tasks so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    tracing::info!(
        in_flight = connections.len(),
        "proxy stopped accepting; finishing in-flight calls"
    );
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("grace period over; closing the remaining connections");
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}
