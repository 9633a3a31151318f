//! Real, unmodified clients meet a 429 from the short-term limits, retry it on their
//! own, and succeed once the limit allows: boto3 (standard retry mode), the AWS CLI v1
//! (its default, legacy retry mode: 5 attempts, random exponential backoff; it does not
//! read `Retry-After`) and Claude Code (its own retries, which wait `Retry-After`).
//!
//! Each test caps the user at one call in flight and holds one call open at the fake
//! upstream, starts the client, waits until the proxy has answered it at least one 429
//! (`/metrics`), then lets the held call end: the client's next try is admitted. No
//! fixed sleeps; a missing client is a skip unless `GATE_TEST_REQUIRE_CLIENTS=1`.

use crate::common;

use bedrock_gate::domain::{Limits, UsageSource};
use bedrock_gate::store::RequestRecord;
use common::clients::{
    assert_claude_code_run, claude_code_command, claude_code_installed, clean_env, missing,
    python_ok, run, show,
};
use common::throttle::{gate_and_user, hold, rate, throttled_in_metrics, until_throttled};
use common::upstream::{INPUT_TOKENS, OUTPUT_TOKENS, RESPONSE_TEXT};
use common::{Gate, TestUser};
use tokio::process::Command;

const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";

/// A proxy, a user of `team` allowed one call in flight, and that one call held open.
/// Dropping the held response ends that call and frees the slot.
async fn one_slot_taken(
    username: &str,
    team: &str,
) -> (Gate, TestUser, http::Response<hyper::body::Incoming>) {
    let limits = Limits {
        max_concurrent: rate(1),
        ..Default::default()
    };
    let (gate, user) = gate_and_user(username, team, limits).await;
    let held = hold(&gate, &user).await;
    (gate, user, held)
}

/// The records of calls whose user agent contains `agent`, once `total` records exist
/// (the held call's included): each one is a call that went upstream.
async fn records_of(gate: &Gate, total: usize, agent: &str) -> Vec<RequestRecord> {
    gate.records(total)
        .await
        .into_iter()
        .filter(|r| r.user_agent.as_deref().unwrap_or("").contains(agent))
        .collect()
}

#[tokio::test]
async fn boto3_retries_a_429_and_succeeds_once_a_slot_frees() {
    if !python_ok("import boto3").await {
        missing("python3 with boto3 is not available (pip install boto3)");
        return;
    }
    let (gate, user, held) = one_slot_taken("gus", "web").await;

    let script = r#"
import os, boto3, botocore.config
client = boto3.client(
    "bedrock-runtime",
    endpoint_url=os.environ["GATE_URL"],
    region_name=os.environ["GATE_REGION"],
    aws_access_key_id=os.environ["GATE_KEY_ID"],
    aws_secret_access_key=os.environ["GATE_SECRET"],
    config=botocore.config.Config(retries={"mode": "standard", "max_attempts": 10}),
)
r = client.converse(
    modelId="anthropic.claude-3-haiku-20240307-v1:0",
    messages=[{"role": "user", "content": [{"text": "hi"}]}],
)
print("retries", r["ResponseMetadata"]["RetryAttempts"], "output", r["usage"]["outputTokens"])
"#;
    let mut cmd = Command::new("python3");
    cmd.args(["-c", script]);
    clean_env(&mut cmd);
    cmd.env("GATE_URL", &gate.url)
        .env("GATE_REGION", common::REGION)
        .env("GATE_KEY_ID", &user.key.access_key_id)
        .env("GATE_SECRET", &user.key.secret_access_key)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let client = tokio::spawn(run(cmd, "boto3 converse"));

    until_throttled(&gate, "web", "boto3").await;
    drop(held);
    let out = client.await.unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let retries: u64 = stdout
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", show(&out)));
    assert!(retries >= 1, "{}", show(&out));
    assert!(
        stdout.contains(&format!("output {OUTPUT_TOKENS}")),
        "{}",
        show(&out)
    );
    assert_eq!(
        gate.upstream.count(),
        2,
        "the held call and boto3's last try"
    );
    let calls = records_of(&gate, 2, "Boto3/").await;
    assert_eq!(calls.len(), 1, "one record of boto3's call: {calls:?}");
    assert_eq!(calls[0].status_code, 200);
    gate.stop().await;
}

