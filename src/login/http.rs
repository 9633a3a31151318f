//! Bounded HTTP requests from the developer's machine: every request has a deadline
//! ([`TIMEOUT`]) and a size limit ([`MAX_BYTES`]); only `https://`, or `http://` to a
//! loopback host, because ID and refresh tokens travel in them.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::LoginError;

/// A whole request (connect, TLS, answer, body) gets this long.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(20);
/// Answers are small JSON documents; more than this is refused.
pub(crate) const MAX_BYTES: usize = 512 * 1024;

/// An HTTP(S) client trusting the web PKI roots.
pub(crate) struct Http {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// A JSON answer and its status.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) json: serde_json::Value,
}

impl Http {
    /// A client with the web PKI roots.
    pub(crate) fn new() -> Result<Self, LoginError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| LoginError::Local(format!("cannot set up TLS: {e}")))?
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

    /// GET `url`, expecting JSON.
    pub(crate) async fn get(&self, url: &str) -> Result<Answer, LoginError> {
        self.send(http::Method::GET, url, None, Bytes::new(), None)
            .await
    }

    /// POST a form (`application/x-www-form-urlencoded`) to `url`.
    pub(crate) async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
    ) -> Result<Answer, LoginError> {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.send(
            http::Method::POST,
            url,
            Some("application/x-www-form-urlencoded"),
            Bytes::from(body),
            None,
        )
        .await
    }

    /// POST an empty body to `url` with `Authorization: Bearer <token>`.
    pub(crate) async fn post_bearer(&self, url: &str, token: &str) -> Result<Answer, LoginError> {
        self.send(http::Method::POST, url, None, Bytes::new(), Some(token))
            .await
    }

    async fn send(
        &self,
        method: http::Method,
        url: &str,
        content_type: Option<&str>,
        body: Bytes,
        bearer: Option<&str>,
    ) -> Result<Answer, LoginError> {
        check_url(url)?;
        let uri: http::Uri = url
            .parse()
            .map_err(|_| LoginError::Usage(format!("`{url}` is not a URL")))?;
        let mut request = http::Request::builder()
            .method(method.clone())
            .uri(uri)
            .header(http::header::ACCEPT, "application/json");
        if let Some(ct) = content_type {
            request = request.header(http::header::CONTENT_TYPE, ct);
        }
        if let Some(token) = bearer {
            request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| LoginError::Remote(format!("{method} {url}: {e}")))?;
        let work = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| LoginError::Remote(format!("{method} {url}: {e}")))?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), MAX_BYTES)
                .collect()
                .await
                .map_err(|e| LoginError::Remote(format!("{method} {url}: {e}")))?
                .to_bytes();
            let json = if body.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::from_slice(&body).map_err(|_| {
                    LoginError::Remote(format!(
                        "{method} {url}: HTTP {status} with an answer that is not JSON"
                    ))
                })?
            };
            Ok(Answer { status, json })
        };
        tokio::time::timeout(TIMEOUT, work).await.map_err(|_| {
            LoginError::Remote(format!(
                "{method} {url}: no answer within {}s",
                TIMEOUT.as_secs()
            ))
        })?
    }
}

/// `https://`, or `http://` to a loopback host; anything else is refused before a
/// token is sent.
pub(crate) fn check_url(url: &str) -> Result<(), LoginError> {
    if crate::identity::fetch::allowed(url) {
        Ok(())
    } else {
        Err(LoginError::Usage(format!(
            "`{url}` is neither https:// nor http:// to this machine; tokens are only sent \
             over TLS"
        )))
    }
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The `message` (or OAuth `error` and `error_description`) of an error answer.
pub(crate) fn message(json: &serde_json::Value) -> String {
    let text = |k: &str| json.get(k).and_then(|v| v.as_str());
    match (text("message"), text("error"), text("error_description")) {
        (Some(m), _, _) => m.to_string(),
        (None, Some(e), Some(d)) => format!("{e}: {d}"),
        (None, Some(e), None) => e.to_string(),
        _ => "no explanation given".to_string(),
    }
}
