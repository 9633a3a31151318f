//! What packaging relies on, from the real binary: `--version` names the git commit,
//! shell completions and man pages are generated from the command line, and `tls
//! self-signed` writes a key only its owner can read and never overwrites files unasked.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_bedrock-gate");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("BEDROCK_GATE_CONFIG")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn the_version_names_the_commit_it_was_built_from() {
    let version = stdout(&run(&["--version"]));
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8(o.stdout).unwrap().trim().to_string());
    let commit = head.unwrap_or_else(|| "unknown".into());
    assert_eq!(
        version.trim(),
        format!(
            "bedrock-gate {} (commit {commit})",
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[test]
fn completions_and_man_pages_come_from_the_command_line() {
    let bash = stdout(&run(&["completions", "bash"]));
    assert!(bash.contains("complete -F _bedrock-gate") || bash.contains("_bedrock__gate"));
    assert!(
        bash.contains("self-signed"),
        "every subcommand is completed"
    );
    assert!(stdout(&run(&["completions", "zsh"])).starts_with("#compdef bedrock-gate"));
    let bad = run(&["completions", "tcsh"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );

    let page = stdout(&run(&["man"]));
    assert!(page.contains(".TH bedrock-gate 1"), "{}", &page[..200]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    stdout(&run(&["man", "--out", out.to_str().unwrap()]));
    for page in [
        "bedrock-gate.1",
        "bedrock-gate-serve.1",
        "bedrock-gate-tls-self-signed.1",
    ] {
        assert!(out.join(page).is_file(), "{page}");
    }
}

#[test]
fn self_signed_writes_an_owner_only_key_and_keeps_existing_files() {
    let dir = tempfile::tempdir().unwrap();
    let tls = dir.path().join("tls");
    let json = stdout(&run(&[
        "--output",
        "json",
        "tls",
        "self-signed",
        "--out",
        tls.to_str().unwrap(),
        "--name",
        "gate.internal",
    ]));
    let written: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        written["names"],
        serde_json::json!(["localhost", "127.0.0.1", "::1", "gate.internal"])
    );
    let mode = |name: &str| {
        std::fs::metadata(tls.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("key.pem"), 0o600);
    assert_eq!(mode("cert.pem"), 0o644);
    let key = std::fs::read(tls.join("key.pem")).unwrap();

    let again = run(&["tls", "self-signed", "--out", tls.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read(tls.join("key.pem")).unwrap(), key, "kept");

    let text = stdout(&run(&[
        "tls",
        "self-signed",
        "--out",
        tls.to_str().unwrap(),
        "--force",
    ]));
    assert!(text.contains("export AWS_CA_BUNDLE="), "{text}");
    assert_ne!(std::fs::read(tls.join("key.pem")).unwrap(), key, "replaced");
    assert_eq!(mode("key.pem"), 0o600);
}
