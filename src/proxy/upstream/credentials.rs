//! The proxy's own AWS credentials for the upstream: loaded from the standard chain and
//! refreshed in the background before they expire, so the request path only reads them
//! from memory and never waits for STS, SSO or the instance metadata service.
//!
//! While none can be loaded the proxy says so in one line naming what to set, repeated
//! at most every [`NAG_EVERY`] (the SDK's full error, over a kilobyte, is logged at
//! debug level only), and once more when they load.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use parking_lot::{Mutex, RwLock};
use tokio::time::Instant;

use super::error_chain;

/// A failure to load credentials is logged again at most this often.
pub(crate) const NAG_EVERY: Duration = Duration::from_secs(300);

/// What to do about missing credentials, in the one line that reports them.
pub(crate) const WHAT_TO_SET: &str = "no upstream AWS credentials: every call gets 503 \
     until they load. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or \
     an instance or container role) in the service's environment";

/// The shared AWS configuration, loaded once per process: `region` and the standard
/// credential chain (or `provider`, for tests). The upstream signer and the IAM client
/// both use it.
pub(crate) async fn load_aws_config(
    region: &str,
    provider: Option<SharedCredentialsProvider>,
) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()));
    if let Some(p) = provider {
        loader = loader.credentials_provider(p);
    }
    loader.load().await
}

/// The proxy's upstream credentials, kept fresh by `CredentialCache::spawn_refresher`.
pub struct CredentialCache {
    provider: SharedCredentialsProvider,
    current: RwLock<Option<Arc<Credentials>>>,
    failures: Mutex<FailureLog>,
}

/// When a run of failed loads was last reported: the first failure and then one every
/// [`NAG_EVERY`] are logged; a success after failures is logged once.
#[derive(Debug, Default)]
pub(crate) struct FailureLog {
    /// When the last failure was logged, while failing.
    last_logged: Option<Instant>,
}

impl FailureLog {
    /// Whether the failure seen at `now` is to be logged.
    pub(crate) fn failed(&mut self, now: Instant) -> bool {
        let due = self
            .last_logged
            .is_none_or(|t| now.saturating_duration_since(t) >= NAG_EVERY);
        if due {
            self.last_logged = Some(now);
        }
        due
    }

    /// A load succeeded: whether it ends a run of logged failures.
    pub(crate) fn succeeded(&mut self) -> bool {
        self.last_logged.take().is_some()
    }
}

impl CredentialCache {
    /// A cache over `provider`; empty until [`CredentialCache::refresh`] succeeds.
    pub fn new(provider: SharedCredentialsProvider) -> Self {
        Self {
            provider,
            current: RwLock::new(None),
            failures: Mutex::new(FailureLog::default()),
        }
    }

    /// The standard AWS chain (environment, profile, SSO, container and instance roles).
    pub(crate) async fn from_default_chain(region: &str) -> Self {
        Self::from_sdk_config(&load_aws_config(region, None).await)
    }

    /// The credentials of the shared AWS configuration (see [`load_aws_config`]).
    pub(crate) fn from_sdk_config(config: &aws_config::SdkConfig) -> Self {
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

    /// [`CredentialCache::refresh`], reporting the outcome as described in the module
    /// documentation.
    pub(crate) async fn refresh_logged(&self) {
        match self.refresh().await {
            Ok(()) => {
                if self.failures.lock().succeeded() {
                    tracing::info!("upstream AWS credentials loaded; calls go through again");
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "loading upstream AWS credentials failed");
                if !self.failures.lock().failed(Instant::now()) {
                    return;
                }
                if self.current().is_some() {
                    tracing::warn!(cause = %first_line(&e),
                        "refreshing upstream AWS credentials failed; the current ones are used until they expire");
                } else {
                    tracing::warn!(cause = %first_line(&e), "{WHAT_TO_SET}");
                }
            }
        }
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
                this.refresh_logged().await;
            }
        })
    }
}

/// The start of an SDK error (its chain can run past a kilobyte): its first line up to
/// the list of providers tried, at most 160 characters.
fn first_line(error: &str) -> &str {
    let line = error.lines().next().unwrap_or("");
    // The chain's error lists every provider it tried after this; the debug line has it.
    let line = line.split(". Attempted").next().unwrap_or(line);
    match line.char_indices().nth(160) {
        Some((end, _)) => &line[..end],
        None => line,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_logged_first_then_at_most_every_few_minutes() {
        let start = Instant::now();
        let mut log = FailureLog::default();
        assert!(log.failed(start), "the first failure is logged");
        for s in (10..300).step_by(10) {
            assert!(
                !log.failed(start + Duration::from_secs(s)),
                "not again at {s} s"
            );
        }
        assert!(log.failed(start + NAG_EVERY), "again after {NAG_EVERY:?}");
        assert!(!log.failed(start + NAG_EVERY + Duration::from_secs(10)));
        assert!(log.succeeded(), "recovery after logged failures is logged");
        assert!(!log.succeeded(), "and only once");
        assert!(
            log.failed(start + NAG_EVERY + Duration::from_secs(20)),
            "a new run starts"
        );
    }

    #[test]
    fn sdk_errors_are_cut_to_their_start() {
        assert_eq!(first_line("short"), "short");
        assert_eq!(first_line("a\nb"), "a");
        assert_eq!(
            first_line("no credentials found in chain. Attempted:\n  Environment: ..."),
            "no credentials found in chain"
        );
        assert_eq!(first_line(&"é".repeat(500)).chars().count(), 160);
    }
}
