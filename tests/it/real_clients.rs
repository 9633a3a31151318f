//! Real, unmodified clients talk to Bedrock through the proxy: boto3 and the AWS CLI v1
//! (tests/python/clients.py) and Claude Code (tests/js, installed by
//! `npm ci --prefix tests/js`). The fake upstream verifies the proxy's re-signed
//! requests and never sees the callers' credentials.
//!
//! A missing client is a skip, unless `GATE_TEST_REQUIRE_CLIENTS=1` (CI), which makes
//! it a failure.

use crate::common;

use bedrock_gate::domain::UsageSource;
use bedrock_gate::store::Limits;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::clients::{
    assert_claude_code_run, claude_code_command, claude_code_installed, clean_env, missing,
    python_ok, run, show,
};
use common::upstream::{INPUT_TOKENS, OUTPUT_TOKENS, RESPONSE_TEXT};
use common::{Gate, GateOptions, TestUser};
use tokio::process::Command;

/// boto3 calls that reach the upstream: 4 operations x 3 model ids, and one bearer
/// Converse (the refused calls stop at the proxy).
const BOTO3_UPSTREAM_CALLS: usize = 13;
/// AWS CLI calls that reach the upstream (Converse with two model ids).
const AWS_CLI_UPSTREAM_CALLS: usize = 2;
/// Checks clients.py runs with boto3 (the 13 calls and three refusals) and the AWS CLI.
const BOTO3_CHECKS: usize = 16;
const AWS_CLI_CHECKS: usize = 2;

/// A proxy serving HTTPS with a certificate for 127.0.0.1 from a local CA written into
/// `dir`: the gate, its `https://` URL and the CA file clients trust.
async fn https_gate(dir: &Path) -> (Gate, String, PathBuf) {
    let (ca, cert, key) = common::local::ca_signed_tls(dir);
    let gate = Gate::start(GateOptions {
        overrides: common::local::tls_overrides(&cert, &key),
        ..Default::default()
    })
    .await;
    let url = gate.url.replacen("http://", "https://", 1);
    (gate, url, ca)
}

/// A user with a key on an HTTPS gate (the harness's own probes speak plain HTTP), once
/// the proxy serves it.
async fn https_user(gate: &Gate, username: &str, team: &str) -> TestUser {
    let key =
        common::user_with_key(&gate.ops, username, team, Limits::default(), "test-tool").await;
    gate.wait_applied().await;
    TestUser {
        username: username.into(),
        key,
    }
}

/// Every request the upstream received was signed validly by the proxy with its own
/// key, and carries nothing of the caller's credentials.
fn assert_upstream_clean(gate: &Gate, user: &TestUser) {
    let reqs = gate.upstream.requests();
    assert!(!reqs.is_empty(), "nothing reached the upstream");
    for r in &reqs {
        assert!(
            r.signature_valid && r.rejection.is_none(),
            "upstream rejected {} {}: {:?}",
            r.method,
            r.path,
            r.rejection
        );
        let auth = r.header("authorization").unwrap_or_default();
        assert!(auth.contains(common::UPSTREAM_KEY_ID), "{auth}");
        let body = String::from_utf8_lossy(&r.body);
        for secret in [
            &user.key.access_key_id,
            &user.key.secret_access_key,
            &user.key.bearer_token,
        ] {
            assert!(!r.path.contains(secret.as_str()), "{}", r.path);
            assert!(!body.contains(secret.as_str()), "caller credential in body");
            for (name, v) in &r.headers {
                assert!(!v.contains(secret.as_str()), "caller credential in {name}");
            }
        }
    }
    assert_eq!(gate.upstream.valid_count(), reqs.len());
}

