//! The way to Bedrock: [`Upstream`] puts together the proxy's own AWS credentials
//! (`credentials`), the re-signed upstream request (`resign`) and the pooled clients
//! that send it (`client`).

mod client;
mod credentials;
mod resign;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use hyper::body::Incoming;

pub use credentials::CredentialCache;

use crate::error::GateError;

/// The upstream Bedrock endpoint and the clients that reach it.
pub struct Upstream {
    resigner: resign::Resigner,
    pools: client::Pools,
    credentials: Arc<CredentialCache>,
}

impl Upstream {
    /// Pooled clients for `endpoint` (http or https), one for each of `workers` proxy
    /// worker threads.
    pub fn new(
        endpoint: &http::Uri,
        region: &str,
        credentials: Arc<CredentialCache>,
        workers: usize,
    ) -> Result<Self, String> {
        Ok(Self {
            resigner: resign::Resigner::new(endpoint, region)?,
            pools: client::Pools::new(workers)?,
            credentials,
        })
    }

    /// How many worker threads the upstream pools are set up for.
    pub(crate) fn workers(&self) -> usize {
        self.pools.len()
    }

    /// Builds the upstream request: the caller's method, path, query and headers (minus
    /// their credentials and hop-by-hop headers), signed with the proxy's credentials.
    /// `body_sha256` is the hash already computed to verify the caller's signature.
    pub fn prepare(
        &self,
        parts: &http::request::Parts,
        body: Bytes,
        body_sha256: &str,
    ) -> Result<Request<Full<Bytes>>, GateError> {
        let credentials = self.credentials.current().ok_or_else(|| {
            GateError::UpstreamUnavailable(
                "The proxy has no AWS credentials for the upstream Bedrock endpoint yet.".into(),
            )
        })?;
        self.resigner
            .prepare(parts, body, body_sha256, &credentials)
    }

    /// Sends a prepared request; the response head must arrive within `timeout`. On
    /// failure, the flag says whether the request may have reached Bedrock (only a
    /// failed connection proves it did not).
    /// `worker` is the calling proxy worker thread's number; its own pool is used.
    pub(crate) async fn send(
        &self,
        worker: usize,
        request: Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<http::Response<Incoming>, (GateError, bool)> {
        self.pools.send(worker, request, timeout).await
    }
}

/// An error and its sources, joined by `: `.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut msg = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}
