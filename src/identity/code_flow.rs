//! The OAuth 2.0 authorization code flow with PKCE (RFC 7636, `S256`) as an OpenID
//! Connect relying party, for dashboard single sign-on: the issuer's authorization and
//! token endpoints (from its discovery document), random `state`, `nonce` and code
//! verifiers, the authorization URL, and the code exchanged at the token endpoint
//! (`client_secret_basic` when a secret is configured, else a public client proven by
//! PKCE alone). The ID token that comes back is verified by the issuer's usual rules
//! ([`super::issuer`]); its `nonce` is read here afterwards.

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rand::RngCore;
use serde_json::Value;
use sha2::Digest;

use super::fetch::{allowed, MAX_BYTES, TIMEOUT};

/// Where an issuer authorizes and exchanges codes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoints {
    /// `authorization_endpoint`.
    pub(crate) authorization: String,
    /// `token_endpoint`.
    pub(crate) token: String,
}

/// Reads the endpoints out of `issuer`'s discovery document: its `issuer` must be
/// exactly the configured one and both endpoints https:// (or http:// on loopback).
pub(crate) fn endpoints(issuer: &str, doc: &Value) -> Result<Endpoints, String> {
    let announced = doc.get("issuer").and_then(Value::as_str).unwrap_or("");
    if announced != issuer {
        return Err(format!(
            "the discovery document names issuer `{announced}`, not `{issuer}`"
        ));
    }
    let url = |name: &str| -> Result<String, String> {
        let v = doc
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("the discovery document has no {name}"))?;
        if !allowed(v) || v.contains('#') {
            return Err(format!("{name} `{v}` is not an https:// URL"));
        }
        Ok(v.to_string())
    };
    Ok(Endpoints {
        authorization: url("authorization_endpoint")?,
        token: url("token_endpoint")?,
    })
}

/// 32 random bytes, base64url: a `state`, a `nonce` or a PKCE code verifier (43
/// characters, as RFC 7636 asks).
pub(crate) fn random_value() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The `S256` code challenge of `verifier`.
pub(crate) fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

/// What goes into the authorization request.
pub(crate) struct AuthorizationRequest<'a> {
    /// The issuer's `authorization_endpoint`.
    pub(crate) endpoint: &'a str,
    /// The client id.
    pub(crate) client_id: &'a str,
    /// Where the issuer sends the browser back.
    pub(crate) redirect_uri: &'a str,
    /// Binds the answer to this request.
    pub(crate) state: &'a str,
    /// Binds the ID token to this request.
    pub(crate) nonce: &'a str,
    /// The PKCE code verifier (only its challenge is sent).
    pub(crate) verifier: &'a str,
}

/// The URL the browser is sent to.
pub(crate) fn authorization_url(r: &AuthorizationRequest<'_>) -> String {
    let challenge = challenge(r.verifier);
    let params = [
        ("response_type", "code"),
        ("client_id", r.client_id),
        ("redirect_uri", r.redirect_uri),
        ("scope", "openid email profile groups"),
        ("state", r.state),
        ("nonce", r.nonce),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let sep = if r.endpoint.contains('?') { '&' } else { '?' };
    format!("{}{sep}{}", r.endpoint, form(&params))
}

/// `application/x-www-form-urlencoded` of `pairs`.
fn form(pairs: &[(&str, &str)]) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                percent_encoding::utf8_percent_encode(k, SET),
                percent_encoding::utf8_percent_encode(v, SET)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A code to exchange.
pub(crate) struct CodeExchange<'a> {
    /// The issuer's `token_endpoint`.
    pub(crate) endpoint: &'a str,
    /// The code from the callback.
    pub(crate) code: &'a str,
    /// The same redirect URI the authorization request named.
    pub(crate) redirect_uri: &'a str,
    /// The PKCE code verifier.
    pub(crate) verifier: &'a str,
    /// The client id.
    pub(crate) client_id: &'a str,
    /// The client secret, for a confidential client.
    pub(crate) client_secret: Option<&'a str>,
}

