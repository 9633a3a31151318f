//! The AWS SDK for JavaScript v3 (`@aws-sdk/client-bedrock-runtime`, pinned in
//! tests/js/package.json, installed by `npm ci --prefix tests/js`) talks to Bedrock
//! through the proxy as users run it: configured from the environment only, over HTTP/2
//! (prior-knowledge h2c on `http://`, ALPN h2 on TLS), with no `host` header and
//! `:authority` signed in its place, or with a bearer token. tests/js/bedrock.mjs makes
//! the calls (Converse, ConverseStream, InvokeModel, InvokeModelWithResponseStream and a
//! stream broken by a mid-stream exception) and reports every HTTP/2 session and stream
//! the SDK opened, as Node saw them.
//!
//! A missing SDK or node is a skip, unless `GATE_TEST_REQUIRE_CLIENTS=1` (CI), which
//! makes it a failure.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;

use bedrock_gate::domain::UsageSource;
use bedrock_gate::store::Limits;
use common::clients::{clean_env, missing, node_available, run, show};
use common::upstream::{INPUT_TOKENS, OUTPUT_TOKENS};
use common::{Gate, GateOptions, TestUser};
use serde_json::Value;
use tokio::process::Command;

/// The checks tests/js/bedrock.mjs runs, each one call that reaches the upstream.
const CHECKS: usize = 5;
/// Connection-specific headers, which HTTP/2 forbids (RFC 9113, 8.2.2).
const CONNECTION_HEADERS: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];
/// SigV4's `Authorization` scheme.
const SIGV4: &str = "AWS4-HMAC-SHA256";

/// tests/js/bedrock.mjs when node and the SDK are installed; otherwise reports them
/// missing (a skip, or a failure when clients are required) and returns `None`.
async fn sdk_script() -> Option<PathBuf> {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    if !js
        .join("node_modules/@aws-sdk/client-bedrock-runtime/package.json")
        .is_file()
    {
        missing("the AWS SDK for JavaScript is not installed (npm ci --prefix tests/js)");
        return None;
    }
    if !node_available().await {
        missing("node is not installed");
        return None;
    }
    Some(js.join("bedrock.mjs"))
}

/// Runs the script against `url` with `env` (credentials, CA) and nothing else of this
/// machine's AWS settings; returns its output.
async fn sdk_run(script: &Path, url: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("node");
    cmd.arg(script);
    clean_env(&mut cmd);
    cmd.env_remove("NODE_EXTRA_CA_CERTS")
        .env_remove("NODE_OPTIONS")
        .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", url)
        .env("AWS_REGION", common::REGION)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(cmd, &format!("tests/js/bedrock.mjs ({url})")).await
}

