//! The proxy listener: accepts connections (HTTP/1.1 and HTTP/2, plain or TLS), hands
//! each request to [`handler::handle`], and on shutdown stops accepting and lets in-flight
//! calls, streams included, finish within a grace period.
//!
//! [`run`] takes a bound listener and a shutdown future, so tests run it on port 0.

pub mod body;
pub mod connections;
pub mod handler;
pub mod route;
pub mod tls;
pub mod upstream;
pub mod workers;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use connections::Connections;

use crate::auth::Authenticator;
use crate::quota::engine::QuotaEngine;
use crate::quota::policy::Policy;
use crate::snapshot::Snapshot;
use crate::store::Price;
use crate::usage::{PriceBook, Recorder};

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
///
/// Connections are accepted here and served by [`upstream::Upstream::workers`] worker
/// threads ([`workers`]); with one worker, everything runs on the calling runtime.
pub async fn run(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<ProxyState>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let count = state.upstream.workers();
    let mut serving = match (count > 1)
        .then(|| workers::Workers::start(count, &tls, &state, grace))
        .flatten()
    {
        Some(pool) => Serving::Workers(pool),
        None => Serving::Here(Connections::new(tls, state, 0)),
    };
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
        match &mut serving {
            Serving::Workers(pool) => {
                if let Err(e) = pool.dispatch(stream, remote) {
                    tracing::error!(error = %e, peer = %remote, "connection dropped");
                }
            }
            Serving::Here(here) => here.serve(stream, remote, ()),
        }
    }
    drop(listener);
    match serving {
        Serving::Workers(pool) => pool.shutdown().await,
        Serving::Here(here) => here.drain(grace).await,
    }
}

/// Who serves accepted connections: worker threads, or this runtime itself.
enum Serving {
    Workers(workers::Workers),
    Here(Connections),
}