/// POSTs forms to token endpoints, with the same deadline and size limit as
/// [`super::fetch`].
pub(crate) struct TokenClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl TokenClient {
    /// A client trusting the web PKI roots.
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

    /// Exchanges the code for tokens; the ID token, or why not (never a secret).
    pub(crate) async fn exchange(&self, x: &CodeExchange<'_>) -> Result<String, String> {
        let url = x.endpoint;
        if !allowed(url) {
            return Err(format!("the token endpoint `{url}` is not https://"));
        }
        let mut pairs = vec![
            ("grant_type", "authorization_code"),
            ("code", x.code),
            ("redirect_uri", x.redirect_uri),
            ("code_verifier", x.verifier),
        ];
        let mut request = http::Request::post(url)
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            );
        match x.client_secret {
            Some(secret) => {
                // RFC 6749 2.3.1: both parts form-encoded, then base64.
                let user = form(&[("", x.client_id)]);
                let pass = form(&[("", secret)]);
                let basic = base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    &user[1..],
                    &pass[1..]
                ));
                request = request.header(http::header::AUTHORIZATION, format!("Basic {basic}"));
            }
            None => pairs.push(("client_id", x.client_id)),
        }
        let request = request
            .body(Full::new(Bytes::from(form(&pairs))))
            .map_err(|e| e.to_string())?;
        let work = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| format!("POST {url}: {e}"))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_BYTES)
                .collect()
                .await
                .map_err(|e| format!("POST {url}: {e}"))?
                .to_bytes();
            let v: Value = serde_json::from_slice(&body)
                .map_err(|_| format!("POST {url}: HTTP {status}, not JSON"))?;
            if !status.is_success() {
                // RFC 6749 5.2: `error` and `error_description` say why.
                let error = v.get("error").and_then(Value::as_str).unwrap_or("?");
                let described = v
                    .get("error_description")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                return Err(format!(
                    "the identity provider refused the code: {error} {described}"
                ));
            }
            v.get("id_token")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| "the identity provider answered no id_token".to_string())
        };
        tokio::time::timeout(TIMEOUT, work)
            .await
            .map_err(|_| format!("POST {url}: no answer within {}s", TIMEOUT.as_secs()))?
    }
}

/// A claim of a token that has already been verified (its signature covers the
/// payload read here); `None` when absent.
pub(crate) fn verified_claim(token: &str, name: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get(name).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(random_value().len(), 43);
        assert_ne!(random_value(), random_value());
    }

    #[test]
    fn the_authorization_url_carries_state_nonce_and_challenge() {
        let url = authorization_url(&AuthorizationRequest {
            endpoint: "https://id.example.com/auth",
            client_id: "gate",
            redirect_uri: "https://admin.example.com/auth/oidc/callback",
            state: "s1",
            nonce: "n1",
            verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        });
        assert!(url.starts_with("https://id.example.com/auth?response_type=code&client_id=gate"));
        assert!(
            url.contains("redirect_uri=https%3A%2F%2Fadmin.example.com%2Fauth%2Foidc%2Fcallback")
        );
        assert!(url.contains("&state=s1&nonce=n1&"));
        assert!(url.contains("code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        assert!(url.ends_with("code_challenge_method=S256"));
    }

    #[test]
    fn endpoints_come_from_the_issuers_own_document() {
        let doc = json!({"issuer": "https://i", "authorization_endpoint": "https://i/auth",
                         "token_endpoint": "https://i/token"});
        assert_eq!(
            endpoints("https://i", &doc).unwrap().token,
            "https://i/token"
        );
        assert!(endpoints("https://j", &doc).is_err());
        let plain = json!({"issuer": "https://i", "authorization_endpoint": "https://i/auth",
                           "token_endpoint": "http://evil.example/token"});
        assert!(endpoints("https://i", &plain).is_err());
    }
}
