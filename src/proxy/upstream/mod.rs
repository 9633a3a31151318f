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

pub(crate) use credentials::load_aws_config;
pub use credentials::CredentialCache;

use crate::domain::NotSent;
use crate::error::GateError;

/// A call the upstream side failed: the error the caller gets and, when the request
/// cannot have reached Bedrock, why it was not sent (its reservation is given back and
/// it counts as no usage). `None` when it may have arrived (a timeout or a broken
/// connection after the request went out): Bedrock may bill it.
#[derive(Debug)]
pub struct UpstreamFailure {
    /// What the caller is told.
    pub error: GateError,
    /// Why the request never went out, if it provably did not.
    pub not_sent: Option<NotSent>,
}

impl UpstreamFailure {
    fn not_sent(error: GateError, reason: NotSent) -> Self {
        Self {
            error,
            not_sent: Some(reason),
        }
    }
}

/// The upstream Bedrock endpoint and the clients that reach it.
pub struct Upstream {
    resigner: resign::Resigner,
    pools: client::Pools,
    credentials: Arc<CredentialCache>,
}

impl Upstream {
    /// Pooled clients for `endpoint` (http or https), one for each of `workers` proxy
    /// worker threads. `timeout` is the whole-call limit: connecting gets at most half
    /// of it (and at most 10 s), so a slow connection is told apart from a slow answer.
    pub fn new(
        endpoint: &http::Uri,
        region: &str,
        credentials: Arc<CredentialCache>,
        workers: usize,
        timeout: Duration,
    ) -> Result<Self, String> {
        Ok(Self {
            resigner: resign::Resigner::new(endpoint, region)?,
            pools: client::Pools::new(workers, client::connect_timeout(timeout))?,
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
    ) -> Result<Request<Full<Bytes>>, UpstreamFailure> {
        let credentials = self.credentials.current().ok_or_else(|| {
            UpstreamFailure::not_sent(
                GateError::UpstreamUnavailable(
                    "The proxy has no AWS credentials for the upstream Bedrock endpoint; \
                     an administrator must configure them."
                        .into(),
                ),
                NotSent::NoCredentials,
            )
        })?;
        self.resigner
            .prepare(parts, body, body_sha256, &credentials)
            .map_err(|e| UpstreamFailure::not_sent(e, NotSent::SigningFailed))
    }

    /// Sends a prepared request; the response head must arrive within `timeout`. On
    /// failure, says whether the request may have reached Bedrock (only a failed
    /// connection proves it did not).
    /// `worker` is the calling proxy worker thread's number; its own pool is used.
    pub(crate) async fn send(
        &self,
        worker: usize,
        request: Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<http::Response<Incoming>, UpstreamFailure> {
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
