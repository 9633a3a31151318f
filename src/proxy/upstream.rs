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
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request};
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
    current: RwLock<Option<Arc<Credentials>>>,
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

    /// The credentials in memory now, if any (shared, not copied: a call only reads them).
    pub fn current(&self) -> Option<Arc<Credentials>> {
        match self.current.read() {
            Ok(g) => g.as_ref().map(Arc::clone),
            Err(p) => p.into_inner().as_ref().map(Arc::clone),
        }
    }

    /// Asks the provider for fresh credentials.
    pub async fn refresh(&self) -> Result<(), String> {
        match self.provider.provide_credentials().await {
            Ok(c) => {
                let c = Arc::new(c);
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

/// Headers sent upstream but not signed (as AWS's own signers leave them out).
const UNSIGNED: [&str; 4] = ["user-agent", "x-amzn-trace-id", "expect", "authorization"];

/// The upstream signing key of one day.
#[derive(Clone)]
struct CachedKey {
    date: String,
    access_key_id: String,
    secret: String,
    key: [u8; 32],
}

/// The upstream Bedrock endpoint and the client that reaches it.
pub struct Upstream {
    signing_key: RwLock<Option<Arc<CachedKey>>>,
    /// One pool per proxy worker thread, so that a call and its upstream connection are
    /// driven by the same thread (see [`super::run`]).
    clients: Vec<Client<HttpsConnector<HttpConnector>, Full<Bytes>>>,
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    /// The `host` header for `authority`.
    host: HeaderValue,
    region: String,
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
        let scheme = endpoint
            .scheme()
            .cloned()
            .ok_or_else(|| "upstream endpoint has no scheme".to_string())?;
        let authority = endpoint
            .authority()
            .cloned()
            .ok_or_else(|| "upstream endpoint has no host".to_string())?;
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|e| format!("bad upstream host: {e}"))?;
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
        Ok(Self {
            signing_key: RwLock::new(None),
            clients,
            scheme,
            authority,
            host,
            region: region.to_string(),
            credentials,
        })
    }

    /// How many worker threads the upstream pools are set up for.
    pub fn workers(&self) -> usize {
        self.clients.len()
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
        headers.insert(http::header::HOST, self.host.clone());

        self.sign(&parts.method, &uri, &mut headers, body_sha256, &credentials)?;
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        Ok(request)
    }

    /// Signs an upstream request in place (SigV4, service `bedrock`): sets `x-amz-date`,
    /// `x-amz-security-token` when the credentials carry one, and `authorization`. Every
    /// header sent is signed except the few signers leave out (`user-agent`,
    /// `x-amzn-trace-id`, `expect`). The canonical request is the verifier's own
    /// ([`crate::auth::sigv4::canonical_request_for`], AWS's double path encoding); the
    /// signing key comes from `aws-sigv4` and is derived once per day, credentials and
    /// region, not per call.
    fn sign(
        &self,
        method: &http::Method,
        uri: &http::Uri,
        headers: &mut HeaderMap,
        body_sha256: &str,
        credentials: &Credentials,
    ) -> Result<(), GateError> {
        let amz_date = amz_date(SystemTime::now());
        let date = amz_date.get(..8).unwrap_or(&amz_date);
        let bad = |e: http::header::InvalidHeaderValue| {
            GateError::UpstreamUnavailable(format!("signing failed: {e}"))
        };
        headers.insert("x-amz-date", HeaderValue::from_str(&amz_date).map_err(bad)?);
        if let Some(token) = credentials.session_token() {
            headers.insert(
                "x-amz-security-token",
                HeaderValue::from_str(token).map_err(bad)?,
            );
        }
        let mut names: Vec<&str> = headers
            .keys()
            .map(|n| n.as_str())
            .filter(|n| !UNSIGNED.contains(n))
            .collect();
        names.sort_unstable();
        names.dedup();
        let signed_headers = names.join(";");
        let canonical = crate::auth::sigv4::canonical_request_for(
            method,
            uri,
            headers,
            &signed_headers,
            &names,
            body_sha256,
        );
        let scope = format!(
            "{date}/{}/{}/aws4_request",
            self.region,
            super::SIGNING_NAME
        );
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            crate::auth::sigv4::sha256_hex(canonical.as_bytes())
        );
        let key = self.signing_key(credentials, date);
        let signature = v4::calculate_signature(key, string_to_sign.as_bytes());
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            credentials.access_key_id()
        );
        headers.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(&authorization).map_err(bad)?,
        );
        Ok(())
    }

    /// The signing key for `date`, derived by `aws-sigv4` once per day and credentials.
    fn signing_key(&self, credentials: &Credentials, date: &str) -> [u8; 32] {
        let cached = match self.signing_key.read() {
            Ok(g) => g.as_ref().map(Arc::clone),
            Err(p) => p.into_inner().as_ref().map(Arc::clone),
        };
        if let Some(c) = cached {
            if c.date == date
                && c.access_key_id == credentials.access_key_id()
                && c.secret == credentials.secret_access_key()
            {
                return c.key;
            }
        }
        let time = chrono::NaiveDate::parse_from_str(date, "%Y%m%d")
            .ok()
            .and_then(|d| d.and_hms_opt(12, 0, 0))
            .map(|t| SystemTime::from(t.and_utc()))
            .unwrap_or_else(SystemTime::now);
        let derived = v4::generate_signing_key(
            credentials.secret_access_key(),
            time,
            &self.region,
            super::SIGNING_NAME,
        );
        // HMAC-SHA256 output: always 32 bytes.
        let key: [u8; 32] = derived.as_ref().try_into().unwrap_or([0u8; 32]);
        let entry = Arc::new(CachedKey {
            date: date.to_string(),
            access_key_id: credentials.access_key_id().to_string(),
            secret: credentials.secret_access_key().to_string(),
            key,
        });
        match self.signing_key.write() {
            Ok(mut g) => *g = Some(entry),
            Err(p) => *p.into_inner() = Some(entry),
        }
        key
    }

    /// Sends a prepared request; the response head must arrive within `timeout`. On
    /// failure, the flag says whether the request may have reached Bedrock (only a
    /// failed connection proves it did not).
    /// `worker` is the calling proxy worker thread's number; its own pool is used.
    pub async fn send(
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

/// `time` as SigV4's `X-Amz-Date` (`YYYYMMDDTHHMMSSZ`, UTC).
fn amz_date(time: SystemTime) -> String {
    use chrono::{Datelike as _, Timelike as _};
    let t: chrono::DateTime<chrono::Utc> = time.into();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::amz_date;
    use std::time::{Duration, SystemTime};

    #[test]
    fn amz_date_matches_sigv4_format() {
        // 2015-08-30T12:36:00Z, the date of AWS's SigV4 test suite.
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        assert_eq!(amz_date(t), "20150830T123600Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_599);
        assert_eq!(amz_date(t), "20251231T235959Z");
    }
}
