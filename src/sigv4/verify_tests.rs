//! Tests of SigV4 verification: the `Authorization` header parsed, the five-minute skew,
//! and scope, service and region checked before the key.

use super::*;

#[test]
fn parses_the_authorization_header() {
    let sig = "a".repeat(64);
    let h = format!(
        "AWS4-HMAC-SHA256 Credential=BGKEY/20261124/eu-west-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature={sig}"
    );
    let a = SigV4Auth::parse(&h).unwrap();
    assert_eq!(a.access_key_id, "BGKEY");
    assert_eq!(a.date, "20261124");
    assert_eq!(a.region, "eu-west-1");
    assert_eq!(a.signed_headers, "host;x-amz-date");
    for bad in [
        "Bearer x",
        "AWS4-HMAC-SHA256 Credential=BGKEY/20261124/eu-west-1/bedrock, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 SignedHeaders=host",
        &format!("AWS4-HMAC-SHA256 Credential=K/D/R/S/aws4_request, SignedHeaders=host, Signature={}", "z".repeat(64)),
    ] {
        assert!(SigV4Auth::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn skew_is_five_minutes_either_way() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let at = |s: i64| DateTime::<Utc>::from_timestamp(1_800_000_000 + s, 0).unwrap();
    assert!(check_skew(at(-299), "x", now).is_ok());
    assert!(check_skew(at(299), "x", now).is_ok());
    assert!(check_skew(at(-301), "x", now).is_err());
    assert!(check_skew(at(301), "x", now).is_err());
    let Err(GateError::InvalidSignature(message)) = check_skew(at(-301), "x", now) else {
        panic!("an expired date is an invalid signature");
    };
    assert!(message.contains("20270115T075500Z"), "{message}");
}

#[test]
fn scope_service_and_region_are_checked_before_the_key() {
    let parts = http::Request::post("http://h/x")
        .header("host", "h")
        .header("x-amz-date", "20270115T080000Z")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    for (credential, why) in [
        ("K/20270115/eu-west-1/s3/aws4_request", "service"),
        ("K/20270115/us-east-1/bedrock/aws4_request", "region"),
        (
            "K/20270114/eu-west-1/bedrock/aws4_request",
            "Date in Credential",
        ),
    ] {
        let value = format!(
            "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host;x-amz-date, Signature={}",
            "0".repeat(64)
        );
        let auth = SigV4Auth::parse(&value).unwrap();
        let check = Verification {
            auth: &auth,
            parts: &parts,
            body_sha256: "",
            region: "eu-west-1",
            now,
        };
        let err = check
            .verify(|| panic!("no key is needed to refuse a bad scope"))
            .unwrap_err();
        assert!(err.to_string().contains(why), "{why}: {err}");
    }
}

/// A Converse call exactly as `@aws-sdk/client-bedrock-runtime` 3.1178.0 sent it over
/// h2c to `http://127.0.0.1:9978` (captured from a Node HTTP/2 server): no `host`
/// header, `:authority` signed in its place. Key `BGEXAMPLEKEY` / `exampleSecret`.
mod js_sdk {
    pub(super) const AT: &str = "20261207T223924Z";
    pub(super) const AT_UNIX: u64 = 1_796_683_164;
    pub(super) const PATH: &str = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse";
    pub(super) const BODY: &str = r#"{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}"#;
    pub(super) const AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=BGEXAMPLEKEY/20261207/eu-west-1/bedrock/aws4_request, SignedHeaders=:authority;amz-sdk-invocation-id;amz-sdk-request;content-length;content-type;x-amz-content-sha256;x-amz-date;x-amz-user-agent, Signature=d1717fb1d398fa51c6eea83f602a588047408ef343812be445fa23fdebbfcc14";
    pub(super) const HEADERS: [(&str, &str); 8] = [
        ("content-type", "application/json"),
        ("content-length", "59"),
        ("x-amz-user-agent", "aws-sdk-js/3.1177.0"),
        ("user-agent", "aws-sdk-js/3.1177.0 ua/2.1 os/linux lang/js md/nodejs#20.20.2 api/bedrock-runtime#3.1177.0 m/N,E,e"),
        ("amz-sdk-invocation-id", "fa2f06b1-6461-4e28-aecb-dee8e947863b"),
        ("amz-sdk-request", "attempt=1; max=3"),
        ("x-amz-date", AT),
        (
            "x-amz-content-sha256",
            "7421da8d1a0949a481724fee62d5886aacde03836bf58248adb73e8b61ac0d54",
        ),
    ];
}

/// The head of a request to `uri` with `headers`, as hyper hands it over (on HTTP/2 the
/// URI carries the `:authority`; on HTTP/1.1 it is the path only).
fn head(uri: &str, headers: &[(&str, &str)], authorization: &str) -> http::request::Parts {
    let mut b = http::Request::post(uri).header("authorization", authorization);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

/// Verifies `parts` at `at_unix` against `secret`, the signature in its `authorization`.
fn check(
    parts: &http::request::Parts,
    body: &[u8],
    secret: &str,
    at_unix: u64,
) -> Result<(), GateError> {
    let value = parts.headers["authorization"].to_str().unwrap().to_string();
    let auth = SigV4Auth::parse(&value)?;
    let body_sha256 = crate::hash::sha256_hex(body);
    let check = Verification {
        auth: &auth,
        parts,
        body_sha256: &body_sha256,
        region: "eu-west-1",
        now: SystemTime::UNIX_EPOCH + Duration::from_secs(at_unix),
    };
    let key = crate::sigv4::signing_key::derive(secret, auth.date, auth.region, SERVICE);
    check.verify(|| key)
}

fn mismatch(result: Result<(), GateError>) -> bool {
    matches!(result, Err(GateError::InvalidSignature(m)) if m == MISMATCH)
}

#[test]
fn the_js_sdk_signs_authority_instead_of_host_and_is_accepted() {
    let uri = format!("http://127.0.0.1:9978{}", js_sdk::PATH);
    let parts = head(&uri, &js_sdk::HEADERS, js_sdk::AUTHORIZATION);
    assert!(!parts.headers.contains_key("host"));
    let body = js_sdk::BODY.as_bytes();
    check(&parts, body, "exampleSecret", js_sdk::AT_UNIX).unwrap();
    // The same request over HTTP/1.1 (no authority in the URI) with its Host header.
    let mut with_host = js_sdk::HEADERS.to_vec();
    with_host.push(("host", "127.0.0.1:9978"));
    let parts = head(js_sdk::PATH, &with_host, js_sdk::AUTHORIZATION);
    check(&parts, body, "exampleSecret", js_sdk::AT_UNIX).unwrap();
    // The key's secret still matters.
    let parts = head(&uri, &js_sdk::HEADERS, js_sdk::AUTHORIZATION);
    assert!(mismatch(check(
        &parts,
        body,
        "otherSecret",
        js_sdk::AT_UNIX
    )));
}

#[test]
fn a_signed_authority_must_be_the_one_the_request_went_to() {
    let body = js_sdk::BODY.as_bytes();
    for authority in ["127.0.0.1:9979", "localhost:9978", "127.0.0.1"] {
        let uri = format!("http://{authority}{}", js_sdk::PATH);
        let parts = head(&uri, &js_sdk::HEADERS, js_sdk::AUTHORIZATION);
        assert!(
            mismatch(check(&parts, body, "exampleSecret", js_sdk::AT_UNIX)),
            "{authority}"
        );
    }
    // On HTTP/1.1 the Host header is the authority, and it must match too.
    let mut wrong_host = js_sdk::HEADERS.to_vec();
    wrong_host.push(("host", "127.0.0.1:9979"));
    let parts = head(js_sdk::PATH, &wrong_host, js_sdk::AUTHORIZATION);
    assert!(mismatch(check(
        &parts,
        body,
        "exampleSecret",
        js_sdk::AT_UNIX
    )));
    // With neither, there is nothing to match.
    let parts = head(js_sdk::PATH, &js_sdk::HEADERS, js_sdk::AUTHORIZATION);
    assert!(mismatch(check(
        &parts,
        body,
        "exampleSecret",
        js_sdk::AT_UNIX
    )));
}

#[test]
fn a_signature_covering_neither_host_nor_authority_is_refused() {
    let uri = format!("http://127.0.0.1:9978{}", js_sdk::PATH);
    let without = js_sdk::AUTHORIZATION.replace("SignedHeaders=:authority;", "SignedHeaders=");
    let parts = head(&uri, &js_sdk::HEADERS, &without);
    let Err(GateError::InvalidSignature(message)) = check(
        &parts,
        js_sdk::BODY.as_bytes(),
        "exampleSecret",
        js_sdk::AT_UNIX,
    ) else {
        panic!("a signature that does not cover the destination is refused");
    };
    assert_eq!(
        message,
        "'Host' must be a 'SignedHeader' in the AWS Authorization."
    );
}

/// `host` signed by AWS's own Rust signer (over the Host header) verifies both as sent
/// over HTTP/1.1 and as an HTTP/2 request whose host is only in `:authority`.
#[test]
fn a_signed_host_is_the_host_header_or_else_the_authority() {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let url = format!("http://127.0.0.1:9978{}", js_sdk::PATH);
    let body = js_sdk::BODY.as_bytes();
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(js_sdk::AT_UNIX);
    let identity =
        aws_credential_types::Credentials::new("BGEXAMPLEKEY", "exampleSecret", None, None, "t")
            .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("eu-west-1")
        .name(SERVICE)
        .time(at)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let sent = [
        ("host", "127.0.0.1:9978"),
        ("content-type", "application/json"),
    ];
    let signable =
        SignableRequest::new("POST", &url, sent.into_iter(), SignableBody::Bytes(body)).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let signed: Vec<(String, String)> = instructions
        .headers()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let authorization = &signed.iter().find(|(k, _)| k == "authorization").unwrap().1;
    assert!(
        authorization.contains("SignedHeaders=content-type;host;"),
        "{authorization}"
    );
    let mut headers: Vec<(&str, &str)> = signed
        .iter()
        .filter(|(k, _)| k != "authorization")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    headers.push(("content-type", "application/json"));
    // HTTP/2: no Host header, the authority in the URI.
    check(
        &head(&url, &headers, authorization),
        body,
        "exampleSecret",
        js_sdk::AT_UNIX,
    )
    .unwrap();
    let elsewhere = url.replace(":9978", ":9979");
    assert!(mismatch(check(
        &head(&elsewhere, &headers, authorization),
        body,
        "exampleSecret",
        js_sdk::AT_UNIX
    )));
    // HTTP/1.1: the Host header.
    headers.push(("host", "127.0.0.1:9978"));
    check(
        &head(js_sdk::PATH, &headers, authorization),
        body,
        "exampleSecret",
        js_sdk::AT_UNIX,
    )
    .unwrap();
}
