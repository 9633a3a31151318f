//! The proxy listener: accepts connections (HTTP/1.1 and HTTP/2, plain or TLS), hands
//! each request to `handler::handle`, and on shutdown stops accepting and lets in-flight
//! calls, streams included, finish within a grace period.
//!
//! `run` takes a bound listener and a stop signal, so tests run it on port 0; the
//! accept loop is the one both listeners share (`lifecycle::accept`).

pub(crate) mod access;
mod admission;
pub(crate) mod body;
pub(crate) mod cap;
pub(crate) mod connections;
pub(crate) mod handler;
pub(crate) mod idle;
pub(crate) mod intake;
mod refusal;
pub(crate) mod route;
pub(crate) mod throttle;
pub(crate) mod tls;
pub mod upstream;
pub(crate) mod workers;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use connections::Connections;

use crate::auth::Authenticator;
use crate::config::ClientLimits;
use crate::metrics::Metrics;
use crate::quota::engine::QuotaEngine;
use crate::quota::policy::Policy;
use crate::snapshot::Snapshot;
use crate::store::Price;
use crate::usage::{PriceBook, Recorder};

/// Everything a call needs, shared by all connections.
pub(crate) struct ProxyState {
    /// Verifies callers.
    pub(crate) auth: Authenticator,
    /// Asks the change watcher to look for a key this proxy does not know yet.
    pub(crate) looks: crate::look_now::LookNow,
    /// Reaches Bedrock.
    pub(crate) upstream: upstream::Upstream,
    /// Current prices.
    pub(crate) prices: Arc<Snapshot<PriceBook>>,
    /// Queues request records.
    pub(crate) recorder: Recorder,
    /// The crash journal (`proxy.journal`), when on.
    pub(crate) journal: Option<Arc<crate::journal::Journal>>,
    /// How request bodies are taken in: size limit, shared memory budget, pace.
    pub(crate) intake: intake::Intake,
    /// Connection limits: count, idle and header deadlines.
    pub(crate) client_limits: ClientLimits,
    /// Whole-call limit.
    pub(crate) timeout: Duration,
    /// Upstream region (recorded with each call).
    pub(crate) region: String,
    /// Admission against limits and budgets.
    pub(crate) quota: Arc<QuotaEngine>,
    /// Short-term limits: requests and tokens per minute, calls in flight.
    pub(crate) ratelimit: Arc<crate::ratelimit::RateLimiter>,
    /// Current limits, blocks and protections.
    pub(crate) policy: Arc<Snapshot<Policy>>,
    /// Days and months are counted here.
    pub(crate) timezone: chrono_tz::Tz,
    /// Calls refused and finished, their tokens, cost and timings.
    pub(crate) metrics: Arc<Metrics>,
    /// Output tokens a budget reservation assumes when a request sets no maximum.
    pub(crate) default_max_output_tokens: u64,
    /// Price for models without one (`quota.fallback_usd_per_1k_*`).
    pub(crate) fallback_price: Option<Price>,
    /// Whether every call writes an access line (`log.access`).
    pub(crate) access_log: bool,
    /// Sign-in with OpenID Connect issuers (`/_gate/v1/...`), when configured.
    pub(crate) sign_in: Option<Arc<crate::identity::SignIn>>,
}

impl ProxyState {
    /// The price of a model, or the configured fallback.
    pub(crate) fn price(&self, model_id: &str) -> Option<Price> {
        self.prices
            .get()
            .lookup(model_id)
            .cloned()
            .or_else(|| self.fallback_price.clone())
    }
}

/// Serves the proxy on `listener` until `stop` fires, then waits up to `grace` for
/// in-flight calls before closing what is left.
///
/// Connections are accepted here and served by [`upstream::Upstream::workers`] worker
/// threads ([`workers`]); with one worker, everything runs on the calling runtime.
pub(crate) async fn run(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<ProxyState>,
    stop: CancellationToken,
    grace: Duration,
) {
    let count = state.upstream.workers();
    let cap = cap::ConnectionCap::new(state.client_limits.max_connections);
    let tls_on = tls.is_some();
    let mut serving = match (count > 1)
        .then(|| workers::Workers::start(count, &tls, &state, grace))
        .flatten()
    {
        Some(pool) => Serving::Workers(pool),
        None => Serving::Here(Connections::new(tls, state, 0)),
    };
    crate::lifecycle::accept::accept_until_stopped("proxy", listener, &stop, |stream, remote| {
        let Some(slot) = cap.take() else {
            cap.refuse(stream, tls_on);
            return;
        };
        match &mut serving {
            Serving::Workers(pool) => {
                if let Err(e) = pool.dispatch(stream, remote, slot) {
                    tracing::error!(error = %e, peer = %remote, "connection dropped");
                }
            }
            Serving::Here(here) => here.serve(stream, remote, slot),
        }
    })
    .await;
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
