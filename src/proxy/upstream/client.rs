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

use super::error_chain;
use crate::error::GateError;

/// One connection pool per proxy worker thread.
pub(super) struct Pools {
    clients: Vec<Client<HttpsConnector<HttpConnector>, Full<Bytes>>>,
}

impl Pools {
    /// Pools for `workers` worker threads (at least one), trusting the web PKI roots.
    pub(super) fn new(workers: usize) -> Result<Self, String> {
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
        http.set_connect_timeout(Some(Duration::from_secs(10)));
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
    /// `timeout`. On failure, the flag says whether the request may have reached Bedrock
    /// (only a failed connection proves it did not).
    pub(super) async fn send(
        &self,
        worker: usize,
        request: Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<http::Response<Incoming>, (GateError, bool)> {
        let client = &self.clients[worker % self.clients.len()];
        match tokio::time::timeout(timeout, client.request(request)).await {
            Err(_) => Err((
                GateError::UpstreamTimeout(
                    "The upstream Bedrock endpoint did not answer in time.".into(),
                ),
                true,
            )),
            Ok(Err(e)) => Err((
                GateError::UpstreamUnavailable(format!(
                    "The upstream Bedrock endpoint is unreachable: {}",
                    error_chain(&e)
                )),
                !e.is_connect(),
            )),
            Ok(Ok(response)) => Ok(response),
        }
    }
}
