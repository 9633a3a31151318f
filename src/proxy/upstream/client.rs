//! The pooled keep-alive clients that reach Bedrock (HTTP/1.1 or HTTP/2 over rustls),
//! one pool per proxy worker thread so that a call and its upstream connection are driven
//! by the same thread, and sending with a deadline on the response head.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::{error_chain, UpstreamFailure};
use crate::domain::NotSent;
use crate::error::GateError;

/// The longest a connection to the upstream may take to open.
const MAX_CONNECT: Duration = Duration::from_secs(10);

/// How long connecting may take under the whole-call limit `timeout`: half of it, at
/// most [`MAX_CONNECT`]. Strictly less than `timeout`, so a connection that does not
/// open fails as a connect error (provably not sent) before the call's own deadline.
pub(super) fn connect_timeout(timeout: Duration) -> Duration {
    (timeout / 2).min(MAX_CONNECT)
}

/// One connection pool per proxy worker thread.
pub(super) struct Pools {
    clients: Vec<Client<HttpsConnector<HttpConnector>, Full<Bytes>>>,
}

impl Pools {
    /// Pools for `workers` worker threads (at least one), trusting the web PKI roots;
    /// a connection must open within `connect_timeout`.
    pub(super) fn new(workers: usize, connect_timeout: Duration) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_keepalive(Some(Duration::from_secs(60)));
        http.set_connect_timeout(Some(connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let clients = (0..workers.max(1))
            .map(|_| {
                Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(Duration::from_secs(90))
                    .pool_max_idle_per_host(256)
                    .build(connector.clone())
            })
            .collect();
        Ok(Self { clients })
    }

    /// How many worker threads the pools serve.
    pub(super) fn len(&self) -> usize {
        self.clients.len()
    }

    /// Sends `request` on `worker`'s pool; the response head must arrive within
    /// `timeout`. On failure, says whether the request may have reached Bedrock (only a
    /// failed connection proves it did not).
    pub(super) async fn send(
        &self,
        worker: usize,
        request: Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<http::Response<Incoming>, UpstreamFailure> {
        let client = &self.clients[worker % self.clients.len()];
        match tokio::time::timeout(timeout, client.request(request)).await {
            Err(_) => Err(UpstreamFailure {
                error: GateError::UpstreamTimeout(
                    "The upstream Bedrock endpoint did not answer in time.".into(),
                ),
                not_sent: None,
            }),
            Ok(Err(e)) => {
                let error = GateError::UpstreamUnavailable(format!(
                    "The upstream Bedrock endpoint is unreachable: {}",
                    error_chain(&e)
                ));
                let not_sent = e.is_connect().then(|| {
                    if timed_out(&e) {
                        NotSent::ConnectTimeout
                    } else {
                        NotSent::UpstreamUnreachable
                    }
                });
                Err(UpstreamFailure { error, not_sent })
            }
            Ok(Ok(response)) => Ok(response),
        }
    }
}

/// Whether an error was caused by a timeout (the connector's connect timeout).
fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        cause = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connecting_always_ends_before_the_call_deadline() {
        for secs in [1, 2, 19, 20, 21, 300] {
            let timeout = Duration::from_secs(secs);
            let c = connect_timeout(timeout);
            assert!(c < timeout && c <= MAX_CONNECT, "{secs}: {c:?}");
        }
        assert_eq!(connect_timeout(Duration::from_secs(300)), MAX_CONNECT);
    }
}
