//! The way to Bedrock: the proxy's own AWS credentials (from the standard chain, refreshed
//! in the background before they expire), re-signing with `aws-sigv4`, and a pooled
//! keep-alive hyper client over rustls.
//!
//! The request path only reads the current credentials from memory; it never waits for
//! STS, SSO or the instance metadata service.

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::error::GateError;

/// Request headers never sent upstream: the caller's credentials, what the signer sets,
/// and hop-by-hop headers.
const STRIPPED: [&str; 14] = [
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The proxy's upstream credentials, kept fresh by [`CredentialCache::spawn_refresher`].
pub struct CredentialCache {
    provider: SharedCredentialsProvider,
    current: RwLock<Option<Credentials>>,
}

impl CredentialCache {
    /// A cache over `provider`; empty until [`CredentialCache::refresh`] succeeds.
    pub fn new(provider: SharedCredentialsProvider) -> Self {
        Self {
            provider,
            current: RwLock::new(None),
        }
    }

    /// The standard AWS chain (environment, profile, SSO, container and instance roles).
    pub async fn from_default_chain(region: &str) -> Self {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_string()))
            .load()
            .await;
        let provider = config
            .credentials_provider()
            .unwrap_or_else(|| SharedCredentialsProvider::new(NoCredentials));
        Self::new(provider)
    }

    /// The credentials in memory now, if any.
    pub fn current(&self) -> Option<Credentials> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Asks the provider for fresh credentials.
    pub async fn refresh(&self) -> Result<(), String> {
        match self.provider.provide_credentials().await {
            Ok(c) => {
                match self.current.write() {
                    Ok(mut g) => *g = Some(c),
                    Err(p) => *p.into_inner() = Some(c),
                }
                Ok(())
            }
            Err(e) => Err(aws_smithy_types_error(&e)),
        }
    }

    /// Refreshes in the background: five minutes before expiry (or every five minutes
    /// for credentials without one), every 10 s while none could be loaded.
    pub fn spawn_refresher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                let wait = match this.current() {
                    None => Duration::from_secs(10),
                    Some(c) => c
                        .expiry()
                        .and_then(|e| e.duration_since(SystemTime::now()).ok())
                        .map(|left| left.saturating_sub(Duration::from_secs(300)))
                        .unwrap_or(Duration::from_secs(300))
                        .max(Duration::from_secs(5)),
                };
                tokio::time::sleep(wait).await;
                if let Err(e) = this.refresh().await {
                    tracing::warn!(error = %e, "refreshing upstream AWS credentials failed");
                }
            }
        })
    }
}

/// A provider that never has credentials (no chain configured).
#[derive(Debug)]
struct NoCredentials;

impl ProvideCredentials for NoCredentials {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::ready(Err(
            aws_credential_types::provider::error::CredentialsError::not_loaded(
                "no AWS credentials found in the standard chain",
            ),
        ))
    }
}

fn aws_smithy_types_error(e: &aws_credential_types::provider::error::CredentialsError) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// The upstream Bedrock endpoint and the client that reaches it.
pub struct Upstream {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    region: String,
    credentials: Arc<CredentialCache>,
}

impl Upstream {
    /// A pooled client for `endpoint` (http or https).
    pub fn new(
        endpoint: &http::Uri,
        region: &str,
        credentials: Arc<CredentialCache>,
    ) -> Result<Self, String> {
        let scheme = endpoint
            .scheme()
            .cloned()
            .ok_or_else(|| "upstream endpoint has no scheme".to_string())?;
        let authority = endpoint
            .authority()
            .cloned()
            .ok_or_else(|| "upstream endpoint has no host".to_string())?;
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
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .build(connector);
        Ok(Self {
            client,
            scheme,
            authority,
            region: region.to_string(),
            credentials,
        })
    }

    /// The credentials cache (for `/readyz`).
    pub fn credentials(&self) -> &Arc<CredentialCache> {
        &self.credentials
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
        let path_and_query = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let uri = http::Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|e| GateError::Validation(format!("bad request path: {e}")))?;

        let mut headers = HeaderMap::with_capacity(parts.headers.len() + 4);
        for (name, value) in &parts.headers {
            if !STRIPPED.contains(&name.as_str()) {
                headers.append(name.clone(), value.clone());
            }
        }
        let host = HeaderValue::from_str(self.authority.as_str())
            .map_err(|e| GateError::Validation(format!("bad upstream host: {e}")))?;
        headers.insert(http::header::HOST, host);

        let mut signable_headers = Vec::with_capacity(headers.len());
        for (name, value) in &headers {
            let value = value.to_str().map_err(|_| {
                GateError::Validation(format!("header `{name}` is not visible ASCII"))
            })?;
            signable_headers.push((name.as_str(), value));
        }
        let uri_text = uri.to_string();
        let signable = SignableRequest::new(
            parts.method.as_str(),
            &uri_text,
            signable_headers.into_iter(),
            SignableBody::Precomputed(body_sha256.to_string()),
        )
        .map_err(|e| GateError::Validation(format!("request cannot be signed: {e}")))?;
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(super::SIGNING_NAME)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| GateError::UpstreamUnavailable(format!("signing failed: {e}")))?
            .into();
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| GateError::UpstreamUnavailable(format!("signing failed: {e}")))?
            .into_parts();
        let (signed_headers, _params) = instructions.into_parts();
        for h in signed_headers {
            let value = HeaderValue::from_str(h.value())
                .map_err(|e| GateError::UpstreamUnavailable(format!("signing failed: {e}")))?;
            headers.insert(HeaderName::from_static(h.name()), value);
        }
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        Ok(request)
    }

    /// Sends a prepared request; the response head must arrive within `timeout`. On
    /// failure, the flag says whether the request may have reached Bedrock (only a
    /// failed connection proves it did not).
    pub async fn send(
        &self,
        request: Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<http::Response<Incoming>, (GateError, bool)> {
        match tokio::time::timeout(timeout, self.client.request(request)).await {
            Err(_) => Err((
                GateError::UpstreamTimeout(
                    "The upstream Bedrock endpoint did not answer in time.".into(),
                ),
                true,
            )),
            Ok(Err(e)) => {
                let may_have_arrived = !e.is_connect();
                let mut msg = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    msg.push_str(": ");
                    msg.push_str(&s.to_string());
                    source = s.source();
                }
                Err((
                    GateError::UpstreamUnavailable(format!(
                        "The upstream Bedrock endpoint is unreachable: {msg}"
                    )),
                    may_have_arrived,
                ))
            }
            Ok(Ok(response)) => Ok(response),
        }
    }
}
