//! The real `serve` binary as a child process: started on a configuration file with a
//! clean environment (upstream credentials only from what the test gives), its stderr
//! lines collected for the test to wait on, stopped with SIGTERM (or killed).

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

const BIN: &str = env!("CARGO_BIN_EXE_bedrock-gate");
/// How long the binary may take to log an expected line.
pub const WAIT: Duration = Duration::from_secs(60);

/// Writes `<root>/gate.toml` for `serve`: both listeners on port 0, local state in
/// `state`, the shutdown grace `grace_secs`, the fake upstream at `upstream_url`, the
/// database at `db_url`, the test master key. Returns its path.
pub fn config_file(
    root: &Path,
    state: &Path,
    grace_secs: u64,
    upstream_url: &str,
    db_url: &str,
) -> std::path::PathBuf {
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD.encode(super::MASTER_KEY);
    let path = root.join("gate.toml");
    std::fs::write(
        &path,
        format!(
            "[proxy]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"{}\"\n\
             shutdown_grace_secs = {grace_secs}\n\
             [admin]\nlisten = \"127.0.0.1:0\"\n\
             [upstream]\nregion = \"{}\"\nendpoint = \"{upstream_url}\"\n\
             [database]\nurl = \"{db_url}\"\nmaster_key = \"{key}\"\n",
            state.display(),
            super::REGION,
        ),
    )
    .unwrap();
    path
}

/// A running `serve` and the lines it has written to stderr so far.
pub struct Serve {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    /// Starts `serve` with `config` in directory `home` (also its `HOME`); upstream
    /// credentials from `aws_env` only (nothing from this machine's AWS configuration).
    pub fn start(config: &Path, home: &Path, aws_env: &[(&str, &str)]) -> Serve {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config").arg(config).arg("serve");
        for (name, _) in std::env::vars_os() {
            let upper = name.to_string_lossy().to_ascii_uppercase();
            if upper.starts_with("AWS_")
                || upper.starts_with("BEDROCK_GATE_")
                || upper == "RUST_LOG"
            {
                cmd.env_remove(&name);
            }
        }
        cmd.current_dir(home)
            .env("HOME", home)
            .env("AWS_CONFIG_FILE", home.join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                home.join("no-aws-credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(aws_env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                sink.lock().push(line);
            }
        });
        Serve { child, lines }
    }

    /// The first line `find` accepts, waiting for it up to [`WAIT`].
    pub async fn line<T>(&self, what: &str, find: impl Fn(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(found) = self.lines.lock().iter().find_map(|l| find(l)) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "serve did not log {what} within {WAIT:?}; it logged:\n{}",
                self.lines.lock().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The proxy's URL, from the `serving` line.
    #[allow(dead_code)]
    pub async fn proxy_url(&self) -> String {
        self.line("the serving line", |l| {
            let rest = &l[l.find("serving")?..];
            let url = rest.split("proxy=").nth(1)?.split_whitespace().next()?;
            Some(url.to_string())
        })
        .await
    }

    /// Every line so far.
    pub fn all(&self) -> Vec<String> {
        self.lines.lock().clone()
    }

    /// The process id (to stop and continue it with signals).
    #[allow(dead_code)]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL (no shutdown of any kind), then waits for the process to be gone.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(mut self) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "serve exited with {status}");
    }
}

/// A test that fails before it stops its proxy leaves no proxy running (a `Child` is not
/// killed when dropped): one left over from a failed CI run served on for an hour.
impl Drop for Serve {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
