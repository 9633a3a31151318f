//! Running real client programs from tests: with a deadline (the whole process group
//! killed when it passes), output captured, a clean AWS environment; a missing client
//! is a skip, unless `GATE_TEST_REQUIRE_CLIENTS=1` (CI) makes it a failure. Claude Code
//! (tests/js) is started and its runs checked here for every test that uses it.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::process::Command;

/// How long one client run may take before it is killed.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

/// Whether missing clients fail the test (`GATE_TEST_REQUIRE_CLIENTS=1`, CI).
pub fn clients_required() -> bool {
    std::env::var("GATE_TEST_REQUIRE_CLIENTS").as_deref() == Ok("1")
}

/// Reports a missing client: a skip, or a failure when clients are required.
pub fn missing(what: &str) {
    assert!(
        !clients_required(),
        "GATE_TEST_REQUIRE_CLIENTS=1 but {what}"
    );
    super::skips::skipped(what);
}

/// Runs a command to completion (stdin closed, output captured); kills its whole
/// process group and fails, showing what it printed, if it takes longer than
/// [`CLIENT_TIMEOUT`].
pub async fn run(cmd: Command, what: &str) -> Output {
    run_for(cmd, what, CLIENT_TIMEOUT).await
}

/// [`run`] with its own deadline.
pub async fn run_for(mut cmd: Command, what: &str, timeout: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let collect = |pipe: Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>| {
        tokio::spawn(async move {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = tokio::io::AsyncReadExt::read_to_end(&mut pipe, &mut buf).await;
            }
            buf
        })
    };
    let stdout = collect(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = collect(child.stderr.take().map(|p| Box::new(p) as _));
    let status = tokio::time::timeout(timeout, child.wait()).await;
    let timed_out = status.is_err();
    if timed_out {
        if let Some(pid) = child.id() {
            // The group this test started (`process_group(0)`: its id is the pid).
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        }
        let _ = child.kill().await;
    }
    let out = Output {
        status: match status {
            Ok(s) => s.unwrap_or_else(|e| panic!("{what}: {e}")),
            Err(_) => child.wait().await.unwrap(),
        },
        stdout: stdout.await.unwrap(),
        stderr: stderr.await.unwrap(),
    };
    assert!(
        !timed_out,
        "{what} did not finish within {timeout:?}; killed. {}",
        show(&out)
    );
    out
}

/// Whether `program args...` runs and exits 0 (its output discarded).
async fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Removes inherited AWS, Anthropic and Claude Code settings from a child's environment.
pub fn clean_env(cmd: &mut Command) {
    for (name, _) in std::env::vars_os() {
        let upper = name.to_string_lossy().to_ascii_uppercase();
        if upper.starts_with("AWS_")
            || upper.starts_with("ANTHROPIC_")
            || upper.starts_with("CLAUDE_")
        {
            cmd.env_remove(&name);
        }
    }
}

/// A finished client's exit code and output, for failure messages.
pub fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Whether `python3 -c CODE` succeeds.
pub async fn python_ok(code: &str) -> bool {
    succeeds("python3", &["-c", code]).await
}

/// Whether `node --version` runs.
pub async fn node_available() -> bool {
    succeeds("node", &["--version"]).await
}

/// `tests/js/node_modules/@anthropic-ai/claude-code/cli-wrapper.cjs`, if installed.
pub fn claude_code_wrapper() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/js/node_modules/@anthropic-ai/claude-code/cli-wrapper.cjs");
    path.is_file().then_some(path)
}

/// The Claude Code wrapper when it and node are installed; otherwise reports it
/// missing (a skip, or a failure when clients are required) and returns `None`.
pub async fn claude_code_installed() -> Option<PathBuf> {
    let Some(wrapper) = claude_code_wrapper() else {
        missing("Claude Code is not installed (npm ci --prefix tests/js)");
        return None;
    };
    if !node_available().await {
        missing("node is not installed");
        return None;
    }
    Some(wrapper)
}

/// `claude -p "Say hello"` through the Node wrapper, on Bedrock behind the proxy at
/// `base_url`, with `home` as a fresh HOME and working directory, nothing inherited
/// from this environment, and no telemetry or update checks. The caller adds the
/// credentials.
pub fn claude_code_command(wrapper: &Path, base_url: &str, home: &Path) -> Command {
    let mut cmd = Command::new("node");
    cmd.arg(wrapper).args(["-p", "Say hello"]);
    clean_env(&mut cmd);
    cmd.current_dir(home)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("CLAUDE_CODE_USE_BEDROCK", "1")
        .env("ANTHROPIC_BEDROCK_BASE_URL", base_url)
        .env("AWS_REGION", super::REGION)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1");
    cmd
}

/// Whether Claude Code may send this upstream: the Bedrock runtime's Anthropic
/// operations, and `ListInferenceProfiles` (`GET /inference-profiles`, a Bedrock
/// control-plane call its AWS SDK sends to the same base URL).
pub fn claude_code_call(method: &str, path: &str) -> bool {
    let model_op = method == "POST"
        && path.starts_with("/model/")
        && (path.ends_with("/invoke") || path.ends_with("/invoke-with-response-stream"));
    let profiles = method == "GET" && path.starts_with("/inference-profiles");
    model_op || profiles
}

/// Checks one Claude Code run: it printed the fake answer, and its model calls went
/// upstream, ending with a streamed one.
pub fn assert_claude_code_run(
    label: &str,
    out: &Output,
    calls: &[super::upstream::ReceivedRequest],
) {
    assert!(out.status.success(), "{label} run: {}", show(out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(super::upstream::RESPONSE_TEXT),
        "{label} run: {}",
        show(out)
    );
    for r in calls {
        assert!(
            claude_code_call(&r.method, &r.path),
            "{label} run: unexpected upstream call {} {}",
            r.method,
            r.path
        );
    }
    assert!(
        calls
            .iter()
            .any(|r| r.path.ends_with("/invoke-with-response-stream")),
        "{label} run streamed nothing: {:?}",
        calls.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
}
