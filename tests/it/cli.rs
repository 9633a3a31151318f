//! The real binary: the command line's outputs and exit codes, configuration errors, and
//! `serve` stopped by SIGTERM in the middle of a stream.

use crate::common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_bedrock-gate");

fn write_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("gate.toml");
    let text = format!(
        "[database]\nurl = \"sqlite://{}?mode=rwc\"\n{extra}",
        dir.join("gate.db").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn gate(config: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("BEDROCK_GATE_CONFIG")
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not one JSON document ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn directory_commands_print_json_and_text() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let team = json(&gate(
        &cfg,
        &[
            "--output",
            "json",
            "group",
            "create",
            "research",
            "--daily-budget-usd",
            "12.5",
        ],
    ));
    assert_eq!(team["limits"]["daily_budget_usd"], 12.5);
    let user = json(&gate(
        &cfg,
        &[
            "user",
            "create",
            "alice",
            "Alice Doe",
            "research",
            "--email",
            "a@example.com",
            "--language",
            "es",
            "--monthly-requests",
            "unlimited",
            "--output",
            "json",
        ],
    ));
    assert_eq!(
        user["limits"]["daily_requests"], 350,
        "default from quota.*"
    );
    assert_eq!(user["limits"]["monthly_requests"], Value::Null);
    let key = json(&gate(
        &cfg,
        &[
            "user",
            "create-key",
            "alice",
            "claude-code",
            "--output",
            "json",
        ],
    ));
    let akid = key["access_key_id"].as_str().unwrap().to_string();
    assert!(akid.starts_with("BG") && akid.len() == 20);
    assert_eq!(key["secret_access_key"].as_str().unwrap().len(), 40);
    assert!(key["bearer_token"]
        .as_str()
        .unwrap()
        .starts_with("bedrock-api-key-"));

    // The secret is stored encrypted and the token only as a hash.
    let db = std::fs::read(dir.path().join("gate.db")).unwrap_or_default();
    let wal = std::fs::read(dir.path().join("gate.db-wal")).unwrap_or_default();
    for secret in [
        key["secret_access_key"].as_str().unwrap(),
        key["bearer_token"].as_str().unwrap(),
    ] {
        for bytes in [&db, &wal] {
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("gate.db.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let info = json(&gate(&cfg, &["user", "info", "alice", "--output", "json"]));
    for field in [
        "username",
        "person",
        "team",
        "email",
        "limits",
        "usage",
        "blocked",
        "blocked_reason",
        "blocked_until",
        "administrative_safe",
        "keys",
    ] {
        assert!(info.get(field).is_some(), "user info has {field}");
    }
    assert_eq!(info["usage"]["day"]["requests"], 0);
    assert_eq!(info["keys"][0]["access_key_id"], akid.as_str());
    assert_eq!(info["keys"][0]["status"], "active");

    let text = gate(&cfg, &["key", "list", "--user", "alice"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains(&akid));
    json(&gate(&cfg, &["key", "revoke", &akid, "--output", "json"]));
    let keys = json(&gate(&cfg, &["key", "list", "--output", "json"]));
    assert_eq!(keys[0]["status"], "revoked");

    let price = json(&gate(
        &cfg,
        &[
            "pricing",
            "set",
            "eu.anthropic.claude-x-v1:0",
            "0.5",
            "2.5",
            "--output",
            "json",
        ],
    ));
    assert_eq!(
        price["model_id"], "anthropic.claude-x-v1:0",
        "stored under the bare id"
    );
    let prices = json(&gate(&cfg, &["pricing", "list", "--output", "json"]));
    assert!(prices
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["model_id"] == "anthropic.claude-x-v1:0"));

    let usage = json(&gate(
        &cfg,
        &["usage", "--user", "alice", "--output", "json"],
    ));
    assert_eq!(usage["totals"]["requests"], 0);
    let csv = gate(&cfg, &["usage", "--format", "csv"]);
    assert!(String::from_utf8_lossy(&csv.stdout).starts_with("time,username,team"));

    let users = json(&gate(
        &cfg,
        &["user", "list", "--team", "research", "--output", "json"],
    ));
    assert_eq!(users.as_array().unwrap().len(), 1);
    json(&gate(
        &cfg,
        &["user", "delete", "alice", "--output", "json"],
    ));
    json(&gate(
        &cfg,
        &["team", "delete", "research", "--output", "json"],
    ));
}

#[test]
fn errors_are_one_sentence_with_the_right_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let out = gate(&cfg, &["user", "create", "bob", "Bob", "nosuchteam"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("team `nosuchteam` not found"), "{err}");

    let out = gate(&cfg, &["user", "frobnicate"]);
    assert_eq!(out.status.code(), Some(2), "usage error");
    let out = gate(&cfg, &["team", "create", "t", "--daily-requests", "-5"]);
    assert_eq!(out.status.code(), Some(2));
    let out = gate(&cfg, &["usage", "--from", "yesterday"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a bad flag value is a usage error"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--from"));

    let bad_dir = tempfile::tempdir().unwrap();
    let bad = write_config(bad_dir.path(), "[proxy]\nlisten = \"nowhere\"\n");
    let out = gate(&bad, &["migrate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("proxy.listen"));
    let out = Command::new(BIN)
        .args(["--config", "/nonexistent/gate.toml", "migrate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/gate.toml"));
    let out = Command::new(BIN)
        .args(["--config"])
        .arg(&cfg)
        .arg("migrate")
        .env("BEDROCK_GATE_QUOTA__WARNING_PERCENT", "250")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("quota.warning_percent"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_a_stream_finishes_the_stream_and_loses_no_record() {
    let mut ucfg = common::upstream::UpstreamConfig::new(
        common::UPSTREAM_KEY_ID,
        common::UPSTREAM_SECRET,
        common::REGION,
    );
    ucfg.event_delay = Duration::from_millis(150);
    let upstream = common::upstream::FakeUpstream::start(ucfg).await;
    let dir = tempfile::tempdir().unwrap();
    let (proxy_port, admin_port) = (common::local::free_port(), common::local::free_port());
    let cfg = write_config(
        dir.path(),
        &format!(
            "[proxy]\nlisten = \"127.0.0.1:{proxy_port}\"\n[admin]\nlisten = \"127.0.0.1:{admin_port}\"\n\
             [upstream]\nregion = \"{}\"\nendpoint = \"{}\"\n",
            common::REGION,
            upstream.url()
        ),
    );
    json(&gate(&cfg, &["team", "create", "t", "--output", "json"]));
    json(&gate(
        &cfg,
        &["user", "create", "alice", "Alice", "t", "--output", "json"],
    ));
    let key = json(&gate(
        &cfg,
        &["user", "create-key", "alice", "cli", "--output", "json"],
    ));
    let token = key["bearer_token"].as_str().unwrap().to_string();

    let child = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .arg("serve")
        .env("AWS_ACCESS_KEY_ID", common::UPSTREAM_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", common::UPSTREAM_SECRET)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let admin = format!("http://127.0.0.1:{admin_port}/readyz");
    let mut ready = false;
    for _ in 0..200 {
        if let Ok((200, _)) = common::http_get(&admin).await {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "serve became ready");

    let url = format!("http://127.0.0.1:{proxy_port}/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream");
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let req = http::Request::post(url)
        .header("authorization", format!("Bearer {token}"))
        .body(http_body_util::Full::new(bytes::Bytes::from_static(b"{}")))
        .unwrap();
    // The response head has arrived: the stream is in flight (events follow 150 ms apart).
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let reader = tokio::spawn(async move {
        http_body_util::BodyExt::collect(resp.into_body())
            .await
            .map(|c| c.to_bytes())
    });
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let bytes = reader
        .await
        .unwrap()
        .expect("stream completed after SIGTERM");
    assert_eq!(
        common::upstream::decode_event_stream(&bytes).unwrap().len(),
        6
    );
    let status = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(
        status.status.success(),
        "exit 0: {}",
        String::from_utf8_lossy(&status.stderr)
    );

    let usage = json(&gate(&cfg, &["usage", "--output", "json"]));
    assert_eq!(usage["totals"]["requests"], 1);
    assert_eq!(usage["totals"]["output_tokens"], 45);
    assert_eq!(usage["records"][0]["usage_source"], "reported");
    assert!(usage["records"][0]["created_at_rfc3339"].is_string());
    let info = json(&gate(&cfg, &["user", "info", "alice", "--output", "json"]));
    assert_eq!(info["usage"]["day"]["requests"], 1);
}
