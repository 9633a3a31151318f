//! Who the audit rows name for a change made at the command line: the login when the
//! environment has one, the process's real user when it has none (containers, cron,
//! systemd), and the name given with `--actor` (checked) for automation.

use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_bedrock-gate");

/// A config file whose SQLite database lives in a temporary directory.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[database]\nurl = \"sqlite://{}?mode=rwc\"\n",
            dir.path().join("gate.db").display()
        );
        std::fs::write(dir.path().join("gate.toml"), text).unwrap();
        Self { dir }
    }

    /// The binary with `args`, without `SUDO_USER`, `USER` and `LOGNAME` (as under
    /// cron, systemd or in a container), plus `env`.
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = Command::new(BIN);
        for (k, _) in std::env::vars() {
            if k.starts_with("BEDROCK_GATE_") || k.starts_with("AWS_") {
                c.env_remove(k);
            }
        }
        c.env_remove("SUDO_USER")
            .env_remove("USER")
            .env_remove("LOGNAME")
            .envs(env.iter().copied())
            .current_dir(self.dir.path())
            .arg("--config")
            .arg(self.dir.path().join("gate.toml"))
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str], env: &[(&str, &str)]) -> Value {
        let out = self.run(args, env);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// Who the newest blocking audit row of `user` names.
    fn last_blocking_actor(&self, user: &str) -> String {
        let rows = self.ok(&["--output", "json", "audit", "--user", user], &[]);
        rows[0]["performed_by"].as_str().unwrap().to_string()
    }

    /// Who the newest admin audit row names.
    fn last_admin_actor(&self) -> String {
        let page = self.ok(&["--output", "json", "admin", "audit", "--limit", "1"], &[]);
        let rows = page.get("entries").unwrap_or(&page);
        rows[0]["actor"].as_str().unwrap().to_string()
    }
}

/// The name of the user running the tests, as the system knows it (`id -un`).
fn real_user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn without_a_login_in_the_environment_the_real_user_is_named() {
    let s = Sandbox::new();
    let me = format!("cli:{}", real_user());
    s.ok(&["team", "create", "t"], &[]);
    assert_eq!(s.last_admin_actor(), me);
    s.ok(&["user", "create", "ann", "Ann Example", "t"], &[]);
    s.ok(&["user", "block", "ann"], &[]);
    assert_eq!(s.last_blocking_actor("ann"), me);
    assert_eq!(s.last_admin_actor(), me);
    // Empty variables are no login either; a set one still wins.
    s.ok(
        &["user", "unblock", "ann"],
        &[("USER", ""), ("LOGNAME", "")],
    );
    assert_eq!(s.last_blocking_actor("ann"), me);
    s.ok(
        &["user", "protect", "ann"],
        &[("USER", ""), ("LOGNAME", "carol")],
    );
    assert_eq!(s.last_blocking_actor("ann"), "cli:carol");
}

#[test]
fn actor_names_the_automation_and_is_checked() {
    let s = Sandbox::new();
    s.ok(&["--actor", "deploy-bot", "team", "create", "t"], &[]);
    assert_eq!(s.last_admin_actor(), "cli:deploy-bot");
    s.ok(
        &[
            "--actor",
            "ci.pipeline_42",
            "user",
            "create",
            "ann",
            "Ann",
            "t",
        ],
        &[("USER", "alice")],
    );
    s.ok(&["--actor", "ci.pipeline_42", "user", "block", "ann"], &[]);
    assert_eq!(s.last_blocking_actor("ann"), "cli:ci.pipeline_42");
    assert_eq!(s.last_admin_actor(), "cli:ci.pipeline_42");
    // A name that could pass for another kind of actor, or is empty, is a usage error
    // and changes nothing.
    for bad in ["api:ops-bot", "", "two words"] {
        let out = s.run(&["--actor", bad, "user", "unblock", "ann"], &[]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("actor"), "{err}");
    }
    assert_eq!(s.last_blocking_actor("ann"), "cli:ci.pipeline_42");
    let info = s.ok(&["--output", "json", "user", "info", "ann"], &[]);
    assert_eq!(info["blocked"], true, "{info}");
}
