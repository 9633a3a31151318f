//! The developer's side of sign-in against a real OpenID provider (npm `oidc-provider`,
//! tests/js/oidc-provider.mjs, with device flow and a scripted user): the real binary's
//! `bedrock-gate login` (HOME in a temp dir) is approved through the provider's own
//! device pages, writes the AWS profile, and boto3 and the AWS CLI with `AWS_PROFILE`
//! call through the proxy as the signed-in user in the team their group maps to. A key
//! past its expiry is refused; the next call, after `credential_process` refreshed with
//! the stored refresh token, succeeds. A denied code, an expired code and a revoked
//! refresh token each fail with a clear message and change nothing.
//!
//! A missing node, `oidc-provider` or boto3 is a skip, unless
//! `GATE_TEST_REQUIRE_CLIENTS=1`.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::clients::{clean_env, missing, node_available, python_ok, run, show};
use common::local::error_type;
use common::{Engine, Gate, GateOptions};
use serde_json::Value;
use tokio::io::AsyncBufReadExt;
use tokio::process::Command;

const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const BIN: &str = env!("CARGO_BIN_EXE_bedrock-gate");

struct Provider {
    _child: tokio::process::Child,
    issuer: String,
}

async fn provider() -> Option<Provider> {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    if !js.join("node_modules/oidc-provider/package.json").is_file() {
        missing("oidc-provider is not installed (npm ci --prefix tests/js)");
        return None;
    }
    if !node_available().await {
        missing("node is not installed");
        return None;
    }
    let mut child = Command::new("node")
        .arg(js.join("oidc-provider.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(out).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the provider did not start within 30 s")
        .unwrap()
        .expect("the provider printed nothing");
    let v: Value = serde_json::from_str(&line).unwrap();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Some(Provider {
        _child: child,
        issuer: v["issuer"].as_str().unwrap().to_string(),
    })
}

impl Provider {
    async fn script(&self, path: &str) -> String {
        let (status, body) = common::http_get(&format!("{}{path}", self.issuer))
            .await
            .unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        body
    }
}

async fn start(issuer: &str, ttl: &str) -> Gate {
    let gate = Gate::start(GateOptions {
        extra_config: format!(
            "[oidc]\ncredential_ttl = \"{ttl}\"\nclock_skew = \"0s\"\n\
             [oidc.teams]\n\"ml-devs\" = \"ml\"\n\"data-devs\" = \"data\"\n\
             [[oidc.issuer]]\nname = \"corp\"\nissuer = \"{issuer}\"\nclient_id = \"gate-cli\"\n"
        ),
        engine: Engine::Sqlite,
        ..Default::default()
    })
    .await;
    for team in ["ml", "data"] {
        gate.ops
            .create_team(
                &bedrock_gate::domain::Actor::api("test"),
                team,
                &Default::default(),
            )
            .await
            .unwrap();
    }
    gate
}

/// The binary with HOME in `home` and no inherited AWS or XDG settings.
fn gate_cmd(home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    clean_env(&mut cmd);
    cmd.args(args)
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("BEDROCK_GATE_CONFIG");
    cmd
}

/// A running `login`: the user code it printed, and the process.
struct Login {
    child: tokio::process::Child,
    code: String,
    stderr: Vec<String>,
    rest: tokio::task::JoinHandle<Vec<String>>,
}

async fn start_login(home: &Path, server: &str, extra: &[&str]) -> Login {
    let mut args = vec!["login", "--server", server];
    args.extend_from_slice(extra);
    let mut child = gate_cmd(home, &args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let code = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("login printed no code within 30 s")
            .unwrap()
            .unwrap_or_else(|| panic!("login ended without a code: {seen:?}"));
        seen.push(line.clone());
        if let Some(rest) = line.split("enter the code ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let rest = tokio::spawn(async move {
        let mut more = Vec::new();
        while let Ok(Some(l)) = lines.next_line().await {
            more.push(l);
        }
        more
    });
    Login {
        child,
        code,
        stderr: seen,
        rest,
    }
}

/// Waits for `login` to end; exit status, stdout, stderr.
async fn finish(mut login: Login) -> (bool, String, String) {
    let mut stdout = login.child.stdout.take().unwrap();
    let status = tokio::time::timeout(Duration::from_secs(60), login.child.wait())
        .await
        .expect("login did not end within 60 s")
        .unwrap();
    let mut out = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stdout, &mut out)
        .await
        .unwrap();
    login.stderr.extend(login.rest.await.unwrap());
    (
        status.success(),
        String::from_utf8_lossy(&out).into_owned(),
        login.stderr.join("\n"),
    )
}

fn sessions(home: &Path) -> PathBuf {
    home.join(".config/bedrock-gate/sessions")
}

