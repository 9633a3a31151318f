//! The rules an ID token must pass, on its own (no network): a JWS signed with an
//! asymmetric algorithm the issuer announces (`none` and HMAC refused before anything
//! else), by a key of the issuer (pinned to that algorithm when the key says so); `iss`
//! exactly the issuer; `aud` containing the client id (and `azp`, when present with
//! several audiences, the client id); `exp` present and not past, `nbf` and `iat` not in
//! the future, each within the allowed clock skew of the injected `now`.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde_json::Value;

use super::jwks::Key;
use super::IdentityError;

/// What a token is checked against.
pub(crate) struct Rules<'a> {
    /// The exact `iss`.
    pub(crate) issuer: &'a str,
    /// The client id `aud` must contain.
    pub(crate) audience: &'a str,
    /// The algorithms the issuer announces (asymmetric only).
    pub(crate) algorithms: &'a [Algorithm],
    /// Allowed clock skew, seconds.
    pub(crate) leeway: u64,
}

fn refused(message: impl Into<String>) -> IdentityError {
    IdentityError::Refused(message.into())
}

/// The token's header, with `none` and HMAC refused in plain words. A token that is not
/// a compact JWS (three base64url parts) is refused too.
pub(crate) fn header(token: &str) -> Result<Header, IdentityError> {
    let first = token
        .split('.')
        .next()
        .filter(|_| token.split('.').count() == 3)
        .ok_or_else(|| refused("The ID token is not a signed JWT (three dot-separated parts)."))?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(first)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .ok_or_else(|| refused("The ID token's header is not base64url JSON."))?;
    match raw.get("alg").and_then(Value::as_str) {
        Some(a) if a.eq_ignore_ascii_case("none") => {
            return Err(refused("Unsigned ID tokens (alg `none`) are refused."))
        }
        Some(a) if a.starts_with("HS") => {
            return Err(refused(format!(
                "ID tokens signed with HMAC (alg `{a}`) are refused: only the issuer's public keys are trusted."
            )))
        }
        _ => {}
    }
    jsonwebtoken::decode_header(token)
        .map_err(|e| refused(format!("The ID token's header cannot be read: {e}.")))
}

/// The unverified `iss` of a token: which configured issuer to check it against. Nothing
/// is trusted from it until [`check`] passes.
pub(crate) fn claimed_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("iss")?.as_str().map(str::to_string)
}

/// Verifies `token` (whose header is `header`) with `key` against `rules` at `now`
/// (seconds since the epoch) and returns its claims.
pub(crate) fn check(
    token: &str,
    header: &Header,
    key: &Key,
    rules: &Rules<'_>,
    now: u64,
) -> Result<Value, IdentityError> {
    let alg = header.alg;
    if !rules.algorithms.contains(&alg) {
        return Err(refused(format!(
            "The ID token is signed with {alg:?}, which the issuer does not announce for ID tokens."
        )));
    }
    if key.alg.is_some_and(|k| k != alg) {
        return Err(refused(format!(
            "The ID token says {alg:?}, but its key is for another algorithm."
        )));
    }
    let mut v = Validation::new(alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.required_spec_claims = ["aud", "iss"].map(String::from).into_iter().collect();
    v.leeway = 0;
    v.set_issuer(&[rules.issuer]);
    v.set_audience(&[rules.audience]);
    let claims = jsonwebtoken::decode::<Value>(token, &key.decoding, &v)
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            refused(match e.kind() {
                K::InvalidSignature => "The ID token's signature does not verify.".to_string(),
                K::InvalidIssuer => format!("The ID token's issuer is not `{}`.", rules.issuer),
                K::InvalidAudience | K::MissingRequiredClaim(_) => format!(
                    "The ID token is not for this proxy: its audience does not include `{}`.",
                    rules.audience
                ),
                other => format!("The ID token is refused: {other:?}."),
            })
        })?
        .claims;
    times(&claims, rules.leeway, now)?;
    authorized_party(&claims, rules.audience)?;
    Ok(claims)
}

/// `exp` required and not past; `nbf`, `iat` not in the future; each give or take
/// `leeway` seconds.
fn times(claims: &Value, leeway: u64, now: u64) -> Result<(), IdentityError> {
    let number = |name: &str| -> Result<Option<u64>, IdentityError> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
                .map(Some)
                .ok_or_else(|| refused(format!("The ID token's `{name}` is not a number."))),
        }
    };
    let exp = number("exp")?.ok_or_else(|| refused("The ID token has no expiry (`exp`)."))?;
    if exp.saturating_add(leeway) <= now {
        return Err(refused("The ID token has expired; sign in again."));
    }
    if number("nbf")?.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(refused(
            "The ID token is not valid yet (`nbf` is in the future).",
        ));
    }
    if number("iat")?.is_some_and(|iat| iat > now.saturating_add(leeway)) {
        return Err(refused(
            "The ID token was issued in the future (`iat`); check clocks.",
        ));
    }
    Ok(())
}

