//! The proxy's own AWS credentials for the upstream: loaded from the standard chain and
//! refreshed in the background before they expire, so the request path only reads them
//! from memory and never waits for STS, SSO or the instance metadata service.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use parking_lot::RwLock;

use super::error_chain;

/// The proxy's upstream credentials, kept fresh by `CredentialCache::spawn_refresher`.
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
    pub(crate) async fn from_default_chain(region: &str) -> Self {
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
    pub(crate) fn current(&self) -> Option<Arc<Credentials>> {
        self.current.read().as_ref().map(Arc::clone)
    }

    /// What is wrong with the upstream credentials now, if anything: none loaded, or
    /// the ones in memory expired (refreshing them keeps failing).
    pub(crate) fn problem(&self) -> Option<String> {
        match self.current() {
            None => Some("No upstream AWS credentials could be loaded; calls get 503.".into()),
            Some(c) if c.expiry().is_some_and(|e| e <= SystemTime::now()) => Some(
                "The upstream AWS credentials expired and could not be refreshed; calls fail."
                    .into(),
            ),
            Some(_) => None,
        }
    }

    /// Asks the provider for fresh credentials.
    pub async fn refresh(&self) -> Result<(), String> {
        let fresh = self
            .provider
            .provide_credentials()
            .await
            .map_err(|e| error_chain(&e))?;
        *self.current.write() = Some(Arc::new(fresh));
        Ok(())
    }

    /// Refreshes in the background: five minutes before expiry (or every five minutes
    /// for credentials without one), every 10 s while none could be loaded.
    pub(crate) fn spawn_refresher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
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
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::ready(Err(CredentialsError::not_loaded(
            "no AWS credentials found in the standard chain",
        )))
    }
}