fn session_files(home: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(sessions(home)) {
        Ok(d) => d.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

fn stored(home: &Path) -> Value {
    let files = session_files(home);
    assert_eq!(files.len(), 1, "{files:?}");
    serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap()
}

/// boto3 Converse through the proxy with `AWS_PROFILE=profile`.
async fn boto3_converse(home: &Path, url: &str, profile: &str) -> std::process::Output {
    let mut cmd = Command::new("python3");
    clean_env(&mut cmd);
    cmd.arg("-c")
        .arg(format!(
            "import boto3\n\
             c = boto3.client('bedrock-runtime', endpoint_url='{url}')\n\
             r = c.converse(modelId='{MODEL}', messages=[{{'role': 'user', 'content': [{{'text': 'hi'}}]}}])\n\
             print(r['usage']['inputTokens'])\n"
        ))
        .env("HOME", home)
        .env("AWS_PROFILE", profile)
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    run(cmd, "boto3 converse").await
}

#[tokio::test]
async fn login_writes_a_profile_that_boto3_and_the_aws_cli_use_across_key_expiry() {
    let Some(op) = provider().await else { return };
    if !python_ok("import boto3").await {
        missing("python3 with boto3 is not available");
        return;
    }
    let gate = start(&op.issuer, "3s").await;
    let home = tempfile::tempdir().unwrap();
    let login = start_login(
        home.path(),
        &gate.url,
        &["--aws-profile", "gate", "--region", common::REGION],
    )
    .await;
    assert_eq!(
        op.script(&format!(
            "/test/device-approve?user_code={}&user=alice",
            login.code
        ))
        .await,
        "approved"
    );
    let (ok, stdout, stderr) = finish(login).await;
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("alice@corp.example") && stdout.contains("team ml"),
        "{stdout}"
    );
    assert!(stderr.contains("credential_process"), "{stderr}");

    // Owner-only storage; the refresh token is kept; nothing secret was printed.
    let entry = stored(home.path());
    let refresh = entry["refresh_token"].as_str().unwrap().to_string();
    let secret = entry["key"]["secret_access_key"]
        .as_str()
        .unwrap()
        .to_string();
    for text in [&stdout, &stderr] {
        assert!(
            !text.contains(&refresh) && !text.contains(&secret),
            "{text}"
        );
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&sessions(home.path())), 0o700);
        assert_eq!(mode(&home.path().join(".config/bedrock-gate")), 0o700);
        assert_eq!(mode(&session_files(home.path())[0]), 0o600);
    }
    let config = std::fs::read_to_string(home.path().join(".aws/config")).unwrap();
    assert_eq!(
        config,
        format!(
            "[profile gate]\ncredential_process = {} credentials --server {}\nregion = {}\n",
            std::fs::canonicalize(BIN).unwrap().display(),
            gate.url,
            common::REGION
        )
    );

    // boto3 with AWS_PROFILE: recorded for alice in `ml`.
    let out = boto3_converse(home.path(), &gate.url, "gate").await;
    assert!(out.status.success(), "{}", show(&out));
    let records = gate.records(1).await;
    assert_eq!(records[0].username, "alice@corp.example");
    assert_eq!(records[0].team, "ml");

    // The key login stored is refused once past its expiry...
    let old_bearer = entry["key"]["bearer_token"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, r) = common::converse(&gate.url, &old_bearer).await;
        if status == 403 {
            assert_eq!(error_type(&r), "ExpiredTokenException");
            break;
        }
        assert!(Instant::now() < deadline, "the key never expired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // ... and the next call through the profile succeeds with a refreshed key.
    let out = boto3_converse(home.path(), &gate.url, "gate").await;
    assert!(out.status.success(), "{}", show(&out));
    let records = gate.records(2).await;
    let old_id = entry["key"]["access_key_id"].as_str().unwrap();
    assert!(records.iter().all(|r| r.username == "alice@corp.example"));
    assert!(
        records.iter().any(|r| r.access_key_id != old_id),
        "a refreshed key made the call after the expiry"
    );

    // The AWS CLI with the same profile.
    if python_ok("import awscli").await {
        let mut cmd = Command::new("python3");
        clean_env(&mut cmd);
        cmd.args([
            "-m",
            "awscli",
            "bedrock-runtime",
            "converse",
            "--endpoint-url",
        ])
        .arg(&gate.url)
        .args(["--model-id", MODEL, "--output", "json", "--messages"])
        .arg(r#"[{"role":"user","content":[{"text":"hi"}]}]"#)
        .env("HOME", home.path())
        .env("AWS_PROFILE", "gate")
        .env("AWS_PAGER", "")
        .env("AWS_MAX_ATTEMPTS", "1");
        let out = run(cmd, "aws bedrock-runtime converse").await;
        assert!(out.status.success(), "{}", show(&out));
        let records = gate.records(3).await;
        assert!(records
            .iter()
            .all(|r| r.username == "alice@corp.example" && r.team == "ml"));
    } else {
        missing("the AWS CLI v1 (python module awscli) is not installed");
    }

    // `credentials --bearer` and `--format claude`.
    let out = run(
        gate_cmd(
            home.path(),
            &["credentials", "--server", &gate.url, "--bearer"],
        ),
        "credentials --bearer",
    )
    .await;
    assert!(out.status.success(), "{}", show(&out));
    let bearer = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(!bearer.is_empty() && !bearer.contains('{'));
    gate.wait_key_known(&bearer, true).await;
    let (status, _) = common::converse(&gate.url, &bearer).await;
    assert_eq!(status, 200);
    let out = run(
        gate_cmd(
            home.path(),
            &["credentials", "--server", &gate.url, "--format", "claude"],
        ),
        "credentials --format claude",
    )
    .await;
    assert!(out.status.success(), "{}", show(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["Credentials"]["AccessKeyId"].is_string(), "{doc}");
    assert!(doc["Credentials"]["SecretAccessKey"].is_string(), "{doc}");

    // logout forgets the session and revokes the refresh token at the provider.
    let current = stored(home.path())["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let out = run(
        gate_cmd(home.path(), &["logout", "--server", &gate.url]),
        "logout",
    )
    .await;
    assert!(out.status.success(), "{}", show(&out));
    assert!(session_files(home.path()).is_empty());
    assert_refresh_refused(&op, &current).await;
    let out = run(
        gate_cmd(home.path(), &["credentials", "--server", &gate.url]),
        "credentials after logout",
    )
    .await;
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    gate.stop().await;
}

/// The provider refuses `refresh_token` (revoked).
async fn assert_refresh_refused(op: &Provider, refresh_token: &str) {
    let (status, r) = common::raw_post(
        &format!("{}/token", op.issuer),
        &[("content-type", "application/x-www-form-urlencoded")],
        format!("grant_type=refresh_token&client_id=gate-cli&refresh_token={refresh_token}")
            .as_bytes(),
    )
    .await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(r.body()));
    assert!(String::from_utf8_lossy(r.body()).contains("invalid_grant"));
}

#[tokio::test]
async fn denied_expired_and_revoked_sign_ins_fail_clearly_and_change_nothing() {
    let Some(op) = provider().await else { return };
    let gate = start(&op.issuer, "3s").await;
    let home = tempfile::tempdir().unwrap();
    let profile = ["--aws-profile", "gate"];

    // Denied at the provider's confirmation page.
    let login = start_login(home.path(), &gate.url, &profile).await;
    let code = login.code.clone();
    assert!(op
        .script(&format!("/test/device-deny?user_code={code}"))
        .await
        .starts_with("aborted"));
    let (ok, _, stderr) = finish(login).await;
    assert!(!ok);
    assert!(stderr.contains("denied"), "{stderr}");
    assert!(session_files(home.path()).is_empty());
    assert!(!home.path().join(".aws/config").exists());
    assert!(gate.ops.user_info("alice@corp.example").await.is_err());

    // Expired before anyone approved it.
    op.script("/test/device-ttl?secs=1").await;
    let login = start_login(home.path(), &gate.url, &profile).await;
    let (ok, _, stderr) = finish(login).await;
    op.script("/test/device-ttl?secs=600").await;
    assert!(!ok);
    assert!(stderr.contains("expired"), "{stderr}");
    assert!(session_files(home.path()).is_empty());
    assert!(!home.path().join(".aws/config").exists());

    // Signed in as carol (data-devs -> data), then the refresh token is revoked at the
    // provider: the next `credentials` says to log in again and changes nothing.
    let login = start_login(home.path(), &gate.url, &[]).await;
    op.script(&format!(
        "/test/device-approve?user_code={}&user=carol",
        login.code
    ))
    .await;
    let (ok, stdout, stderr) = finish(login).await;
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("team data"), "{stdout}");
    let before = std::fs::read(&session_files(home.path())[0]).unwrap();
    let refresh = stored(home.path())["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = common::raw_post(
        &format!("{}/token/revocation", op.issuer),
        &[("content-type", "application/x-www-form-urlencoded")],
        format!("client_id=gate-cli&token_type_hint=refresh_token&token={refresh}").as_bytes(),
    )
    .await;
    assert_eq!(status, 200);
    let out = run(
        gate_cmd(home.path(), &["credentials", "--server", &gate.url]),
        "credentials with a revoked refresh token",
    )
    .await;
    assert!(!out.status.success(), "{}", show(&out));
    assert!(out.stdout.is_empty(), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "run `bedrock-gate login --server {}` again",
            gate.url
        )),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&session_files(home.path())[0]).unwrap(),
        before
    );
    gate.stop().await;
}
