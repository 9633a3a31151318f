//! An issuer's signing keys (its JWKS), cached by key id. A token naming a key id the
//! cache lacks triggers one refetch, at most once per interval (a flood of made-up key
//! ids cannot hammer the issuer); a failed fetch keeps the keys already cached, so
//! tokens signed with them keep verifying while the issuer's endpoint is down.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

/// One usable public key.
#[derive(Clone)]
pub(crate) struct Key {
    /// The verification key.
    pub(crate) decoding: DecodingKey,
    /// The algorithm the key is pinned to (`alg`), when the JWK names one.
    pub(crate) alg: Option<Algorithm>,
}

/// The keys of one issuer and when they were last fetched.
#[derive(Default)]
pub(crate) struct KeyCache {
    by_kid: HashMap<String, Key>,
    /// Keys without a `kid` (usable only when the token names none).
    anonymous: Vec<Key>,
    last_fetch: Option<Instant>,
}

/// Parses a JWKS document into usable keys: public signature keys (RSA, EC, OKP);
/// symmetric (`oct`) keys, encryption keys and keys this library cannot read are left
/// out. Returns the keys by id and those without one.
pub(crate) fn parse(doc: &serde_json::Value) -> Result<(HashMap<String, Key>, Vec<Key>), String> {
    let keys = doc
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or("the JWKS document has no `keys` list")?;
    let mut by_kid = HashMap::new();
    let mut anonymous = Vec::new();
    for value in keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value.clone()) else {
            continue;
        };
        if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_))
            || matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption))
        {
            continue;
        }
        let Ok(decoding) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        let alg = match &jwk.common.key_algorithm {
            None => None,
            Some(a) => match serde_json::to_value(a)
                .ok()
                .and_then(|v| v.as_str().and_then(super::discovery::asymmetric))
            {
                Some(alg) => Some(alg),
                // Pinned to an algorithm that is not asymmetric (or unknown): unusable.
                None => continue,
            },
        };
        let key = Key { decoding, alg };
        match jwk.common.key_id {
            Some(kid) => {
                by_kid.insert(kid, key);
            }
            None => anonymous.push(key),
        }
    }
    Ok((by_kid, anonymous))
}

impl KeyCache {
    /// The key for `kid` (or the only key without an id, for a token naming none).
    pub(crate) fn get(&self, kid: Option<&str>) -> Option<&Key> {
        match kid {
            Some(kid) => self.by_kid.get(kid),
            None if self.by_kid.is_empty() && self.anonymous.len() == 1 => self.anonymous.first(),
            None if self.anonymous.is_empty() && self.by_kid.len() == 1 => {
                self.by_kid.values().next()
            }
            None => None,
        }
    }

    /// Whether a fetch may happen now: never fetched, or the last one at least
    /// `interval` ago.
    pub(crate) fn may_fetch(&self, now: Instant, interval: Duration) -> bool {
        self.last_fetch
            .is_none_or(|t| now.saturating_duration_since(t) >= interval)
    }

    /// Notes a fetch attempt at `now` (successful or not).
    pub(crate) fn attempted(&mut self, now: Instant) {
        self.last_fetch = Some(now);
    }

    /// Replaces the keys with a freshly fetched set.
    pub(crate) fn replace(&mut self, by_kid: HashMap<String, Key>, anonymous: Vec<Key>) {
        self.by_kid = by_kid;
        self.anonymous = anonymous;
    }

    /// How many keys are cached.
    pub(crate) fn len(&self) -> usize {
        self.by_kid.len() + self.anonymous.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_public_signature_keys_only() {
        let n = super::super::verify::tests::N.trim();
        let doc = json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": n, "e": "AQAB"},
            {"kty": "RSA", "kid": "sig", "alg": "RS256", "n": n, "e": "AQAB"},
            {"kty": "RSA", "kid": "pinned-hs", "alg": "HS256", "n": n, "e": "AQAB"},
            {"kty": "weird", "kid": "x"},
        ]});
        let (by_kid, anonymous) = parse(&doc).unwrap();
        assert_eq!(by_kid.keys().collect::<Vec<_>>(), vec!["sig"]);
        assert!(anonymous.is_empty());
        assert!(parse(&json!({"nokeys": 1})).is_err());
    }

    #[test]
    fn refetches_at_most_once_per_interval() {
        let mut c = KeyCache::default();
        let t0 = Instant::now();
        let every = Duration::from_secs(60);
        assert!(c.may_fetch(t0, every));
        c.attempted(t0);
        assert!(!c.may_fetch(t0 + Duration::from_secs(59), every));
        assert!(c.may_fetch(t0 + every, every));
    }
}
