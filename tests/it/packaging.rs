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

/// The Dockerfile's instructions (continuation lines joined, comments dropped), each as
/// (INSTRUCTION, rest), per build stage.
fn dockerfile_stages() -> Vec<Vec<(String, String)>> {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile"),
    )
    .unwrap();
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        joined.push(std::mem::take(&mut current));
    }
    let mut stages: Vec<Vec<(String, String)>> = Vec::new();
    for instruction in joined {
        let (word, rest) = instruction.split_once(' ').unwrap_or((&instruction, ""));
        let word = word.to_ascii_uppercase();
        if word == "FROM" {
            stages.push(Vec::new());
        }
        stages
            .last_mut()
            .expect("the Dockerfile starts with FROM")
            .push((word, rest.trim().to_string()));
    }
    stages
}

#[test]
fn the_image_builds_with_the_lock_runs_as_non_root_and_checks_its_health() {
    let stages = dockerfile_stages();
    assert!(stages.len() >= 2, "a build stage and a runtime stage");
    let build = &stages[0];
    let cargo: Vec<&String> = build
        .iter()
        .filter(|(w, r)| w == "RUN" && r.contains("cargo build"))
        .map(|(_, r)| r)
        .collect();
    assert!(!cargo.is_empty(), "the build stage runs cargo build");
    assert!(
        cargo.iter().all(|r| r.contains("--locked")),
        "every cargo build uses the tested Cargo.lock: {cargo:?}"
    );
    let runtime = stages.last().unwrap();
    let user = runtime
        .iter()
        .rev()
        .find(|(w, _)| w == "USER")
        .map(|(_, r)| r.as_str())
        .expect("the runtime stage sets USER");
    assert!(
        !matches!(user, "root" | "0" | "0:0" | "root:root"),
        "runs as {user}"
    );
    let health = runtime
        .iter()
        .find(|(w, _)| w == "HEALTHCHECK")
        .map(|(_, r)| r.clone())
        .expect("the runtime stage has a HEALTHCHECK");
    // Exec form: the distroless image has no shell for the shell form.
    let cmd = health
        .split_once("CMD")
        .expect("HEALTHCHECK ... CMD")
        .1
        .trim();
    let argv: Vec<String> = serde_json::from_str(cmd).expect("HEALTHCHECK CMD in exec form");
    assert_eq!(argv[0], "/usr/local/bin/bedrock-gate");
    assert_eq!(argv[1], "health");
    // The command exists in this binary with those arguments (it fails here: nothing
    // listens, which is exit 1 and not a usage error).
    let out = Command::new(BIN)
        .args(&argv[1..])
        .args(["--addr", "127.0.0.1:9"])
        .env_remove("BEDROCK_GATE_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

#[test]
fn compose_builds_the_image_once_and_says_why_bearer_tokens_need_tls() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("compose.yaml"),
    )
    .unwrap();
    let code: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    // Services: the keys indented by two under `services:`.
    let start = code.iter().position(|l| *l == "services:").unwrap();
    let mut services: Vec<(String, Vec<&str>)> = Vec::new();
    for line in &code[start + 1..] {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            break;
        }
        if let Some(name) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':')) {
            if !name.starts_with(' ') {
                services.push((name.to_string(), Vec::new()));
                continue;
            }
        }
        if let Some((_, body)) = services.last_mut() {
            body.push(line);
        }
    }
    let gates: Vec<&(String, Vec<&str>)> = services
        .iter()
        .filter(|(n, _)| n.starts_with("gate"))
        .collect();
    assert!(gates.len() >= 2, "{services:?}");
    let builders = gates
        .iter()
        .filter(|(_, body)| body.iter().any(|l| l.trim_start().starts_with("build:")))
        .count();
    assert_eq!(builders, 1, "exactly one proxy service builds the image");
    // The shared anchor must not carry `build:` (else every proxy builds again).
    let anchor: Vec<&&str> = code
        .iter()
        .skip_while(|l| !l.starts_with("x-gate:"))
        .skip(1)
        .take_while(|l| l.starts_with(' ') || l.is_empty())
        .collect();
    assert!(!anchor.is_empty(), "the x-gate anchor");
    assert!(!anchor.iter().any(|l| l.trim_start().starts_with("build:")));
    assert!(anchor.iter().any(|l| l.trim() == "image: bedrock-gate"));
    for (name, body) in &gates {
        let builds = body.iter().any(|l| l.trim_start().starts_with("build:"));
        assert!(
            builds || body.iter().any(|l| l.trim() == "pull_policy: never"),
            "{name} neither builds nor refuses to pull the local image"
        );
    }
    // Plain HTTP published on loopback only, and the file says why bearer tokens need TLS.
    for port in code
        .iter()
        .filter(|l| l.trim_start().starts_with("- \"") && l.contains(":80"))
    {
        assert!(
            port.contains("127.0.0.1:"),
            "published beyond loopback: {port}"
        );
    }
    assert!(text.contains("bearer tokens"), "compose.yaml explains TLS");
    assert!(text.contains("BEDROCK_GATE_PROXY__TLS_CERT"));
}
