//! The backstop's commands on the real binary: `cloudtrail ingest` (plain and gzip
//! files in a directory tree, a summary, the same files twice counting nothing twice, a
//! truncated file named in the error with the records before its fault kept), IAM links
//! in `user info`, and provisioning against moto's IAM (creates, a re-run changes
//! nothing, `--dry-run` changes nothing).

use crate::common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

use common::moto::Moto;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_bedrock-gate");

fn write_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("gate.toml");
    let text = format!(
        "[database]\nurl = \"sqlite://{}?mode=rwc\"\n[upstream]\nregion = \"eu-west-1\"\n{extra}",
        dir.join("gate.db").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn gate(config: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(&name);
        }
    }
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env_remove("BEDROCK_GATE_CONFIG")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap()
}

async fn local_policies(
    iam: &aws_sdk_iam::Client,
) -> aws_sdk_iam::operation::list_policies::ListPoliciesOutput {
    iam.list_policies()
        .scope(aws_sdk_iam::types::PolicyScopeType::Local)
        .send()
        .await
        .unwrap()
}

fn ok_json(out: &Output) -> Value {
    assert!(out.status.success(), "{}", common::local::show(out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", common::local::show(out)))
}

fn record(id: u32, user: &str) -> Value {
    json!({"eventID": format!("ev-{id}"), "eventTime": "2026-11-20T09:30:00Z",
           "eventSource": "bedrock.amazonaws.com", "eventName": "Converse",
           "awsRegion": "eu-west-1", "sourceIPAddress": "198.51.100.1",
           "requestParameters": {"modelId": "eu.anthropic.claude-3-haiku-20240307-v1:0"},
           "responseElements": null,
           "userIdentity": {"type": "IAMUser", "userName": user,
                            "arn": format!("arn:aws:iam::1:user/{user}")}})
}

fn setup(cfg: &Path) {
    ok_json(&gate(
        cfg,
        &["--output", "json", "team", "create", "research"],
    ));
    ok_json(&gate(
        cfg,
        &[
            "--output",
            "json",
            "user",
            "create",
            "alice",
            "Alice Doe",
            "research",
            "--iam-user",
            "alice-iam",
        ],
    ));
}

#[test]
fn ingest_counts_each_event_once_and_names_a_truncated_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    setup(&cfg);
    let info = ok_json(&gate(&cfg, &["--output", "json", "user", "info", "alice"]));
    assert_eq!(
        info["iam_links"],
        json!([{"kind": "iam_user", "principal": "alice-iam"}])
    );

    // The S3 layout: a gzip file and a plain one, 5 calls of alice and 1 of a stranger.
    let logs = dir
        .path()
        .join("AWSLogs/123456789012/CloudTrail/eu-west-1/2026/11/20");
    std::fs::create_dir_all(&logs).unwrap();
    let body = json!({"Records": [record(1, "alice-iam"), record(2, "alice-iam"), record(3, "alice-iam")]});
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.to_string().as_bytes()).unwrap();
    std::fs::write(logs.join("a.json.gz"), gz.finish().unwrap()).unwrap();
    let body =
        json!({"Records": [record(4, "alice-iam"), record(5, "alice-iam"), record(6, "stranger")]});
    std::fs::write(logs.join("b.json"), body.to_string()).unwrap();
    let root = dir.path().join("AWSLogs");
    let root = root.to_str().unwrap();

    let first = ok_json(&gate(
        &cfg,
        &["--output", "json", "cloudtrail", "ingest", root],
    ));
    assert_eq!(
        (
            &first["files"],
            &first["records"],
            &first["counted"],
            &first["ignored"],
            &first["duplicates"]
        ),
        (&json!(2), &json!(6), &json!(5), &json!(1), &json!(0)),
        "{first}"
    );
    let text = gate(&cfg, &["cloudtrail", "ingest", root]);
    assert!(text.status.success(), "{}", common::local::show(&text));
    let summary = String::from_utf8_lossy(&text.stdout);
    assert!(
        summary.contains("2 files, 6 records: 0 counted") && summary.contains("5 duplicates"),
        "{summary}"
    );
    let usage = ok_json(&gate(
        &cfg,
        &["--output", "json", "usage", "--user", "alice"],
    ));
    assert_eq!(usage["totals"]["requests"], 5, "{usage}");

    // A file cut inside its third record: the first two count, the error names it.
    let body = json!({"Records": [record(7, "alice-iam"), record(8, "alice-iam"), record(9, "alice-iam")]})
        .to_string();
    let cut = body.find("ev-9").unwrap();
    let bad = dir.path().join("cut.json");
    std::fs::write(&bad, &body[..cut]).unwrap();
    let out = gate(
        &cfg,
        &[
            "--output",
            "json",
            "cloudtrail",
            "ingest",
            bad.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", common::local::show(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["counted"], 2, "{report}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cut.json") && stderr.contains("truncated"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let missing = gate(&cfg, &["cloudtrail", "ingest", "/nonexistent/logs"]);
    assert_eq!(
        missing.status.code(),
        Some(2),
        "{}",
        common::local::show(&missing)
    );
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/logs"));

    // Links: add a session pattern, remove it again.
    let links = ok_json(&gate(
        &cfg,
        &[
            "--output",
            "json",
            "user",
            "link-iam",
            "alice",
            "alice-*",
            "--role-session",
        ],
    ));
    assert_eq!(links.as_array().unwrap().len(), 2);
    let taken = gate(&cfg, &["user", "link-iam", "alice", "alice-iam"]);
    assert_eq!(taken.status.code(), Some(1));
    let links = ok_json(&gate(
        &cfg,
        &[
            "--output",
            "json",
            "user",
            "unlink-iam",
            "alice",
            "alice-*",
            "--role-session",
        ],
    ));
    assert_eq!(
        links,
        json!([{"kind": "iam_user", "principal": "alice-iam"}])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn provisioning_creates_then_changes_nothing_and_dry_runs_change_nothing() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "[iam]\nendpoint_url = \"{}\"\nallowed_model_arns = \
         [\"arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-haiku-20240307-v1:0\"]\n",
        moto.url
    );
    let cfg = write_config(dir.path(), &extra);
    ok_json(&gate(
        &cfg,
        &["--output", "json", "team", "create", "research"],
    ));
    ok_json(&gate(
        &cfg,
        &[
            "--output", "json", "user", "create", "bob", "Bob Roe", "research",
        ],
    ));
    let iam = moto.iam();

    let dry = ok_json(&gate(
        &cfg,
        &["--output", "json", "iam", "provision", "bob", "--dry-run"],
    ));
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["changes"].as_array().unwrap().len(), 5, "{dry}");
    assert!(
        iam.get_user().user_name("bob").send().await.is_err(),
        "a dry run created the user"
    );

    let done = ok_json(&gate(
        &cfg,
        &["--output", "json", "iam", "provision", "bob"],
    ));
    assert_eq!(done["changes"].as_array().unwrap().len(), 5, "{done}");
    let tags = iam.list_user_tags().user_name("bob").send().await.unwrap();
    let tags: Vec<(String, String)> = tags
        .tags()
        .iter()
        .map(|t| (t.key().into(), t.value().into()))
        .collect();
    assert!(
        tags.contains(&("team".into(), "research".into())),
        "{tags:?}"
    );
    assert!(
        tags.contains(&("person".into(), "Bob Roe".into())),
        "{tags:?}"
    );
    let groups = iam
        .list_groups_for_user()
        .user_name("bob")
        .send()
        .await
        .unwrap();
    assert_eq!(groups.groups()[0].group_name(), "bedrock-gate-research");

    for args in [
        &["iam", "provision", "bob"][..],
        &["iam", "provision", "bob", "--dry-run"][..],
    ] {
        let mut full = vec!["--output", "json"];
        full.extend_from_slice(args);
        let again = ok_json(&gate(&cfg, &full));
        assert_eq!(again["changes"], json!([]), "{again}");
    }
    let status = ok_json(&gate(&cfg, &["--output", "json", "iam", "status", "bob"]));
    assert_eq!(status["iam_users"][0]["exists"], true, "{status}");
    assert_eq!(status["iam_users"][0]["deny"], false, "{status}");
    assert_eq!(
        status["iam_users"][0]["groups"],
        json!(["bedrock-gate-research"])
    );
    let text = gate(&cfg, &["user", "info", "bob"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("IAM user bob"));

    let dry = ok_json(&gate(
        &cfg,
        &[
            "--output",
            "json",
            "iam",
            "policy",
            "create",
            "GateInvoke",
            "--dry-run",
        ],
    ));
    assert_eq!(dry["changes"].as_array().unwrap().len(), 1);
    let listed = local_policies(&iam).await;
    assert!(listed.policies().is_empty());
    ok_json(&gate(
        &cfg,
        &["--output", "json", "iam", "policy", "create", "GateInvoke"],
    ));
    let again = ok_json(&gate(
        &cfg,
        &["--output", "json", "iam", "policy", "create", "GateInvoke"],
    ));
    assert_eq!(again["changes"], json!([]));

    let no_arns = write_config(
        dir.path(),
        &format!("[iam]\nendpoint_url = \"{}\"\n", moto.url),
    );
    let out = gate(&no_arns, &["iam", "provision", "bob"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("iam.allowed_model_arns"));
}

/// `iam policy create` with a changed document makes a new default version each time;
/// moto enforces AWS's five versions, so from the sixth on the oldest non-default
/// version must go first.
#[tokio::test(flavor = "multi_thread")]
async fn a_managed_policy_keeps_five_versions_dropping_the_oldest() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let iam = moto.iam();
    let profile =
        |n: u32| format!("arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.model-{n}");
    for n in 1..=7u32 {
        let extra = format!(
            "[iam]\nendpoint_url = \"{}\"\nallowed_model_arns = [\"{}\"]\n",
            moto.url,
            profile(n)
        );
        let cfg = write_config(dir.path(), &extra);
        let done = ok_json(&gate(
            &cfg,
            &["--output", "json", "iam", "policy", "create", "GateInvoke"],
        ));
        assert_eq!(
            done["changes"].as_array().unwrap().len(),
            1,
            "run {n}: {done}"
        );
    }
    let listed = local_policies(&iam).await;
    let policy = &listed.policies()[0];
    assert_eq!(policy.default_version_id(), Some("v7"));
    let versions = iam
        .list_policy_versions()
        .policy_arn(policy.arn().unwrap())
        .send()
        .await
        .unwrap();
    let mut ids: Vec<&str> = versions
        .versions()
        .iter()
        .filter_map(|v| v.version_id())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["v3", "v4", "v5", "v6", "v7"]);
    let default = iam
        .get_policy_version()
        .policy_arn(policy.arn().unwrap())
        .version_id("v7")
        .send()
        .await
        .unwrap();
    let document = default.policy_version().unwrap().document().unwrap();
    let decoded = percent_encoding::percent_decode_str(document).decode_utf8_lossy();
    assert!(decoded.contains(&profile(7)), "{decoded}");
}
