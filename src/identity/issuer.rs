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

    /// Verifies `token` (claiming this issuer) at `now` (seconds since the epoch; `at` on
    /// the monotonic clock, which paces fetches) and reads who it names.
    pub(crate) async fn verify(
        &self,
        fetcher: &Fetcher,
        token: &str,
        now: u64,
        at: Instant,
    ) -> Result<Identity, IdentityError> {
        let header = verify::header(token)?;
        let kid = header.kid.as_deref();
        let (key, algorithms) = {
            let mut learnt = self.state.lock().await;
            let missing = learnt.discovery.is_none() || learnt.keys.get(kid).is_none();
            if missing && learnt.keys.may_fetch(at, self.interval) {
                learnt.keys.attempted(at);
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use serde_json::json;

    use super::*;

    const A: &str = include_str!("testdata/rsa_a.pem");
    const N: &str = include_str!("testdata/n_a.txt");

    /// A local issuer: discovery and JWKS over HTTP, countable and switchable off.
    struct Local {
        issuer: String,
        fetches: Arc<AtomicUsize>,
        down: Arc<AtomicBool>,
    }

    async fn local_issuer() -> Local {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let fetches = Arc::new(AtomicUsize::new(0));
        let down = Arc::new(AtomicBool::new(false));
        let (f, d, iss) = (Arc::clone(&fetches), Arc::clone(&down), issuer.clone());
        let answer = move |uri: &http::Uri| -> (http::StatusCode, String) {
            f.fetch_add(1, Ordering::SeqCst);
            if d.load(Ordering::SeqCst) {
                return (http::StatusCode::SERVICE_UNAVAILABLE, String::new());
            }
            let body = match uri.path() {
                "/.well-known/openid-configuration" => json!({
                    "issuer": iss, "jwks_uri": format!("{iss}/jwks"),
                    "id_token_signing_alg_values_supported": ["RS256"],
                }),
                _ => json!({"keys": [
                    {"kty": "RSA", "kid": "k1", "alg": "RS256", "n": N.trim(), "e": "AQAB"}
                ]}),
            };
            (http::StatusCode::OK, body.to_string())
        };
        let answer = Arc::new(answer);
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let answer = Arc::clone(&answer);
                let service = hyper::service::service_fn(move |req: http::Request<_>| {
                    let (status, body) = answer(req.uri());
                    let mut r =
                        http::Response::new(http_body_util::Full::new(bytes::Bytes::from(body)));
                    *r.status_mut() = status;
                    async move { Ok::<_, std::convert::Infallible>(r) }
                });
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        Local {
            issuer,
            fetches,
            down,
        }
    }

    fn token(issuer: &str, kid: &str, now: u64) -> String {
        let mut h = Header::new(Algorithm::RS256);
        h.kid = Some(kid.into());
        let claims = json!({"iss": issuer, "aud": "gate", "email": "a@x.com", "exp": now + 60});
        jsonwebtoken::encode(
            &h,
            &claims,
            &EncodingKey::from_rsa_pem(A.as_bytes()).unwrap(),
        )
        .unwrap()
    }

    fn trusted(issuer: &str) -> TrustedIssuer {
        let config = IssuerConfig {
            name: "t".into(),
            issuer: issuer.into(),
            client_id: "gate".into(),
            client_secret: None,
            username_claim: "email".into(),
            groups_claim: "groups".into(),
        };
        TrustedIssuer::new(config, Duration::from_secs(3600), Duration::ZERO)
    }

    #[tokio::test]
    async fn cached_keys_verify_while_the_issuer_is_down_and_unknown_kids_refetch_once() {
        let local = local_issuer().await;
        let issuer = trusted(&local.issuer);
        let fetcher = Fetcher::new().unwrap();
        let now = 1_800_000_000;
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(3600);
        let who = issuer
            .verify(&fetcher, &token(&local.issuer, "k1", now), now, t0)
            .await
            .unwrap();
        assert_eq!(who.username, "a@x.com");
        assert_eq!(
            local.fetches.load(Ordering::SeqCst),
            2,
            "discovery and JWKS"
        );

        local.down.store(true, Ordering::SeqCst);
        issuer
            .verify(&fetcher, &token(&local.issuer, "k1", now), now, later)
            .await
            .unwrap();
        assert_eq!(
            local.fetches.load(Ordering::SeqCst),
            2,
            "a cached key fetches nothing"
        );

        // An unknown kid may refetch once (the issuer is down: the cache stays) ...
        let e = issuer
            .verify(&fetcher, &token(&local.issuer, "k9", now), now, later)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, IdentityError::Refused(m) if m.contains("k9")),
            "{e:?}"
        );
        assert_eq!(local.fetches.load(Ordering::SeqCst), 3);
        // ... and not again within the interval.
        local.down.store(false, Ordering::SeqCst);
        assert!(issuer
            .verify(
                &fetcher,
                &token(&local.issuer, "k8", now),
                now,
                later + Duration::from_secs(3599)
            )
            .await
            .is_err());
        assert_eq!(local.fetches.load(Ordering::SeqCst), 3);
        issuer
            .verify(&fetcher, &token(&local.issuer, "k1", now), now, later)
            .await
            .unwrap();
        // Once the interval since the last attempt has passed, an unknown kid fetches again.
        assert!(issuer
            .verify(
                &fetcher,
                &token(&local.issuer, "k8", now),
                now,
                later + Duration::from_secs(3600)
            )
            .await
            .is_err());
        assert_eq!(local.fetches.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn an_unreachable_issuer_with_nothing_cached_is_unavailable() {
        let local = local_issuer().await;
        local.down.store(true, Ordering::SeqCst);
        let issuer = trusted(&local.issuer);
        let fetcher = Fetcher::new().unwrap();
        let now = 1_800_000_000;
        let e = issuer
            .verify(
                &fetcher,
                &token(&local.issuer, "k1", now),
                now,
                Instant::now(),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, IdentityError::Unavailable(_)), "{e:?}");
    }
}
