//! The issuer's discovery document (`<issuer>/.well-known/openid-configuration`): where
//! its keys are and which signature algorithms its ID tokens use. Only asymmetric
//! algorithms are taken: `none` and HMAC (`HS*`) are never accepted, whatever the
//! document says.

use jsonwebtoken::Algorithm;

/// What the proxy uses of a discovery document.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Discovery {
    /// The JWKS URL.
    pub(crate) jwks_uri: String,
    /// The asymmetric algorithms the issuer signs ID tokens with.
    pub(crate) algorithms: Vec<Algorithm>,
}

/// The discovery URL of `issuer`.
pub(crate) fn url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// Reads a discovery document fetched for `issuer`: its `issuer` must be exactly the
/// configured one (OpenID Connect Discovery 1.0, section 4.3), `jwks_uri` allowed by
/// [`super::fetch::allowed`], and at least one asymmetric algorithm announced (RS256
/// when the document lists none, as the specification's default).
pub(crate) fn parse(issuer: &str, doc: &serde_json::Value) -> Result<Discovery, String> {
    let announced = doc.get("issuer").and_then(|v| v.as_str()).unwrap_or("");
    if announced != issuer {
        return Err(format!(
            "the discovery document names issuer `{announced}`, not `{issuer}`"
        ));
    }
    let jwks_uri = doc
        .get("jwks_uri")
        .and_then(|v| v.as_str())
        .ok_or("the discovery document has no jwks_uri")?;
    if !super::fetch::allowed(jwks_uri) {
        return Err(format!("jwks_uri `{jwks_uri}` is not https://"));
    }
    let algorithms = match doc.get("id_token_signing_alg_values_supported") {
        None => vec![Algorithm::RS256],
        Some(list) => list
            .as_array()
            .ok_or("id_token_signing_alg_values_supported is not a list")?
            .iter()
            .filter_map(|a| a.as_str().and_then(asymmetric))
            .collect(),
    };
    if algorithms.is_empty() {
        return Err("the issuer announces no asymmetric ID token signature algorithm".into());
    }
    Ok(Discovery {
        jwks_uri: jwks_uri.to_string(),
        algorithms,
    })
}

/// An asymmetric JWS algorithm by name; `none`, `HS*` and unknown names are `None`.
pub(crate) fn asymmetric(name: &str) -> Option<Algorithm> {
    Some(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn takes_asymmetric_algorithms_and_checks_the_issuer() {
        let doc = json!({
            "issuer": "https://id.example.com", "jwks_uri": "https://id.example.com/jwks",
            "id_token_signing_alg_values_supported": ["none", "HS256", "RS256", "ES256"],
        });
        let d = parse("https://id.example.com", &doc).unwrap();
        assert_eq!(d.algorithms, vec![Algorithm::RS256, Algorithm::ES256]);
        let e = parse("https://other.example.com", &doc).unwrap_err();
        assert!(e.contains("names issuer"), "{e}");
        let hmac_only = json!({
            "issuer": "https://i", "jwks_uri": "https://i/j",
            "id_token_signing_alg_values_supported": ["HS256", "none"],
        });
        assert!(parse("https://i", &hmac_only)
            .unwrap_err()
            .contains("asymmetric"));
        let plain = json!({"issuer": "https://i", "jwks_uri": "http://evil.example/j"});
        assert!(parse("https://i", &plain).is_err());
    }
}
