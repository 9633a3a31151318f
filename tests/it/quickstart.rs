//! The README's quick start, run as written: its blocks (marked
//! `<!-- quickstart:NAME -->`) are taken from README.md and run with bash, python3 and
//! node in a clean temporary directory, with the real binary on PATH, the AWS CLI and
//! boto3 as installed (tests/python/requirements.txt pins current versions), the AWS SDK
//! for JavaScript from tests/js (as if installed with npm in that directory), against the
//! fake Bedrock upstream. Only what a reader's machine provides differs: the upstream
//! endpoint and the proxy's own AWS credentials, and free ports in place of 8080/8081
//! (other tests run at the same time).
//!
//! A missing client (python3 with boto3, the AWS CLI, jq, node with the SDK) is a skip,
//! unless
//! `GATE_TEST_REQUIRE_CLIENTS=1` (CI), which makes it a failure.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bedrock_gate::config::raw::RawConfig;
use bedrock_gate::config::Config;
use bedrock_gate::store::{RequestRecord, Store, UsageFilter};
use common::local::{free_port, show};
use common::upstream::RESPONSE_TEXT;

const BIN: &str = env!("CARGO_BIN_EXE_bedrock-gate");
/// How long the proxy may take to become ready, and the records to be written.
const WAIT: Duration = Duration::from_secs(60);

/// The fenced block that follows `<!-- quickstart:NAME -->` in README.md.
fn block(readme: &str, name: &str) -> String {
    let marker = format!("<!-- quickstart:{name} -->");
    let after = readme
        .split_once(&marker)
        .unwrap_or_else(|| panic!("README.md has no {marker}"))
        .1;
    let fence_start = after.find("```").expect("a fenced block after the marker");
    let body = &after[fence_start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    let end = body.find("\n```").expect("the block's closing fence");
    body[..end].to_string()
}

/// The AWS SDK for JavaScript as `npm ci --prefix tests/js` installs it.
fn js_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/js/node_modules/@aws-sdk/client-bedrock-runtime")
}

/// Whether `program args` runs and succeeds.
fn works(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `bash -c script` in `dir` with a clean environment: PATH with the binary first, HOME
/// in the temporary directory, no AWS or bedrock-gate settings of this machine.
fn bash(dir: &Path, home: &Path, script: &str, env: &[(&str, String)]) -> Command {
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(script)
        .current_dir(dir)
        .env_clear()
        .env("PATH", path)
        .env("HOME", home)
        .env("LANG", "C.UTF-8")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null());
    cmd
}

/// The proxy started by the quick start's first shell.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        // The shell and `serve` share the process group this test gave them.
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

