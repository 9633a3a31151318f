//! Bounded HTTP GETs of JSON documents (discovery, JWKS): every fetch has a deadline
//! ([`TIMEOUT`]) and a size limit ([`MAX_BYTES`]); `https://`, or `http://` to a
//! loopback host (local providers).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The whole fetch (connect, TLS, answer, body) gets this long.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(5);
/// Discovery documents and key sets are small; more than this is refused.
pub(crate) const MAX_BYTES: usize = 512 * 1024;

/// An HTTP(S) client trusting the web PKI roots.
pub(crate) struct Fetcher {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl Fetcher {
    /// A client with the web PKI roots.
    pub(crate) fn new() -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(TIMEOUT));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(https),
        })
    }

    /// GETs `url` and parses its body as JSON; errors say what failed (never a secret).
    pub(crate) async fn json(&self, url: &str) -> Result<serde_json::Value, String> {
        if !allowed(url) {
            return Err(format!(
                "`{url}` is neither https:// nor http:// to a loopback host"
            ));
        }
        let uri: http::Uri = url.parse().map_err(|_| format!("`{url}` is not a URL"))?;
        let request = http::Request::get(uri)
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|e| e.to_string())?;
        let work = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| format!("GET {url}: {e}"))?;
            if !response.status().is_success() {
                return Err(format!("GET {url}: HTTP {}", response.status()));
            }
            let body = Limited::new(response.into_body(), MAX_BYTES)
                .collect()
                .await
                .map_err(|e| format!("GET {url}: {e}"))?
                .to_bytes();
            serde_json::from_slice(&body).map_err(|e| format!("GET {url}: not JSON ({e})"))
        };
        tokio::time::timeout(TIMEOUT, work)
            .await
            .map_err(|_| format!("GET {url}: no answer within {}s", TIMEOUT.as_secs()))?
    }
}

/// `https://`, or `http://` to `127.0.0.1`, `localhost` or `[::1]`.
pub(crate) fn allowed(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    rest.starts_with("[::1]")
        || matches!(
            rest.split(['/', ':']).next(),
            Some("127.0.0.1" | "localhost")
        )
}
