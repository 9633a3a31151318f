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
