//! CloudTrail ingestion at scale: writes `--records` records (default 1,000,000) as
//! gzip log files of 10,000 records each in the S3 layout under a temporary directory
//! (removed afterwards), 95 % Bedrock runtime calls by 100 linked IAM users (a few
//! failed) and 5 % other events, into a fresh SQLite database, or the empty MySQL or
//! MariaDB database named by `--database-url` (users and team with
//! request limits and budgets, so every counted call debits eight counters); then times
//! `Ops::ingest_log_files` (what `cloudtrail ingest` runs) over the whole tree, and
//! times it again over the same files (every event a duplicate).
//!
//! ```text
//! cargo run --release --example bench-cloudtrail -- [--records N] [--dir PATH] \
//!     [--database-url mysql://root@127.0.0.1:3306/bench_cloudtrail]
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::io::Write;
use std::time::Instant;

use base64::Engine as _;
use bedrock_gate::config::raw::RawConfig;
use bedrock_gate::config::Config;
use bedrock_gate::domain::{Actor, IamPrincipalKind, LimitsUpdate};
use bedrock_gate::ops::users::CreateUser;
use bedrock_gate::ops::Ops;

const PER_FILE: u64 = 10_000;
const USERS: u64 = 100;

fn record(i: u64, base_ms: i64) -> serde_json::Value {
    let at = chrono::DateTime::from_timestamp_millis(base_ms + (i as i64) * 50).unwrap();
    let (source, name) = if i % 20 == 19 {
        ("s3.amazonaws.com", "GetObject")
    } else {
        (
            "bedrock.amazonaws.com",
            ["InvokeModel", "Converse", "ConverseStream"][(i % 3) as usize],
        )
    };
    let user = format!("iam-user-{}", i % USERS);
    let mut r = serde_json::json!({
        "eventVersion": "1.09", "eventID": format!("{i:08x}-5e1f-4c2a-9d1b-bench{i:012}"),
        "eventTime": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "eventSource": source, "eventName": name, "awsRegion": "eu-west-1",
        "sourceIPAddress": "203.0.113.9", "userAgent": "Boto3/1.40.0 md/Botocore#1.40.0 ua/2.1",
        "requestID": format!("req-{i}"), "readOnly": true, "eventType": "AwsApiCall",
        "managementEvent": true, "recipientAccountId": "123456789012",
        "eventCategory": "Management", "tlsDetails": {"tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": "bedrock-runtime.eu-west-1.amazonaws.com"},
        "requestParameters": {"modelId": "eu.anthropic.claude-3-haiku-20240307-v1:0"},
        "responseElements": null,
        "additionalEventData": {"inferenceRegion": "eu-central-1"},
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "userName": user,
            "arn": format!("arn:aws:iam::123456789012:user/{user}"),
            "accountId": "123456789012", "accessKeyId": "AKIAEXAMPLEBENCH0001"}
    });
    if i % 50 == 7 {
        r["errorCode"] = "ThrottlingException".into();
    }
    r
}

#[tokio::main]
async fn main() {
    let mut records: u64 = 1_000_000;
    let mut base: Option<std::path::PathBuf> = None;
    let mut database_url: Option<String> = None;
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--records" => records = v.parse().unwrap(),
            "--dir" => base = Some(v.into()),
            "--database-url" => database_url = Some(v),
            _ => panic!("unknown argument {k}"),
        }
    }
    let tmp = match base {
        Some(b) => tempfile::tempdir_in(b).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let logs = tmp
        .path()
        .join("AWSLogs/123456789012/CloudTrail/eu-west-1/2026/11/20");
    std::fs::create_dir_all(&logs).unwrap();
    let started = Instant::now();
    let base_ms = chrono::Utc::now().timestamp_millis() - (records as i64) * 50;
    let mut bytes = 0u64;
    for f in 0..records.div_ceil(PER_FILE) {
        let lo = f * PER_FILE;
        let hi = (lo + PER_FILE).min(records);
        let list: Vec<serde_json::Value> = (lo..hi).map(|i| record(i, base_ms)).collect();
        let body = serde_json::json!({"Records": list}).to_string();
        bytes += body.len() as u64;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(body.as_bytes()).unwrap();
        let name = format!("123456789012_CloudTrail_eu-west-1_20261120T{f:06}Z_bench.json.gz");
        std::fs::write(logs.join(name), gz.finish().unwrap()).unwrap();
    }
    println!(
        "wrote {records} records ({:.0} MB of JSON) in {:.1} s",
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );

    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let url = database_url.unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            tmp.path().join("bench.db").display()
        )
    });
    let text = format!(
        "[database]\nurl = \"{url}\"\nmaster_key = \"{key}\"\n\
         [quota]\ntimezone = \"Europe/Berlin\"\n[iam]\ndirect_call_usd = 0.01\n"
    );
    let config = Config::from_raw(RawConfig::parse(Some(&text), &[]).unwrap()).unwrap();
    let (ops, _) = Ops::open(&config).await.unwrap();
    let actor = Actor::system("bench");
    // Limits high enough never to block, so that every counted call debits its user's
    // and team's day and month counters and its budgets, as in production.
    let high = LimitsUpdate {
        daily_requests: Some(Some(1_000_000_000)),
        monthly_requests: Some(Some(1_000_000_000)),
        daily_budget_usd: Some(Some(1_000_000.0)),
        monthly_budget_usd: Some(Some(1_000_000.0)),
        ..Default::default()
    };
    ops.create_team(&actor, "bench", &high).await.unwrap();
    for u in 0..USERS {
        let name = format!("user{u}");
        ops.create_user(
            &actor,
            &CreateUser {
                username: name.clone(),
                person_name: name.clone(),
                team: "bench".into(),
                limits: high,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        ops.link_iam(
            &actor,
            &name,
            IamPrincipalKind::IamUser,
            &format!("iam-user-{u}"),
        )
        .await
        .unwrap();
    }
    for pass in ["first pass", "same files again"] {
        let t = Instant::now();
        let report = ops
            .ingest_log_files(&actor, vec![tmp.path().join("AWSLogs")], &mut |_| {})
            .await
            .unwrap();
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{pass}: {} files, {} records in {secs:.1} s ({:.0} records/s): {} counted, {} failed calls, {} duplicates, {} ignored, {} errors",
            report.files,
            report.counts.records,
            report.counts.records as f64 / secs,
            report.counts.counted,
            report.counts.failed_calls,
            report.counts.duplicates,
            report.counts.ignored,
            report.counts.errors
        );
    }
    ops.close().await;
}