/// With several audiences, `azp` (when present) must be the client id (OpenID Connect
/// Core 1.0, 3.1.3.7).
fn authorized_party(claims: &Value, client_id: &str) -> Result<(), IdentityError> {
    let several = claims
        .get("aud")
        .and_then(Value::as_array)
        .is_some_and(|a| a.len() > 1);
    match claims.get("azp").and_then(Value::as_str) {
        Some(azp) if several && azp != client_id => Err(refused(format!(
            "The ID token was issued to `{azp}`, not to `{client_id}`."
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use jsonwebtoken::{DecodingKey, EncodingKey};
    use serde_json::json;

    use super::*;

    /// The modulus of `testdata/rsa_a.pem`, base64url.
    pub(crate) const N: &str = include_str!("testdata/n_a.txt");
    const A: &str = include_str!("testdata/rsa_a.pem");
    const A_PUB: &str = include_str!("testdata/rsa_a.pub.pem");
    const B: &str = include_str!("testdata/rsa_b.pem");
    const NOW: u64 = 1_800_000_000;
    const ISS: &str = "https://id.example.com";

    fn sign(pem: &str, claims: &Value) -> String {
        let mut h = Header::new(Algorithm::RS256);
        h.kid = Some("k1".into());
        jsonwebtoken::encode(
            &h,
            claims,
            &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        )
        .unwrap()
    }

    fn good() -> Value {
        json!({"iss": ISS, "aud": "gate", "sub": "1", "email": "a@x.com",
               "exp": NOW + 300, "iat": NOW - 10, "nbf": NOW - 10})
    }

    fn verify(token: &str) -> Result<Value, IdentityError> {
        let key = Key {
            decoding: DecodingKey::from_rsa_components(N.trim(), "AQAB").unwrap(),
            alg: None,
        };
        let rules = Rules {
            issuer: ISS,
            audience: "gate",
            algorithms: &[Algorithm::RS256],
            leeway: 5,
        };
        check(token, &header(token)?, &key, &rules, NOW)
    }

    fn refused_with(token: &str, words: &str) {
        match verify(token) {
            Err(IdentityError::Refused(m)) => assert!(m.contains(words), "{m}"),
            other => panic!("expected a refusal with {words:?}, got {other:?}"),
        }
    }

    #[test]
    fn a_good_token_verifies_and_the_pem_and_jwk_keys_agree() {
        assert_eq!(verify(&sign(A, &good())).unwrap()["email"], "a@x.com");
        let pem = DecodingKey::from_rsa_pem(A_PUB.as_bytes()).unwrap();
        let t = sign(A, &good());
        let v = Validation::new(Algorithm::RS256);
        let mut v = v;
        v.validate_aud = false;
        assert!(jsonwebtoken::decode::<Value>(&t, &pem, &v).is_ok());
    }

    #[test]
    fn refuses_each_broken_rule() {
        refused_with(&sign(B, &good()), "signature");
        let mut c = good();
        c["iss"] = json!("https://evil.example.com");
        refused_with(&sign(A, &c), "issuer");
        let mut c = good();
        c["aud"] = json!("another-app");
        refused_with(&sign(A, &c), "audience");
        let mut c = good();
        c.as_object_mut().unwrap().remove("aud");
        refused_with(&sign(A, &c), "audience");
        let mut c = good();
        c["exp"] = json!(NOW - 6);
        refused_with(&sign(A, &c), "expired");
        let mut c = good();
        c["exp"] = json!(NOW - 4);
        assert!(verify(&sign(A, &c)).is_ok(), "within the clock skew");
        let mut c = good();
        c.as_object_mut().unwrap().remove("exp");
        refused_with(&sign(A, &c), "no expiry");
        let mut c = good();
        c["nbf"] = json!(NOW + 60);
        refused_with(&sign(A, &c), "not valid yet");
        let mut c = good();
        c["aud"] = json!(["gate", "other"]);
        c["azp"] = json!("other");
        refused_with(&sign(A, &c), "issued to `other`");
    }

    #[test]
    fn refuses_none_hmac_tampering_and_unannounced_algorithms() {
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let unsigned = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&good()));
        refused_with(&unsigned, "Unsigned");
        // HMAC keyed with the public key's bytes: the classic confusion attack.
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &good(),
            &EncodingKey::from_secret(A_PUB.as_bytes()),
        )
        .unwrap();
        refused_with(&hs, "HMAC");
        let t = sign(A, &good());
        let mut parts: Vec<&str> = t.split('.').collect();
        let mut c = good();
        c["email"] = json!("root@x.com");
        let forged = b64(&c);
        parts[1] = &forged;
        refused_with(&parts.join("."), "signature");
        refused_with("not-a-jwt", "three");
        let ps = {
            let mut h = Header::new(Algorithm::PS256);
            h.kid = Some("k1".into());
            jsonwebtoken::encode(
                &h,
                &good(),
                &EncodingKey::from_rsa_pem(A.as_bytes()).unwrap(),
            )
            .unwrap()
        };
        refused_with(&ps, "does not announce");
        assert_eq!(claimed_issuer(&t).as_deref(), Some(ISS));
    }
}
