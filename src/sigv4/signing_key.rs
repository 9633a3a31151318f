//! The HMAC chain of SigV4: the signing key of a secret, day, region and service, the
//! signature it makes of a string to sign, and [`SigningKeys`], the per-day cache that
//! both the verifier and the upstream signer use so a call costs one HMAC, not five.

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use parking_lot::RwLock;
use sha2::Sha256;

use super::SERVICE;

/// Derives the SigV4 signing key for a secret, day (`YYYYMMDD`), region and service.
pub(crate) fn derive(secret: &str, day: &str, region: &str, service: &str) -> [u8; 32] {
    let mut k_secret = Vec::with_capacity(4 + secret.len());
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret.as_bytes());
    let k_date = hmac(&k_secret, day.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// The signature of a string to sign under a signing key (raw bytes; hex on the wire).
pub(crate) fn signature(key: &[u8; 32], string_to_sign: &str) -> [u8; 32] {
    hmac(key, string_to_sign.as_bytes())
}

#[allow(clippy::expect_used)] // HMAC's key length is unbounded
fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Signing keys for one region and the `bedrock` service, by day and access key id.
///
/// Only days that signatures can carry are asked for (the verifier checks the date
/// against the clock first, the signer uses the clock), so at most two days are kept:
/// around midnight, today's and the one next to it. A key is re-derived when the secret
/// differs from the one it was derived from. Lookups take a read lock and allocate
/// nothing.
pub(crate) struct SigningKeys {
    region: Box<str>,
    days: RwLock<Vec<Day>>,
}

/// The keys of one scope day.
struct Day {
    day: Box<str>,
    keys: HashMap<Box<str>, Entry, foldhash::fast::RandomState>,
}

struct Entry {
    secret: Box<str>,
    key: [u8; 32],
}

/// How many days are kept.
const DAYS_KEPT: usize = 2;

impl SigningKeys {
    /// An empty cache for keys scoped to `region`.
    pub(crate) fn new(region: &str) -> Self {
        Self {
            region: region.into(),
            days: RwLock::new(Vec::with_capacity(DAYS_KEPT)),
        }
    }

    /// The region the keys are scoped to.
    pub(crate) fn region(&self) -> &str {
        &self.region
    }

    /// The signing key of `access_key_id` with `secret` for `day` (`YYYYMMDD`).
    pub(crate) fn get(&self, access_key_id: &str, secret: &str, day: &str) -> [u8; 32] {
        {
            let days = self.days.read();
            let hit = days
                .iter()
                .find(|d| &*d.day == day)
                .and_then(|d| d.keys.get(access_key_id))
                .filter(|e| &*e.secret == secret);
            if let Some(entry) = hit {
                return entry.key;
            }
        }
        let key = derive(secret, day, &self.region, SERVICE);
        let entry = Entry {
            secret: secret.into(),
            key,
        };
        let mut days = self.days.write();
        let index = match days.iter().position(|d| &*d.day == day) {
            Some(i) => i,
            None => {
                if days.len() >= DAYS_KEPT {
                    if let Some(oldest) =
                        (0..days.len()).min_by(|&a, &b| days[a].day.cmp(&days[b].day))
                    {
                        days.swap_remove(oldest);
                    }
                }
                days.push(Day {
                    day: day.into(),
                    keys: HashMap::default(),
                });
                days.len() - 1
            }
        };
        days[index].keys.insert(access_key_id.into(), entry);
        key
    }

    /// How many keys are cached, over all days kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.days.read().iter().map(|d| d.keys.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signing key of AWS's SigV4 documentation example (IAM, us-east-1).
    #[test]
    fn derivation_matches_the_aws_documentation_example() {
        let key = derive(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
    }

    #[test]
    fn cache_returns_the_derived_key_and_follows_secret_and_day() {
        let keys = SigningKeys::new("eu-west-1");
        let derived = |secret: &str, day: &str| derive(secret, day, "eu-west-1", SERVICE);
        assert_eq!(keys.region(), "eu-west-1");
        assert_eq!(keys.get("AK1", "s1", "20260101"), derived("s1", "20260101"));
        assert_eq!(keys.get("AK1", "s1", "20260101"), derived("s1", "20260101"));
        assert_eq!(keys.len(), 1);
        // A new secret under the same id replaces the entry.
        assert_eq!(keys.get("AK1", "s2", "20260101"), derived("s2", "20260101"));
        assert_eq!(keys.len(), 1);
        assert_eq!(keys.get("AK2", "s3", "20260101"), derived("s3", "20260101"));
        // The next day is kept beside the first; a third day drops the oldest.
        assert_eq!(keys.get("AK1", "s2", "20260102"), derived("s2", "20260102"));
        assert_eq!(keys.len(), 3);
        assert_eq!(keys.get("AK1", "s2", "20260103"), derived("s2", "20260103"));
        assert_eq!(keys.len(), 2);
        let days: Vec<String> = keys.days.read().iter().map(|d| d.day.to_string()).collect();
        assert!(days.contains(&"20260102".to_string()) && days.contains(&"20260103".to_string()));
    }
}