#[tokio::test]
async fn aws_cli_retries_a_429_and_succeeds_once_a_slot_frees() {
    if !python_ok("import awscli").await {
        missing("the AWS CLI v1 (python module awscli) is not installed");
        return;
    }
    let (gate, user, held) = one_slot_taken("hana", "infra").await;
    let messages = serde_json::json!([{"role": "user", "content": [{"text": "hello"}]}]);
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "awscli", "bedrock-runtime", "converse"])
        .args(["--endpoint-url", &gate.url, "--region", common::REGION])
        .args(["--model-id", MODEL, "--messages", &messages.to_string()])
        .args(["--output", "json"]);
    clean_env(&mut cmd);
    // The CLI's own retry settings: nothing set, so its defaults apply.
    cmd.env("AWS_ACCESS_KEY_ID", &user.key.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &user.key.secret_access_key)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_PAGER", "")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let client = tokio::spawn(run(cmd, "aws bedrock-runtime converse"));

    until_throttled(&gate, "infra", "the AWS CLI").await;
    drop(held);
    let out = client.await.unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let answer: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&out)));
    assert_eq!(answer["usage"]["outputTokens"], OUTPUT_TOKENS, "{answer}");
    assert_eq!(
        answer["output"]["message"]["content"][0]["text"], RESPONSE_TEXT,
        "{answer}"
    );
    assert!(throttled_in_metrics(&gate, "infra").await >= 1);
    assert_eq!(
        gate.upstream.count(),
        2,
        "the held call and the CLI's last try; its refused tries stopped at the proxy"
    );
    let calls = records_of(&gate, 2, "aws-cli/").await;
    assert_eq!(calls.len(), 1, "one record of the CLI's call: {calls:?}");
    assert_eq!(calls[0].status_code, 200, "{:?}", calls[0]);
    assert_eq!(calls[0].operation, "Converse");
    assert_eq!(calls[0].input_tokens as u64, INPUT_TOKENS);
    gate.stop().await;
}

#[tokio::test]
async fn claude_code_retries_a_429_and_succeeds_once_a_slot_frees() {
    let Some(wrapper) = claude_code_installed().await else {
        return;
    };
    let (gate, user, held) = one_slot_taken("ivy", "apps").await;
    let home = tempfile::tempdir().unwrap();
    let mut cmd = claude_code_command(&wrapper, &gate.url, home.path());
    // Claude Code's own retry settings: nothing set, so its defaults apply.
    cmd.env("AWS_BEARER_TOKEN_BEDROCK", &user.key.bearer_token);
    let client = tokio::spawn(run(cmd, "Claude Code"));

    until_throttled(&gate, "apps", "Claude Code").await;
    drop(held);
    let out = client.await.unwrap();
    // Everything after the held call is Claude Code's, each call admitted once.
    let sent = gate.upstream.requests();
    assert_claude_code_run("throttled", &out, &sent[1..]);
    assert!(throttled_in_metrics(&gate, "apps").await >= 1);
    // One record per call that went upstream (the held one, Claude Code's model calls
    // and its AWS SDK's ListInferenceProfiles), none for the refused tries.
    let all = gate.records(sent.len()).await;
    assert_eq!(all.len(), sent.len(), "{all:?}");
    let calls = records_of(&gate, sent.len(), "claude-cli/").await;
    let streamed: Vec<_> = calls
        .iter()
        .filter(|r| r.operation == "InvokeModelWithResponseStream")
        .collect();
    assert!(!streamed.is_empty(), "{calls:?}");
    for r in streamed {
        assert_eq!(r.status_code, 200, "{r:?}");
        assert_eq!(r.usage_source, UsageSource::Reported, "{r:?}");
        assert_eq!(r.output_tokens as u64, OUTPUT_TOKENS, "{r:?}");
    }
    drop(home);
    gate.stop().await;
}