#[tokio::test]
async fn boto3_and_aws_cli_through_the_proxy() {
    if !python_ok("import boto3").await {
        missing("python3 with boto3 is not available (pip install boto3 awscli)");
        return;
    }
    let with_cli = python_ok("import awscli").await;
    if !with_cli {
        missing("the AWS CLI v1 (python module awscli) is not installed");
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/clients.py");

    // Over HTTPS: current botocore sends bearer tokens only to https:// endpoints.
    let tls = tempfile::tempdir().unwrap();
    let (gate, url, ca) = https_gate(tls.path()).await;
    let dave = https_user(&gate, "dave", "platform").await;
    let mut cmd = Command::new("python3");
    cmd.arg(&script);
    clean_env(&mut cmd);
    cmd.env("GATE_URL", &url)
        .env("GATE_CA_BUNDLE", &ca)
        .env("GATE_REGION", common::REGION)
        .env("GATE_KEY_ID", &dave.key.access_key_id)
        .env("GATE_SECRET", &dave.key.secret_access_key)
        .env("GATE_BEARER", &dave.key.bearer_token)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1");
    let out = run(cmd, "tests/python/clients.py").await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", show(&out));
    let expected_checks = BOTO3_CHECKS + if with_cli { AWS_CLI_CHECKS } else { 0 };
    assert!(
        stdout
            .lines()
            .any(|l| l == format!("{expected_checks} passed, 0 failed")),
        "{}",
        show(&out)
    );

    let calls = BOTO3_UPSTREAM_CALLS + if with_cli { AWS_CLI_UPSTREAM_CALLS } else { 0 };
    assert_eq!(gate.upstream.count(), calls);
    assert_upstream_clean(&gate, &dave);

    let records = gate.records(calls).await;
    assert_eq!(records.len(), calls, "one record per upstream call");
    for r in &records {
        assert_eq!(r.username, "dave", "{r:?}");
        assert_eq!(r.team, "platform", "{r:?}");
        assert_eq!(r.access_key_id, dave.key.access_key_id, "{r:?}");
        assert_eq!(r.status_code, 200, "{r:?}");
        assert_eq!(r.usage_source, UsageSource::Reported, "{r:?}");
        assert_eq!(r.input_tokens as u64, INPUT_TOKENS, "{r:?}");
        assert_eq!(r.output_tokens as u64, OUTPUT_TOKENS, "{r:?}");
        assert!(r.upstream_request_id.is_some(), "{r:?}");
    }
    let agents: Vec<&str> = records
        .iter()
        .map(|r| r.user_agent.as_deref().unwrap_or(""))
        .collect();
    let by = |needle: &str| agents.iter().filter(|a| a.contains(needle)).count();
    if with_cli {
        assert_eq!(by("aws-cli/"), AWS_CLI_UPSTREAM_CALLS, "{agents:?}");
    }
    assert_eq!(by("Boto3/"), BOTO3_UPSTREAM_CALLS, "{agents:?}");
    let per_op = |op: &str| records.iter().filter(|r| r.operation == op).count();
    assert_eq!(per_op("InvokeModel"), 3);
    assert_eq!(per_op("InvokeModelWithResponseStream"), 3);
    assert_eq!(per_op("ConverseStream"), 3);
    assert_eq!(per_op("Converse"), calls - 9);
    gate.stop().await;
}

/// Runs `claude -p "Say hello"` against the proxy with a fresh HOME and the given
/// credentials in its environment; returns its output.
async fn claude_code(wrapper: &Path, gate: &Gate, creds: &[(&str, &str)]) -> Output {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = claude_code_command(wrapper, &gate.url, home.path());
    // No retries: a failing call must fail the run, not be papered over (and a
    // refused run must end quickly: by default Claude Code retries a 403 for minutes).
    cmd.env("CLAUDE_CODE_MAX_RETRIES", "0");
    for (k, v) in creds {
        cmd.env(k, v);
    }
    let out = run(cmd, &format!("Claude Code ({})", creds[0].0)).await;
    drop(home);
    out
}

#[tokio::test]
async fn claude_code_through_the_proxy_with_sigv4_and_bearer() {
    let Some(wrapper) = claude_code_installed().await else {
        return;
    };
    let gate = Gate::start(GateOptions::default()).await;
    let erin = gate.user("erin", "apps").await;

    let sigv4 = claude_code(
        &wrapper,
        &gate,
        &[
            ("AWS_ACCESS_KEY_ID", &erin.key.access_key_id),
            ("AWS_SECRET_ACCESS_KEY", &erin.key.secret_access_key),
        ],
    )
    .await;
    let after_sigv4 = gate.upstream.count();
    assert_claude_code_run("SigV4", &sigv4, &gate.upstream.requests());
    // Every call of the run is recorded before the next one starts.
    assert_eq!(gate.records(after_sigv4).await.len(), after_sigv4);

    let bearer = claude_code(
        &wrapper,
        &gate,
        &[("AWS_BEARER_TOKEN_BEDROCK", &erin.key.bearer_token)],
    )
    .await;
    let calls = gate.upstream.count();
    assert_claude_code_run("bearer", &bearer, &gate.upstream.requests()[after_sigv4..]);

    // A wrong token: the proxy refuses everything, nothing goes upstream.
    let refused = claude_code(
        &wrapper,
        &gate,
        &[("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-d3Jvbmc=")],
    )
    .await;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&refused.stdout),
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(!refused.status.success(), "refused run: {}", show(&refused));
    assert!(
        !said.contains(RESPONSE_TEXT),
        "refused run: {}",
        show(&refused)
    );
    assert!(
        said.contains("403") && said.contains("security token included in the request is invalid"),
        "refused run: {}",
        show(&refused)
    );
    assert_eq!(gate.upstream.count(), calls, "a refused call went upstream");

    assert_upstream_clean(&gate, &erin);
    let records = gate.records(calls).await;
    assert_eq!(records.len(), calls, "one record per upstream call");
    for r in &records {
        assert_eq!(r.username, "erin", "{r:?}");
        assert_eq!(r.team, "apps", "{r:?}");
        assert_eq!(r.access_key_id, erin.key.access_key_id, "{r:?}");
        assert_eq!(r.status_code, 200, "{r:?}");
        if r.model_id.is_empty() {
            // ListInferenceProfiles: no model, no tokens.
            assert_eq!(r.input_tokens, 0, "{r:?}");
            continue;
        }
        assert!(r.operation.starts_with("InvokeModel"), "{r:?}");
        assert_eq!(r.usage_source, UsageSource::Reported, "{r:?}");
        assert_eq!(r.input_tokens as u64, INPUT_TOKENS, "{r:?}");
        assert_eq!(r.output_tokens as u64, OUTPUT_TOKENS, "{r:?}");
        assert!(
            r.user_agent
                .as_deref()
                .is_some_and(|a| a.starts_with("claude-cli/")),
            "{r:?}"
        );
    }
    let streamed = records
        .iter()
        .filter(|r| r.operation == "InvokeModelWithResponseStream")
        .count();
    assert!(streamed >= 2, "{records:?}");
    gate.stop().await;
}
