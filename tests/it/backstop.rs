//! The CloudTrail/IAM backstop end to end: direct calls ingested from log files and
//! EventBridge deliveries count against the same limits as proxy calls (each eventID
//! once, past days on their day), push a linked user over a limit into an automatic
//! block, and (against moto's IAM) put the deny policy on the linked IAM user until the
//! reset, with audit rows saying so and reconciliation restoring a deny removed by hand.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bedrock_gate::domain::{Actor, AuditOperation, IamPrincipalKind};
use bedrock_gate::store::{Limits, UsageFilter};
use chrono::{DateTime, Utc};
use common::admin::Api;
use common::moto::Moto;
use common::{converse, Gate, GateOptions};
use serde_json::{json, Value};

/// A CloudTrail record of a runtime call by IAM user `user`.
fn record(id: &str, user: &str, at: DateTime<Utc>, error: Option<&str>) -> Value {
    let mut r = json!({
        "eventVersion": "1.09", "eventID": id, "eventTime": at.to_rfc3339(),
        "eventSource": "bedrock.amazonaws.com", "eventName": "InvokeModel",
        "awsRegion": "eu-west-1", "sourceIPAddress": "203.0.113.7", "userAgent": "boto3/1.40",
        "requestID": format!("req-{id}"), "readOnly": true, "eventType": "AwsApiCall",
        "managementEvent": true, "recipientAccountId": "123456789012",
        "requestParameters": {"modelId": "anthropic.claude-3-haiku-20240307-v1:0"},
        "responseElements": null,
        "userIdentity": {"type": "IAMUser", "userName": user,
            "arn": format!("arn:aws:iam::123456789012:user/{user}"),
            "accountId": "123456789012", "accessKeyId": "AKIAEXAMPLEDIRECT01"}
    });
    if let Some(code) = error {
        r["errorCode"] = json!(code);
        r["errorMessage"] = json!("denied");
    }
    r
}

/// An EventBridge event carrying `detail`.
fn envelope(detail: Value) -> Value {
    json!({"version": "0", "id": "6f1b", "detail-type": "AWS API Call via CloudTrail",
           "source": "aws.bedrock", "account": "123456789012", "time": detail["eventTime"],
           "region": "eu-west-1", "resources": [], "detail": detail})
}

fn write_log(dir: &Path, name: &str, records: &[Value]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, json!({"Records": records}).to_string()).unwrap();
    path
}

fn actor() -> Actor {
    Actor::system("test")
}