/// Waits until `n` records are stored in `db` and returns them.
async fn records(db: &Path, n: usize) -> Vec<RequestRecord> {
    let text = format!("[database]\nurl = \"sqlite://{}\"\n", db.display());
    let config = Config::from_raw(RawConfig::parse(Some(&text), &[]).unwrap()).unwrap();
    let store = Store::connect(&config.database, config.quota.timezone)
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let found = store.requests(&UsageFilter::default()).await.unwrap();
        if found.len() >= n || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_readme_quick_start_works_as_written() {
    let missing: Vec<&str> = [
        (
            "python3 with boto3",
            works("python3", &["-c", "import boto3"]),
        ),
        ("the AWS CLI", works("aws", &["--version"])),
        ("jq", works("jq", &["--version"])),
        (
            "node with the AWS SDK for JavaScript (npm ci --prefix tests/js)",
            works("node", &["--version"]) && js_sdk().is_dir(),
        ),
    ]
    .into_iter()
    .filter(|(_, ok)| !ok)
    .map(|(what, _)| what)
    .collect();
    if !missing.is_empty() {
        assert!(
            std::env::var("GATE_TEST_REQUIRE_CLIENTS").as_deref() != Ok("1"),
            "GATE_TEST_REQUIRE_CLIENTS=1 but missing: {missing:?}"
        );
        common::skips::skipped(&format!(
            "the quick start's clients are missing: {} (pip install -r \
             tests/python/requirements.txt; npm ci --prefix tests/js)",
            missing.join(", ")
        ));
        return;
    }
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let (serve_block, admin, sigv4, python, bearer, js) = (
        block(&readme, "serve"),
        block(&readme, "admin"),
        block(&readme, "sigv4"),
        block(&readme, "python"),
        block(&readme, "bearer"),
        block(&readme, "js"),
    );
    assert!(
        sigv4.contains("https://127.0.0.1:8080"),
        "the clients use the default address, replaced below: {sigv4}"
    );

    let upstream = common::fake_upstream().await;
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let (proxy_port, admin_port) = (free_port(), free_port());

    // The first shell: what the reader's machine provides (the proxy's own AWS
    // credentials; here the fake Bedrock's), plus the ports.
    let mut first = bash(
        tmp.path(),
        &home,
        &format!("set -e\n{serve_block}"),
        &[
            ("AWS_ACCESS_KEY_ID", common::UPSTREAM_KEY_ID.to_string()),
            ("AWS_SECRET_ACCESS_KEY", common::UPSTREAM_SECRET.to_string()),
            ("BEDROCK_GATE_UPSTREAM__ENDPOINT", upstream.url()),
            (
                "BEDROCK_GATE_PROXY__LISTEN",
                format!("127.0.0.1:{proxy_port}"),
            ),
            (
                "BEDROCK_GATE_ADMIN__LISTEN",
                format!("127.0.0.1:{admin_port}"),
            ),
        ],
    );
    std::os::unix::process::CommandExt::process_group(&mut first, 0);
    let log_path = tmp.path().join("serve.log");
    let serve = Serve(
        first
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let deadline = Instant::now() + WAIT;
    let readyz = format!("http://127.0.0.1:{admin_port}/readyz");
    while !matches!(common::http_get(&readyz).await, Ok((200, _))) {
        assert!(
            Instant::now() < deadline,
            "serve did not become ready; it logged:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The JavaScript example imports the SDK from the directory it runs in, where a
    // reader would have run `npm install @aws-sdk/client-bedrock-runtime`.
    std::os::unix::fs::symlink(
        js_sdk().parent().unwrap().parent().unwrap(),
        tmp.path().join("gate-trial/node_modules"),
    )
    .unwrap();

    // The second shell: the admin block, then the clients, each as written (the
    // JavaScript example as README says to run it: hello.mjs in gate-trial, trusting
    // the quick start's CA).
    let python_run = format!("python3 - <<'PY'\n{python}\nPY");
    let js_run =
        format!("cat > hello.mjs <<'JS'\n{js}\nJS\nNODE_EXTRA_CA_CERTS=tls/ca.pem node hello.mjs");
    let script = [
        "set -euo pipefail",
        &admin,
        &sigv4,
        &python_run,
        &js_run,
        &bearer,
        &python_run,
        &js_run,
    ]
    .join("\n")
    .replace("127.0.0.1:8080", &format!("127.0.0.1:{proxy_port}"));
    let out = tokio::task::spawn_blocking({
        let mut cmd = bash(tmp.path(), &home, &script, &[]);
        move || cmd.output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}\n--- serve's log\n{}",
        show(&out),
        log()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.matches(RESPONSE_TEXT).count(),
        6,
        "two AWS CLI, two boto3 and two JavaScript answers: {}",
        show(&out)
    );

    let db: PathBuf = tmp.path().join("gate-trial/bedrock-gate.db");
    let records = records(&db, 6).await;
    assert_eq!(records.len(), 6, "{records:?}");
    for r in &records {
        assert_eq!(
            (r.username.as_str(), r.status_code),
            ("alice", 200),
            "{r:?}"
        );
    }
    let agent = |needle: &str| {
        records
            .iter()
            .filter(|r| r.user_agent.as_deref().unwrap_or("").contains(needle))
            .count()
    };
    assert_eq!(agent("aws-cli/"), 2, "{records:?}");
    assert_eq!(agent("Boto3/"), 2, "{records:?}");
    assert_eq!(agent("aws-sdk-js/"), 2, "{records:?}");
    assert_eq!(upstream.valid_count(), 6);
    drop(serve);
}
