//! One trusted issuer: its configuration, its discovery document and its cached keys,
//! and the verification of an ID token against all three. Discovery and keys are
//! fetched on first use; a token naming an unknown `kid` refetches both, at most once
//! per `oidc.jwks_refresh_interval`; a failed refetch keeps what was cached.

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::claims::{identity, Identity};
use super::discovery::{self, Discovery};
use super::fetch::Fetcher;
use super::jwks::{self, KeyCache};
use super::verify::{self, Rules};
use super::IdentityError;
use crate::config::IssuerConfig;

/// A configured issuer and what has been learnt from it.
pub(crate) struct TrustedIssuer {
    /// As configured.
    pub(crate) config: IssuerConfig,
    interval: Duration,
    leeway: u64,
    state: Mutex<Learnt>,
}

#[derive(Default)]
struct Learnt {
    discovery: Option<Discovery>,
    keys: KeyCache,
}

impl TrustedIssuer {
    /// An issuer nothing has been fetched from yet.
    pub(crate) fn new(config: IssuerConfig, interval: Duration, clock_skew: Duration) -> Self {
        Self {
            config,
            interval,
            leeway: clock_skew.as_secs(),
            state: Mutex::new(Learnt::default()),
        }
    }

    /// Verifies `token` (claiming this issuer) at `now` (seconds since the epoch) and
    /// reads who it names.
    pub(crate) async fn verify(
        &self,
        fetcher: &Fetcher,
        token: &str,
        now: u64,
    ) -> Result<Identity, IdentityError> {
        let header = verify::header(token)?;
        let kid = header.kid.as_deref();
        let (key, algorithms) = {
            let mut learnt = self.state.lock().await;
            let missing = learnt.discovery.is_none() || learnt.keys.get(kid).is_none();
            if missing && learnt.keys.may_fetch(Instant::now(), self.interval) {
                learnt.keys.attempted(Instant::now());
                if let Err(e) = self.refresh(fetcher, &mut learnt).await {
                    tracing::warn!(issuer = %self.config.name, error = %e, "OIDC issuer fetch failed");
                    if learnt.discovery.is_none() || learnt.keys.len() == 0 {
                        return Err(IdentityError::Unavailable(format!(
                            "The identity provider `{}` cannot be reached to check the token: {e}",
                            self.config.name
                        )));
                    }
                }
            }
            let Some(discovery) = &learnt.discovery else {
                return Err(IdentityError::Unavailable(format!(
                    "The identity provider `{}` has not been reached yet; try again shortly.",
                    self.config.name
                )));
            };
            let key = learnt.keys.get(kid).cloned().ok_or_else(|| {
                IdentityError::Refused(format!(
                    "The ID token is signed with a key (kid `{}`) that `{}` does not publish.",
                    kid.unwrap_or("(none)"),
                    self.config.name
                ))
            })?;
            (key, discovery.algorithms.clone())
        };
        let rules = Rules {
            issuer: &self.config.issuer,
            audience: &self.config.client_id,
            algorithms: &algorithms,
            leeway: self.leeway,
        };
        let claims = verify::check(token, &header, &key, &rules, now)?;
        identity(
            &claims,
            &self.config.username_claim,
            &self.config.groups_claim,
        )
    }

    /// Fetches the discovery document and then the keys; on success both replace what
    /// was cached, on failure nothing changes.
    async fn refresh(&self, fetcher: &Fetcher, learnt: &mut Learnt) -> Result<(), String> {
        let doc = fetcher.json(&discovery::url(&self.config.issuer)).await?;
        let found = discovery::parse(&self.config.issuer, &doc)?;
        let set = fetcher.json(&found.jwks_uri).await?;
        let (by_kid, anonymous) = jwks::parse(&set)?;
        if by_kid.is_empty() && anonymous.is_empty() {
            return Err("the issuer publishes no usable signing key".into());
        }
        learnt.keys.replace(by_kid, anonymous);
        learnt.discovery = Some(found);
        Ok(())
    }
}