/// Waits (at most 10 s) for the newest audit row of `operation` for `user` to carry
/// `iam_policy_updated = true`.
async fn wait_audit(gate: &Gate, user: &str, operation: AuditOperation) {
    for _ in 0..200 {
        let rows = gate.ops.audit(Some(user), 20).await.unwrap();
        if let Some(row) = rows.iter().find(|r| r.operation == operation) {
            if row.iam_policy_updated == Some(true) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no {operation} audit row of {user} says the IAM policy was updated: {:?}",
        gate.ops.audit(Some(user), 20).await.unwrap()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn direct_calls_over_the_daily_limit_deny_the_iam_user_until_the_reset() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let iam = moto.iam();
    iam.create_user()
        .user_name("alice-iam")
        .send()
        .await
        .unwrap();
    iam.create_user()
        .user_name("other-iam")
        .send()
        .await
        .unwrap();
    let gate = Gate::start(GateOptions {
        overrides: vec![
            ("BEDROCK_GATE_IAM__ENABLED".into(), "true".into()),
            ("BEDROCK_GATE_IAM__ENDPOINT_URL".into(), moto.url.clone()),
            ("BEDROCK_GATE_IAM__RECONCILE_SECS".into(), "1".into()),
        ],
        ..Default::default()
    })
    .await;
    let limits = Limits {
        daily_requests: Some(3),
        ..Default::default()
    };
    let alice = gate.user_with_limits("alice", "research", limits).await;
    gate.ops
        .link_iam(&actor(), "alice", IamPrincipalKind::IamUser, "alice-iam")
        .await
        .unwrap();

    // One call through the proxy, then two direct calls: three of three.
    let (status, _) = converse(&gate.url, &alice.key.bearer_token).await;
    assert_eq!(status, 200);
    let dir = tempfile::tempdir().unwrap();
    let now = Utc::now();
    write_log(
        dir.path(),
        "a.json",
        &[
            record("d-1", "alice-iam", now, None),
            record("d-2", "alice-iam", now, None),
            record("d-3", "alice-iam", now, Some("AccessDenied")),
            record("d-4", "nobody-iam", now, None),
        ],
    );
    let report = gate
        .ops
        .ingest_log_files(&actor(), vec![dir.path().to_path_buf()], &mut |_| {})
        .await
        .unwrap();
    assert_eq!(
        (
            report.counts.counted,
            report.counts.failed_calls,
            report.counts.ignored
        ),
        (2, 1, 1),
        "{report:?}"
    );

    // Blocked: the deny is on the IAM user, and the proxy refuses the user.
    moto.wait_policy("alice-iam", "BedrockGateDeny", true).await;
    assert!(moto.user_policies("other-iam").await.is_empty());
    let (status, answer) = converse(&gate.url, &alice.key.bearer_token).await;
    assert_eq!(status, 400, "{:?}", answer.body());
    assert!(String::from_utf8_lossy(answer.body()).contains("daily"));
    wait_audit(&gate, "alice", AuditOperation::AutoBlock).await;
    let info = serde_json::to_value(gate.ops.user_info("alice").await.unwrap()).unwrap();
    assert_eq!(info["blocked"], true);
    assert_eq!(info["usage"]["day"]["requests"], 3, "{info}");

    // A deny removed by hand comes back at the next reconciliation.
    iam.delete_user_policy()
        .user_name("alice-iam")
        .policy_name("BedrockGateDeny")
        .send()
        .await
        .unwrap();
    moto.wait_policy("alice-iam", "BedrockGateDeny", true).await;

    // The reset lifts the block and removes the deny.
    let reset = gate.ops.reset_now(&actor()).await.unwrap();
    assert_eq!(reset.unblocked, ["alice"]);
    moto.wait_policy("alice-iam", "BedrockGateDeny", false)
        .await;
    wait_audit(&gate, "alice", AuditOperation::ResetUnblock).await;
    gate.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn eventbridge_deliveries_count_once_and_share_the_limits_with_proxy_calls() {
    for engine in common::engines() {
        eventbridge_on(engine).await;
    }
}

async fn eventbridge_on(engine: common::Engine) {
    let gate = Gate::start(GateOptions {
        engine,
        extra_config: "[iam]\ndirect_call_usd = 0.25\n\
                       proxy_principal_arns = [\"arn:aws:iam::123456789012:user/gate\"]\n"
            .into(),
        ..Default::default()
    })
    .await;
    let limits = Limits {
        daily_requests: Some(4),
        ..Default::default()
    };
    let bob = gate.user_with_limits("bob", "research", limits).await;
    gate.ops
        .link_iam(&actor(), "bob", IamPrincipalKind::IamUser, "bob-iam")
        .await
        .unwrap();
    let api = Api::new(&gate, "eventbridge").await;
    let linked = api
        .call(
            "POST",
            "/api/v1/users/bob/iam-links",
            Some(json!({"principal": "bob-*", "kind": "role_session"})),
        )
        .await;
    assert_eq!(linked.status, 201, "{}", linked.text);
    assert_eq!(linked.json().as_array().unwrap().len(), 2);
    let taken = api
        .call(
            "POST",
            "/api/v1/users/bob/iam-links",
            Some(json!({"principal": "bob-iam"})),
        )
        .await;
    assert_eq!(taken.status, 409, "{}", taken.text);
    let bad = api
        .call(
            "POST",
            "/api/v1/users/bob/iam-links",
            Some(json!({"principal": "no spaces"})),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    let now = Utc::now();
    let one = envelope(record("e-1", "bob-iam", now, None));
    let first = api
        .call("POST", "/api/v1/cloudtrail/events", Some(one.clone()))
        .await;
    assert_eq!(first.status, 202, "{}", first.text);
    assert_eq!(first.json()["counted"], 1);
    let again = api
        .call("POST", "/api/v1/cloudtrail/events", Some(one))
        .await;
    assert_eq!(again.status, 202);
    assert_eq!(
        (
            again.json()["counted"].clone(),
            again.json()["duplicates"].clone()
        ),
        (json!(0), json!(1))
    );

    // A batch: an assumed-role session, a call of yesterday, the proxy's own call, and
    // another service's event.
    let mut session = record("e-2", "x", now, None);
    session["userIdentity"] = json!({"type": "AssumedRole",
        "arn": "arn:aws:sts::123456789012:assumed-role/Dev/bob-laptop",
        "sessionContext": {"sessionIssuer": {"type": "Role",
            "arn": "arn:aws:iam::123456789012:role/Dev"}}});
    let yesterday = now - chrono::Duration::days(1);
    let s3 = json!({"eventID": "e-5", "eventSource": "s3.amazonaws.com", "eventName": "GetObject"});
    let batch = json!([
        envelope(session),
        record("e-3", "bob-iam", yesterday, None),
        envelope(record("e-4", "gate", now, None)),
        envelope(s3),
    ]);
    let answer = api
        .call("POST", "/api/v1/cloudtrail/events", Some(batch))
        .await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    let c = answer.json();
    assert_eq!(
        (
            c["records"].clone(),
            c["counted"].clone(),
            c["ignored"].clone()
        ),
        (json!(4), json!(2), json!(2)),
        "{c}"
    );

    // Today: e-1 and e-2 at 0.25 USD each; yesterday's call is on its own day.
    let info = serde_json::to_value(gate.ops.user_info("bob").await.unwrap()).unwrap();
    assert_eq!(info["usage"]["day"]["requests"], 2, "{info}");
    assert_eq!(info["usage"]["day"]["cost_usd"], 0.5, "{info}");
    let records = gate.store.requests(&UsageFilter::default()).await.unwrap();
    assert_eq!(records.len(), 3);
    assert!(records
        .iter()
        .all(|r| r.usage_source.to_string() == "cloudtrail"));
    assert!(records
        .iter()
        .any(|r| r.created_at == yesterday.timestamp_millis()));

    // Two direct calls today leave two of four for the proxy.
    for expected in [200, 200, 400] {
        let (status, _) = converse(&gate.url, &bob.key.bearer_token).await;
        assert_eq!(status, expected);
    }
    gate.stop().await;
}