/// Checks a run: every check passed, and every call went over HTTP/2 sessions of
/// `protocol` to the proxy at `authority`, carrying `:authority` and no `host`, with
/// the `scheme` of authentication.
fn assert_sdk_run(out: &Output, protocol: &str, authority: &str, scheme: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", show(out));
    assert!(
        stdout
            .lines()
            .any(|l| l == format!("{CHECKS} passed, 0 failed")),
        "{}",
        show(out)
    );
    let seen: Value = stdout
        .lines()
        .find_map(|l| l.strip_prefix("HTTP2 "))
        .map(|j| serde_json::from_str(j).unwrap())
        .unwrap_or_else(|| panic!("no HTTP2 line: {}", show(out)));
    let sessions = seen["sessions"].as_array().unwrap();
    assert!(!sessions.is_empty(), "no HTTP/2 session: {seen}");
    for s in sessions {
        assert_eq!(s["protocol"], protocol, "{seen}");
        assert!(
            s["authority"].as_str().unwrap().contains(authority),
            "{seen}"
        );
    }
    let streams = seen["streams"].as_array().unwrap();
    assert_eq!(streams.len(), CHECKS, "one HTTP/2 stream per call: {seen}");
    for s in streams {
        assert_eq!(s["authority"], authority, "{seen}");
        assert_eq!(s["host"], Value::Null, "{seen}");
        assert_eq!(s["scheme"], scheme, "{seen}");
        assert_eq!(s["status"], 200, "{seen}");
        // Bedrock's request id header, and none of those HTTP/2 forbids.
        let names: Vec<&str> = s["responseHeaders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        assert!(names.contains(&"x-amzn-requestid"), "{seen}");
        for forbidden in CONNECTION_HEADERS {
            assert!(!names.contains(&forbidden), "{forbidden}: {seen}");
        }
    }
}

/// `user`'s runs with its SigV4 key and its bearer token, both through `url`.
async fn sigv4_and_bearer(
    script: &Path,
    url: &str,
    user: &TestUser,
    ca: Option<&Path>,
    protocol: &str,
) {
    let authority = url.split_once("://").unwrap().1;
    let ca = ca.map(|p| p.display().to_string());
    let with_ca = |mut env: Vec<(&'static str, String)>| {
        if let Some(ca) = &ca {
            env.push(("NODE_EXTRA_CA_CERTS", ca.clone()));
        }
        env
    };
    let sigv4 = with_ca(vec![
        ("AWS_ACCESS_KEY_ID", user.key.access_key_id.clone()),
        ("AWS_SECRET_ACCESS_KEY", user.key.secret_access_key.clone()),
    ]);
    let bearer = with_ca(vec![(
        "AWS_BEARER_TOKEN_BEDROCK",
        user.key.bearer_token.clone(),
    )]);
    for (env, scheme) in [(sigv4, SIGV4), (bearer, "Bearer")] {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = sdk_run(script, url, &env).await;
        assert_sdk_run(&out, protocol, authority, scheme);
    }
}

/// What reached the upstream and what was recorded: `2 * CHECKS` calls, each signed
/// validly by the proxy with its own key and none carrying the caller's credentials;
/// one record per call with the fake's tokens, the broken streams recorded as such.
async fn assert_upstream_and_records(gate: &Gate, user: &TestUser) {
    let calls = 2 * CHECKS;
    let reqs = gate.upstream.requests();
    assert_eq!(reqs.len(), calls, "{reqs:?}");
    assert_eq!(gate.upstream.valid_count(), calls);
    for r in &reqs {
        assert!(r.signature_valid && r.rejection.is_none(), "{r:?}");
        let auth = r.header("authorization").unwrap_or_default();
        assert!(auth.contains(common::UPSTREAM_KEY_ID), "{auth}");
        for secret in [&user.key.secret_access_key, &user.key.bearer_token] {
            for (name, v) in &r.headers {
                assert!(!v.contains(secret.as_str()), "caller credential in {name}");
            }
        }
    }
    let records = gate.records(calls).await;
    assert_eq!(records.len(), calls, "{records:?}");
    for r in &records {
        assert_eq!(r.username, user.username, "{r:?}");
        assert_eq!(r.access_key_id, user.key.access_key_id, "{r:?}");
        assert_eq!(r.status_code, 200, "{r:?}");
        assert!(
            r.user_agent
                .as_deref()
                .unwrap_or("")
                .contains("aws-sdk-js/"),
            "{r:?}"
        );
        if r.model_id.ends_with("-midstream") {
            assert_eq!(r.operation, "ConverseStream", "{r:?}");
            assert_eq!(
                r.error_type.as_deref(),
                Some("modelStreamErrorException: Model stream failed"),
                "{r:?}"
            );
            assert_eq!(r.usage_source, UsageSource::Estimated, "{r:?}");
            continue;
        }
        assert_eq!(r.error_type, None, "{r:?}");
        assert_eq!(r.usage_source, UsageSource::Reported, "{r:?}");
        assert_eq!(
            (r.input_tokens as u64, r.output_tokens as u64),
            (INPUT_TOKENS, OUTPUT_TOKENS),
            "{r:?}"
        );
    }
    let per_op = |op: &str| records.iter().filter(|r| r.operation == op).count();
    assert_eq!(per_op("Converse"), 2);
    assert_eq!(per_op("ConverseStream"), 4);
    assert_eq!(per_op("InvokeModel"), 2);
    assert_eq!(per_op("InvokeModelWithResponseStream"), 2);
}

#[tokio::test]
async fn the_js_sdk_over_h2c_with_sigv4_and_bearer() {
    let Some(script) = sdk_script().await else {
        return;
    };
    let gate = Gate::start(GateOptions::default()).await;
    let frank = gate.user("frank", "apps").await;
    sigv4_and_bearer(&script, &gate.url, &frank, None, "h2c").await;
    assert_upstream_and_records(&gate, &frank).await;
    gate.stop().await;
}

#[tokio::test]
async fn the_js_sdk_over_tls_h2_with_sigv4_and_bearer() {
    let Some(script) = sdk_script().await else {
        return;
    };
    let tls = tempfile::tempdir().unwrap();
    let (ca, cert, key) = common::local::ca_signed_tls(tls.path());
    let gate = Gate::start(GateOptions {
        overrides: common::local::tls_overrides(&cert, &key),
        ..Default::default()
    })
    .await;
    let url = gate.url.replacen("http://", "https://", 1);
    // The harness's key probe speaks plain HTTP: wait for the proxy to apply the change.
    let key =
        common::user_with_key(&gate.ops, "grace", "apps", Limits::default(), "test-tool").await;
    gate.wait_applied().await;
    let grace = TestUser {
        username: "grace".into(),
        key,
    };
    sigv4_and_bearer(&script, &url, &grace, Some(&ca), "h2").await;
    assert_upstream_and_records(&gate, &grace).await;
    gate.stop().await;
}
