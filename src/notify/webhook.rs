//! The webhook subscribers: one per `[[webhook]]`, named `webhook:<hash of its URL>`
//! (stable when the list is reordered). Each POSTs the events it wants as its format's
//! JSON, signed with HMAC-SHA256 when it has a secret:
//!
//! - `X-Bedrock-Gate-Signature: sha256=<hex of HMAC-SHA256(secret, body)>`
//! - `X-Bedrock-Gate-Event: <event type>`, `X-Bedrock-Gate-Delivery: <outbox id>` (the
//!   same on every retry, so a receiver can drop repeats).
//!
//! A 2xx answer is delivered; anything else (or no answer within [`DEADLINE`]) is
//! retried by the dispatcher with backoff, up to [`MAX_ATTEMPTS`] tries.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest, Sha256};

use super::alerts::Alerts;
use super::payload::{self, Facts};
use crate::config::WebhookConfig;
use crate::domain::{DomainEvent, LimitSubject};
use crate::events::{Delivery, Subscriber};
use crate::store::Store;

/// The longest one POST may take.
pub(crate) const DEADLINE: Duration = Duration::from_secs(10);
/// Tries per event before it is given up.
pub(crate) const MAX_ATTEMPTS: i64 = 10;

/// The signature header's name.
pub(crate) const SIGNATURE_HEADER: &str = "x-bedrock-gate-signature";

/// `sha256=<hex>` of `body` under `secret`.
pub(crate) fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// An HTTP(S) client trusting the web PKI roots.
fn client() -> Result<HttpClient, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(DEADLINE));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// One `[[webhook]]`.
pub(crate) struct WebhookSubscriber {
    name: String,
    config: WebhookConfig,
    client: HttpClient,
    store: Arc<Store>,
    alerts: Arc<Alerts>,
}

impl WebhookSubscriber {
    /// The subscriber for `config`.
    pub(crate) fn new(
        config: WebhookConfig,
        store: Arc<Store>,
        alerts: Arc<Alerts>,
    ) -> Result<Self, String> {
        let digest = Sha256::digest(config.url.to_string().as_bytes());
        Ok(Self {
            name: format!("webhook:{}", &hex::encode(digest)[..12]),
            config,
            client: client()?,
            store,
            alerts,
        })
    }

    /// The user and team an event is about.
    async fn facts(&self, event: &DomainEvent) -> Result<Facts, String> {
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let (user, team) = match event {
            DomainEvent::Warning { subject, .. }
            | DomainEvent::TeamLimitReached { subject, .. }
            | DomainEvent::LimitsChanged { subject, .. } => match subject {
                LimitSubject::Team { name, .. } => (None, Some(name.clone())),
                LimitSubject::User { name, .. } => (Some(name.clone()), None),
            },
            DomainEvent::Blocked { username, .. }
            | DomainEvent::Unblocked { username, .. }
            | DomainEvent::ProtectionChanged { username, .. }
            | DomainEvent::KeyIssued { username, .. }
            | DomainEvent::KeyRevoked { username, .. }
            | DomainEvent::IamLinkChanged { username, .. } => (Some(username.clone()), None),
            DomainEvent::UserMoved {
                username, to_team, ..
            } => (Some(username.clone()), Some(to_team.clone())),
            DomainEvent::Renamed { subject, .. } => match subject {
                LimitSubject::Team { name, .. } => (None, Some(name.clone())),
                LimitSubject::User { name, .. } => (Some(name.clone()), None),
            },
            DomainEvent::ResetDone { .. }
            | DomainEvent::DailySummary { .. }
            | DomainEvent::SystemAlert { .. } => (None, None),
        };
        let team = match (&user, team) {
            (Some(u), None) => match self.store.user(u).await {
                Ok(u) => Some(u.team),
                Err(crate::store::StoreError::NotFound(_)) => None,
                Err(e) => return Err(e.to_string()),
            },
            (_, team) => team,
        };
        Ok(Facts { user, team, time })
    }

    async fn post(&self, id: i64, event: &DomainEvent) -> Result<(), String> {
        let facts = self.facts(event).await?;
        let body = serde_json::to_vec(&payload::body(self.config.format, event, &facts))
            .map_err(|e| e.to_string())?;
        let mut request = http::Request::post(self.config.url.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::USER_AGENT, "bedrock-gate")
            .header("x-bedrock-gate-event", event.kind().as_str())
            .header("x-bedrock-gate-delivery", id.to_string());
        if let Some(secret) = &self.config.secret {
            request = request.header(SIGNATURE_HEADER, signature(secret.0.as_bytes(), &body));
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let answer = tokio::time::timeout(DEADLINE, async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status();
            // Read (a bounded part of) the answer so the connection can be reused.
            let _ = tokio::time::timeout(DEADLINE, response.into_body().collect()).await;
            Ok::<_, String>(status)
        })
        .await
        .map_err(|_| format!("no answer within {DEADLINE:?}"))??;
        if answer.is_success() {
            Ok(())
        } else {
            Err(format!("the receiver answered {answer}"))
        }
    }
}

impl Subscriber for WebhookSubscriber {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver<'a>(&'a self, id: i64, event: &'a DomainEvent) -> Delivery<'a> {
        Box::pin(async move {
            if !self.config.events.wants(event.kind().as_str()) {
                return Ok(());
            }
            self.post(id, event)
                .await
                .map_err(|e| format!("webhook {}: {e}", self.config.url.host().unwrap_or("?")))
        })
    }

    fn max_attempts(&self) -> Option<i64> {
        Some(MAX_ATTEMPTS)
    }

    fn gave_up<'a>(&'a self, id: i64, event: &'a DomainEvent, why: &'a str) -> Delivery<'a> {
        Box::pin(async move {
            if !matches!(event, DomainEvent::SystemAlert { .. }) {
                let detail = format!(
                    "A {} event (outbox id {id}) could not be posted to the webhook at {} \
                     after {MAX_ATTEMPTS} tries: {why}",
                    event.kind(),
                    self.config.url.host().unwrap_or("?")
                );
                self.alerts.raise("webhook_failing", detail).await;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_in_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
